//! The HTTP API of Portcullis: FusionAuth's paths and JSON over the identity service.
//!
//! This crate owns the wire: routing, the auth layer (API keys, permissions, tenant selection),
//! body parsing and its errors, the mapping of domain errors to status codes, Kickstart, status,
//! metrics and the OpenAPI document. Every route is one entry of the route table ([`routes`]),
//! from which the router, each operation's auth and the OpenAPI document are built. It holds no
//! business rules; each handler makes one call into [`portcullis_domain::Identity`]. It builds
//! no services and runs no background work: the composition root (`serve`) hands it an
//! [`AppState`] over services it built, and the ways in to its workers ([`Background`]).

mod admin;
pub mod auth;
pub mod error;
pub mod extract;
mod handlers;
pub mod kickstart;
pub mod metrics;
pub mod oauth;
pub mod openapi;
mod pages;
pub mod routes;
pub mod wire;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use axum::{middleware, Router};
use portcullis_domain::oauth::OAuth;
use portcullis_domain::{Identity, ResetQueue, Sessions};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest body of `POST /api/user/import` (a file of up to ~100k users) and of an import
    /// job.
    pub max_import_bytes: usize,
    /// The directory whose files import jobs may read (`{"file": ...}`); `None` refuses file jobs.
    pub import_dir: Option<std::path::PathBuf>,
    /// The URL browsers and clients reach this server at (`https://login.example.com`): the
    /// base of the OAuth endpoints in discovery, and `Secure` cookies when it is https. Without
    /// it, the request's `Host` over http.
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_import_bytes: 512 * 1024 * 1024,
            import_dir: None,
            public_url: None,
        }
    }
}

/// Reads an import job's file, checked again against the import directory `dir`: it may have
/// been replaced since the job was queued. The import-job worker reads through this.
pub async fn read_import_file(
    dir: Option<&std::path::Path>,
    path: &str,
) -> Result<Vec<u8>, String> {
    let file = handlers::import::allowed_file(dir, path)?;
    tokio::fs::read(&file).await.map_err(|e| e.to_string())
}

/// Everything a handler may use, passed in explicitly.
#[derive(Clone)]
pub struct AppState {
    pub identity: Identity,
    /// Login, tokens and signing keys, over the same store and hashing pool.
    pub sessions: Sessions,
    /// The OAuth 2.0 / OpenID Connect provider over those sessions.
    pub oauth: OAuth,
    pub metrics: Arc<metrics::Metrics>,
    pub config: Arc<ApiConfig>,
    background: Background,
}

/// The ways in to the work a node runs beside its requests (the workers of
/// `portcullis-workers`, which `serve` starts).
#[derive(Clone)]
pub struct Background {
    /// Wakes this node's import-job worker when a job is queued.
    pub import_jobs: Arc<tokio::sync::Notify>,
    /// Forgot-password requests for the mail worker.
    pub resets: ResetQueue,
}

impl AppState {
    /// The state of a server over services the composition root (`serve`, a test's server)
    /// built: the identity service with its legacy systems and mailer, the sessions over it,
    /// and the metrics registry the connectors report into, served on `/metrics`.
    pub fn new(
        identity: Identity,
        sessions: Sessions,
        metrics: Arc<metrics::Metrics>,
        config: ApiConfig,
        background: Background,
    ) -> Self {
        Self {
            identity,
            oauth: OAuth::new(sessions.clone()),
            sessions,
            metrics,
            config: Arc::new(config),
            background,
        }
    }

    fn wake_import_jobs(&self) {
        self.background.import_jobs.notify_one();
    }

    /// Where forgot-password requests go.
    fn resets(&self) -> &ResetQueue {
        &self.background.resets
    }
}

/// The header a request to an unknown path gets, so tests can tell "no such route" from "no such
/// entity".
pub const NO_ROUTE_HEADER: &str = "x-portcullis-no-route";

async fn no_route() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, [(NO_ROUTE_HEADER, "1")])
}

/// Serves a request with its client's address (the peer, when the server was started with
/// connect info) and User-Agent in scope, for the `info` block of the events its changes write.
async fn with_request_info(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let ip_address = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    // Bounded: the header is the client's to choose.
    let user_agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let info = portcullis_domain::event::EventInfo {
        ip_address,
        user_agent,
    };
    portcullis_domain::event::REQUEST_INFO
        .scope(info, next.run(req))
        .await
}

/// The whole HTTP application, built from the route table: each operation behind the auth its
/// entry names.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new();
    for route in routes::table(&state.config) {
        let mut methods = MethodRouter::new();
        for op in route.ops {
            let handler = match op.auth {
                routes::Auth::Open => op.handler,
                routes::Auth::ApiKey => op.handler.route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::authenticate,
                )),
                routes::Auth::OptionalApiKey => op.handler.route_layer(
                    middleware::from_fn_with_state(state.clone(), auth::authenticate_if_key),
                ),
            };
            methods = methods.merge(handler);
        }
        if let Some(limit) = route.body_limit {
            methods = methods.layer(DefaultBodyLimit::max(limit));
        }
        app = app.route(route.path, methods);
    }
    app.fallback(no_route)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(with_request_info))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // The route template, not the URI: query strings carry emails.
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |m| m.as_str());
                tracing::info_span!("request", method = %req.method(), route = %route)
            }),
        )
        .with_state(state)
}
