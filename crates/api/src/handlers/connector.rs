//! `/api/connector` (FusionAuth's Connector API: Generic, LDAP and our `RESTMigration`) and
//! `/api/migration/status` (the slow migration's exact progress). Connectors are global
//! configuration: a caller acting in one tenant gets 401 on every connector route, and answers
//! never carry a connector's secrets (`Connector::to_wire`).

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{optional_uuid, uuid, Caller, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use portcullis_domain::migration::StatusQuery;
use portcullis_domain::Connector;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct ConnectorRequest {
    connector: Connector,
}

/// `POST /api/connector` and `POST /api/connector/{connectorId}`. The type-specific settings
/// are checked before anything is stored (a Generic connector without `authenticationURL`, a
/// certificate that does not parse: 400).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    id: Option<Path<String>>,
    JsonBody(req): JsonBody<ConnectorRequest>,
) -> ApiResult<Json<Value>> {
    let id = optional_uuid(id, "connectorId")?;
    let created = s
        .identity
        .create_connector(c.scope, id, req.connector)
        .await?;
    Ok(wrap("connector", created.to_wire()))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = s
        .identity
        .connectors(c.scope)
        .await?
        .iter()
        .map(Connector::to_wire)
        .collect();
    Ok(wrap("connectors", all))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "connectorId")?;
    Ok(wrap(
        "connector",
        s.identity.connector(c.scope, id).await?.to_wire(),
    ))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ConnectorRequest>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "connectorId")?;
    Ok(wrap(
        "connector",
        s.identity
            .replace_connector(c.scope, id, req.connector)
            .await?
            .to_wire(),
    ))
}

pub async fn patch(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "connectorId")?;
    let p = patch_root(&body, "connector")?;
    Ok(wrap(
        "connector",
        s.identity.patch_connector(c.scope, id, p).await?.to_wire(),
    ))
}

/// Refused (400) while a tenant's connector policy names the connector.
pub async fn delete(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<()> {
    let id = uuid(&id, "connectorId")?;
    Ok(s.identity.delete_connector(c.scope, id).await?)
}

/// `GET /api/migration/status?legacyCount=N&goal=0.9`.
pub async fn status(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let st = s.identity.migration_status(c.scope, &q).await?;
    Ok(Json(serde_json::to_value(st).expect("status serializes")))
}
