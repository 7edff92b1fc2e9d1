//! The admin pages for users: search them (with exact totals and keyset paging), see one
//! (profile, registrations, memberships, recent sign-ins), create one, and act on one
//! (deactivate, reactivate, unlock after too many failed sign-ins, revoke its refresh tokens,
//! send a password reset, delete). Every action is a POST form with the CSRF token and goes
//! through the same `Identity` and `Sessions` calls as the API, so its rules, events and webhooks
//! are the API's.

use super::{
    csrf_form, error_messages, form_expired, message, redirect, require_admin, unavailable,
};
use crate::pages::csrf_holds;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::migration::date_of;
use portcullis_domain::migration::forgot::ForgotPasswordRequest;
use portcullis_domain::search::{Search, SearchCriteria};
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

#[derive(Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    /// The search's `nextResults` cursor: the page after the one shown.
    next: Option<String>,
}

/// Users on a page of the list.
const PAGE: i64 = 25;

/// Sign-ins shown on a user's page.
const RECENT_LOGINS: usize = 10;

/// The query string of what was typed in the search box: a query of its own when it names a
/// field (`active:false`) or is `*`; otherwise the start of an email or a username, with the
/// query language's special characters taken literally but for `*`, which stays a wildcard.
fn query_string_of(typed: &str) -> String {
    if typed == "*" || typed.contains(':') {
        return typed.to_string();
    }
    let mut literal = String::new();
    for c in typed.chars() {
        if c.is_whitespace() || matches!(c, '\\' | '(' | ')' | '"') {
            literal.push('\\');
        }
        literal.push(c);
    }
    format!("email:{literal}* OR username:{literal}*")
}

/// `GET /admin/users`: a search over every tenant with its exact total, a page at a time
/// through the search's `nextResults` cursor (no page counts rows it does not show). A user
/// id finds that user; an email or username finds those that start with it; a query such as
/// `active:false` is the API's query language.
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
    let hint = "The start of an email or username, a user id, or a query such as \
                active:false AND lastLoginInstant:<2026-01-01 (see the search guide); * lists everyone.";
    let next = query.next.filter(|n| !n.is_empty());
    if q.is_empty() && next.is_none() {
        return signed.page(
            StatusCode::OK,
            "users.html",
            context! { title => "Users", q, hint, searched => false },
        );
    }
    let mut criteria = SearchCriteria {
        number_of_results: Some(PAGE),
        ..SearchCriteria::default()
    };
    if next.is_some() {
        criteria.next_results = next;
    } else if let Ok(id) = Uuid::parse_str(&q) {
        criteria.ids = Some(vec![id]);
    } else {
        criteria.query_string = Some(query_string_of(&q));
    }
    let found = match Search::parse(criteria) {
        Ok(search) => s.identity.search_users(Scope::ALL, search).await,
        Err(e) => Err(e),
    };
    let answer = match found {
        Ok(a) => a,
        Err(e @ Error::Invalid(_)) => {
            return signed.page(
                StatusCode::BAD_REQUEST,
                "users.html",
                context! {
                    title => "Users", q, hint, searched => false,
                    error => error_messages(&e).into_iter().next(),
                },
            )
        }
        Err(e) => {
            tracing::error!(error = ?e, "the admin users page could not search");
            return unavailable();
        }
    };
    let next_href = answer.next_results.as_deref().map(|n| {
        let query = serde_urlencoded::to_string([("q", q.as_str()), ("next", n)])
            .expect("text pairs encode");
        format!("/admin/users?{query}")
    });
    signed.page(
        StatusCode::OK,
        "users.html",
        context! {
            title => "Users", q, hint, searched => true,
            total => answer.total, users => answer.users, next => next_href,
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
    let logins = match s.sessions.recent_logins(id, RECENT_LOGINS).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = ?e, "the admin user page could not read the user's sign-ins");
            return unavailable();
        }
    };
    let app_names: std::collections::HashMap<Uuid, String> = s
        .identity
        .applications(Scope::ALL)
        .await
        .map(|apps| {
            apps.into_iter()
                .filter_map(|a| Some((a.id?, a.name)))
                .collect()
        })
        .unwrap_or_default();
    let logins: Vec<minijinja::Value> = logins
        .iter()
        .map(|l| {
            let application = l
                .application_id
                .map(|a| app_names.get(&a).cloned().unwrap_or_else(|| a.to_string()));
            context! {
                instant => instant(Some(l.instant)),
                outcome => if l.success { "signed in" } else { "failed" },
                success => l.success,
                application, ip => l.ip_address, reason => l.reason,
            }
        })
        .collect();
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
            notice, actions, errors, logins,
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
        Err(e @ Error::Invalid(_)) => user_page(&s, &signed, id, None, error_messages(&e)).await,
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
    let Some(tenant) = u.tenant_id else {
        return not_found();
    };
    let scope = Scope::tenant(tenant);
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
        "unlock" => s.sessions.unlock_user(tenant, id).await,
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
            &error_messages(&Error::Invalid(errors)).join(" "),
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
                errors => error_messages(&e),
                form => minijinja::Value::from_serialize(&form),
            },
        ),
        Err(e) => {
            tracing::error!(error = ?e, "the admin pages could not create a user");
            unavailable()
        }
    }
}
