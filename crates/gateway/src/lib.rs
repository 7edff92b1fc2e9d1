//! `portcullis gateway`: an authenticating reverse proxy in front of services. It owns the route
//! table (`config`, `path`, `rules`), bearer-token verification against Portcullis' published
//! keys (`auth`), what upstreams receive about the caller (`headers`, `assertion`), browser
//! sessions (`session`), the proxying itself (`proxy`), rate limits (`limit`), the access log
//! (`access_log`), Prometheus metrics (`metrics`) and the proxy-forked migration of legacy
//! sign-ins (`fork`); this file starts the server (and the metrics listener), reloads the table
//! on SIGHUP and shuts down gracefully on SIGTERM or SIGINT.
//!
//! Portcullis is only ever called over HTTP (discovery, JWKS, and the Login and User APIs for a
//! fork): the gateway shares no database or memory with it, so it runs anywhere in front of the
//! services it guards.

pub mod access_log;
pub mod assertion;
pub mod auth;
pub mod config;
pub mod fork;
pub mod headers;
pub mod limit;
pub mod metrics;
pub mod path;
pub mod proxy;
pub mod rules;
pub mod session;

use axum::body::Body;
use config::Config;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What a reload may replace: the routes and everything judged per request.
pub struct Table {
    pub config: Config,
    /// Canonical names of the headers no client may send: identity headers and the assertion's.
    pub strip_names: Vec<String>,
    pub verifier: Arc<auth::Verifier>,
    /// Seals browser-session cookies, when `[oauth]` is configured.
    pub sealer: Option<session::Sealer>,
}

impl Table {
    fn new(config: Config, previous: Option<&Table>) -> Table {
        let mut strip_names: Vec<String> = config
            .identity
            .headers
            .iter()
            .map(|(h, _)| headers::canonical(h))
            .collect();
        strip_names.extend(
            config
                .identity
                .assertion_header
                .iter()
                .map(|h| headers::canonical(h)),
        );
        let same_source = previous.is_some_and(|p| {
            let (a, b) = (&p.config, &config);
            (
                &a.portcullis,
                a.tenant_id,
                &a.issuer,
                &a.audiences,
                a.clock_skew,
                a.jwks_refetch_interval,
            ) == (
                &b.portcullis,
                b.tenant_id,
                &b.issuer,
                &b.audiences,
                b.clock_skew,
                b.jwks_refetch_interval,
            )
        });
        let verifier = match previous {
            Some(p) if same_source => p.verifier.clone(),
            _ => Arc::new(auth::Verifier::new(&config)),
        };
        let sealer = config
            .oauth
            .as_ref()
            .map(|o| session::Sealer::new(&o.client_secret));
        Table {
            config,
            strip_names,
            verifier,
            sealer,
        }
    }
}

/// The running gateway's shared state.
pub struct Gateway {
    table: RwLock<Arc<Table>>,
    signer: assertion::Signer,
    client: Client<HttpConnector, Body>,
    limiter: limit::Limiter,
    log: access_log::AccessLog,
    metrics: metrics::Metrics,
    /// Calls Portcullis and legacy systems for `[[login_fork]]`; it follows no redirects, so a
    /// legacy login's 302 is its answer.
    fork_http: reqwest::Client,
}

impl Gateway {
    pub fn new(config: Config) -> Result<Gateway, String> {
        let signer = assertion::Signer::new(&config.identity)?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Gateway {
            table: RwLock::new(Arc::new(Table::new(config, None))),
            signer,
            client,
            limiter: Default::default(),
            log: access_log::AccessLog::start(),
            metrics: metrics::Metrics::new(),
            fork_http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    pub fn table(&self) -> Arc<Table> {
        self.table.read().expect("not poisoned").clone()
    }

    /// Re-reads the file; a broken one leaves the running table as it is.
    fn reload(&self, path: &Path) {
        let current = self.table();
        match Config::load(path) {
            Err(e) => {
                tracing::error!(error = %e, "the configuration was not reloaded; the previous route table stays")
            }
            Ok(c) => {
                if c.bind != current.config.bind {
                    tracing::warn!("bind changes only on restart");
                }
                if c.metrics != current.config.metrics {
                    tracing::warn!("metrics and metrics_bind change only on restart");
                }
                let id = (
                    &c.identity.assertion_key_file,
                    c.identity.assertion_algorithm,
                );
                let was = (
                    &current.config.identity.assertion_key_file,
                    current.config.identity.assertion_algorithm,
                );
                if id != was {
                    tracing::warn!("the assertion key changes only on restart");
                }
                let routes = c.routes.len();
                let table = Arc::new(Table::new(c, Some(&current)));
                *self.table.write().expect("not poisoned") = table;
                tracing::info!(routes, "the configuration was reloaded");
            }
        }
    }
}

/// Runs the gateway until SIGTERM or SIGINT. `bind` overrides the file and the environment.
pub async fn run(config_path: PathBuf, bind: Option<String>) -> Result<(), String> {
    let mut config = Config::load(&config_path).map_err(|e| e.0)?;
    if let Some(b) = bind {
        config.bind = b;
    }
    let grace = config.shutdown_grace;
    let bind = config.bind.clone();
    let gw = Arc::new(Gateway::new(config)?);
    match gw.table().verifier.fetch().await {
        Ok(n) => tracing::info!(keys = n, "Portcullis reached"),
        Err(e) => {
            tracing::warn!(error = %e, "Portcullis is not reachable yet; tokens are checked once it is")
        }
    }
    // Metrics listen first: once the gateway says it listens, everything it serves is up.
    let metrics_server = match &gw.table().config.metrics {
        config::Metrics::Bind(at) => {
            let l = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on {at} (metrics_bind): {e}"))?;
            let a = l.local_addr().map_err(|e| e.to_string())?;
            println!("Portcullis gateway metrics on http://{a}/metrics");
            let gw = gw.clone();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let gw = gw.clone();
                    async move { metrics::response(&gw.metrics) }
                }),
            );
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        }
        _ => None,
    };

    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("Portcullis gateway listening on http://{addr}");

    #[cfg(unix)]
    {
        let gw = gw.clone();
        let path = config_path.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                gw.reload(&path);
            }
        });
    }

    let log = gw.log.clone();
    let app = axum::Router::new()
        .fallback(proxy::handle)
        .with_state(gw)
        .into_make_service_with_connect_info::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    shutdown_signal().await;
    tracing::info!("stopping: requests in flight finish within the grace time");
    let _ = stop_tx.send(());
    if let Some(m) = metrics_server {
        m.abort();
    }
    let ended = tokio::time::timeout(grace, server).await;
    tokio::task::spawn_blocking(move || log.flush()).await.ok();
    match ended {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            tracing::warn!("requests still in flight after the grace time are cut");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
