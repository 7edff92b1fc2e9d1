//! `DELETE /api/user/bulk` (FusionAuth's bulk delete, hard delete only): the users of one tenant
//! that a `queryString` and/or a list of ids select, removed in one transaction of set-based
//! statements, so a test load of millions is gone in seconds and teams can iterate.
//!
//! The `queryString` is the user search's query language ([`crate::search::query_string`]);
//! a `tenantId:<uuid>` term at its top level names the tenant. An unknown field or a syntax
//! error is a 400 naming the term, never a silent "match all".

use crate::identity::{Identity, Result};
use crate::search::{query_string, Field, Pred};
use crate::{BulkDelete, Error, Errors, Scope};
use uuid::Uuid;

/// Most ids an answer lists; `total` stays exact.
pub const ID_LIMIT: usize = 1000;
/// Most ids one request may name.
pub const MAX_USER_IDS: usize = 10_000;

/// What the caller asked to delete.
#[derive(Debug, Default)]
pub struct BulkDeleteRequest {
    pub query_string: Option<String>,
    pub user_ids: Vec<Uuid>,
    pub dry_run: bool,
}

/// FusionAuth's answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteOutcome {
    pub dry_run: bool,
    pub hard_delete: bool,
    pub total: u64,
    pub user_ids: Vec<Uuid>,
}

/// Parses the `queryString` into the filter and the tenant a top-level `tenantId` term names.
fn parse_query(q: &str) -> Result<(Pred, Option<Uuid>)> {
    let pred = crate::search::bounded(query_string::parse(q), "queryString")?;
    let top: &[Pred] = match &pred {
        Pred::And(parts) => parts,
        p => std::slice::from_ref(p),
    };
    let tenant = top.iter().find_map(|p| match p {
        Pred::Eq(Field::TenantId, t) => Uuid::parse_str(t).ok(),
        _ => None,
    });
    Ok((pred, tenant))
}

impl Identity {
    /// Hard-deletes the selected users of one tenant (or, with `dry_run`, counts them).
    pub async fn bulk_delete_users(
        &self,
        scope: Scope,
        req: BulkDeleteRequest,
    ) -> Result<BulkDeleteOutcome> {
        let mut what = BulkDelete::default();
        let named = match req.query_string.as_deref().map(str::trim) {
            Some(q) if !q.is_empty() => {
                let (filter, named) = parse_query(q)?;
                what.filter = Some(filter);
                named
            }
            _ if req.user_ids.is_empty() => {
                return Err(Error::Invalid(Errors::default().field(
                    "queryString",
                    "[missing]queryString",
                    "Say which users to delete: a queryString (e.g. tenantId:<uuid>) or userId parameters.",
                )))
            }
            _ => None,
        };
        if req.user_ids.len() > MAX_USER_IDS {
            return Err(Error::field(
                "userId",
                "[tooMany]userId",
                format!("At most {MAX_USER_IDS} userId parameters per request; use a queryString for more."),
            ));
        }
        if !req.user_ids.is_empty() {
            what.ids = Some(req.user_ids);
        }
        let tenant = self.resolve_tenant(scope, named).await?;
        let (total, user_ids) = self
            .store()
            .delete_users(tenant, &what, req.dry_run, ID_LIMIT)
            .await?;
        Ok(BulkDeleteOutcome {
            dry_run: req.dry_run,
            hard_delete: true,
            total,
            user_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_become_filters() {
        let t = Uuid::new_v4();
        let (filter, named) = parse_query(&format!(
            "tenantId:{t} AND email:*@Example.com data.source.system:legacy"
        ))
        .unwrap();
        assert_eq!(named, Some(t));
        assert_eq!(
            filter,
            Pred::And(vec![
                Pred::Eq(Field::TenantId, t.to_string()),
                Pred::Like(Field::Email, "*@example.com".into()),
                Pred::Eq(
                    Field::Data(vec!["source".into(), "system".into()]),
                    "legacy".into()
                ),
            ])
        );
    }

    #[test]
    fn unknown_or_unsafe_terms_are_refused() {
        for q in [
            "firstNam:x",
            "email",
            "data.a'b:1",
            "tenantId:nope",
            "data.:1",
        ] {
            assert!(parse_query(q).is_err(), "{q} must be refused");
        }
    }
}
