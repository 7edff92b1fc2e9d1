//! `/api/api-key`: keys are stored hashed, so the secret appears only in the create answer.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{optional_uuid, uuid, Caller, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use portcullis_domain::ApiKey;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRequest {
    api_key: ApiKey,
}

/// Creates with a generated id, or with the one the path names (`POST .../{keyId}`).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    id: Option<Path<String>>,
    JsonBody(req): JsonBody<ApiKeyRequest>,
) -> ApiResult<Json<Value>> {
    let id = optional_uuid(id, "keyId")?;
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
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "keyId")?;
    Ok(wrap("apiKey", s.identity.api_key(&c.key, id).await?))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ApiKeyRequest>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "keyId")?;
    Ok(wrap(
        "apiKey",
        s.identity.replace_api_key(&c.key, id, req.api_key).await?,
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "keyId")?;
    let p = patch_root(&body, "apiKey")?;
    Ok(wrap(
        "apiKey",
        s.identity.patch_api_key(&c.key, id, p).await?,
    ))
}

pub async fn delete(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<()> {
    let id = uuid(&id, "keyId")?;
    Ok(s.identity.delete_api_key(&c.key, id).await?)
}
