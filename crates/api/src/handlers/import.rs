//! `POST /api/user/import`: the big-bang migration's bulk load, one transaction per request.

use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody};
use crate::AppState;
use axum::extract::State;
use portcullis_domain::ImportRequest;

/// Imports every user of the request or none: validation (with indexed field errors), hashing of
/// plaintext passwords on the pool, then one transaction. Success is a 200 with an empty body, as
/// FusionAuth answers: its documented curl loop compares the body and status code to `200`.
pub async fn import(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<ImportRequest>,
) -> ApiResult<()> {
    s.identity.import_users(c.scope, req).await?;
    Ok(())
}
