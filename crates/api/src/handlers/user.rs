//! `/api/user` and registrations (`/api/user/registration`).

use super::{patch_root, wrap, LifecycleQuery};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, Caller, JsonBody, PathId, QueryParams};
use crate::wire::{RegisterBody, RegistrationBody, UserBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use portcullis_domain::{Errors, Registration, User};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

fn user_json(u: &User) -> Json<Value> {
    Json(json!({ "user": u.redacted() }))
}

/// Creates with a generated id, or with the one the path names (`POST .../{userId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<UserBody>,
) -> ApiResult<Json<Value>> {
    Ok(user_json(
        &s.identity.create_user(c.scope, id, req.user).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    email: Option<String>,
    username: Option<String>,
    login_id: Option<String>,
}

/// `GET /api/user?email=` (or `?username=`, `?loginId=`).
pub async fn find(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<UserQuery>,
) -> ApiResult<Json<Value>> {
    let u =
        match (q.email, q.username, q.login_id) {
            (Some(e), _, _) => s.identity.user_by_email(c.scope, &e).await?,
            (_, Some(n), _) => s.identity.user_by_username(c.scope, &n).await?,
            (_, _, Some(l)) => s.identity.user_by_login_id(c.scope, &l).await?,
            _ => return Err(ApiError::bad_request(Errors::default().general(
                "[missing]query",
                "Give ?email=, ?username= or ?loginId=, or retrieve by id with /api/user/{userId}.",
            ))),
        };
    Ok(user_json(&u))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(user_json(&s.identity.user(c.scope, id).await?))
}

/// Replaces the user's profile; with `?reactivate=true` (and no body) reactivates the user.
pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    QueryParams(q): QueryParams<LifecycleQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if q.reactivate {
        return Ok(user_json(
            &s.identity.set_user_active(c.scope, id, true).await?,
        ));
    }
    let req: UserBody = parse_json(&body)?;
    Ok(user_json(
        &s.identity.replace_user(c.scope, id, req.user).await?,
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "user")?;
    Ok(user_json(&s.identity.patch_user(c.scope, id, p).await?))
}

/// Deactivates the user, or with `?hardDelete=true` deletes them with their registrations and
/// memberships.
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    QueryParams(q): QueryParams<LifecycleQuery>,
) -> ApiResult<()> {
    if q.hard_delete {
        Ok(s.identity.delete_user(c.scope, id).await?)
    } else {
        s.identity.set_user_active(c.scope, id, false).await?;
        Ok(())
    }
}

fn registered(u: &User, r: &Registration) -> Json<Value> {
    Json(json!({ "user": u.redacted(), "registration": r }))
}

/// FusionAuth's *register*: creates the user and the registration together.
pub async fn register(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<RegisterBody>,
) -> ApiResult<Json<Value>> {
    let (u, r) = s
        .identity
        .register(c.scope, None, req.user, req.registration)
        .await?;
    Ok(registered(&u, &r))
}

/// Adds a registration to the existing user `userId`; when the body also carries a user and no
/// user has that id yet, creates the user with that id and the registration together.
pub async fn register_with_user_id(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<RegisterBody>,
) -> ApiResult<Json<Value>> {
    let (u, r) = match req.user {
        Some(mut user) if s.identity.user(c.scope, id).await.is_err() => {
            user.id = Some(id);
            s.identity
                .register(c.scope, None, Some(user), req.registration)
                .await?
        }
        _ => {
            s.identity
                .register(c.scope, Some(id), None, req.registration)
                .await?
        }
    };
    Ok(registered(&u, &r))
}

pub async fn get_registration(
    State(s): State<AppState>,
    c: Caller,
    PathId((user, app)): PathId<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "registration",
        s.identity.registration(c.scope, user, app).await?,
    ))
}

pub async fn replace_registration(
    State(s): State<AppState>,
    c: Caller,
    PathId((user, app)): PathId<(Uuid, Uuid)>,
    JsonBody(req): JsonBody<RegistrationBody>,
) -> ApiResult<Json<Value>> {
    let r = s
        .identity
        .replace_registration(c.scope, user, app, req.registration)
        .await?;
    Ok(wrap("registration", r))
}

pub async fn patch_registration(
    State(s): State<AppState>,
    c: Caller,
    PathId((user, app)): PathId<(Uuid, Uuid)>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "registration")?;
    let r = s.identity.patch_registration(c.scope, user, app, p).await?;
    Ok(wrap("registration", r))
}

pub async fn delete_registration(
    State(s): State<AppState>,
    c: Caller,
    PathId((user, app)): PathId<(Uuid, Uuid)>,
) -> ApiResult<()> {
    Ok(s.identity.delete_registration(c.scope, user, app).await?)
}
