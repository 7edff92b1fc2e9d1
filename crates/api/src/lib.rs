//! The HTTP API of Portcullis: FusionAuth's paths and JSON over the identity service.
//!
//! This crate owns the wire: routing, the auth layer (API keys, permissions, tenant selection),
//! body parsing and its errors, the mapping of domain errors to status codes, Kickstart, status,
//! metrics and the OpenAPI document. Every route is one entry of the route table ([`routes`]),
//! from which the router, each operation's auth and the OpenAPI document are built. It holds no
//! business rules; each handler makes one call into [`portcullis_domain::Identity`].

pub mod auth;
pub mod error;
pub mod extract;
mod handlers;
pub mod kickstart;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod wire;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use axum::{middleware, Router};
use portcullis_domain::{Identity, Sessions};
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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_import_bytes: 512 * 1024 * 1024,
            import_dir: None,
        }
    }
}

/// Everything a handler may use, passed in explicitly.
#[derive(Clone)]
pub struct AppState {
    pub identity: Identity,
    /// Login, tokens and signing keys, over the same store and hashing pool.
    pub sessions: Sessions,
    pub metrics: Arc<metrics::Metrics>,
    pub config: Arc<ApiConfig>,
    /// Wakes the import job runner when a job is queued.
    jobs: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// The state of a server whose identity service asks legacy systems through
    /// `portcullis-connect`, with the connectors' metrics on this server's `/metrics`.
    pub fn new(identity: Identity, config: ApiConfig) -> Self {
        let metrics = Arc::new(metrics::Metrics::new());
        let identity = identity
            .with_legacy(Arc::new(portcullis_connect::Connectors::new(Some(
                metrics.registry(),
            ))))
            .with_mailer(Arc::new(portcullis_mail::Smtp));
        Self {
            sessions: Sessions::new(identity.clone()),
            identity,
            metrics,
            config: Arc::new(config),
            jobs: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Starts the import job runner on a background task: jobs left running by a stopped
    /// process are queued again (they run from scratch — each is one transaction, so it wrote
    /// nothing), then queued jobs run one at a time. It looks for work when a job is queued here
    /// and every few seconds, for jobs queued on another node.
    pub async fn start_import_jobs(&self) -> Result<(), portcullis_domain::Error> {
        let requeued = self.identity.requeue_import_jobs().await?;
        if requeued > 0 {
            tracing::info!(jobs = requeued, "import jobs left running are queued again");
        }
        let identity = self.identity.clone();
        let wake = self.jobs.clone();
        let dir = self.config.import_dir.clone();
        tokio::spawn(async move {
            loop {
                let dir = dir.clone();
                // The file is checked again: it may have been replaced since it was queued.
                let read = |path: String| async move {
                    let file = handlers::import::allowed_file(dir.as_deref(), &path)?;
                    tokio::fs::read(&file).await.map_err(|e| e.to_string())
                };
                match identity.run_next_import_job(read).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "the import job runner failed; it tries again")
                    }
                }
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified()).await;
            }
        });
        Ok(())
    }

    fn wake_import_jobs(&self) {
        self.jobs.notify_one();
    }
}

/// The header a request to an unknown path gets, so tests can tell "no such route" from "no such
/// entity".
pub const NO_ROUTE_HEADER: &str = "x-portcullis-no-route";

async fn no_route() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, [(NO_ROUTE_HEADER, "1")])
}

/// A reserved path (see [`routes::Route::reserved`]): a 404 like an unknown path's, with a JSON
/// body saying the endpoint is not served, whatever the method.
async fn not_served(uri: axum::http::Uri) -> impl IntoResponse {
    let mut a = error::ApiError::general(
        StatusCode::NOT_FOUND,
        "[NotServed]",
        format!("Portcullis does not serve [{}].", uri.path()),
    )
    .into_response();
    a.headers_mut()
        .insert(NO_ROUTE_HEADER, "1".parse().expect("a header value"));
    a
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
