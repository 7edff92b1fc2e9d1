//! `/api/tenant`: tenants, the boundary of every other entity. Answers never carry the tenant's
//! secrets (`Tenant::redacted`); only a key that manages connectors changes `connectorPolicies`.

use super::{patch_root, wrap};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId};
use crate::wire::TenantBody;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use portcullis_domain::Tenant;
use serde_json::Value;
use uuid::Uuid;

/// `POST /api/tenant` and `POST /api/tenant/{tenantId}` (create with a chosen id).
pub async fn create(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Option<Uuid>>,
    JsonBody(req): JsonBody<TenantBody>,
) -> ApiResult<Json<Value>> {
    let t = s
        .identity
        .create_tenant(c.scope, id, req.tenant, c.key.manages_connectors())
        .await?;
    Ok(wrap("tenant", t.redacted()))
}

pub async fn list(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = s
        .identity
        .tenants(c.scope)
        .await?
        .iter()
        .map(Tenant::redacted)
        .collect();
    Ok(wrap("tenants", all))
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "tenant",
        s.identity.tenant(c.scope, id).await?.redacted(),
    ))
}

pub async fn replace(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<TenantBody>,
) -> ApiResult<Json<Value>> {
    Ok(wrap(
        "tenant",
        s.identity
            .replace_tenant(c.scope, id, req.tenant, c.key.manages_connectors())
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
    let p = patch_root(&body, "tenant")?;
    Ok(wrap(
        "tenant",
        s.identity
            .patch_tenant(c.scope, id, p, c.key.manages_connectors())
            .await?
            .redacted(),
    ))
}

/// Deletes the tenant with all its users, applications, groups and keys.
pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<()> {
    Ok(s.identity.delete_tenant(c.scope, id).await?)
}
