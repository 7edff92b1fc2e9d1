//! A real server on a free loopback port over a throw-away database, and small request helpers.

use portcullis_api::metrics::Metrics;
use portcullis_api::{ApiConfig, AppState, Background};
use portcullis_domain::two_factor::TwoFactorKeys;
use portcullis_domain::{reset_queue, ApiKey, Identity, Sessions};
use portcullis_hash::HashPool;
use portcullis_store::testing::{Backend, TestDb};
use portcullis_workers::{ImportJobs, ResetMail, WebhookSettings, Webhooks, Workers};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Small enough that a test can exceed it cheaply.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The import limit in tests: room for 100k small users, cheap to exceed.
pub const IMPORT_LIMIT: usize = 16 * 1024 * 1024;

pub struct Server {
    pub url: String,
    /// The server's workers, as `serve` runs them: forgot-password mail and import jobs.
    workers: Mutex<Workers>,
    /// The import-job worker, until it starts (see [`Setup::run_jobs`]).
    import_worker: Mutex<Option<ImportJobs>>,
    /// A key with every permission and no tenant lock.
    pub key: String,
    pub http: reqwest::Client,
    pub db: TestDb,
}

/// An answer: status, parsed JSON body (`Null` when empty) and the raw text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

impl Answer {
    /// The first error code for `field` in `fieldErrors`.
    pub fn field_code(&self, field: &str) -> Option<&str> {
        self.json["fieldErrors"][field][0]["code"].as_str()
    }
    pub fn general_code(&self) -> Option<&str> {
        self.json["generalErrors"][0]["code"].as_str()
    }
}

/// How a test server is set up beyond the defaults.
pub struct Setup {
    /// The directory import jobs may read files from.
    pub import_dir: Option<std::path::PathBuf>,
    /// Whether the import-job worker starts with the server (a test that must act between
    /// queueing a job and its run starts it itself with [`Server::start_import_jobs`]).
    pub run_jobs: bool,
    /// Whether the server knows its own URL as its public URL (the hosted pages' emailed links
    /// need one).
    pub public_url: bool,
    /// The node's import budget in bytes, with no wait (the tests' servers have none).
    pub import_budget: Option<usize>,
    /// How the webhooks worker delivers (tests: short waits, see [`test_webhook_settings`]).
    pub webhooks: WebhookSettings,
}

/// Webhook delivery for tests: retries after 50 ms, doubling up to 400 ms, dead-lettered after
/// 3 s, the outbox looked at every 20 ms.
pub fn test_webhook_settings() -> WebhookSettings {
    use std::time::Duration;
    WebhookSettings {
        backoff: portcullis_domain::webhooks::Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
            max_age: Duration::from_secs(3),
        },
        per_endpoint: 4,
        poll: Duration::from_millis(20),
        gap_wait: Duration::from_secs(2),
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            import_dir: None,
            run_jobs: true,
            public_url: false,
            webhooks: test_webhook_settings(),
            import_budget: None,
        }
    }
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Self::start_with(backend, Setup::default()).await
    }

    pub async fn start_with(backend: Backend, setup: Setup) -> Server {
        let db = TestDb::new(backend).await;
        // Composed as `serve` composes the real server: connectors reporting into the
        // server's metrics, SMTP, and the workers.
        let metrics = Arc::new(Metrics::new());
        let identity = Identity::new(Arc::new(db.store.clone()), HashPool::new(2, 64))
            .with_legacy(Arc::new(portcullis_connect::Connectors::new(Some(
                metrics.registry(),
            ))))
            .with_mailer(Arc::new(portcullis_mail::Smtp))
            .with_webhook_sender(portcullis_connect::webhooks::sender())
            .with_two_factor_keys(Arc::new(TwoFactorKeys::generate().0));
        let identity = match setup.import_budget {
            Some(bytes) => identity.with_import_budget(
                portcullis_domain::import::ImportBudget::new(bytes, std::time::Duration::ZERO),
            ),
            None => identity,
        };
        identity.ensure_defaults().await.unwrap();
        let key = identity
            .create_api_key(None, None, ApiKey::default())
            .await
            .unwrap()
            .key
            .unwrap();
        let sessions = Sessions::new(identity.clone());
        let import_jobs = Arc::new(tokio::sync::Notify::new());
        let (resets, reset_inbox) = reset_queue();
        let mut workers = Workers::new(std::time::Duration::from_secs(5));
        workers.spawn(ResetMail::new(sessions.clone(), reset_inbox));
        workers.spawn(
            Webhooks::new(sessions.clone(), "test-node", setup.webhooks)
                .with_stats(metrics.webhook_stats()),
        );
        let import_dir = setup.import_dir.clone();
        let import_worker = ImportJobs::new(
            identity.clone(),
            "test-node",
            import_jobs.clone(),
            move |path: String| {
                let dir = import_dir.clone();
                async move { portcullis_api::read_import_file(dir.as_deref(), &path).await }
            },
        );
        let import_worker = if setup.run_jobs {
            workers.spawn(import_worker);
            None
        } else {
            Some(import_worker)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        identity
            .register_admin_sign_in(std::slice::from_ref(&url))
            .await
            .unwrap();
        let state = AppState::new(
            identity,
            sessions,
            metrics,
            ApiConfig {
                max_body_bytes: BODY_LIMIT,
                max_import_bytes: IMPORT_LIMIT,
                import_dir: setup.import_dir,
                public_url: setup.public_url.then(|| url.clone()),
            },
            Background {
                import_jobs,
                resets,
            },
        );
        let app = portcullis_api::router(state);
        tokio::spawn(async move { axum_serve(listener, app).await });
        Server {
            url,
            workers: Mutex::new(workers),
            import_worker: Mutex::new(import_worker),
            key,
            http: reqwest::Client::new(),
            db,
        }
    }

    /// Starts the import-job worker of a server set up without it.
    pub fn start_import_jobs(&self) {
        let worker = self
            .import_worker
            .lock()
            .unwrap()
            .take()
            .expect("the import-job worker has not started yet");
        self.workers.lock().unwrap().spawn(worker);
    }

    /// A request with the all-powerful key.
    pub fn req(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.req_as(&self.key.clone(), method, path)
    }

    pub fn req_as(&self, key: &str, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .header("Authorization", key)
    }

    pub async fn call(&self, method: &str, path: &str, body: Value) -> Answer {
        send(self.req(method, path).json(&body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        send(self.req("GET", path)).await
    }

    /// Creates an API key from its FusionAuth JSON and returns the secret.
    pub async fn key_with(&self, api_key: Value) -> String {
        let a = self
            .call("POST", "/api/api-key", json!({ "apiKey": api_key }))
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["apiKey"]["key"].as_str().unwrap().to_string()
    }

    pub async fn default_tenant(&self) -> String {
        let a = self.get("/api/tenant").await;
        a.json["tenants"][0]["id"].as_str().unwrap().to_string()
    }

    pub async fn new_tenant(&self, name: &str) -> String {
        let a = self
            .call("POST", "/api/tenant", json!({"tenant": {"name": name}}))
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["tenant"]["id"].as_str().unwrap().to_string()
    }

    /// Creates an application with the given role names in `tenant`; returns its id.
    pub async fn new_app(&self, tenant: &str, name: &str, roles: &[&str]) -> String {
        let roles: Vec<Value> = roles.iter().map(|r| json!({"name": r})).collect();
        let a = send(
            self.req("POST", "/api/application")
                .header("X-FusionAuth-TenantId", tenant)
                .json(&json!({"application": {"name": name, "roles": roles}})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["application"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a user in `tenant`; returns its id.
    pub async fn new_user(&self, tenant: &str, email: &str) -> String {
        let a = send(
            self.req("POST", "/api/user")
                .header("X-FusionAuth-TenantId", tenant)
                .json(&json!({"user": {"email": email, "password": "correct horse"}})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["user"]["id"].as_str().unwrap().to_string()
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    .unwrap();
}

pub async fn send(rb: reqwest::RequestBuilder) -> Answer {
    let res = rb.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Answer { status, json, text }
}

pub use portcullis_mail::testing::SmtpSink;
