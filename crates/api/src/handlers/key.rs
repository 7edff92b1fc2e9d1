//! `/api/key`: FusionAuth's Key API for the tenants' signing keys. Answers carry public halves
//! only (`KeyView` has no field for a private key or an HMAC secret).

use super::wrap;
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathName};
use crate::wire::GenerateKeyRequest;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

/// `GET /api/key`: the signing keys of the caller's tenants.
pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    Ok(wrap("keys", s.sessions.keys(c.scope).await?))
}

/// `GET /api/key/{keyId}`: 404 for a key of another tenant.
pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathName(id): PathName,
) -> ApiResult<Json<Value>> {
    Ok(wrap("key", s.sessions.key(c.scope, &id).await?))
}

/// `POST /api/key/generate`: rotates the tenant's signing key; the old one keeps verifying until
/// its tokens expire.
pub async fn generate(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<GenerateKeyRequest>,
) -> ApiResult<Json<Value>> {
    let key = s
        .sessions
        .generate_key(c.scope, req.key.tenant_id, req.key.algorithm.as_deref())
        .await?;
    Ok(wrap("key", key))
}

/// `DELETE /api/key/{keyId}`: a retiring key only; 400 for the active one.
pub async fn delete(State(s): State<AppState>, c: Caller, PathName(id): PathName) -> ApiResult<()> {
    Ok(s.sessions.delete_key(c.scope, &id).await?)
}
