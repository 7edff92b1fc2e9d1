//! The OAuth 2.0 / OpenID Connect endpoints a client calls directly: discovery, token,
//! userinfo, introspection, revocation, the JWKS alias, FusionAuth's Logout API and the
//! client-secret rotation. The ones a browser visits (authorize, logout) are hosted pages
//! (the `pages` module).
//!
//! Their answers follow the RFCs, not FusionAuth's error envelope: `{"error",
//! "error_description"}` with 400 or 401, and `Cache-Control: no-store` on every token.

use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId};
use crate::wire::{ClientSecretBody, LogoutBody};
use crate::AppState;
use axum::extract::State;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, PRAGMA, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use portcullis_domain::oauth::{ClientAuth, OAuthError, TokenRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The base URL the endpoints are published under: the configured public URL, else the
/// request's `Host` over http (a deployment behind TLS sets the public URL).
pub(crate) fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &s.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// RFC 6749 §5.2's error answer.
pub(crate) fn oauth_error(e: OAuthError, basic: bool) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        Json(json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic {
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    no_store(r)
}

/// `application/x-www-form-urlencoded` decoding of one component (`+` is a space).
fn form_decode(v: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}"))
        .ok()
        .and_then(|mut p| p.pop())
        .map(|(_, v)| v)
}

/// The client of `Authorization: Basic` (RFC 6749 §2.3.1: id and secret form-encoded, then
/// base64), if the request sends it.
pub(crate) fn basic_client(headers: &HeaderMap) -> Result<Option<ClientAuth>, OAuthError> {
    use base64::Engine;
    let Some(h) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::new("invalid_client", "Client authentication failed.");
    let h = h.to_str().map_err(|_| bad())?;
    let Some(b64) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Some(ClientAuth {
        client_id: Some(form_decode(id).ok_or_else(bad)?),
        client_secret: Some(form_decode(secret).ok_or_else(bad)?),
    }))
}

/// A form body, or RFC 6749's `invalid_request`.
fn form<T: for<'de> Deserialize<'de>>(headers: &HeaderMap, body: &Bytes) -> Result<T, OAuthError> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(OAuthError::new(
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    // A parameter sent twice is refused (RFC 6749 §3.1), not resolved one way or the other.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::new("invalid_request", "The form body is malformed."))?;
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(OAuthError::new(
            "invalid_request",
            format!("The parameter [{k}] is repeated."),
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::new("invalid_request", "The form body is malformed."))
}

/// The client's credentials: Basic, or `client_secret_post` (never both at once).
/// Without Basic, the client's id comes from the body and the grant reads it there.
fn client_auth(headers: &HeaderMap, post_secret: Option<&str>) -> Result<ClientAuth, OAuthError> {
    match basic_client(headers)? {
        Some(_) if post_secret.is_some() => Err(OAuthError::new(
            "invalid_request",
            "Send the client's secret one way only.",
        )),
        Some(b) => Ok(b),
        None => Ok(ClientAuth {
            client_id: None,
            client_secret: post_secret.filter(|s| !s.is_empty()).map(str::to_string),
        }),
    }
}

/// `GET /.well-known/openid-configuration`: the only tenant's (or the default's) metadata.
pub async fn discovery(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let base = base_url(&s, &headers);
    Ok(Json(s.oauth.discovery(None, &base).await?))
}

/// `GET /.well-known/openid-configuration/{tenantId}`: a tenant's metadata (its issuer).
pub async fn discovery_tenant(
    State(s): State<AppState>,
    PathId(tenant): PathId<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let base = base_url(&s, &headers);
    Ok(Json(s.oauth.discovery(Some(tenant), &base).await?))
}

/// `POST /oauth2/token`.
pub async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.contains_key(AUTHORIZATION);
    let answer = async {
        let req: TokenRequest = form(&headers, &body)?;
        let auth = client_auth(&headers, req.client_secret.as_deref())?;
        s.oauth.token(auth, req, None).await
    }
    .await;
    match answer {
        Ok(t) => no_store((StatusCode::OK, Json(t)).into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// `GET|POST /oauth2/userinfo` with `Authorization: Bearer`.
pub async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let refused = || {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        r
    };
    let Some(token) = bearer else {
        return refused();
    };
    match s.oauth.userinfo(token).await {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(portcullis_domain::Error::Unauthorized | portcullis_domain::Error::NotFound) => {
            refused()
        }
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth2/introspect` (RFC 7662), for an authenticated client.
pub async fn introspect(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.contains_key(AUTHORIZATION);
    let answer = async {
        let f: TokenForm = form(&headers, &body)?;
        let auth = client_auth(&headers, f.client_secret.as_deref())?;
        s.oauth
            .introspect(
                auth,
                f.client_id.as_deref(),
                f.token.as_deref().unwrap_or(""),
            )
            .await
    }
    .await;
    match answer {
        Ok(m) => no_store(Json(m).into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token existed.
pub async fn revoke(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.contains_key(AUTHORIZATION);
    let answer = async {
        let f: TokenForm = form(&headers, &body)?;
        let token = f
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::new("invalid_request", "The token is required."))?;
        let auth = client_auth(&headers, f.client_secret.as_deref())?;
        s.oauth.revoke(auth, f.client_id.as_deref(), token).await
    }
    .await;
    match answer {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// `POST /api/logout`: FusionAuth's Logout API. Revokes the refresh token sent (all of the
/// user's, and every SSO session, with `global`), ends this browser's SSO session and clears
/// its cookie.
pub async fn api_logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<LogoutBody>,
) -> ApiResult<Response> {
    let cookie = crate::pages::cookie(&headers, crate::pages::SSO_COOKIE);
    s.oauth
        .api_logout(cookie.as_deref(), b.refresh_token.as_deref(), b.global)
        .await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().append(
        axum::http::header::SET_COOKIE,
        crate::pages::clear_cookie(&s, crate::pages::SSO_COOKIE),
    );
    Ok(r)
}

/// `POST /api/application/{id}/oauth-configuration/client-secret` (ours): a new client secret,
/// shown in this answer only.
pub async fn rotate_secret(
    State(s): State<AppState>,
    c: Caller,
    PathId(app): PathId<Uuid>,
) -> ApiResult<Json<ClientSecretBody>> {
    let (client_id, client_secret) = s.oauth.rotate_client_secret(c.scope, app).await?;
    Ok(Json(ClientSecretBody {
        client_id,
        client_secret,
    }))
}
