//! `portcullis serve`: open the store (migrating its schema), make sure the default tenant and
//! application exist, apply Kickstart, and serve until SIGINT/SIGTERM.

use crate::config::ServeArgs;
use portcullis_api::{kickstart, ApiConfig, AppState};
use portcullis_domain::{ApiKey, Identity, Json};
use portcullis_hash::HashPool;
use portcullis_store::SqlStore;
use std::io::IsTerminal;
use std::sync::Arc;

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
    let identity = Identity::new(Arc::new(store.clone()), HashPool::for_this_machine());
    identity
        .ensure_defaults()
        .await
        .map_err(|e| format!("cannot create the default tenant: {e}"))?;
    let state = AppState::new(
        identity.clone(),
        ApiConfig {
            max_body_bytes: settings.max_body_bytes,
            max_import_bytes: settings.max_import_bytes,
            import_dir: settings.import_dir.clone(),
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

    state
        .start_import_jobs()
        .await
        .map_err(|e| format!("cannot start the import job runner: {e}"))?;

    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

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
    }
    println!("Portcullis listening on http://{addr}");
    tracing::info!(%addr, database = store_kind(&settings.database), "serving");

    axum::serve(listener, portcullis_api::router(state))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn store_kind(url: &str) -> &'static str {
    match portcullis_store::Dialect::of_url(url) {
        Some(portcullis_store::Dialect::Postgres) => "postgres",
        _ => "sqlite",
    }
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown() {
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
