//! `/api/theme`: the hosted pages' themes, in FusionAuth's Theme API shape, per tenant. The
//! templates are compiled on save ([`crate::pages::check_theme`]), so a theme that cannot
//! render is a 400 and never reaches a page.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId};
use crate::wire::ThemeBody;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use uuid::Uuid;

/// Creates with a generated id, or with the one the path names (`POST .../{themeId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<ThemeBody>,
) -> ApiResult<Json<Value>> {
    let t = s
        .identity
        .create_theme(c.scope, id, req.theme, crate::pages::check_theme)
        .await?;
    Ok(wrap("theme", t))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    Ok(wrap("themes", s.identity.themes(c.scope).await?))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap("theme", s.identity.theme(c.scope, id).await?))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<ThemeBody>,
) -> ApiResult<Json<Value>> {
    let t = s
        .identity
        .replace_theme(c.scope, id, req.theme, crate::pages::check_theme)
        .await?;
    Ok(wrap("theme", t))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "theme")?;
    let t = s
        .identity
        .patch_theme(c.scope, id, p, crate::pages::check_theme)
        .await?;
    Ok(wrap("theme", t))
}

/// Deletes a theme that no tenant uses.
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_theme(c.scope, id).await?)
}
