//! `serve` settings from three places, strongest first: command-line flags, `PORTCULLIS_*`
//! environment variables, and a TOML file given with `--config`. Secrets (the database URL with
//! its password) can therefore stay out of files and come from the environment.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// A TOML file with any of: bind, database, kickstart, max_body_bytes, max_import_bytes,
    /// import_budget_bytes, import_dir, public_url, shutdown_grace, cleanup_interval,
    /// webhook_backoff_ms, webhook_backoff_max_ms, webhook_max_age, webhook_concurrency,
    /// two_factor_key, two_factor_old_keys, dev, log.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9011].
    #[arg(long, env = "PORTCULLIS_BIND")]
    pub bind: Option<String>,
    /// sqlite://FILE (created if missing) or postgres://USER:PASSWORD@HOST/DB
    /// [default: sqlite://portcullis.db].
    #[arg(long, env = "PORTCULLIS_DATABASE")]
    pub database: Option<String>,
    /// A Kickstart JSON file, applied once to an empty instance.
    #[arg(long, env = "PORTCULLIS_KICKSTART")]
    pub kickstart: Option<PathBuf>,
    /// Largest request body in bytes [default: 16777216].
    #[arg(long, env = "PORTCULLIS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest body of POST /api/user/import in bytes [default: 536870912].
    #[arg(long, env = "PORTCULLIS_MAX_IMPORT_BYTES")]
    pub max_import_bytes: Option<usize>,
    /// Bytes of import requests and jobs this node holds at once; a request beyond them waits
    /// a second, then gets 503 with Retry-After. A server given one import peaks at about two and
    /// a half times its body (2.4x for 87 MiB), its start-up and database cache (some 70 MiB
    /// whatever the body) included, which weigh more on a small one (3.9x for 44 MiB)
    /// [default: a tenth of the machine's memory].
    #[arg(long, env = "PORTCULLIS_IMPORT_BUDGET_BYTES")]
    pub import_budget_bytes: Option<usize>,
    /// The directory whose files import jobs may read (POST /api/user/import/job {"file": ...})
    /// [default: none, file jobs refused].
    #[arg(long, env = "PORTCULLIS_IMPORT_DIR")]
    pub import_dir: Option<PathBuf>,
    /// The URL browsers and OAuth clients reach this server at, e.g. `https://login.example.com`:
    /// the base of the endpoints in OpenID discovery, and Secure cookies when it is https
    /// [default: the request's Host, over http].
    #[arg(long, env = "PORTCULLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds SIGTERM/SIGINT gives requests in flight and the workers' work in hand before
    /// the process exits [default: 30].
    #[arg(long, env = "PORTCULLIS_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Seconds between two deletions of expired refresh tokens, change-password ids and
    /// login-attempt counts [default: 300].
    #[arg(long, env = "PORTCULLIS_CLEANUP_INTERVAL")]
    pub cleanup_interval: Option<u64>,
    /// Milliseconds a webhook attempt waits after its first failure; each later failure doubles
    /// the wait, with jitter [default: 10000].
    #[arg(long, env = "PORTCULLIS_WEBHOOK_BACKOFF_MS")]
    pub webhook_backoff_ms: Option<u64>,
    /// The longest wait between two attempts of a webhook delivery, in milliseconds
    /// [default: 3600000].
    #[arg(long, env = "PORTCULLIS_WEBHOOK_BACKOFF_MAX_MS")]
    pub webhook_backoff_max_ms: Option<u64>,
    /// Seconds a webhook delivery is retried before it is dead-lettered [default: 259200, 3 days].
    #[arg(long, env = "PORTCULLIS_WEBHOOK_MAX_AGE")]
    pub webhook_max_age: Option<u64>,
    /// Requests in flight per webhook on this node [default: 8].
    #[arg(long, env = "PORTCULLIS_WEBHOOK_CONCURRENCY")]
    pub webhook_concurrency: Option<usize>,
    /// The key two-factor secrets are encrypted with (ChaCha20-Poly1305): base64 of 32 random
    /// bytes (`openssl rand -base64 32`) [default: on SQLite, a key kept in DATABASE.two-factor-key
    /// next to the database file, made on first start; on PostgreSQL none, and authenticator
    /// secrets cannot be stored].
    #[arg(long, env = "PORTCULLIS_TWO_FACTOR_KEY", hide_env_values = true)]
    pub two_factor_key: Option<String>,
    /// Former two-factor keys, comma-separated: they still decrypt the secrets they encrypted;
    /// new secrets use --two-factor-key.
    #[arg(
        long,
        env = "PORTCULLIS_TWO_FACTOR_OLD_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub two_factor_old_keys: Vec<String>,
    /// Development mode: print a ready API key at start-up.
    #[arg(long, env = "PORTCULLIS_DEV")]
    pub dev: bool,
    /// Log filter, e.g. `info` or `portcullis_api=debug` [default: info; RUST_LOG also works].
    #[arg(long, env = "PORTCULLIS_LOG")]
    pub log: Option<String>,
}

/// The TOML file's shape. Unknown keys are refused so a typo does not pass silently.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub database: Option<String>,
    pub kickstart: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_import_bytes: Option<usize>,
    pub import_budget_bytes: Option<usize>,
    pub import_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub shutdown_grace: Option<u64>,
    pub cleanup_interval: Option<u64>,
    pub webhook_backoff_ms: Option<u64>,
    pub webhook_backoff_max_ms: Option<u64>,
    pub webhook_max_age: Option<u64>,
    pub webhook_concurrency: Option<usize>,
    pub two_factor_key: Option<String>,
    pub two_factor_old_keys: Option<Vec<String>>,
    pub dev: Option<bool>,
    pub log: Option<String>,
}

/// The settings `serve` runs with. Its `Debug` leaves the keys and the database URL out.
#[derive(PartialEq)]
pub struct Settings {
    pub bind: String,
    pub database: String,
    pub kickstart: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub import_budget_bytes: usize,
    pub import_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub shutdown_grace: Duration,
    pub cleanup_interval: Duration,
    pub webhooks: portcullis_workers::WebhookSettings,
    /// The two-factor key and the former ones, base64 (checked when `serve` starts).
    pub two_factor_key: Option<String>,
    pub two_factor_old_keys: Vec<String>,
    pub dev: bool,
    pub log: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("import_dir", &self.import_dir)
            .field("public_url", &self.public_url)
            .field(
                "two_factor_key",
                &self.two_factor_key.as_ref().map(|_| "***"),
            )
            .field("dev", &self.dev)
            .finish_non_exhaustive()
    }
}

impl ServeArgs {
    pub fn settings(self) -> Result<Settings, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("the config file {} is invalid: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(Settings {
            bind: self
                .bind
                .or(file.bind)
                .unwrap_or_else(|| "127.0.0.1:9011".into()),
            database: self
                .database
                .or(file.database)
                .unwrap_or_else(|| "sqlite://portcullis.db".into()),
            kickstart: self.kickstart.or(file.kickstart),
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(portcullis_api::ApiConfig::default().max_body_bytes),
            max_import_bytes: self
                .max_import_bytes
                .or(file.max_import_bytes)
                .unwrap_or(portcullis_api::ApiConfig::default().max_import_bytes),
            import_budget_bytes: match self.import_budget_bytes.or(file.import_budget_bytes) {
                Some(0) => return Err("import_budget_bytes must be at least 1".into()),
                Some(n) => n,
                None => portcullis_domain::import::budget::default_bytes(
                    portcullis_domain::import::budget::machine_memory().unwrap_or(4 << 30),
                ),
            },
            import_dir: self.import_dir.or(file.import_dir),
            public_url: match self.public_url.or(file.public_url) {
                Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    return Err(format!(
                        "public_url must start with http:// or https://, not {u}"
                    ))
                }
                u => u.map(|u| u.trim_end_matches('/').to_string()),
            },
            shutdown_grace: Duration::from_secs(
                self.shutdown_grace.or(file.shutdown_grace).unwrap_or(30),
            ),
            cleanup_interval: match self.cleanup_interval.or(file.cleanup_interval) {
                Some(0) => return Err("cleanup_interval must be at least 1 second".into()),
                Some(s) => Duration::from_secs(s),
                None => portcullis_workers::Cleanup::EVERY,
            },
            webhooks: {
                let d = portcullis_workers::WebhookSettings::default();
                let ms = Duration::from_millis;
                let base = self.webhook_backoff_ms.or(file.webhook_backoff_ms);
                let max = self.webhook_backoff_max_ms.or(file.webhook_backoff_max_ms);
                let age = self.webhook_max_age.or(file.webhook_max_age);
                let per = self.webhook_concurrency.or(file.webhook_concurrency);
                if base == Some(0) || max == Some(0) || age == Some(0) || per == Some(0) {
                    return Err("the webhook_* settings must be at least 1".into());
                }
                portcullis_workers::WebhookSettings {
                    backoff: portcullis_domain::webhooks::Backoff {
                        base: base.map_or(d.backoff.base, ms),
                        max: max.map_or(d.backoff.max, ms),
                        max_age: age.map_or(d.backoff.max_age, Duration::from_secs),
                    },
                    per_endpoint: per.unwrap_or(d.per_endpoint),
                    ..d
                }
            },
            two_factor_key: self.two_factor_key.or(file.two_factor_key),
            two_factor_old_keys: if self.two_factor_old_keys.is_empty() {
                file.two_factor_old_keys.unwrap_or_default()
            } else {
                self.two_factor_old_keys
            },
            dev: self.dev || file.dev.unwrap_or(false),
            log: self
                .log
                .or(file.log)
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| "info".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:1\"\ndatabase = \"sqlite://f.db\"\n",
        )
        .unwrap();
        let s = ServeArgs {
            config: Some(path),
            bind: Some("127.0.0.1:2".into()),
            ..ServeArgs::default()
        }
        .settings()
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:2");
        assert_eq!(s.database, "sqlite://f.db");
        assert_eq!(s.max_body_bytes, 16 * 1024 * 1024);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "bnid = \"x\"\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        }
        .settings()
        .unwrap_err();
        assert!(err.contains("bnid"), "{err}");
    }
}
