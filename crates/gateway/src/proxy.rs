//! One request through the gateway: normalize the path, pick the route, verify the bearer token,
//! judge the route's rule, strip what the client may not send, add the identity, and forward to
//! the upstream over a pooled keep-alive connection with both bodies streamed. Its answers are
//! short JSON bodies that name no upstream, address or error detail (those go to the log).

use crate::auth::{AuthError, Caller};
use crate::headers;
use crate::path::{normalize, NormalPath};
use crate::{Gateway, Table};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

const REALM: &str = "Bearer realm=\"portcullis-gateway\"";

/// What the access log says about a request besides its status.
#[derive(Default)]
struct Seen {
    path: Option<String>,
    route: Option<String>,
    user: Option<String>,
    client: Option<std::net::IpAddr>,
}

fn answer(status: StatusCode, error: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "error": error }).to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn challenge(status: StatusCode, error: &str, www: &'static str) -> Response<Body> {
    let mut r = answer(status, error);
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(www));
    r
}

/// The bearer token of an `Authorization` header (scheme without case, RFC 6750 §2.1).
fn bearer(h: &http::HeaderMap) -> Option<&str> {
    let v = h.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The axum handler for every request.
pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    let start = Instant::now();
    let method = req.method().clone();
    let table = gw.table();
    let mut seen = Seen::default();
    let resp = route(&gw, &table, peer, req, &mut seen).await;
    gw.log.write(json!({
        "time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "method": method.as_str(),
        "path": seen.path,
        "route": seen.route,
        "status": resp.status().as_u16(),
        "ms": start.elapsed().as_secs_f64() * 1000.0,
        "client": seen.client.unwrap_or(peer.ip()).to_string(),
        "user": seen.user,
    }));
    resp
}

async fn route(
    gw: &Gateway,
    table: &Table,
    peer: SocketAddr,
    req: Request<Body>,
    seen: &mut Seen,
) -> Response<Body> {
    let path: NormalPath = match normalize(req.uri().path()) {
        Ok(p) => p,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "bad_path"),
    };
    seen.path = Some(path.display());
    let segs: Vec<&str> = path.segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["healthz"] => {
            let mut r = Response::new(Body::from("{\"status\":\"ok\"}"));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return r;
        }
        [".well-known", "gateway", "jwks.json"] => {
            let mut r = Response::new(Body::from(gw.signer.jwks().to_string()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return r;
        }
        _ => {}
    }

    let mut path_matched = false;
    let found = table.config.routes.iter().enumerate().find(|(_, r)| {
        let hit = r.path.matches(&path);
        path_matched |= hit;
        hit && r
            .methods
            .as_ref()
            .is_none_or(|ms| ms.contains(req.method()))
    });
    let Some((index, route)) = found else {
        return if path_matched {
            answer(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        } else {
            answer(StatusCode::NOT_FOUND, "not_found")
        };
    };
    seen.route = Some(route.path.as_str().to_string());

    // Credentials. A route open to anyone ignores a token that fails; any other refuses it.
    let open = route.allow.allows(None);
    let caller: Option<Caller> = match bearer(req.headers()) {
        None => None,
        Some(token) => match table.verifier.verify(token).await {
            Ok(c) => Some(c),
            Err(_) if open => None,
            Err(AuthError::Invalid) => {
                return challenge(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "Bearer realm=\"portcullis-gateway\", error=\"invalid_token\"",
                )
            }
            Err(AuthError::Unavailable) => {
                return answer(StatusCode::SERVICE_UNAVAILABLE, "identity_unavailable")
            }
        },
    };
    seen.user = caller.as_ref().map(|c| c.sub.clone());
    if !route.allow.allows(caller.as_ref()) {
        return match caller {
            None => challenge(StatusCode::UNAUTHORIZED, "unauthenticated", REALM),
            Some(_) => challenge(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Bearer realm=\"portcullis-gateway\", error=\"insufficient_scope\"",
            ),
        };
    }

    let (mut parts, body) = req.into_parts();
    headers::strip(&mut parts.headers, &table.strip_names);
    headers::strip_hop_by_hop(&mut parts.headers);
    let client =
        headers::set_forwarded(&mut parts.headers, peer.ip(), &table.config.trusted_proxies);
    seen.client = Some(client);

    if let Some(limit) = route.rate_limit {
        let who = match &caller {
            Some(c) => format!("u:{}", c.sub),
            None => format!("ip:{client}"),
        };
        if let Err(wait) = gw.limiter.check(index, &who, limit) {
            let mut r = answer(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return r;
        }
    }

    if let Some(c) = &caller {
        for (name, claim) in &table.config.identity.headers {
            if let Some(v) = c.claims.get(claim).and_then(headers::claim_value) {
                if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                    parts.headers.insert(name, v);
                }
            }
        }
        if let Some(h) = &table.config.identity.assertion_header {
            let token = gw.signer.sign(c, &route.upstream.url);
            if let (Ok(name), Ok(v)) = (
                http::HeaderName::from_bytes(h.as_bytes()),
                HeaderValue::from_str(&token),
            ) {
                parts.headers.insert(name, v);
            }
        }
    }

    let up = &route.upstream;
    let mut target = path.forwarded(&up.base_path, route.strip_prefix.len());
    if let Some(q) = parts.uri.query() {
        target.push('?');
        target.push_str(q);
    }
    parts.uri = match http::Uri::builder()
        .scheme(up.scheme.clone())
        .authority(up.authority.clone())
        .path_and_query(target)
        .build()
    {
        Ok(u) => u,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "bad_path"),
    };
    if let Ok(h) = HeaderValue::from_str(up.authority.as_str()) {
        parts.headers.insert(HOST, h);
    }
    parts.version = http::Version::HTTP_11;

    let sent = gw.client.request(Request::from_parts(parts, body));
    match tokio::time::timeout(route.timeout, sent).await {
        Err(_) => {
            tracing::warn!(upstream = %up.url, route = route.path.as_str(), "the upstream did not answer in time");
            answer(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %up.url, route = route.path.as_str(), error = %e, "the upstream failed");
            answer(StatusCode::BAD_GATEWAY, "upstream_unavailable")
        }
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
    }
}
