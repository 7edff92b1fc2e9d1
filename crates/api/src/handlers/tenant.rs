//! `/api/tenant`: tenants, the boundary of every other entity. Answers never carry the tenant's
//! secrets (`Tenant::to_wire`); only a key that manages connectors changes `connectorPolicies`.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{optional_uuid, uuid, Caller, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use portcullis_domain::Tenant;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct TenantRequest {
    tenant: Tenant,
}

/// `POST /api/tenant` and `POST /api/tenant/{tenantId}` (create with a chosen id).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    id: Option<Path<String>>,
    JsonBody(req): JsonBody<TenantRequest>,
) -> ApiResult<Json<Value>> {
    let id = optional_uuid(id, "tenantId")?;
    let t = s
        .identity
        .create_tenant(c.scope, id, req.tenant, c.key.manages_connectors())
        .await?;
    Ok(wrap("tenant", t.to_wire()))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = s
        .identity
        .tenants(c.scope)
        .await?
        .iter()
        .map(Tenant::to_wire)
        .collect();
    Ok(wrap("tenants", all))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "tenantId")?;
    Ok(wrap(
        "tenant",
        s.identity.tenant(c.scope, id).await?.to_wire(),
    ))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<TenantRequest>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "tenantId")?;
    Ok(wrap(
        "tenant",
        s.identity
            .replace_tenant(c.scope, id, req.tenant, c.key.manages_connectors())
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
    let id = uuid(&id, "tenantId")?;
    let p = patch_root(&body, "tenant")?;
    Ok(wrap(
        "tenant",
        s.identity
            .patch_tenant(c.scope, id, p, c.key.manages_connectors())
            .await?
            .to_wire(),
    ))
}

/// Deletes the tenant with all its users, applications, groups and keys.
pub async fn delete(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<()> {
    let id = uuid(&id, "tenantId")?;
    Ok(s.identity.delete_tenant(c.scope, id).await?)
}
