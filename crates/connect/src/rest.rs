//! The Keycloak REST-migration contract, as Phase Two's `keycloak-rest-provider` speaks it, so
//! a legacy endpoint built for Keycloak works unchanged:
//!
//! - `GET {baseURL}/{usernameOrEmail}` → 200 with the legacy user (`id`, `username`, `email`,
//!   `firstName`, `lastName`, `enabled`, `emailVerified`, `attributes: {k: [v]}`, `roles`,
//!   `groups`, `requiredActions`, `totps`); 404 or another 4xx = no such user.
//! - `POST {baseURL}/{username}` (or `/{id}` with `useLegacyIdForCredentialCheck`) with
//!   `{"password": "..."}` → 200 = right password; a 4xx = wrong password.
//!
//! Where the plugin reads every other status as "no", we read a 5xx (or a body that breaks the
//! contract) as the legacy system failing: the login gets a 503 and nothing is written, instead of
//! a "wrong password" that is not true. Each path segment is percent-encoded, so `a/b@x.y` cannot
//! reach another resource of the legacy API.

use crate::config::Reader;
use crate::guard::Limits;
use crate::http::{self, Auth};
use crate::mapping;
use portcullis_domain::migration::connectors::{LegacyLogin, LegacyResult, LegacyUser};
use portcullis_domain::{Json, Registration, User};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

pub struct Rest {
    connector_id: Uuid,
    base: reqwest::Url,
    auth: Auth,
    client: reqwest::Client,
    max_response_bytes: usize,
    legacy_id_for_credentials: bool,
    application_id: Option<Uuid>,
    role_map: BTreeMap<String, String>,
    migrate_unmapped_roles: bool,
    group_map: BTreeMap<String, String>,
    migrate_unmapped_groups: bool,
}

/// The legacy user of the contract.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LegacyAnswer {
    id: Option<Value>,
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    enabled: Option<bool>,
    email_verified: Option<bool>,
    attributes: BTreeMap<String, Vec<String>>,
    roles: Vec<String>,
    groups: Vec<String>,
    required_actions: Vec<String>,
    totps: Vec<Totp>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Totp {
    name: Option<String>,
    secret: String,
    digits: Option<u32>,
    period: Option<u32>,
    algorithm: Option<String>,
    encoding: Option<String>,
}

/// Applies a name map: mapped names are renamed; unmapped ones are kept only when `keep`.
fn map_names(names: &[String], map: &BTreeMap<String, String>, keep: bool) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter_map(|n| match map.get(n) {
            Some(m) => Some(m.clone()),
            None if keep => Some(n.clone()),
            None => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Rest {
    pub fn read(r: &mut Reader, connector_id: Uuid, limits: &Limits) -> Option<Self> {
        let base = r.url("baseURL", &["http", "https"]);
        let auth = Auth::read(r, true);
        let client = http::client(r, limits);
        Some(Self {
            connector_id,
            auth,
            legacy_id_for_credentials: r.opt("useLegacyIdForCredentialCheck").unwrap_or(false),
            application_id: r.opt("applicationId"),
            role_map: r.opt("roleMap").unwrap_or_default(),
            migrate_unmapped_roles: r.opt("migrateUnmappedRoles").unwrap_or(true),
            group_map: r.opt("groupMap").unwrap_or_default(),
            migrate_unmapped_groups: r.opt("migrateUnmappedGroups").unwrap_or(true),
            base: base?,
            client: client?,
            max_response_bytes: limits.max_response_bytes,
        })
    }

    /// `{baseURL}/{segment}` with the segment percent-encoded.
    fn url(&self, segment: &str) -> reqwest::Url {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .expect("http URLs have paths")
            .pop_if_empty()
            .push(segment);
        u
    }

    async fn fetch(&self, login_id: &str) -> LegacyResult<Option<LegacyAnswer>> {
        let url = self.url(login_id);
        let res = self
            .auth
            .apply(self.client.get(url.clone()))
            .send()
            .await
            .map_err(http::failure)?;
        let status = res.status();
        if status == reqwest::StatusCode::OK {
            return http::json_body(res, self.max_response_bytes)
                .await
                .map(Some);
        }
        if status.is_server_error() {
            return Err(http::unexpected(status, &url));
        }
        Ok(None)
    }

    pub async fn lookup(&self, login_id: &str) -> LegacyResult<Option<LegacyUser>> {
        match self.fetch(login_id).await? {
            Some(a) => self.to_user(a).map(Some),
            None => Ok(None),
        }
    }

    pub async fn authenticate(&self, login: &LegacyLogin<'_>) -> LegacyResult<Option<LegacyUser>> {
        let Some(answer) = self.fetch(login.login_id).await? else {
            return Ok(None);
        };
        let key = if self.legacy_id_for_credentials {
            answer.id.as_ref().map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        } else {
            answer.username.clone()
        }
        .unwrap_or_else(|| login.login_id.to_string());
        let url = self.url(&key);
        let res = self
            .auth
            .apply(
                self.client
                    .post(url.clone())
                    .json(&json!({ "password": login.password.0 })),
            )
            .send()
            .await
            .map_err(http::failure)?;
        let status = res.status();
        if status.is_server_error() {
            return Err(http::unexpected(status, &url));
        }
        if status != reqwest::StatusCode::OK {
            return Ok(None);
        }
        self.to_user(answer).map(Some)
    }

    fn to_user(&self, a: LegacyAnswer) -> LegacyResult<LegacyUser> {
        let mut data = Json::new();
        for (k, mut v) in a.attributes {
            let value = if v.len() == 1 {
                Value::String(v.remove(0))
            } else {
                json!(v)
            };
            data.insert(k, value);
        }
        let legacy_id = a.id.map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let id = legacy_id.as_ref().map(|s| {
            Uuid::parse_str(s)
                .unwrap_or_else(|_| mapping::stable_id(self.connector_id, &format!("id:{s}")))
        });
        if let Some(l) = &legacy_id {
            data.insert("legacyId".into(), json!(l));
        }
        let mut user = User {
            id,
            email: a.email,
            username: a.username,
            first_name: a.first_name,
            last_name: a.last_name,
            active: a.enabled.unwrap_or(true),
            verified: a.email_verified.unwrap_or(false),
            data,
            ..User::default()
        };
        let roles = map_names(&a.roles, &self.role_map, self.migrate_unmapped_roles);
        if let Some(app) = self.application_id {
            user.registrations.push(Registration {
                application_id: Some(app),
                roles,
                ..Registration::default()
            });
        }
        for t in a.totps {
            let mut m = Json::new();
            m.insert("method".into(), json!("authenticator"));
            if let Some(n) = t.name {
                m.insert("name".into(), json!(n));
            }
            let base32 = t
                .encoding
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case("BASE32"));
            m.insert(
                if base32 {
                    "secretBase32Encoded"
                } else {
                    "secret"
                }
                .into(),
                json!(t.secret),
            );
            m.insert(
                "authenticator".into(),
                json!({
                    "algorithm": t.algorithm.unwrap_or_else(|| "HmacSHA1".into()),
                    "codeLength": t.digits.unwrap_or(6),
                    "timeStep": t.period.unwrap_or(30),
                }),
            );
            user.two_factor.methods.push(m);
        }
        let groups = map_names(&a.groups, &self.group_map, self.migrate_unmapped_groups);
        let mut out = mapping::finish(self.connector_id, user, groups)?;
        for action in &a.required_actions {
            match action.as_str() {
                "UPDATE_PASSWORD" => out.password_change_required = true,
                "CONFIGURE_TOTP" => out.two_factor_enrolment_required = true,
                "VERIFY_EMAIL" => out.user.verified = false,
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_maps_rename_and_filter() {
        let map: BTreeMap<String, String> =
            [("admin".to_string(), "administrator".to_string())].into();
        let names = vec!["admin".to_string(), "user".to_string()];
        assert_eq!(map_names(&names, &map, true), vec!["administrator", "user"]);
        assert_eq!(map_names(&names, &map, false), vec!["administrator"]);
        assert_eq!(
            map_names(&names, &BTreeMap::new(), false),
            Vec::<String>::new()
        );
    }
}
