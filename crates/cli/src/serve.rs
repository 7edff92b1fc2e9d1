//! `portcullis serve`, the composition root: it opens the store (migrating its schema), builds
//! the hashing pool, the connectors, the mailer, the identity and sessions services and the
//! node's workers (`portcullis-workers`), makes sure the default tenant and application exist,
//! applies Kickstart, and hands the API an already-built state. It serves until SIGINT/SIGTERM,
//! then stops within the grace time: the HTTP server stops accepting and lets requests in
//! flight finish, then the workers finish their work in hand (or give it up, leaving nothing
//! half-done) and the store closes.

use crate::config::ServeArgs;
use portcullis_api::metrics::Metrics;
use portcullis_api::{kickstart, ApiConfig, AppState, Background};
use portcullis_domain::{reset_queue, ApiKey, Identity, Json, Sessions};
use portcullis_hash::HashPool;
use portcullis_store::SqlStore;
use portcullis_workers::{Cleanup, ImportJobs, ResetMail, Webhooks, Workers};
use std::future::IntoFuture;
use std::io::IsTerminal;
use std::sync::Arc;

/// How long an import request waits for room in the node's import budget before it is told to
/// come back later: long enough to ride out another import's end, short enough that the client's
/// connection and the request's body are not held for long.
const IMPORT_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let settings = args.settings()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&settings.log)
                .map_err(|e| format!("invalid log filter [{}]: {e}", settings.log))?,
        )
        .with_ansi(log_in_colour())
        .init();

    let store = SqlStore::connect(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    // The connectors report into the registry `/metrics` serves.
    let metrics = Arc::new(Metrics::new());
    let identity = Identity::new(Arc::new(store.clone()), HashPool::for_this_machine())
        .with_legacy(Arc::new(portcullis_connect::Connectors::new(Some(
            metrics.registry(),
        ))))
        .with_mailer(Arc::new(portcullis_mail::Smtp))
        .with_webhook_sender(portcullis_connect::webhooks::sender())
        .with_import_budget(
            portcullis_domain::import::ImportBudget::new(
                settings.import_budget_bytes,
                IMPORT_BUDGET_WAIT,
            )
            .on_idle(portcullis_alloc::return_freed_memory),
        );
    let identity = match two_factor_keys(&settings)? {
        Some(keys) => identity.with_two_factor_keys(Arc::new(keys)),
        None => identity,
    };
    identity
        .ensure_defaults()
        .await
        .map_err(|e| format!("cannot create the default tenant: {e}"))?;
    let sessions = Sessions::new(identity.clone());

    // The name this process claims import jobs under: no other live node has it.
    let node = uuid::Uuid::new_v4().to_string();
    let import_jobs = Arc::new(tokio::sync::Notify::new());
    let (resets, reset_inbox) = reset_queue();
    let webhook_stats = metrics.webhook_stats();
    let state = AppState::new(
        identity.clone(),
        sessions.clone(),
        metrics,
        ApiConfig {
            max_body_bytes: settings.max_body_bytes,
            max_import_bytes: settings.max_import_bytes,
            import_dir: settings.import_dir.clone(),
            public_url: settings.public_url.clone(),
        },
        Background {
            import_jobs: import_jobs.clone(),
            resets,
        },
    );

    if let Some(path) = &settings.kickstart {
        match kickstart::apply(&state, path)
            .await
            .map_err(|e| e.to_string())?
        {
            kickstart::Outcome::Skipped => {
                tracing::info!("Kickstart skipped: the instance already has users or API keys")
            }
            kickstart::Outcome::Applied { api_keys, requests } => {
                tracing::info!(api_keys, requests, "Kickstart applied")
            }
        }
    }

    let mut workers = Workers::new(settings.shutdown_grace);
    let import_dir = settings.import_dir.clone();
    workers.spawn(ImportJobs::new(
        identity.clone(),
        &node,
        import_jobs,
        move |path: String| {
            let dir = import_dir.clone();
            async move { portcullis_api::read_import_file(dir.as_deref(), &path).await }
        },
    ));
    workers
        .spawn(Webhooks::new(sessions.clone(), &node, settings.webhooks).with_stats(webhook_stats));
    workers.spawn(ResetMail::new(sessions, reset_inbox));
    workers.spawn(Cleanup::new(&identity, settings.cleanup_interval));

    let listener = match tokio::net::TcpListener::bind(&settings.bind).await {
        Ok(l) => l,
        Err(e) => {
            workers.stop().await;
            return Err(format!("cannot listen on {}: {e}", settings.bind));
        }
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    identity
        .register_admin_sign_in(&admin_origins(settings.public_url.as_deref(), addr))
        .await
        .map_err(|e| format!("cannot set up the admin pages' sign-in: {e}"))?;

    if settings.dev {
        let mut meta = Json::new();
        meta.insert(
            "attributes".into(),
            serde_json::json!({"description": "--dev key"}),
        );
        let key = identity
            .create_api_key(
                None,
                None,
                ApiKey {
                    meta_data: meta,
                    ..ApiKey::default()
                },
            )
            .await
            .map_err(|e| format!("cannot create the development API key: {e}"))?;
        let secret = key.key.expect("returned on create");
        println!("Development API key (all permissions): {secret}");
        println!("Try: curl -H 'Authorization: {secret}' http://{addr}/api/tenant");
        println!(
            "Admin pages: http://{addr}/admin (make an administrator with: portcullis admin create --database <serve's database> --email you@example.com)"
        );
    }
    println!("Portcullis listening on http://{addr}");
    tracing::info!(%addr, database = store_kind(&settings.database), %node, "serving");

    let stopper = workers.stopper();
    let mut http = tokio::spawn(
        axum::serve(
            listener,
            portcullis_api::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal().await;
            stopper.begin();
        })
        .into_future(),
    );
    let shutdown = workers.shutdown();
    let served = tokio::select! {
        done = &mut http => done.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())),
        _ = shutdown.give_up() => {
            http.abort();
            tracing::warn!("requests still in flight when the grace time ended were cut off");
            Ok(())
        }
    };
    tracing::info!("the HTTP server has stopped");
    workers.stop().await;
    store.close().await;
    tracing::info!("stopped");
    served
}

/// The keys two-factor secrets are sealed with: the configured ones; else, on SQLite, a key kept
/// in a file next to the database (made on first start, readable by its owner only), so the
/// embedded default works out of the box; else none (PostgreSQL without a key: authenticator
/// secrets are refused, never stored in the clear).
fn two_factor_keys(
    settings: &crate::config::Settings,
) -> Result<Option<portcullis_domain::two_factor::TwoFactorKeys>, String> {
    use portcullis_domain::two_factor::TwoFactorKeys;
    if let Some(k) = &settings.two_factor_key {
        let keys = TwoFactorKeys::parse(k, &settings.two_factor_old_keys)
            .map_err(|e| format!("--two-factor-key / PORTCULLIS_TWO_FACTOR_KEY: {e}"))?;
        tracing::info!(
            kid = keys.current_kid(),
            old = settings.two_factor_old_keys.len(),
            "two-factor key configured"
        );
        return Ok(Some(keys));
    }
    let Some(file) = settings
        .database
        .strip_prefix("sqlite://")
        .or_else(|| settings.database.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .filter(|p| !p.is_empty() && !p.contains(":memory:"))
    else {
        tracing::warn!("no two-factor key (--two-factor-key / PORTCULLIS_TWO_FACTOR_KEY): authenticator secrets cannot be stored or used");
        return Ok(None);
    };
    let path = std::path::PathBuf::from(format!("{file}.two-factor-key"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (_, text) = TwoFactorKeys::generate();
            write_private(&path, &text).map_err(|e| {
                format!(
                    "cannot write the two-factor key file {}: {e}",
                    path.display()
                )
            })?;
            tracing::warn!(file = %path.display(), "two-factor key made and kept next to the database: back it up with the database, or set --two-factor-key");
            text
        }
        Err(e) => {
            return Err(format!(
                "cannot read the two-factor key file {}: {e}",
                path.display()
            ))
        }
    };
    TwoFactorKeys::parse(&text, &settings.two_factor_old_keys)
        .map(Some)
        .map_err(|e| format!("the two-factor key file {}: {e}", path.display()))
}

/// Writes a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}

fn store_kind(url: &str) -> &'static str {
    match portcullis_store::Dialect::of_url(url) {
        Some(portcullis_store::Dialect::Postgres) => "postgres",
        _ => "sqlite",
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Log lines (written to stdout) are coloured only for a person at a terminal: in a file, a pipe
/// or a log collector, ANSI escape codes are noise that breaks grep. `NO_COLOR` turns colour off
/// even at a terminal (no-color.org).
fn log_in_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Where the admin pages are reached, so their sign-in may return there: the public URL when
/// one is set, else the address `serve` listens on (and `localhost` for a loopback address).
fn admin_origins(public_url: Option<&str>, addr: std::net::SocketAddr) -> Vec<String> {
    if let Some(u) = public_url {
        return vec![u.trim_end_matches('/').to_string()];
    }
    let port = addr.port();
    let mut origins = Vec::new();
    if addr.ip().is_unspecified() || addr.ip().is_loopback() {
        origins.push(format!("http://localhost:{port}"));
        origins.push(format!("http://127.0.0.1:{port}"));
    }
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        origins.push(format!("http://{addr}"));
    }
    origins
}
