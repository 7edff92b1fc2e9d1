//! The auth layer on every operation the route table marks as needing an API key (or taking one
//! when sent): finds the key, checks its endpoint permissions and settles the tenant the request
//! acts in.

use crate::error::ApiError;
use crate::extract::Caller;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_domain::{Errors, Scope};

pub const TENANT_HEADER: &str = "x-fusionauth-tenantid";

/// The permission name of a route: its path up to the first parameter, as FusionAuth names
/// endpoints in key permissions (`/api/user/registration/{userId}` → `/api/user/registration`,
/// `/api/application/{id}/role` → `/api/application`).
pub fn endpoint_of(route: &str) -> &str {
    match route.find("/{") {
        Some(i) => &route[..i],
        None => route,
    }
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let found = caller(
        &state,
        route.as_deref(),
        req.method().as_str(),
        req.headers(),
    )
    .await;
    match found {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The auth layer of an operation whose API key is optional: a request that sends an
/// `Authorization` header is authenticated as by [`authenticate`]; one without passes as anonymous.
pub async fn authenticate_if_key(state: State<AppState>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(AUTHORIZATION) {
        authenticate(state, req, next).await
    } else {
        next.run(req).await
    }
}

/// The caller of a request: its API key (with permission for `route` and `method`) and tenant.
pub(crate) async fn caller(
    state: &AppState,
    route: Option<&str>,
    method: &str,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let raw = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let key = state
        .identity
        .authenticate(raw)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let endpoint = endpoint_of(route.unwrap_or(""));
    if !key.allows(endpoint, method) {
        return Err(ApiError::unauthorized());
    }
    let header = match headers.get(TENANT_HEADER) {
        None => None,
        Some(v) => {
            let id = v
                .to_str()
                .ok()
                .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok());
            let id = id.ok_or_else(|| {
                ApiError::bad_request(Errors::default().general(
                    "[invalid]tenantId",
                    "The X-FusionAuth-TenantId header is not a valid UUID.",
                ))
            })?;
            Some(id)
        }
    };
    let tenant = match (key.tenant_id, header) {
        // A key locked to a tenant never acts in another one.
        (Some(k), Some(h)) if k != h => return Err(ApiError::unauthorized()),
        (Some(k), _) => Some(k),
        (None, Some(h)) => {
            if state
                .identity
                .store()
                .tenant(h)
                .await
                .map_err(portcullis_domain::Error::from)?
                .is_none()
            {
                return Err(ApiError::bad_request(Errors::default().general(
                    "[invalid]tenantId",
                    format!("The tenant [{h}] named by the X-FusionAuth-TenantId header does not exist."),
                )));
            }
            Some(h)
        }
        (None, None) => None,
    };
    Ok(Caller {
        key,
        scope: Scope { tenant },
    })
}

#[cfg(test)]
mod tests {
    use super::endpoint_of;

    #[test]
    fn endpoints_are_the_static_prefix_of_the_route() {
        assert_eq!(endpoint_of("/api/user"), "/api/user");
        assert_eq!(endpoint_of("/api/user/{id}"), "/api/user");
        assert_eq!(
            endpoint_of("/api/user/registration/{userId}/{applicationId}"),
            "/api/user/registration"
        );
        assert_eq!(
            endpoint_of("/api/application/{id}/role/{roleId}"),
            "/api/application"
        );
    }
}
