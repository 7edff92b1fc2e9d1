//! `/api/api-key`: keys are stored hashed, so the secret appears only in the create answer.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId};
use crate::wire::ApiKeyBody;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use uuid::Uuid;

/// Creates with a generated id, or with the one the path names (`POST .../{keyId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<ApiKeyBody>,
) -> ApiResult<Json<Value>> {
    let k = s
        .identity
        .create_api_key(Some(&c.key), id, req.api_key)
        .await?;
    Ok(wrap("apiKey", k))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    Ok(wrap("apiKeys", s.identity.api_keys(&c.key).await?))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap("apiKey", s.identity.api_key(&c.key, id).await?))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<ApiKeyBody>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "apiKey",
        s.identity.replace_api_key(&c.key, id, req.api_key).await?,
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "apiKey")?;
    Ok(wrap(
        "apiKey",
        s.identity.patch_api_key(&c.key, id, p).await?,
    ))
}

pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_api_key(&c.key, id).await?)
}
