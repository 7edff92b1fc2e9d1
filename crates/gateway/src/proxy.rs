//! One request through the gateway: normalize the path, pick the route, verify the bearer token
//! (or the browser's session cookie, refreshed near its expiry; `/login`, the redirect path,
//! `/logout`, `/metrics` when served here and the `[[login_fork]]` paths are answered here too),
//! judge the route's rule, strip what the client may not send, add the identity, and forward to
//! the upstream over a pooled keep-alive connection with both bodies streamed. Its answers are
//! short JSON bodies that name no upstream, address or error detail (those go to the log).

use crate::auth::{AuthError, Caller};
use crate::headers;
use crate::path::{normalize, NormalPath};
use crate::session;
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
    /// Answered by the gateway itself, not by a route.
    own: bool,
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
    gw.metrics.request(
        match (&seen.route, seen.own) {
            (Some(r), _) => r.as_str(),
            (None, true) => crate::metrics::OWN,
            (None, false) => crate::metrics::NONE,
        },
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
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
    mut req: Request<Body>,
    seen: &mut Seen,
) -> Response<Body> {
    let path: NormalPath = match normalize(req.uri().path()) {
        Ok(p) => p,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "bad_path"),
    };
    seen.path = Some(path.display());
    let segs: Vec<&str> = path.segments.iter().map(String::as_str).collect();
    seen.own = true;
    match segs.as_slice() {
        ["metrics"] if table.config.metrics == crate::config::Metrics::MainBind => {
            return crate::metrics::response(&gw.metrics);
        }
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
    if let (Some(o), Some(sealer)) = (&table.config.oauth, &table.sealer) {
        if segs == ["login"] {
            return login(table, o, sealer, req.headers(), req.uri());
        }
        if segs == ["logout"] {
            return logout(table, o, req.headers());
        }
        if path.display() == o.redirect_path {
            return callback(table, o, sealer, req.headers(), req.uri()).await;
        }
    }
    seen.own = false;

    let display = path.display();
    if let Some(fork) = table.config.login_forks.iter().find(|f| f.path == display) {
        seen.route = Some(fork.path.clone());
        if req.method() != http::Method::POST {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        }
        let client =
            headers::set_forwarded(req.headers_mut(), peer.ip(), &table.config.trusted_proxies);
        seen.client = Some(client);
        let (resp, outcome) =
            crate::fork::handle(&gw.fork_http, table.verifier.base(), fork, client, req).await;
        gw.metrics.fork(&fork.path, outcome);
        return resp;
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
    let mut session_cookie: Option<String> = None;
    let token: Option<String> = match bearer(req.headers()) {
        Some(t) => Some(t.to_string()),
        None => match browser_session(table, req.headers()).await {
            Some((t, refreshed)) => {
                session_cookie = refreshed;
                Some(t)
            }
            None => None,
        },
    };
    let token_key = token.as_deref().map(crate::auth::token_key);
    let caller: Option<Arc<Caller>> = match (token.as_deref(), &token_key) {
        (Some(token), Some(key)) => match table.verifier.verify_keyed(token, key).await {
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
        _ => None,
    };
    seen.user = caller.as_ref().map(|c| c.sub.clone());
    if !route.allow.allows(caller.as_deref()) {
        return match caller {
            None if table.config.oauth.is_some() && wants_html(&req) => {
                let back = req.uri().path_and_query().map_or("/", |p| p.as_str());
                let mut u = reqwest::Url::parse("http://gateway/login").expect("a URL");
                u.query_pairs_mut().append_pair("rd", back);
                redirect(&format!("/login?{}", u.query().unwrap_or("")), &[])
            }
            None => challenge(StatusCode::UNAUTHORIZED, "unauthenticated", REALM),
            Some(_) => challenge(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Bearer realm=\"portcullis-gateway\", error=\"insufficient_scope\"",
            ),
        };
    }

    // A protocol upgrade (WebSocket) asked for: the one hop-by-hop header pair passed on, and
    // the two connections joined once the upstream agrees.
    let upgrade = upgrade_asked(req.headers());
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    headers::strip(&mut parts.headers, &table.strip_names);
    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(u) = &upgrade {
        parts.headers.insert(
            http::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        parts.headers.insert(http::header::UPGRADE, u.clone());
    }
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

    if let (Some(c), Some(key)) = (&caller, &token_key) {
        for (name, claim) in &table.config.identity.headers {
            if let Some(v) = c.claims.get(claim).and_then(headers::claim_value) {
                if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                    parts.headers.insert(name, v);
                }
            }
        }
        if let Some(h) = &table.config.identity.assertion_header {
            let token = gw.signer.assertion(key, c, &route.upstream.url);
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
            gw.metrics.upstream_error(route.path.as_str(), "timeout");
            tracing::warn!(upstream = %up.url, route = route.path.as_str(), "the upstream did not answer in time");
            answer(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
        }
        Ok(Err(e)) => {
            gw.metrics
                .upstream_error(route.path.as_str(), "unavailable");
            tracing::warn!(upstream = %up.url, route = route.path.as_str(), error = %e, "the upstream failed");
            answer(StatusCode::BAD_GATEWAY, "upstream_unavailable")
        }
        Ok(Ok(mut resp)) => {
            let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
            let (agreed, upstream_upgrade) = match (switched, client_upgrade) {
                (true, Some(client)) => (
                    resp.headers().get(http::header::UPGRADE).cloned(),
                    Some((client, hyper::upgrade::on(&mut resp))),
                ),
                _ => (None, None),
            };
            let (mut parts, body) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            if let (Some(u), Some((client, upstream))) = (agreed, upstream_upgrade) {
                parts.headers.insert(
                    http::header::CONNECTION,
                    HeaderValue::from_static("upgrade"),
                );
                parts.headers.insert(http::header::UPGRADE, u);
                tokio::spawn(join_upgraded(client, upstream));
            }
            if let Some(c) = session_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                parts.headers.append(http::header::SET_COOKIE, c);
            }
            Response::from_parts(parts, Body::new(body))
        }
    }
}

// ------------------------------------------------------------------ browser sessions

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A browser navigating: a GET or HEAD that accepts HTML.
fn wants_html(req: &Request<Body>) -> bool {
    (req.method() == http::Method::GET || req.method() == http::Method::HEAD)
        && req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

fn redirect(to: &str, cookies: &[String]) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
    r
}

/// The gateway's own base URL as the browser sees it.
fn public_base(o: &crate::config::OAuth, headers: &http::HeaderMap) -> String {
    match &o.public_url {
        Some(u) => u.clone(),
        None => format!(
            "http://{}",
            headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
        ),
    }
}

fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `/login?rd=/path`: starts the code flow with PKCE and `state`, kept in a sealed cookie.
fn login(
    table: &Table,
    o: &crate::config::OAuth,
    sealer: &session::Sealer,
    headers: &http::HeaderMap,
    uri: &http::Uri,
) -> Response<Body> {
    let base = public_base(o, headers);
    let secure = base.starts_with("https://");
    let pending = session::Pending {
        state: session::random(),
        verifier: session::random(),
        return_to: session::safe_return(query_param(uri, "rd").as_deref()),
        started: now_secs(),
    };
    let mut u = match reqwest::Url::parse(&format!("{}/oauth2/authorize", table.verifier.base())) {
        Ok(u) => u,
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "identity_unavailable"),
    };
    u.query_pairs_mut()
        .append_pair("client_id", &o.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &format!("{base}{}", o.redirect_path))
        .append_pair("scope", "openid offline_access")
        .append_pair("state", &pending.state)
        .append_pair("code_challenge", &session::challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256");
    let cookie = session::set_cookie(
        session::PENDING_COOKIE,
        &sealer.seal(session::PENDING_COOKIE, &pending),
        session::PENDING_SECS,
        secure,
    );
    redirect(u.as_str(), &[cookie])
}

/// The redirect path: checks `state`, exchanges the code, and stores the tokens in the session
/// cookie.
async fn callback(
    table: &Table,
    o: &crate::config::OAuth,
    sealer: &session::Sealer,
    headers: &http::HeaderMap,
    uri: &http::Uri,
) -> Response<Body> {
    let base = public_base(o, headers);
    let secure = base.starts_with("https://");
    let pending: Option<session::Pending> = session::cookie(headers, session::PENDING_COOKIE)
        .and_then(|c| sealer.open(session::PENDING_COOKIE, c));
    let (Some(p), Some(state), Some(code)) =
        (pending, query_param(uri, "state"), query_param(uri, "code"))
    else {
        return answer(StatusCode::BAD_REQUEST, "invalid_sign_in");
    };
    if !session::same(&p.state, &state) || now_secs() - p.started > session::PENDING_SECS {
        return answer(StatusCode::BAD_REQUEST, "invalid_sign_in");
    }
    let redirect_uri = format!("{base}{}", o.redirect_path);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    let Some(s) = token_request(table, o, &form).await else {
        return answer(StatusCode::BAD_REQUEST, "invalid_sign_in");
    };
    if table.verifier.verify(&s.access_token).await.is_err() {
        return answer(StatusCode::FORBIDDEN, "forbidden");
    }
    let cookies = [
        session::set_cookie(
            session::SESSION_COOKIE,
            &sealer.seal(session::SESSION_COOKIE, &s),
            SESSION_COOKIE_SECS,
            secure,
        ),
        session::set_cookie(session::PENDING_COOKIE, "", 0, secure),
    ];
    redirect(&p.return_to, &cookies)
}

/// How long the browser keeps the session cookie; the refresh token's own life ends it sooner.
const SESSION_COOKIE_SECS: i64 = 30 * 24 * 3600;

/// `/logout`: forgets the session here and ends Portcullis' SSO session.
fn logout(table: &Table, o: &crate::config::OAuth, headers: &http::HeaderMap) -> Response<Body> {
    let secure = public_base(o, headers).starts_with("https://");
    let mut u = match reqwest::Url::parse(&format!("{}/oauth2/logout", table.verifier.base())) {
        Ok(u) => u,
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "identity_unavailable"),
    };
    u.query_pairs_mut().append_pair("client_id", &o.client_id);
    redirect(
        u.as_str(),
        &[session::set_cookie(session::SESSION_COOKIE, "", 0, secure)],
    )
}

/// A call to Portcullis' token endpoint as the gateway's client.
async fn token_request(
    table: &Table,
    o: &crate::config::OAuth,
    form: &[(&str, &str)],
) -> Option<session::Session> {
    let r = table
        .verifier
        .http()
        .post(format!("{}/oauth2/token", table.verifier.base()))
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(form)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        tracing::info!(status = %r.status(), "Portcullis refused a token request");
        return None;
    }
    let v: serde_json::Value = r.json().await.ok()?;
    Some(session::Session {
        access_token: v.get("access_token")?.as_str()?.to_string(),
        refresh_token: v
            .get("refresh_token")
            .and_then(|t| t.as_str())
            .map(str::to_string),
        expires: now_secs() + v.get("expires_in").and_then(|e| e.as_i64()).unwrap_or(0),
    })
}

/// The access token of the browser's session cookie, refreshed first when it is about to
/// expire (then with the new cookie to set).
async fn browser_session(
    table: &Table,
    headers: &http::HeaderMap,
) -> Option<(String, Option<String>)> {
    let (o, sealer) = (table.config.oauth.as_ref()?, table.sealer.as_ref()?);
    let s: session::Session = sealer.open(
        session::SESSION_COOKIE,
        session::cookie(headers, session::SESSION_COOKIE)?,
    )?;
    if s.expires - now_secs() > session::REFRESH_BEFORE_SECS {
        return Some((s.access_token, None));
    }
    let refresh = s.refresh_token?;
    let mut fresh = token_request(
        table,
        o,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await?;
    if fresh.refresh_token.is_none() {
        fresh.refresh_token = Some(refresh);
    }
    let secure = public_base(o, headers).starts_with("https://");
    let cookie = session::set_cookie(
        session::SESSION_COOKIE,
        &sealer.seal(session::SESSION_COOKIE, &fresh),
        SESSION_COOKIE_SECS,
        secure,
    );
    Some((fresh.access_token, Some(cookie)))
}

// ------------------------------------------------------------------ protocol upgrades

/// The `Upgrade` value when the request asks for a WebSocket (`Connection: upgrade` and
/// `Upgrade: websocket`). Other protocols are not passed on: an `h2c` tunnel would carry
/// requests past the route table and the header stripping.
fn upgrade_asked(h: &http::HeaderMap) -> Option<HeaderValue> {
    let asked = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asked
        .then(|| h.get(http::header::UPGRADE).cloned())
        .flatten()
        .filter(|u| {
            u.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// Copies bytes both ways between the upgraded client and upstream connections until either
/// closes.
async fn join_upgraded(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::info!(error = %e, "an upgraded connection could not be joined");
            return;
        }
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
