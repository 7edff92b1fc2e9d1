//! The admin page that edits a tenant: its name, its password rules
//! (`passwordValidationRules`) and its connector policies (`connectorPolicies`: which connector
//! is asked about a login, for which login-id domains, and whether the user is copied in). A
//! save is a JSON merge patch through the same `Identity::patch_tenant` as
//! `PATCH /api/tenant/{id}`, so its checks are the API's; a refused save changes nothing and
//! shows the form again as typed, with the domain's messages.

use super::{
    csrf_form, error_messages, field, form_expired, form_fields, message, redirect, require_admin,
    unavailable, Signed,
};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::settings::PasswordRules;
use portcullis_domain::{Error, Scope, Tenant};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why the default tenant keeps its name: the admin pages find it (and their application in
/// it) by that name.
const KEEPS_NAME: &str = "The admin pages find the default tenant by its name; renamed, it would \
     end these pages. It keeps its name here.";

#[derive(Deserialize)]
pub struct Saved {
    done: Option<String>,
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "No such tenant",
        "No tenant has this id.",
        Some(("/admin/tenants", "Back to the tenants")),
    )
}

/// `GET /admin/tenants/{tenantId}`.
pub async fn tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let t = match s.identity.tenant(Scope::ALL, id).await {
        Ok(t) => t,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "the admin tenant page could not read the tenant");
            return unavailable();
        }
    };
    let saved = q.done.as_deref() == Some("saved");
    render(&s, &signed, id, &t.name, &t, saved, Vec::new()).await
}

/// `POST /admin/tenants/{tenantId}`: the name, the password rules and the connector policies
/// as one merge patch. An emptied length is removed, so the tenant has the default again.
pub async fn save_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !csrf_form(&headers, &body) {
        return form_expired();
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let old = match s.identity.tenant(Scope::ALL, id).await {
        Ok(t) => t,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin tenant save could not read the tenant");
            return unavailable();
        }
    };
    let patch = patch_of(&form_fields(&body));
    if id == signed.ids.tenant && patch["name"] != old.name.as_str() {
        let typed = as_typed(&old, &patch);
        let why = vec![KEEPS_NAME.to_string()];
        return render(&s, &signed, id, &old.name, &typed, false, why).await;
    }
    // The admin role is the instance's administrator, who runs its connectors too, so the page
    // may set the policies; a list sent back unchanged is no change.
    match s.identity.patch_tenant(Scope::ALL, id, &patch, true).await {
        Ok(_) => {
            tracing::info!(tenant = %id, admin = %signed.email, "a tenant was changed on the admin pages");
            redirect(&format!("/admin/tenants/{id}?done=saved"), Vec::new())
        }
        Err(e @ Error::Invalid(_)) => {
            let typed = as_typed(&old, &patch);
            render(
                &s,
                &signed,
                id,
                &old.name,
                &typed,
                false,
                error_messages(&e),
            )
            .await
        }
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin tenant save failed");
            unavailable()
        }
    }
}

/// The tenant as the refused form had it, so the administrator corrects what they typed
/// rather than typing it again.
fn as_typed(old: &Tenant, patch: &Value) -> Tenant {
    let Ok(mut v) = serde_json::to_value(old) else {
        return old.clone();
    };
    portcullis_domain::patch::merge(&mut v, patch);
    serde_json::from_value(v).unwrap_or_else(|_| old.clone())
}

/// A length as typed: a whole number as a number, empty as `null` (the key is removed), and
/// anything else as the text, which the domain refuses with its message.
fn number(v: Option<&str>) -> Value {
    match v.map(str::trim) {
        None | Some("") => Value::Null,
        Some(x) => x
            .parse::<i64>()
            .map_or_else(|_| Value::String(x.to_string()), Value::from),
    }
}

/// One row of the connector policies as posted.
#[derive(Default)]
struct PolicyRow {
    connector: String,
    domains: String,
    migrate: bool,
    remove: bool,
}

/// The merge patch of a posted tenant form. Policies come as `policy.{n}.connectorId`,
/// `.domains`, `.migrate` and `.remove`, in the order shown; a row without a connector (the
/// empty row for a new policy) is no policy.
fn patch_of(fields: &[(String, String)]) -> Value {
    let mut rows: BTreeMap<usize, PolicyRow> = BTreeMap::new();
    for (k, v) in fields {
        let Some((n, part)) = k
            .strip_prefix("policy.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else {
            continue;
        };
        let row = rows.entry(n).or_default();
        match part {
            "connectorId" => row.connector = v.trim().to_string(),
            "domains" => row.domains = v.clone(),
            "migrate" => row.migrate = true,
            "remove" => row.remove = true,
            _ => {}
        }
    }
    let policies: Vec<Value> = rows
        .into_values()
        .filter(|r| !r.remove && !r.connector.is_empty())
        .map(|r| {
            let domains: Vec<&str> = r
                .domains
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|d| !d.is_empty())
                .collect();
            json!({"connectorId": r.connector, "domains": domains, "migrate": r.migrate})
        })
        .collect();
    let flag = |name: &str| Value::Bool(field(fields, name).is_some());
    json!({
        "name": field(fields, "name").unwrap_or_default().trim(),
        "passwordValidationRules": {
            "minLength": number(field(fields, "minLength")),
            "maxLength": number(field(fields, "maxLength")),
            "requireMixedCase": flag("requireMixedCase"),
            "requireNonAlpha": flag("requireNonAlpha"),
            "requireNumber": flag("requireNumber"),
        },
        "connectorPolicies": policies,
    })
}

/// A setting's value as a form field shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The tenant's page; `t` is the tenant as the form shows it, `title` its stored name.
async fn render(
    s: &AppState,
    signed: &Signed,
    id: Uuid,
    title: &str,
    t: &Tenant,
    saved: bool,
    errors: Vec<String>,
) -> Response {
    let connectors = match s.identity.connectors(Scope::ALL).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = ?e, "the admin tenant page could not read the connectors");
            return unavailable();
        }
    };
    let known: Vec<String> = connectors
        .iter()
        .filter_map(|c| c.id.map(|i| i.to_string()))
        .collect();
    let connectors: Vec<minijinja::Value> = connectors
        .iter()
        .filter_map(|c| Some(context! { id => c.id?.to_string(), name => c.name.clone() }))
        .collect();

    // A length the tenant does not set shows empty, with the default as the placeholder, so a
    // save leaves it unset.
    let rules = t.settings.get("passwordValidationRules");
    let length = |key: &str| {
        rules
            .and_then(|r| r.get(key))
            .filter(|v| !v.is_null())
            .map(shown)
            .unwrap_or_default()
    };
    let flag = |key: &str| {
        rules
            .and_then(|r| r.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let defaults = PasswordRules::default();
    let rules = context! {
        min => length("minLength"),
        max => length("maxLength"),
        mixed => flag("requireMixedCase"),
        non_alpha => flag("requireNonAlpha"),
        number => flag("requireNumber"),
        default_min => defaults.min_length,
        default_max => defaults.max_length,
    };

    let policies: Vec<minijinja::Value> = t
        .settings
        .get("connectorPolicies")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| {
                    let connector = p.get("connectorId").map(shown).unwrap_or_default();
                    let domains = match p.get("domains").and_then(Value::as_array) {
                        Some(d) => d.iter().map(shown).collect::<Vec<_>>().join(", "),
                        None => "*".into(),
                    };
                    context! {
                        known => known.contains(&connector),
                        connector,
                        domains,
                        migrate => p.get("migrate").and_then(Value::as_bool).unwrap_or(false),
                    }
                })
                .collect()
        })
        .unwrap_or_default();

    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    signed.page(
        status,
        "tenant.html",
        context! {
            title,
            id => id.to_string(),
            name => t.name.clone(),
            keeps_name => (id == signed.ids.tenant).then_some(KEEPS_NAME),
            notice => saved.then_some("The changes are saved."),
            rules, policies, connectors, errors,
        },
    )
}
