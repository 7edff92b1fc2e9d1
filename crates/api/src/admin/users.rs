//! The admin pages for users: find them, see one (profile, registrations, memberships), create
//! one, and act on one (deactivate, reactivate, unlock after too many failed sign-ins, revoke its
//! refresh tokens, send a password reset, delete). Every action is a POST form with the CSRF token and goes through the same `Identity`
//! and `Sessions` calls as the API, so its rules, events and webhooks are the API's.

use super::{csrf_form, form_expired, message, redirect, require_admin, unavailable};
use crate::pages::csrf_holds;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::migration::date_of;
use portcullis_domain::migration::forgot::ForgotPasswordRequest;
use portcullis_domain::{Error, Password, Scope, User};
use serde::Deserialize;
use uuid::Uuid;

/// An instant as people read it: `2026-12-03 05:51 UTC`.
pub(super) fn instant(ms: Option<i64>) -> Option<String> {
    let ms = ms?;
    let day = ms.div_euclid(86_400_000);
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    Some(format!(
        "{} {:02}:{:02} UTC",
        date_of(day),
        minutes / 60,
        minutes % 60
    ))
}

/// The messages of a domain error, for a page.
fn messages(e: &Error) -> Vec<String> {
    match e {
        Error::Invalid(errors) => errors
            .field_errors
            .values()
            .flatten()
            .chain(errors.general_errors.iter())
            .map(|i| i.message.clone())
            .collect(),
        other => vec![format!("{other}")],
    }
}

#[derive(Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
}

/// `GET /admin/users`: finds a user by id, email or username in the default tenant.
pub async fn users(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<UsersQuery>,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = query.q.trim().to_string();
    let hint = "An email, a username or a user id.";
    if q.is_empty() {
        return signed.page(
            StatusCode::OK,
            "users.html",
            context! { title => "Users", q, hint, searched => false },
        );
    }
    let found = match Uuid::parse_str(&q) {
        Ok(id) => s.identity.user(Scope::ALL, id).await,
        Err(_) => {
            s.identity
                .user_by_login_id(Scope::tenant(signed.ids.tenant), &q)
                .await
        }
    };
    let (users, error) = match found {
        Ok(u) => (vec![u.redacted()], None),
        Err(Error::NotFound) => (Vec::new(), None),
        Err(e @ Error::Invalid(_)) => (Vec::new(), messages(&e).into_iter().next()),
        Err(e) => {
            tracing::error!(error = ?e, "the admin users page could not search");
            return unavailable();
        }
    };
    signed.page(
        StatusCode::OK,
        "users.html",
        context! {
            title => "Users", q, hint, searched => error.is_none(), error,
            total => users.len(), users, next => None::<String>,
        },
    )
}

#[derive(Deserialize)]
pub struct UserQuery {
    done: Option<String>,
}

/// `GET /admin/users/{userId}`.
pub async fn user(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<UserQuery>,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    user_page(&s, &signed, id, q.done.as_deref(), Vec::new()).await
}

async fn user_page(
    s: &AppState,
    signed: &super::Signed,
    id: Uuid,
    done: Option<&str>,
    errors: Vec<String>,
) -> Response {
    let u = match s.identity.user(Scope::ALL, id).await {
        Ok(u) => u,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "the admin user page could not read the user");
            return unavailable();
        }
    };
    let notice = done.and_then(|d| {
        Some(match d {
            "created" => "The user was created.",
            "deactivate" => "The user is deactivated: they cannot sign in.",
            "reactivate" => "The user is active again.",
            "revoke-tokens" => "Every refresh token of the user is revoked.",
            "send-reset" => "A password reset email is on its way (if the tenant sends email).",
            "edit" => "The changes are saved.",
            "unlock" => "The user's sign-in lock is ended and their failures count from zero.",
            _ => return None,
        })
    });
    let locked_until = match u.tenant_id {
        Some(t) => match s.sessions.user_locked_until(t, id).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = ?e, "the admin user page could not read the user's lock");
                return unavailable();
            }
        },
        None => None,
    };
    let mut actions = Vec::new();
    if locked_until.is_some() {
        actions.push(action("unlock", "Unlock", ""));
    }
    if u.active {
        actions.push(action("deactivate", "Deactivate", "danger"));
    } else {
        actions.push(action("reactivate", "Reactivate", ""));
    }
    actions.push(action("revoke-tokens", "Revoke refresh tokens", ""));
    if u.email.is_some() {
        actions.push(action("send-reset", "Send a password reset", ""));
    }
    actions.push(action("delete", "Delete", "danger"));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    signed.page(
        status,
        "user.html",
        context! {
            title => u.email.clone().unwrap_or_else(|| id.to_string()),
            last_login => instant(u.last_login_instant),
            locked_until => instant(locked_until),
            created => instant(u.insert_instant),
            user => u.redacted(),
            notice, actions, errors,
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EditForm {
    csrf: Option<String>,
    email: Option<String>,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// `POST /admin/users/{userId}/edit`: a JSON merge patch of the four fields; an empty field
/// removes the value.
pub async fn edit_user(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form: EditForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !csrf_holds(&headers, form.csrf.as_deref()) {
        return form_expired();
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let tenant = match s.identity.user(Scope::ALL, id).await {
        Ok(u) => u.tenant_id,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin edit could not read the user");
            return unavailable();
        }
    };
    let Some(tenant) = tenant else {
        return not_found();
    };
    let value = |v: Option<String>| match v.as_deref().map(str::trim) {
        Some(x) if !x.is_empty() => serde_json::Value::String(x.to_string()),
        _ => serde_json::Value::Null,
    };
    let patch = serde_json::json!({
        "email": value(form.email),
        "username": value(form.username),
        "firstName": value(form.first_name),
        "lastName": value(form.last_name),
    });
    match s
        .identity
        .patch_user(Scope::tenant(tenant), id, &patch)
        .await
    {
        Ok(_) => redirect(&format!("/admin/users/{id}?done=edit"), Vec::new()),
        Err(e @ Error::Invalid(_)) => user_page(&s, &signed, id, None, messages(&e)).await,
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin edit failed");
            unavailable()
        }
    }
}

fn action(path: &str, label: &str, class: &str) -> minijinja::Value {
    context! { path, label, class }
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "No such user",
        "No user has this id.",
        Some(("/admin/users", "Find a user")),
    )
}

/// `POST /admin/users/{userId}/{action}`.
pub async fn user_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, act)): Path<(String, String)>,
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
    let u = match s.identity.user(Scope::ALL, id).await {
        Ok(u) => u,
        Err(Error::NotFound) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "an admin action could not read the user");
            return unavailable();
        }
    };
    let scope = match u.tenant_id {
        Some(t) => Scope::tenant(t),
        None => return not_found(),
    };
    let done = match act.as_str() {
        "deactivate" => s
            .identity
            .set_user_active(scope, id, false)
            .await
            .map(|_| ()),
        "reactivate" => s
            .identity
            .set_user_active(scope, id, true)
            .await
            .map(|_| ()),
        "revoke-tokens" => s
            .sessions
            .revoke(scope, None, Some(id), None)
            .await
            .map(|_| ()),
        "send-reset" => s
            .sessions
            .forgot_password(
                scope,
                ForgotPasswordRequest {
                    login_id: u.email.clone(),
                    ..ForgotPasswordRequest::default()
                },
                true,
                s.resets(),
            )
            .await
            .map(|_| ()),
        "delete" => s.identity.delete_user(scope, id).await,
        "unlock" => match u.tenant_id {
            Some(t) => s.sessions.unlock_user(t, id).await,
            None => return not_found(),
        },
        "edit" => return edit_user(State(s), headers, Path(id.to_string()), body).await,
        _ => return not_found(),
    };
    match done {
        Ok(()) if act == "delete" => {
            tracing::info!(user = %id, admin = %signed.email, "a user was deleted on the admin pages");
            redirect("/admin/users", Vec::new())
        }
        Ok(()) => {
            tracing::info!(user = %id, admin = %signed.email, action = %act, "an admin action");
            redirect(&format!("/admin/users/{id}?done={act}"), Vec::new())
        }
        Err(Error::Invalid(errors)) => message(
            StatusCode::BAD_REQUEST,
            "Not done",
            &messages(&Error::Invalid(errors)).join(" "),
            Some((&format!("/admin/users/{id}"), "Back to the user")),
        ),
        Err(Error::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, action = %act, "an admin action failed");
            unavailable()
        }
    }
}

/// `GET /admin/users/new`.
pub async fn new_user(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    signed.page(
        StatusCode::OK,
        "user_new.html",
        context! { title => "Create a user", form => context! {} },
    )
}

#[derive(Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct NewUserForm {
    csrf: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(skip_serializing)]
    password: Option<String>,
}

/// `POST /admin/users/new`: creates a user in the default tenant.
pub async fn create_user(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut form: NewUserForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !csrf_holds(&headers, form.csrf.as_deref()) {
        return form_expired();
    }
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let user = User {
        email: given(&form.email),
        first_name: given(&form.first_name),
        last_name: given(&form.last_name),
        password: form.password.take().filter(|p| !p.is_empty()).map(Password),
        ..User::default()
    };
    match s
        .identity
        .create_user(Scope::tenant(signed.ids.tenant), None, user)
        .await
    {
        Ok(u) => redirect(
            &format!(
                "/admin/users/{}?done=created",
                u.id.expect("a created user has its id")
            ),
            Vec::new(),
        ),
        Err(e @ Error::Invalid(_)) => signed.page(
            StatusCode::BAD_REQUEST,
            "user_new.html",
            context! {
                title => "Create a user",
                errors => messages(&e),
                form => minijinja::Value::from_serialize(&form),
            },
        ),
        Err(e) => {
            tracing::error!(error = ?e, "the admin pages could not create a user");
            unavailable()
        }
    }
}
