//! `DELETE /api/user/bulk` (FusionAuth's bulk delete, hard delete only): the users of one tenant
//! that a `queryString` and/or a list of ids select, removed in one transaction of set-based
//! statements, so a test load of millions is gone in seconds and teams can iterate.
//!
//! The `queryString` understood is a conjunction of terms separated by spaces or `AND`:
//! `tenantId:<uuid>`, `email:<address>` (exact, or with `*` wildcards), `data.<key>:<value>`
//! (a dotted path in `user.data`, compared as text). Anything else is a 400 naming the term,
//! never a silent "match all".

use crate::identity::{Identity, Result};
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

fn invalid(term: &str, why: &str) -> Error {
    Error::field(
        "queryString",
        "[invalid]queryString",
        format!("The term [{term}] {why}. Use tenantId:<uuid>, email:<address or pattern with *> and data.<key>:<value>, joined by spaces or AND."),
    )
}

/// Parses the `queryString` into the tenant it names (if any) and the filters.
fn parse_query(q: &str, what: &mut BulkDelete) -> Result<Option<Uuid>> {
    let mut tenant = None;
    for term in q.split_whitespace().filter(|t| *t != "AND") {
        let Some((field, value)) = term.split_once(':') else {
            return Err(invalid(term, "is not of the form field:value"));
        };
        let value = value.trim_matches('"');
        if value.is_empty() {
            return Err(invalid(term, "has no value"));
        }
        match field {
            "tenantId" => {
                tenant =
                    Some(Uuid::parse_str(value).map_err(|_| invalid(term, "is not a valid UUID"))?)
            }
            "email" => what.email = Some(crate::normalize_login_id(value)),
            f if f.starts_with("data.") => {
                let path = &f[5..];
                let ok = !path.is_empty()
                    && path.split('.').all(|seg| {
                        !seg.is_empty()
                            && seg
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    });
                if !ok {
                    return Err(invalid(
                        term,
                        "names a data key with characters other than letters, digits, _ and -",
                    ));
                }
                what.data.push((path.to_string(), value.to_string()));
            }
            _ => return Err(invalid(term, "names a field bulk delete does not search")),
        }
    }
    Ok(tenant)
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
            Some(q) if !q.is_empty() => parse_query(q, &mut what)?,
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
        let mut w = BulkDelete::default();
        let t = Uuid::new_v4();
        let named = parse_query(
            &format!("tenantId:{t} AND email:*@Example.com data.source.system:legacy"),
            &mut w,
        )
        .unwrap();
        assert_eq!(named, Some(t));
        assert_eq!(w.email.as_deref(), Some("*@example.com"));
        assert_eq!(w.data, vec![("source.system".into(), "legacy".into())]);
    }

    #[test]
    fn unknown_or_unsafe_terms_are_refused() {
        for q in [
            "firstName:x",
            "email",
            "data.a'b:1",
            "tenantId:nope",
            "data.:1",
        ] {
            assert!(
                parse_query(q, &mut BulkDelete::default()).is_err(),
                "{q} must be refused"
            );
        }
    }
}
