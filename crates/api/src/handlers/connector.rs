//! `/api/connector` (FusionAuth's Connector API: Generic, LDAP and our `RESTMigration`) and
//! `/api/migration/status` (the slow migration's exact progress). Connectors are global
//! configuration: a caller acting in one tenant gets 401 on every connector route, and answers
//! never carry a connector's secrets (`Connector::redacted`).

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId, QueryParams};
use crate::wire::ConnectorBody;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use portcullis_domain::migration::StatusQuery;
use portcullis_domain::Connector;
use serde_json::Value;
use uuid::Uuid;

/// `POST /api/connector` and `POST /api/connector/{connectorId}`. The type-specific settings
/// are checked before anything is stored (a Generic connector without `authenticationURL`, a
/// certificate that does not parse: 400).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<ConnectorBody>,
) -> ApiResult<Json<Value>> {
    let created = s
        .identity
        .create_connector(c.scope, id, req.connector)
        .await?;
    Ok(wrap("connector", created.redacted()))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = s
        .identity
        .connectors(c.scope)
        .await?
        .iter()
        .map(Connector::redacted)
        .collect();
    Ok(wrap("connectors", all))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "connector",
        s.identity.connector(c.scope, id).await?.redacted(),
    ))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<ConnectorBody>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "connector",
        s.identity
            .replace_connector(c.scope, id, req.connector)
            .await?
            .redacted(),
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let p = patch_root(&body, "connector")?;
    Ok(wrap(
        "connector",
        s.identity.patch_connector(c.scope, id, p).await?.redacted(),
    ))
}

/// Refused (400) while a tenant's connector policy names the connector.
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_connector(c.scope, id).await?)
}

/// `GET /api/migration/status?legacyCount=N&goal=0.9`.
pub async fn status(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let st = s.identity.migration_status(c.scope, &q).await?;
    Ok(Json(serde_json::to_value(st).expect("status serializes")))
}
