//! The admin page that edits an application: its name, its OAuth settings (authorized redirect
//! and origin URLs, logout URL, enabled grants, the PKCE and client authentication policies),
//! and its roles (add one, remove one). Saves go through the same `Identity` calls as the API
//! (`patch_application`, `create_role`, `delete_role`), so their checks, and what a removed
//! role takes from registrations and groups, are the API's. A refused save changes nothing and
//! shows the form again as typed, with the domain's messages. The client secret is never read
//! into the page: the application is read as the API answers it, without the secret's hash.

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
use portcullis_domain::oauth::OAuthConfig;
use portcullis_domain::{Application, Error, Role, Scope, ADMIN_ROLE};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The grants an application may enable, with how the page names them.
const GRANTS: [(&str, &str); 4] = [
    ("authorization_code", "Authorization code"),
    ("refresh_token", "Refresh token"),
    ("client_credentials", "Client credentials"),
    (
        "password",
        "Password (the client sends the user's password)",
    ),
];
const PKCE_POLICIES: [(&str, &str); 3] = [
    ("NotRequired", "Not required"),
    ("Required", "Required"),
    (
        "NotRequiredWhenUsingClientAuthentication",
        "Required unless the client authenticates",
    ),
];
const CLIENT_AUTH_POLICIES: [(&str, &str); 3] = [
    ("Required", "Required"),
    ("NotRequired", "Not required (a public client)"),
    ("NotRequiredWhenUsingPKCE", "Not required when using PKCE"),
];

/// Why the admin application keeps its name: the admin pages sign in as the application of
/// that name.
const KEEPS_NAME: &str = "The admin pages sign in as the application of this name; renamed, it \
     would end these pages. It keeps its name here.";

#[derive(Deserialize)]
pub struct Saved {
    done: Option<String>,
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "No such application",
        "No application has this id.",
        Some(("/admin/tenants", "Back to the tenants")),
    )
}

/// What a page shows besides the application: a notice, or the errors of a refused form with
/// the form as it was typed.
#[derive(Default)]
struct Shown {
    notice: Option<&'static str>,
    errors: Vec<String>,
    role_errors: Vec<String>,
    new_role: Option<RoleForm>,
}

/// `GET /admin/applications/{applicationId}`.
pub async fn application(
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
    let app = match read(&s, id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let notice = match q.done.as_deref() {
        Some("saved") => Some("The changes are saved."),
        Some("role-added") => Some("The role is added."),
        Some("role-removed") => {
            Some("The role is removed, and taken from every registration and group that had it.")
        }
        _ => None,
    };
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    render(&s, &signed, &app.name, &app, shown).await
}

/// The application as the API answers it (no secret's hash in it).
async fn read(s: &AppState, id: Uuid) -> Result<Application, Response> {
    match s.identity.application(Scope::ALL, id).await {
        Ok(a) => Ok(a),
        Err(Error::NotFound) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = ?e, "the admin application page could not read the application");
            Err(unavailable())
        }
    }
}

/// The non-empty lines of a text area.
fn lines(v: Option<&str>) -> Vec<String> {
    v.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// A text field as typed: trimmed, and `null` (the key removed) when empty.
fn text(v: Option<&str>) -> Value {
    match v.map(str::trim) {
        None | Some("") => Value::Null,
        Some(x) => Value::String(x.to_string()),
    }
}

/// The merge patch of a posted application form.
fn patch_of(fields: &[(String, String)]) -> Value {
    let grants: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "grant")
        .map(|(_, v)| v.as_str())
        .collect();
    json!({
        "name": field(fields, "name").unwrap_or_default().trim(),
        "oauthConfiguration": {
            "authorizedRedirectURLs": lines(field(fields, "authorizedRedirectURLs")),
            "authorizedOriginURLs": lines(field(fields, "authorizedOriginURLs")),
            "logoutURL": text(field(fields, "logoutURL")),
            "enabledGrants": grants,
            "proofKeyForCodeExchangePolicy": text(field(fields, "proofKeyForCodeExchangePolicy")),
            "clientAuthenticationPolicy": text(field(fields, "clientAuthenticationPolicy")),
        },
    })
}

/// `POST /admin/applications/{applicationId}`: the name and the OAuth settings as one merge
/// patch; the client secret is kept.
pub async fn save_application(
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
    let old = match read(&s, id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let patch = patch_of(&form_fields(&body));
    if id == signed.ids.application && patch["name"] != old.name.as_str() {
        let typed = as_typed(&old, &patch);
        let shown = Shown {
            errors: vec![KEEPS_NAME.to_string()],
            ..Shown::default()
        };
        return render(&s, &signed, &old.name, &typed, shown).await;
    }
    match s.identity.patch_application(Scope::ALL, id, &patch).await {
        Ok(_) => {
            tracing::info!(application = %id, admin = %signed.email, "an application was changed on the admin pages");
            redirect(&format!("/admin/applications/{id}?done=saved"), Vec::new())
        }
        Err(e @ Error::Invalid(_)) => {
            let typed = as_typed(&old, &patch);
            let shown = Shown {
                errors: error_messages(&e),
                ..Shown::default()
            };
            render(&s, &signed, &old.name, &typed, shown).await
        }
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin application save failed");
            unavailable()
        }
    }
}

/// The application as the refused form had it, so the administrator corrects what they typed
/// rather than typing it again.
fn as_typed(old: &Application, patch: &Value) -> Application {
    let Ok(mut v) = serde_json::to_value(old) else {
        return old.clone();
    };
    portcullis_domain::patch::merge(&mut v, patch);
    serde_json::from_value(v).unwrap_or_else(|_| old.clone())
}

/// The "add a role" form.
#[derive(Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    is_default: Option<String>,
    is_super_role: Option<String>,
}

/// `POST /admin/applications/{applicationId}/roles`: adds a role.
pub async fn add_role(
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
    let form: RoleForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let description = form.description.trim();
    let role = Role {
        name: form.name.trim().to_string(),
        description: (!description.is_empty()).then(|| description.to_string()),
        is_default: form.is_default.is_some(),
        is_super_role: form.is_super_role.is_some(),
        ..Role::default()
    };
    match s.identity.create_role(Scope::ALL, id, None, role).await {
        Ok(r) => {
            tracing::info!(application = %id, role = %r.name, admin = %signed.email, "a role was added on the admin pages");
            redirect(
                &format!("/admin/applications/{id}?done=role-added"),
                Vec::new(),
            )
        }
        Err(e @ Error::Invalid(_)) => {
            let app = match read(&s, id).await {
                Ok(a) => a,
                Err(r) => return r,
            };
            let shown = Shown {
                role_errors: error_messages(&e),
                new_role: Some(form),
                ..Shown::default()
            };
            render(&s, &signed, &app.name, &app, shown).await
        }
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin role add failed");
            unavailable()
        }
    }
}

/// `POST /admin/applications/{applicationId}/roles/{roleId}/delete`: removes a role, which
/// takes it from every registration and group that has it. The admin application keeps its
/// `admin` role: without it nobody could use these pages.
pub async fn remove_role(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, role)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !csrf_form(&headers, &body) {
        return form_expired();
    }
    let (Ok(id), Ok(role)) = (Uuid::parse_str(&id), Uuid::parse_str(&role)) else {
        return not_found();
    };
    let app = match read(&s, id).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let back = format!("/admin/applications/{id}");
    let Some(name) = app
        .roles
        .iter()
        .find(|r| r.id == Some(role))
        .map(|r| r.name.clone())
    else {
        return message(
            StatusCode::NOT_FOUND,
            "No such role",
            "The application has no role with this id.",
            Some((&back, "Back to the application")),
        );
    };
    if id == signed.ids.application && name == ADMIN_ROLE {
        return message(
            StatusCode::BAD_REQUEST,
            "Not removed",
            "The admin role of the Portcullis application is what lets anyone use these pages; it stays.",
            Some((&back, "Back to the application")),
        );
    }
    match s.identity.delete_role(Scope::ALL, id, role).await {
        Ok(()) => {
            tracing::info!(application = %id, role = %name, admin = %signed.email, "a role was removed on the admin pages");
            redirect(&format!("{back}?done=role-removed"), Vec::new())
        }
        Err(e @ Error::Invalid(_)) => {
            let shown = Shown {
                role_errors: error_messages(&e),
                ..Shown::default()
            };
            render(&s, &signed, &app.name, &app, shown).await
        }
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin role removal failed");
            unavailable()
        }
    }
}

/// A policy of `oauthConfiguration` as stored, or the value the server reads when it is unset.
fn policy(oauth: Option<&Value>, key: &str, unset: &str) -> String {
    oauth
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .unwrap_or(unset)
        .to_string()
}

fn options(all: &[(&str, &str)], chosen: &str) -> Vec<minijinja::Value> {
    all.iter()
        .map(|(value, label)| context! { value, label, chosen => *value == chosen })
        .collect()
}

/// The application's page; `app` is the application as the forms show it, `title` its stored
/// name.
async fn render(
    s: &AppState,
    signed: &Signed,
    title: &str,
    app: &Application,
    shown: Shown,
) -> Response {
    let tenant = match app.tenant_id {
        Some(t) => match s.identity.tenant(Scope::ALL, t).await {
            Ok(t) => Some(context! { id => t.id.map(|i| i.to_string()), name => t.name }),
            Err(Error::NotFound) => None,
            Err(e) => {
                tracing::error!(error = ?e, "the admin application page could not read the tenant");
                return unavailable();
            }
        },
        None => None,
    };
    let config = OAuthConfig::of(app);
    let oauth = app.settings.get("oauthConfiguration");
    // An application saved with FusionAuth's older `requireClientAuthentication: false` and no
    // policy is a public client; the form shows it as one.
    let client_auth_unset = match oauth
        .and_then(|o| o.get("requireClientAuthentication"))
        .and_then(Value::as_bool)
    {
        Some(false) => "NotRequired",
        _ => "Required",
    };
    let grants: Vec<minijinja::Value> = GRANTS
        .iter()
        .map(|(value, label)| context! { value, label, on => config.grant_enabled(value) })
        .collect();
    let roles: Vec<minijinja::Value> = app
        .roles
        .iter()
        .map(|r| {
            context! {
                id => r.id.map(|i| i.to_string()),
                name => r.name.clone(),
                description => r.description.clone(),
                is_default => r.is_default,
                is_super_role => r.is_super_role,
            }
        })
        .collect();
    let status = if shown.errors.is_empty() && shown.role_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let new_role = minijinja::Value::from_serialize(shown.new_role.unwrap_or_default());
    signed.page(
        status,
        "application.html",
        context! {
            title,
            id => app.id.map(|i| i.to_string()),
            name => app.name.clone(),
            keeps_name => (app.id == Some(signed.ids.application)).then_some(KEEPS_NAME),
            active => app.active,
            tenant,
            redirect_urls => config.authorized_redirect_urls.join("\n"),
            origin_urls => config.authorized_origin_urls.join("\n"),
            logout_url => config.logout_url.clone(),
            grants,
            pkce => options(&PKCE_POLICIES, &policy(oauth, "proofKeyForCodeExchangePolicy", "NotRequired")),
            client_auth => options(&CLIENT_AUTH_POLICIES, &policy(oauth, "clientAuthenticationPolicy", client_auth_unset)),
            roles,
            new_role,
            notice => shown.notice,
            errors => shown.errors,
            role_errors => shown.role_errors,
        },
    )
}
