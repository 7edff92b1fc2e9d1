//! `portcullis-bench oauth`: the token endpoint over HTTP on loopback: client-credentials grants/s,
//! authorization-code exchanges/s and refresh grants/s. Each is printed beside its floor, measured
//! in the same run. The floor is the grant's own store calls and signatures, run in-process with
//! no HTTP and no request handling.
//!
//! With `--keycloak DIR` (an unpacked `keycloak-quarkus-dist`; `crates/bench/peers.sh keycloak`
//! fetches one into `~/.cache/portcullis-bench`), Keycloak runs beside it on the same cores. The
//! bench drives Keycloak's client-credentials and refresh grants with the same concurrency and
//! prints the ratio. Keycloak's CPU competes with nothing of ours: our server is idle while
//! Keycloak is measured.

use clap::Args;
use portcullis_api::{ApiConfig, AppState};
use portcullis_domain::oauth::OAuth;
use portcullis_domain::sessions::tokens::{AccessTokenFor, IdTokenFor, RefreshTokenFor};
use portcullis_domain::settings::LoginSettings;
use portcullis_domain::{
    Application, Identity, Password, Registration, Scope, Sessions, Store, User,
};
use portcullis_hash::HashPool;
use portcullis_store::testing::{Backend, TestDb};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Args)]
pub struct OAuthBench {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Backends to measure (comma-separated: sqlite, postgres).
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// An unpacked Keycloak server distribution to measure beside ours (its `bin/kc.sh`).
    #[arg(long, env = "PORTCULLIS_BENCH_KEYCLOAK")]
    keycloak: Option<std::path::PathBuf>,
}

/// Concurrent requests in flight: enough to keep both sides of every core busy.
fn tasks(cores: usize) -> usize {
    cores * 8
}

const REDIRECT: &str = "https://bench.example/callback";

struct Fixture {
    _db: TestDb,
    store: Arc<dyn Store>,
    oauth: OAuth,
    app: Application,
    tenant: portcullis_domain::Tenant,
    user: User,
    secret: String,
    url: String,
}

async fn fixture(backend: Backend) -> Result<Fixture, String> {
    let e = |e: portcullis_domain::Error| e.to_string();
    let db = TestDb::new(backend).await;
    let store: Arc<dyn Store> = Arc::new(db.store.clone());
    let identity = Identity::new(store.clone(), HashPool::for_this_machine());
    identity.ensure_defaults().await.map_err(e)?;
    let mut app = Application {
        name: "Bench".into(),
        roles: vec![portcullis_domain::Role {
            name: "reader".into(),
            ..Default::default()
        }],
        ..Application::default()
    };
    app.settings.insert(
        "oauthConfiguration".into(),
        json!({
            "authorizedRedirectURLs": [REDIRECT],
            "enabledGrants": ["authorization_code", "refresh_token", "client_credentials"],
        }),
    );
    let created = identity
        .create_application(Scope::ALL, None, app)
        .await
        .map_err(e)?;
    let secret = created.settings["oauthConfiguration"]["clientSecret"]
        .as_str()
        .expect("a new client's secret")
        .to_string();
    let app_id = created.id.expect("created");
    let user = identity
        .create_user(
            Scope::ALL,
            None,
            User {
                email: Some("bench@oauth.example".into()),
                password: Some(Password("bench password".into())),
                registrations: vec![Registration {
                    application_id: Some(app_id),
                    roles: vec!["reader".into()],
                    ..Registration::default()
                }],
                ..User::default()
            },
        )
        .await
        .map_err(e)?;
    let app = store
        .application(Scope::ALL, app_id)
        .await
        .map_err(|e| e.to_string())?
        .expect("stored");
    let tenant = store
        .tenant(app.tenant_id.expect("stored"))
        .await
        .map_err(|e| e.to_string())?
        .expect("stored");
    let sessions = Sessions::new(identity.clone());
    let (resets, _) = portcullis_domain::reset_queue();
    let state = AppState::new(
        identity,
        sessions.clone(),
        Default::default(),
        ApiConfig::default(),
        portcullis_api::Background {
            import_jobs: Default::default(),
            resets,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let router = portcullis_api::router(state);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(Fixture {
        _db: db,
        store,
        oauth: OAuth::new(sessions),
        app,
        tenant,
        user,
        secret,
        url,
    })
}

/// Runs `n` concurrent loops of `op` for `secs`; answers operations per second. A loop that runs
/// out of work (`Ok(false)`) stops early.
async fn rate<F, Fut>(n: usize, secs: u64, op: F) -> Result<f64, String>
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<bool, String>> + Send,
{
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for t in 0..n {
        let (op, done) = (op.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if !op(t).await? {
                    break;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// One POST of a token request; fails unless it answers 200.
async fn grant(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Result<Value, String> {
    let res = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("a bench grant failed ({status}): {body}"));
    }
    Ok(body)
}

/// Codes issued ahead, so the exchanges measure the exchange alone.
async fn issue_codes(f: &Fixture, n: usize) -> Result<Vec<String>, String> {
    let auth = f
        .oauth
        .check_authorize(portcullis_domain::oauth::AuthorizeRequest {
            client_id: f.app.id.map(|i| i.to_string()),
            redirect_uri: Some(REDIRECT.into()),
            response_type: Some("code".into()),
            scope: Some("openid offline_access".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("{e:?}"))?;
    let (_, session) = f
        .oauth
        .start_session(
            &f.tenant,
            f.user.id.expect("stored"),
            portcullis_domain::now_millis(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let codes = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(n)));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let (oauth, auth, session, codes) = (
            f.oauth.clone(),
            auth.clone(),
            session.clone(),
            codes.clone(),
        );
        handles.push(tokio::spawn(async move {
            for _ in 0..n / 16 {
                let c = oauth
                    .issue_code(&auth, &session)
                    .await
                    .map_err(|e| e.description)?;
                codes.lock().await.push(c);
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    let codes = std::mem::take(&mut *codes.lock().await);
    Ok(codes)
}

pub async fn run(args: OAuthBench) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = tasks(cores);
    println!(
        "portcullis-bench oauth: {cores} cores, {n} requests in flight over HTTP/1.1 on loopback, {} s per measurement",
        args.seconds
    );
    println!(
        "{:<10} {:<52} {:>10}   beside",
        "server", "measurement", "result"
    );
    let mut ours_cc = None;
    let mut ours_refresh = None;
    for name in &args.backends {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => return Err(format!("unknown backend [{other}]: use sqlite or postgres")),
        };
        let f = Arc::new(fixture(backend).await?);
        let http = reqwest::Client::new();
        let token_url = format!("{}/oauth2/token", f.url);
        let id = f.app.id.expect("stored").to_string();

        // 1. Client credentials: a client token per request.
        let (h, u, i, s) = (
            http.clone(),
            token_url.clone(),
            id.clone(),
            f.secret.clone(),
        );
        let cc = rate(n, args.seconds, move |_| {
            let (h, u, i, s) = (h.clone(), u.clone(), i.clone(), s.clone());
            async move {
                grant(&h, &u, &i, &s, &[("grant_type", "client_credentials")]).await?;
                Ok(true)
            }
        })
        .await?;
        let floor = signatures(&f, cores, args.seconds, 1).await?;
        println!(
            "{:<10} {:<52} {cc:>8.0}/s   floor {floor:.0}/s (one signature each, on {cores} cores) = {:.0}%",
            format!("ours/{name}"),
            "client-credentials grants",
            100.0 * cc / floor
        );
        if backend == Backend::Sqlite || ours_cc.is_none() {
            ours_cc.get_or_insert(cc);
        }

        // 2. Authorization-code exchanges (codes issued ahead), each an access, ID and refresh token.
        let codes = Arc::new(tokio::sync::Mutex::new(
            issue_codes(&f, args.seconds as usize * 3_000).await?,
        ));
        let (h, u, i, s, c2) = (
            http.clone(),
            token_url.clone(),
            id.clone(),
            f.secret.clone(),
            codes.clone(),
        );
        let refreshes = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let r2 = refreshes.clone();
        let ex = rate(n, args.seconds, move |_| {
            let (h, u, i, s, codes, r2) = (
                h.clone(),
                u.clone(),
                i.clone(),
                s.clone(),
                c2.clone(),
                r2.clone(),
            );
            async move {
                let Some(code) = codes.lock().await.pop() else {
                    return Ok(false);
                };
                let t = grant(
                    &h,
                    &u,
                    &i,
                    &s,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                    ],
                )
                .await?;
                r2.lock()
                    .await
                    .push(t["refresh_token"].as_str().unwrap_or_default().to_string());
                Ok(true)
            }
        })
        .await?;
        let floor = exchange_floor(&f, n, args.seconds).await?;
        println!(
            "{:<10} {:<52} {ex:>8.0}/s   floor {floor:.0}/s (its store calls + 3 tokens, no HTTP) = {:.0}%",
            format!("ours/{name}"),
            "authorization-code exchanges",
            100.0 * ex / floor
        );

        // 3. Refresh grants, each chain rotating its own token.
        let chains: Vec<_> = std::mem::take(&mut *refreshes.lock().await)
            .into_iter()
            .take(n)
            .map(|t| Arc::new(tokio::sync::Mutex::new(t)))
            .collect();
        if chains.len() == n {
            let chains = Arc::new(chains);
            let (h, u, i, s) = (
                http.clone(),
                token_url.clone(),
                id.clone(),
                f.secret.clone(),
            );
            let rf = rate(n, args.seconds, move |t| {
                let (h, u, i, s, chains) =
                    (h.clone(), u.clone(), i.clone(), s.clone(), chains.clone());
                async move {
                    let mut token = chains[t].lock().await;
                    let r = grant(
                        &h,
                        &u,
                        &i,
                        &s,
                        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                    )
                    .await?;
                    *token = r["refresh_token"].as_str().unwrap_or_default().to_string();
                    Ok(true)
                }
            })
            .await?;
            println!(
                "{:<10} {:<52} {rf:>8.0}/s",
                format!("ours/{name}"),
                "refresh grants (one-time use)"
            );
            ours_refresh.get_or_insert(rf);
        }
    }
    if let Some(dir) = &args.keycloak {
        let kc = keycloak::Keycloak::start(dir).await?;
        let result = kc.measure(n, args.seconds).await;
        drop(kc);
        let (cc, rf) = result?;
        println!(
            "{:<10} {:<52} {cc:>8.0}/s   ours (first backend) ÷ Keycloak = {:.1}× (goal ≥ 10×)",
            "keycloak",
            "client-credentials grants",
            ours_cc.unwrap_or(0.0) / cc
        );
        println!(
            "{:<10} {:<52} {rf:>8.0}/s   ours (first backend) ÷ Keycloak = {:.1}× (goal ≥ 10×)",
            "keycloak",
            "refresh grants",
            ours_refresh.unwrap_or(0.0) / rf
        );
    } else {
        println!("keycloak   not measured: pass --keycloak DIR (crates/bench/peers.sh keycloak fetches it)");
    }
    Ok(())
}

/// Signatures/s of `per` access tokens on every core: the token service alone.
async fn signatures(f: &Arc<Fixture>, cores: usize, secs: u64, per: usize) -> Result<f64, String> {
    let settings = LoginSettings::of(&f.tenant, Some(&f.app));
    let f2 = f.clone();
    let r = rate(cores, secs, move |_| {
        let (f, settings) = (f2.clone(), settings.clone());
        async move {
            for _ in 0..per {
                f.oauth
                    .sessions()
                    .tokens()
                    .access_token(&AccessTokenFor {
                        tenant: &f.tenant,
                        settings: &settings,
                        user: &f.user,
                        application: Some(&f.app),
                        registration: f.user.registrations.first(),
                        auth_time: 0,
                        session: Uuid::nil(),
                        authentication_type: "PASSWORD",
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(true)
        }
    })
    .await?;
    Ok(r)
}

/// An exchange's own work without HTTP or request handling: mark the code used, read the user,
/// sign the access and ID tokens, store the refresh token, look for a replay of the code.
async fn exchange_floor(f: &Arc<Fixture>, n: usize, secs: u64) -> Result<f64, String> {
    let codes = Arc::new(tokio::sync::Mutex::new(
        issue_codes(f, secs as usize * 3_000).await?,
    ));
    let settings = LoginSettings::of(&f.tenant, Some(&f.app));
    let f2 = f.clone();
    rate(n, secs, move |_| {
        let (f, settings, codes) = (f2.clone(), settings.clone(), codes.clone());
        async move {
            let Some(code) = codes.lock().await.pop() else {
                return Ok(false);
            };
            let e = |e: portcullis_domain::StoreError| e.to_string();
            let now = portcullis_domain::now_millis();
            let hash = portcullis_domain::secrets::stored_hash(&code);
            let (stored, _) = f
                .store
                .use_oauth_code(&hash, now)
                .await
                .map_err(e)?
                .ok_or("a bench code is gone")?;
            let user = f
                .store
                .user(Scope::tenant(stored.tenant_id), stored.user_id)
                .await
                .map_err(e)?
                .ok_or("the bench user is gone")?
                .user;
            let tokens = f.oauth.sessions().tokens();
            let (access, _) = tokens
                .access_token(&AccessTokenFor {
                    tenant: &f.tenant,
                    settings: &settings,
                    user: &user,
                    application: Some(&f.app),
                    registration: user.registrations.first(),
                    auth_time: stored.auth_time,
                    session: stored.sid,
                    authentication_type: "PASSWORD",
                })
                .await
                .map_err(|e| e.to_string())?;
            tokens
                .id_token(&IdTokenFor {
                    tenant: &f.tenant,
                    settings: &settings,
                    user: &user,
                    client_id: stored.application_id,
                    nonce: None,
                    auth_time: stored.auth_time,
                    session: stored.sid,
                    access_token: Some(&access),
                    code: Some(&code),
                    amr: &["pwd"],
                })
                .await
                .map_err(|e| e.to_string())?;
            let (_, row) = tokens.refresh_token(
                RefreshTokenFor {
                    tenant: stored.tenant_id,
                    user: stored.user_id,
                    application: stored.application_id,
                    family: stored.family_id,
                    start: stored.auth_time,
                },
                &settings,
            );
            f.store.insert_refresh_token(&row).await.map_err(e)?;
            f.store.oauth_code_replayed(&hash).await.map_err(e)?;
            Ok(true)
        }
    })
    .await
}

mod keycloak {
    //! Keycloak's server distribution started on a free port with `kc.sh start-dev`, a realm
    //! and a confidential client created through its admin API, and its grants driven as ours.

    use super::{grant, rate};
    use serde_json::{json, Value};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct Keycloak {
        child: Child,
        url: String,
    }

    impl Drop for Keycloak {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Keycloak {
        pub async fn start(dir: &std::path::Path) -> Result<Keycloak, String> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let data = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
            let child = Command::new(dir.join("bin/kc.sh"))
                .args([
                    "start-dev",
                    &format!("--http-port={port}"),
                    "--http-host=127.0.0.1",
                    "--log-level=warn",
                ])
                .env("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
                .env("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin")
                .env("KC_DB", "dev-file")
                .env("KC_HOME_DIR", dir)
                .env(
                    "JAVA_OPTS_APPEND",
                    format!("-Djava.io.tmpdir={}", data.display()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", dir.join("bin/kc.sh").display()))?;
            let kc = Keycloak {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let http = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(240);
            loop {
                if let Ok(r) = http.get(format!("{}/realms/master", kc.url)).send().await {
                    if r.status().is_success() {
                        break;
                    }
                }
                if Instant::now() > deadline {
                    return Err("Keycloak did not start within 240 s".into());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(kc)
        }

        /// Client-credentials grants/s and refresh grants/s with `n` requests in flight.
        pub async fn measure(&self, n: usize, secs: u64) -> Result<(f64, f64), String> {
            let http = reqwest::Client::new();
            let admin: Value = http
                .post(format!(
                    "{}/realms/master/protocol/openid-connect/token",
                    self.url
                ))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", "admin-cli"),
                    ("username", "admin"),
                    ("password", "admin"),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let bearer = admin["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let post = |path: &str, body: Value| {
                let (http, url, bearer) =
                    (http.clone(), format!("{}{path}", self.url), bearer.clone());
                async move {
                    let r = http
                        .post(url)
                        .bearer_auth(bearer)
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if !r.status().is_success() {
                        return Err(format!(
                            "Keycloak admin call failed: {}",
                            r.text().await.unwrap_or_default()
                        ));
                    }
                    Ok::<(), String>(())
                }
            };
            post("/admin/realms", json!({"realm": "bench", "enabled": true})).await?;
            post(
                "/admin/realms/bench/clients",
                json!({"clientId": "bench", "secret": "bench-secret-bench-secret-bench-secret", "publicClient": false,
                       "serviceAccountsEnabled": true, "directAccessGrantsEnabled": true, "standardFlowEnabled": true,
                       "redirectUris": [super::REDIRECT]}),
            )
            .await?;
            post(
                "/admin/realms/bench/users",
                json!({"username": "bench", "email": "bench@oauth.example", "firstName": "Bench", "lastName": "User",
                       "emailVerified": true, "enabled": true,
                       "credentials": [{"type": "password", "value": "bench password", "temporary": false}]}),
            )
            .await?;
            let token_url = format!("{}/realms/bench/protocol/openid-connect/token", self.url);
            let (id, secret) = (
                "bench".to_string(),
                "bench-secret-bench-secret-bench-secret".to_string(),
            );
            // Warm its JIT as ours is warm: one second of each grant before measuring.
            let (h, u, i, s) = (http.clone(), token_url.clone(), id.clone(), secret.clone());
            let cc_op = move |_| {
                let (h, u, i, s) = (h.clone(), u.clone(), i.clone(), s.clone());
                async move {
                    grant(&h, &u, &i, &s, &[("grant_type", "client_credentials")]).await?;
                    Ok(true)
                }
            };
            rate(n, 2, cc_op.clone()).await?;
            let cc = rate(n, secs, cc_op).await?;
            let mut chains = Vec::new();
            for _ in 0..n {
                let t = grant(
                    &http,
                    &token_url,
                    &id,
                    &secret,
                    &[
                        ("grant_type", "password"),
                        ("username", "bench"),
                        ("password", "bench password"),
                        ("scope", "openid"),
                    ],
                )
                .await?;
                chains.push(std::sync::Arc::new(tokio::sync::Mutex::new(
                    t["refresh_token"].as_str().unwrap_or_default().to_string(),
                )));
            }
            let chains = std::sync::Arc::new(chains);
            let (h, u, i, s) = (http.clone(), token_url.clone(), id.clone(), secret.clone());
            let rf = rate(n, secs, move |t| {
                let (h, u, i, s, chains) =
                    (h.clone(), u.clone(), i.clone(), s.clone(), chains.clone());
                async move {
                    let mut token = chains[t].lock().await;
                    let r = grant(
                        &h,
                        &u,
                        &i,
                        &s,
                        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                    )
                    .await?;
                    *token = r["refresh_token"].as_str().unwrap_or_default().to_string();
                    Ok(true)
                }
            })
            .await?;
            Ok((cc, rf))
        }
    }
}
