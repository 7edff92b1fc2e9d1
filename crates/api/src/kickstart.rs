//! Kickstart (FusionAuth's Kickstart format): a JSON file applied on first start to an empty instance — variables,
//! API keys, then requests run through the real API — so CI and developers get a known state.
//!
//! ```json
//! { "variables": { "apiKey": "#{ENV.PORTCULLIS_API_KEY}", "appId": "#{UUID()}" },
//!   "apiKeys": [ { "key": "#{apiKey}", "description": "CI" } ],
//!   "requests": [ { "method": "POST", "url": "/api/application/#{appId}",
//!                   "body": { "application": { "name": "Shop" } } },
//!                 { "method": "POST", "url": "/api/user/registration", "body": "@{admin.json}" } ] }
//! ```
//! `#{name}` is replaced in every string after the variables section; `"@{file}"` as a body reads
//! that JSON file (relative to the Kickstart file) and substitutes variables in it too.
//!
//! FusionAuth's files run unchanged: `#{FUSIONAUTH_TENANT_ID}` and `#{FUSIONAUTH_APPLICATION_ID}`
//! (also spelled `PORTCULLIS_…`) name the default tenant and the admin application, a
//! `defaultTenantId` variable gives the default tenant that id before anything else runs, and
//! `licenseId` is accepted and has no effect.

use crate::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use portcullis_domain::{ApiKey, ApiKeyPermissions, Json as JsonMap};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use tower::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum KickstartError {
    #[error("cannot read the Kickstart file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the Kickstart file {path} is not valid JSON: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("Kickstart variable [{name}] uses the environment variable [{env}], which is not set")]
    MissingEnv { name: String, env: String },
    #[error("Kickstart needs at least one entry in apiKeys to run its requests")]
    NoApiKey,
    #[error("Kickstart could not create an API key: {0}")]
    ApiKey(String),
    #[error("Kickstart request #{index} ({method} {url}) failed with {status}: {body}")]
    Request {
        index: usize,
        method: String,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("Kickstart could not give the default tenant the id of defaultTenantId: {0}")]
    DefaultTenant(String),
    #[error("the store failed: {0}")]
    Store(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    api_keys: Vec<KeyEntry>,
    #[serde(default)]
    requests: Vec<RequestEntry>,
    /// FusionAuth's licence for its paid features; Portcullis has none to unlock.
    #[serde(default, rename = "licenseId")]
    _license_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyEntry {
    key: Option<String>,
    id: Option<uuid::Uuid>,
    description: Option<String>,
    tenant_id: Option<String>,
    #[serde(default)]
    permissions: ApiKeyPermissions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestEntry {
    method: String,
    url: String,
    tenant_id: Option<String>,
    body: Option<Value>,
}

/// What Kickstart did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The instance already had users or keys; nothing was done.
    Skipped,
    Applied {
        api_keys: usize,
        requests: usize,
    },
}

/// Resolves `#{ENV.X}` and `#{UUID()}` inside variable values.
fn resolve_variables(
    vars: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, KickstartError> {
    let mut out = BTreeMap::new();
    for (name, value) in vars {
        let mut v = value.replace("#{UUID()}", &uuid::Uuid::new_v4().to_string());
        while let Some(start) = v.find("#{ENV.") {
            let Some(len) = v[start..].find('}') else {
                break;
            };
            let env = v[start + 6..start + len].to_string();
            let val = std::env::var(&env).map_err(|_| KickstartError::MissingEnv {
                name: name.clone(),
                env: env.clone(),
            })?;
            v.replace_range(start..start + len + 1, &val);
        }
        out.insert(name, v);
    }
    Ok(out)
}

/// FusionAuth's built-in variables, after `defaultTenantId` has re-keyed the default tenant. A
/// variable the file defines itself keeps the file's value.
async fn builtin_variables(
    state: &AppState,
    vars: &mut BTreeMap<String, String>,
) -> Result<(), KickstartError> {
    let identity = &state.identity;
    let ids = match vars.get("defaultTenantId") {
        Some(id) => {
            let id = uuid::Uuid::parse_str(id.trim())
                .map_err(|e| KickstartError::DefaultTenant(format!("[{id}] is not a UUID: {e}")))?;
            Some(
                identity
                    .rekey_default_tenant(id)
                    .await
                    .map_err(|e| KickstartError::DefaultTenant(format!("{e:?}")))?,
            )
        }
        None => identity
            .default_ids()
            .await
            .map_err(|e| KickstartError::Store(e.to_string()))?,
    };
    if let Some(ids) = ids {
        for prefix in ["FUSIONAUTH", "PORTCULLIS"] {
            vars.entry(format!("{prefix}_TENANT_ID"))
                .or_insert_with(|| ids.tenant.to_string());
            vars.entry(format!("{prefix}_APPLICATION_ID"))
                .or_insert_with(|| ids.application.to_string());
        }
    }
    Ok(())
}

fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = s.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("#{{{k}}}"), v);
    }
    s
}

fn substitute_value(v: &mut Value, vars: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => *s = substitute(s, vars),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute_value(x, vars)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute_value(x, vars)),
        _ => {}
    }
}

/// Applies the Kickstart file at `path` if the instance is empty.
pub async fn apply(state: &AppState, path: &Path) -> Result<Outcome, KickstartError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KickstartError::Read {
        path: shown.clone(),
        source,
    })?;
    let file: File = serde_json::from_str(&text).map_err(|source| KickstartError::Parse {
        path: shown.clone(),
        source,
    })?;
    if !state
        .identity
        .store()
        .is_pristine()
        .await
        .map_err(|e| KickstartError::Store(e.to_string()))?
    {
        return Ok(Outcome::Skipped);
    }
    let mut vars = resolve_variables(file.variables)?;
    builtin_variables(state, &mut vars).await?;
    let dir = path.parent().unwrap_or(Path::new("."));

    let mut first_key = None;
    for entry in &file.api_keys {
        let mut meta = JsonMap::new();
        if let Some(d) = &entry.description {
            meta.insert(
                "attributes".into(),
                serde_json::json!({ "description": substitute(d, &vars) }),
            );
        }
        let tenant_id = match &entry.tenant_id {
            Some(t) => Some(
                uuid::Uuid::parse_str(&substitute(t, &vars))
                    .map_err(|e| KickstartError::ApiKey(format!("tenantId: {e}")))?,
            ),
            None => None,
        };
        let key = ApiKey {
            id: entry.id,
            key: entry.key.as_deref().map(|k| substitute(k, &vars)),
            tenant_id,
            permissions: entry.permissions.clone(),
            meta_data: meta,
            ..ApiKey::default()
        };
        let created = state
            .identity
            .create_api_key(None, None, key)
            .await
            .map_err(|e| KickstartError::ApiKey(format!("{e:?}")))?;
        first_key.get_or_insert(created.key.expect("create returns the secret"));
    }

    if !file.requests.is_empty() {
        let key = first_key.clone().ok_or(KickstartError::NoApiKey)?;
        let app = crate::router(state.clone());
        for (i, r) in file.requests.iter().enumerate() {
            let url = substitute(&r.url, &vars);
            let body = match &r.body {
                Some(Value::String(s)) if s.starts_with("@{") && s.ends_with('}') => {
                    let file = dir.join(&s[2..s.len() - 1]);
                    let text =
                        std::fs::read_to_string(&file).map_err(|source| KickstartError::Read {
                            path: file.display().to_string(),
                            source,
                        })?;
                    let mut v: Value =
                        serde_json::from_str(&text).map_err(|source| KickstartError::Parse {
                            path: file.display().to_string(),
                            source,
                        })?;
                    substitute_value(&mut v, &vars);
                    Some(v)
                }
                Some(v) => {
                    let mut v = v.clone();
                    substitute_value(&mut v, &vars);
                    Some(v)
                }
                None => None,
            };
            let mut req = Request::builder()
                .method(r.method.to_uppercase().as_str())
                .uri(&url)
                .header("authorization", &key)
                .header("content-type", "application/json");
            if let Some(t) = &r.tenant_id {
                req = req.header(crate::auth::TENANT_HEADER, substitute(t, &vars));
            }
            let req = req
                .body(match body {
                    Some(b) => Body::from(b.to_string()),
                    None => Body::empty(),
                })
                .map_err(|e| KickstartError::Request {
                    index: i,
                    method: r.method.clone(),
                    url: url.clone(),
                    status: StatusCode::BAD_REQUEST,
                    body: e.to_string(),
                })?;
            let res = app.clone().oneshot(req).await.expect("infallible");
            if !res.status().is_success() {
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                return Err(KickstartError::Request {
                    index: i,
                    method: r.method.clone(),
                    url,
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
    }
    Ok(Outcome::Applied {
        api_keys: file.api_keys.len(),
        requests: file.requests.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_resolve_env_and_uuid() {
        std::env::set_var("PORTCULLIS_KICKSTART_TEST_VAR", "from-env");
        let vars = resolve_variables(BTreeMap::from([
            (
                "a".into(),
                "x-#{ENV.PORTCULLIS_KICKSTART_TEST_VAR}-y".into(),
            ),
            ("b".into(), "#{UUID()}".into()),
        ]))
        .unwrap();
        assert_eq!(vars["a"], "x-from-env-y");
        assert!(uuid::Uuid::parse_str(&vars["b"]).is_ok());
        assert_eq!(
            substitute("/api/user/#{b}", &vars),
            format!("/api/user/{}", vars["b"])
        );
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let err = resolve_variables(BTreeMap::from([(
            "k".into(),
            "#{ENV.PORTCULLIS_SURELY_UNSET_VARIABLE}".into(),
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("PORTCULLIS_SURELY_UNSET_VARIABLE"));
    }
}
