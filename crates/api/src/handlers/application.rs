//! `/api/application` and its roles (`/api/application/{id}/role`).

use super::{patch_root, wrap, LifecycleQuery};
use crate::error::ApiResult;
use crate::extract::{parse_json, Caller, JsonBody, PathId, QueryParams};
use crate::wire::{ApplicationBody, RoleBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Creates with a generated id, or with the one the path names (`POST .../{applicationId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<ApplicationBody>,
) -> ApiResult<Json<Value>> {
    let a = s
        .identity
        .create_application(c.scope, id, req.application)
        .await?;
    Ok(wrap("application", a))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    inactive: bool,
}

/// Active applications, or with `?inactive=true` the deactivated ones (as FusionAuth).
pub async fn list(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Value>> {
    let mut apps = s.identity.applications(c.scope).await?;
    apps.retain(|a| a.active != q.inactive);
    Ok(wrap("applications", apps))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "application",
        s.identity.application(c.scope, id).await?,
    ))
}

/// Replaces the application; with `?reactivate=true` (and no body) reactivates it.
pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    QueryParams(q): QueryParams<LifecycleQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if q.reactivate {
        let a = s.identity.set_application_active(c.scope, id, true).await?;
        return Ok(wrap("application", a));
    }
    let req: ApplicationBody = parse_json(&body)?;
    let a = s
        .identity
        .replace_application(c.scope, id, req.application)
        .await?;
    Ok(wrap("application", a))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "application")?;
    Ok(wrap(
        "application",
        s.identity.patch_application(c.scope, id, p).await?,
    ))
}

/// Deactivates the application, or with `?hardDelete=true` deletes it and every registration
/// for it.
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    QueryParams(q): QueryParams<LifecycleQuery>,
) -> ApiResult<()> {
    if q.hard_delete {
        Ok(s.identity.delete_application(c.scope, id).await?)
    } else {
        s.identity
            .set_application_active(c.scope, id, false)
            .await?;
        Ok(())
    }
}

pub async fn create_role(
    State(s): State<AppState>,
    c: Caller,
    PathId(app): PathId<Uuid>,
    JsonBody(req): JsonBody<RoleBody>,
) -> ApiResult<Json<Value>> {
    let r = s.identity.create_role(c.scope, app, None, req.role).await?;
    Ok(wrap("role", r))
}

pub async fn create_role_with_id(
    State(s): State<AppState>,
    c: Caller,
    PathId((app, role)): PathId<(Uuid, Uuid)>,
    JsonBody(req): JsonBody<RoleBody>,
) -> ApiResult<Json<Value>> {
    let r = s
        .identity
        .create_role(c.scope, app, Some(role), req.role)
        .await?;
    Ok(wrap("role", r))
}

pub async fn replace_role(
    State(s): State<AppState>,
    c: Caller,
    PathId((app, role)): PathId<(Uuid, Uuid)>,
    JsonBody(req): JsonBody<RoleBody>,
) -> ApiResult<Json<Value>> {
    let r = s
        .identity
        .replace_role(c.scope, app, role, req.role)
        .await?;
    Ok(wrap("role", r))
}

pub async fn patch_role(
    State(s): State<AppState>,
    c: Caller,
    PathId((app, role)): PathId<(Uuid, Uuid)>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "role")?;
    Ok(wrap(
        "role",
        s.identity.patch_role(c.scope, app, role, p).await?,
    ))
}

pub async fn delete_role(
    State(s): State<AppState>,
    c: Caller,
    PathId((app, role)): PathId<(Uuid, Uuid)>,
) -> ApiResult<()> {
    Ok(s.identity.delete_role(c.scope, app, role).await?)
}
