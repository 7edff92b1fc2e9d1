//! The HTTP API of Portcullis: FusionAuth's paths and JSON over the identity service.
//!
//! This crate owns the wire: routing, the auth layer (API keys, permissions, tenant selection),
//! body parsing and its errors, the mapping of domain errors to status codes, Kickstart, status,
//! metrics and the OpenAPI document. It holds no business rules; each handler makes one call into
//! [`portcullis_domain::Identity`]. It builds no services and runs no background work: the
//! composition root (`serve`) hands it an [`AppState`] over services it built, and the ways in
//! to its workers ([`Background`]).

pub mod auth;
pub mod error;
pub mod extract;
mod handlers;
pub mod kickstart;
pub mod metrics;
pub mod openapi;
pub mod routes;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, MethodRouter};
use axum::{middleware, Router};
use handlers::{api_key, application, connector, group, import, key, login, status, tenant, user};
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

/// A router that remembers its paths, so a test can hold the route table to it.
struct Routes {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl Routes {
    fn route(mut self, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self.paths.push(path);
        self
    }
}

fn authenticated_routes(config: &ApiConfig) -> Routes {
    let r = Routes {
        router: Router::new(),
        paths: Vec::new(),
    };
    r.route("/api/tenant", post(tenant::create).get(tenant::list))
        .route(
            "/api/tenant/{tenantId}",
            get(tenant::get)
                .post(tenant::create)
                .put(tenant::replace)
                .patch(tenant::patch)
                .delete(tenant::delete),
        )
        .route(
            "/api/application",
            post(application::create).get(application::list),
        )
        .route(
            "/api/application/{applicationId}",
            get(application::get)
                .post(application::create)
                .put(application::replace)
                .patch(application::patch)
                .delete(application::delete),
        )
        .route(
            "/api/application/{applicationId}/role",
            post(application::create_role),
        )
        .route(
            "/api/application/{applicationId}/role/{roleId}",
            post(application::create_role_with_id)
                .put(application::replace_role)
                .patch(application::patch_role)
                .delete(application::delete_role),
        )
        .route("/api/group", post(group::create).get(group::list))
        .route(
            "/api/group/member",
            post(group::add_members).delete(group::remove_members),
        )
        .route(
            "/api/group/{groupId}",
            get(group::get)
                .post(group::create)
                .put(group::replace)
                .patch(group::patch)
                .delete(group::delete),
        )
        .route("/api/user", post(user::create).get(user::find))
        .route(
            "/api/user/{userId}",
            get(user::get)
                .post(user::create)
                .put(user::replace)
                .patch(user::patch)
                .delete(user::delete),
        )
        .route(
            "/api/user/import",
            post(import::import).layer(DefaultBodyLimit::max(config.max_import_bytes)),
        )
        .route(
            "/api/user/import/job",
            post(import::queue_job).layer(DefaultBodyLimit::max(config.max_import_bytes)),
        )
        .route("/api/user/import/job/{jobId}", get(import::get_job))
        .route("/api/user/bulk", delete(import::bulk_delete))
        .route("/api/user/registration", post(user::register))
        .route(
            "/api/user/registration/{userId}",
            post(user::register_with_user_id),
        )
        .route(
            "/api/user/registration/{userId}/{applicationId}",
            get(user::get_registration)
                .put(user::replace_registration)
                .patch(user::patch_registration)
                .delete(user::delete_registration),
        )
        .route("/api/login", post(login::login))
        .route("/api/user/change-password", post(login::change_password))
        .route(
            "/api/user/refresh-token/import",
            post(login::import_refresh_tokens),
        )
        .route(
            "/api/connector",
            post(connector::create).get(connector::list),
        )
        .route(
            "/api/connector/{connectorId}",
            get(connector::get)
                .post(connector::create)
                .put(connector::replace)
                .patch(connector::patch)
                .delete(connector::delete),
        )
        .route("/api/migration/status", get(connector::status))
        .route("/api/api-key", post(api_key::create).get(api_key::list))
        .route(
            "/api/api-key/{keyId}",
            get(api_key::get)
                .post(api_key::create)
                .put(api_key::replace)
                .patch(api_key::patch)
                .delete(api_key::delete),
        )
        .route("/api/key", get(key::list))
        .route("/api/key/generate", post(key::generate))
        .route("/api/key/{keyId}", get(key::get).delete(key::delete))
}

/// Paths the router serves, for the test that keeps the OpenAPI document true.
pub fn served_paths() -> Vec<&'static str> {
    let mut p = authenticated_routes(&ApiConfig::default()).paths;
    p.extend(["/api/status", "/api/openapi.json", "/metrics"]);
    p.extend(OPEN_LOGIN_PATHS);
    p
}

/// Login routes without the API-key layer: they carry a JWT or a refresh token instead, or
/// publish public keys, or a change-password id stands in for the key. (`DELETE /api/jwt/refresh` checks the API key in its handler.)
const OPEN_LOGIN_PATHS: [&str; 6] = [
    "/api/user/forgot-password",
    "/api/user/change-password/{changePasswordId}",
    "/api/jwt/validate",
    "/api/jwt/refresh",
    "/api/jwt/public-key",
    "/.well-known/jwks.json",
];

/// The header a request to an unknown path gets, so tests can tell "no such route" from "no such
/// entity".
pub const NO_ROUTE_HEADER: &str = "x-portcullis-no-route";

async fn no_route() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, [(NO_ROUTE_HEADER, "1")])
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let api =
        authenticated_routes(&state.config)
            .router
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::authenticate,
            ));
    Router::new()
        .merge(api)
        .route("/api/status", get(status::status))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/metrics", get(metrics::render))
        .route("/api/jwt/validate", get(login::validate))
        .route(
            "/api/jwt/refresh",
            post(login::refresh).delete(login::revoke),
        )
        .route("/api/jwt/public-key", get(login::public_key))
        .route(
            "/api/user/change-password/{changePasswordId}",
            post(login::change_password_by_id),
        )
        .route("/api/user/forgot-password", post(login::forgot_password))
        .route("/.well-known/jwks.json", get(login::jwks))
        .fallback(no_route)
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
