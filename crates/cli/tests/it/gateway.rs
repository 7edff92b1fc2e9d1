//! `portcullis gateway` in front of an echo service, with a real `portcullis serve` issuing the
//! tokens (each such test runs on SQLite and on PostgreSQL): spoofed identity headers never reach
//! the service, the configured headers and the signed assertion carry the signed-in user, forged
//! and misaddressed tokens are refused, path tricks never reach a route they should not, an
//! upstream down or slow is a 502 or 504, a rotated Portcullis key is fetched while old tokens
//! keep working, a SIGHUP reloads the route table (a broken file keeps the old one),
//! `[[login_fork]]` migrates users from a legacy login served by the test, 1 GiB streams each way
//! in bounded memory, and the Prometheus counters match the traffic sent.
//!
//! The echo service answers every request with what it received (method, path and query,
//! headers) as JSON, so the test sees exactly what an upstream would.

use crate::support::*;
use axum::response::IntoResponse as _;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The echo upstream: a small axum server on its own runtime, for the test's life.
fn echo_upstream() -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
                let path = req.uri().path().to_string();
                if path.starts_with("/slow") {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                if path.starts_with("/ws") && req.headers().contains_key("upgrade") {
                    // Agrees to the upgrade, then sends back every byte it receives.
                    let mut req = req;
                    let on = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let mut io = hyper_util::rt::TokioIo::new(on.await.unwrap());
                        let mut buf = [0u8; 1024];
                        loop {
                            match io.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => io.write_all(&buf[..n]).await.unwrap(),
                            }
                        }
                    });
                    return axum::http::Response::builder()
                        .status(101)
                        .header("connection", "upgrade")
                        .header("upgrade", "websocket")
                        .body(axum::body::Body::empty())
                        .unwrap();
                }
                if path.starts_with("/pause") {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                if path.starts_with("/upload") {
                    // Counts the streamed body without keeping it.
                    use http_body_util::BodyExt as _;
                    let mut body = req.into_body();
                    let mut n = 0u64;
                    while let Some(frame) = body.frame().await {
                        if let Ok(d) = frame.unwrap().into_data() {
                            n += d.len() as u64;
                        }
                    }
                    return axum::Json(json!({ "bytes": n })).into_response();
                }
                if let Some(n) = path.strip_prefix("/download/") {
                    // `n` MiB of zeros, produced one chunk at a time.
                    let n: usize = n.parse().unwrap();
                    let chunks = futures_util::stream::iter(
                        (0..n).map(|_| Ok::<_, std::io::Error>(vec![0u8; 1 << 20])),
                    );
                    return axum::body::Body::from_stream(chunks).into_response();
                }
                let headers: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect();
                axum::Json(json!({
                    "method": req.method().as_str(),
                    "path": req.uri().path_and_query().map(|p| p.as_str()),
                    "headers": headers,
                }))
                .into_response()
            });
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// A running `portcullis gateway`; killed on drop.
struct Gateway {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Gateway {
    fn start(config: &Path) -> Gateway {
        Gateway::start_on(config, "127.0.0.1:0")
    }

    fn start_on(config: &Path, bind: &str) -> Gateway {
        let mut child = Command::new(binary())
            .args(["gateway", "--config"])
            .arg(config)
            .args(["--bind", bind])
            .env_remove("PORTCULLIS_GATEWAY_CONFIG")
            .env_remove("PORTCULLIS_GATEWAY_BIND")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the portcullis binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        drain(child.stdout.take().unwrap(), log.clone(), Some(tx));
        drain(child.stderr.take().unwrap(), log.clone(), None);
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("Portcullis gateway listening on ") {
                        break a.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the gateway did not start:\n{}", log.lock().unwrap());
                }
            }
        };
        Gateway { child, url, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request sent byte for byte (no client-side path normalization): (status, body).
fn raw_get(base: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked answers: keep only the JSON object.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => body[a..=b].to_string(),
        _ => body.to_string(),
    };
    (status, body)
}

fn api(s: &Server, method: &str, path: &str, tenant: Option<&str>, body: Value) -> Value {
    let c = reqwest::blocking::Client::new();
    let mut req = match method {
        "POST" => c.post(format!("{}{path}", s.url)).json(&body),
        _ => c.get(format!("{}{path}", s.url)),
    }
    .header("Authorization", &s.api_key);
    if let Some(t) = tenant {
        req = req.header("X-FusionAuth-TenantId", t);
    }
    let r = req.send().unwrap();
    let status = r.status();
    let v: Value = r.json().unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// Creates a user registered to `app` with `roles` and signs in: (user id, access token).
fn user_token(
    s: &Server,
    tenant: Option<&str>,
    app: &str,
    email: &str,
    roles: &[&str],
) -> (String, String) {
    let u = api(
        s,
        "POST",
        "/api/user/registration",
        tenant,
        json!({"user": {"email": email, "password": "correct horse battery"},
               "registration": {"applicationId": app, "roles": roles}}),
    );
    let login = api(
        s,
        "POST",
        "/api/login",
        tenant,
        json!({"loginId": email, "password": "correct horse battery", "applicationId": app}),
    );
    (
        u["user"]["id"].as_str().unwrap().to_string(),
        login["token"].as_str().unwrap().to_string(),
    )
}

/// The echo's view of one request: its headers (name → values) and path.
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    path: String,
}

impl Seen {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().replace('_', "-") == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

const SPOOFED: [(&str, &str); 12] = [
    ("X-User-Id", "spoofed"),
    ("x_user_id", "spoofed"),
    ("X-USER_ID", "spoofed"),
    ("x-user-id", "spoofed-again"),
    ("roles", "admin"),
    ("ROLES", "admin"),
    ("Roles", "superuser"),
    ("x-user-email", "ceo@example.com"),
    ("X_User_Email", "ceo@example.com"),
    ("X-Portcullis-Assertion", "eyJhbGciOiJub25lIn0.e30."),
    ("x_portcullis_assertion", "eyJhbGciOiJub25lIn0.e30."),
    ("x-portcullis_ASSERTION", "forged"),
];

fn send(gw: &str, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Seen {
    let mut headers: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
    if let Some(t) = token {
        headers.push(("Authorization", format!("Bearer {t}")));
    }
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = raw_get(gw, path, &h);
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    Seen {
        status,
        headers: v["headers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                    .collect()
            })
            .unwrap_or_default(),
        path: v["path"].as_str().unwrap_or("").to_string(),
    }
}

fn status_of(gw: &str, path: &str, token: Option<&str>) -> u16 {
    send(gw, path, token, &[]).status
}

/// Polls until `f` holds or `within` passes.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(portcullis: &str, echo: &str, down: &str, app: &str, extra_routes: &str) -> String {
    format!(
        r#"
bind = "127.0.0.1:0"
portcullis = "{portcullis}"
audiences = ["{app}"]
jwks_refetch_interval = "300ms"
[identity]
headers = {{ "x-user-id" = "sub", "x-user-email" = "email", "roles" = "roles" }}
assertion_header = "x-portcullis-assertion"
[[route]]
path = "/products"
methods = ["GET"]
upstream = "{echo}"
allow = "public"
[[route]]
path = "/products/{{id}}"
methods = ["GET"]
upstream = "{echo}"
allow = "public"
[[route]]
path = "/branches/{{id}}/products"
upstream = "{echo}"
allow = {{ roles = ["admin"], application_id = "{app}" }}
[[route]]
path = "/me"
upstream = "{echo}"
allow = "authenticated"
[[route]]
path = "/static/*"
upstream = "{echo}/assets"
allow = "public"
strip_prefix = "/static"
[[route]]
path = "/down"
upstream = "{down}"
allow = "public"
[[route]]
path = "/slow"
upstream = "{echo}"
allow = "public"
timeout = "300ms"
[[route]]
path = "/limited"
upstream = "{echo}"
allow = "public"
rate_limit = {{ requests = 2, per = "1m" }}
{extra_routes}
"#
    )
}

#[test]
fn gateway_guards_routes_and_forwards_a_signed_identity_sqlite() {
    guards_routes_and_forwards_a_signed_identity(Backend::Sqlite);
}

#[test]
fn gateway_guards_routes_and_forwards_a_signed_identity_postgres() {
    guards_routes_and_forwards_a_signed_identity(Backend::Postgres);
}

fn guards_routes_and_forwards_a_signed_identity(backend: Backend) {
    let s = Server::start(backend);
    let echo = echo_upstream();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let apps = api(&s, "GET", "/api/application", None, json!(null));
    let tenant = apps["applications"][0]["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let app = api(
        &s,
        "POST",
        "/api/application",
        None,
        json!({"application": {"name": "Gateway", "roles": [{"name": "admin"}, {"name": "user"}]}}),
    )["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_app = api(
        &s,
        "POST",
        "/api/application",
        None,
        json!({"application": {"name": "Other", "roles": [{"name": "admin"}]}}),
    )["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (admin_id, admin) = user_token(&s, None, &app, "admin@example.com", &["admin"]);
    let (plain_id, plain) = user_token(&s, None, &app, "plain@example.com", &["user"]);
    let (_, elsewhere) = user_token(&s, None, &other_app, "other@example.com", &["admin"]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, config(&s.url, &echo, &down, &app, "")).unwrap();
    let g = Gateway::start(&file);
    let gw = g.url.as_str();

    // --- spoofing: nothing the client names an identity header reaches the service -----------
    for (path, token) in [
        ("/products", None),
        ("/products/1", None),
        ("/products/1", Some(admin.as_str())),
        ("/static/app.css", Some(plain.as_str())),
        ("/me", Some(plain.as_str())),
        ("/branches/1/products", Some(admin.as_str())),
    ] {
        let seen = send(gw, path, token, &SPOOFED);
        assert_eq!(seen.status, 200, "{path}\n{}", g.log());
        for h in [
            "x-user-id",
            "x-user-email",
            "roles",
            "x-portcullis-assertion",
        ] {
            let got = seen.all(h);
            match token {
                None => assert!(got.is_empty(), "{path}: {h} reached the service: {got:?}"),
                Some(_) => {
                    assert_eq!(got.len(), 1, "{path}: {h}: {got:?}");
                    assert!(
                        !got[0].contains("spoofed")
                            && got[0] != "forged"
                            && !got[0].contains("ceo@"),
                        "{path}: {h}: {got:?}"
                    );
                }
            }
        }
        assert_eq!(
            seen.all("authorization").len(),
            usize::from(token.is_some())
        );
    }

    // --- what the service learns about the signed-in user ------------------------------------
    let seen = send(gw, "/branches/7/products?sort=name", Some(&admin), &[]);
    assert_eq!(seen.status, 200);
    assert_eq!(seen.path, "/branches/7/products?sort=name");
    assert_eq!(seen.all("x-user-id"), [admin_id.as_str()]);
    assert_eq!(seen.all("x-user-email"), ["admin@example.com"]);
    assert_eq!(seen.all("roles"), ["admin"]);
    assert_eq!(seen.all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.all("x-forwarded-proto"), ["http"]);
    let assertion = seen.all("x-portcullis-assertion")[0].to_string();
    let jwks: Value = reqwest::blocking::get(format!("{gw}/.well-known/gateway/jwks.json"))
        .unwrap()
        .json()
        .unwrap();
    let key = portcullis_jwt::PublicKey::from_jwk(&jwks["keys"][0]).unwrap();
    let claims = key
        .verify(&assertion)
        .expect("the assertion verifies with the gateway's JWKS");
    assert_eq!(claims["aud"], echo.as_str());
    assert_eq!(claims["sub"], admin_id.as_str());
    assert_eq!(claims["email"], "admin@example.com");
    assert_eq!(claims["roles"], json!(["admin"]));
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(ttl > 0 && ttl <= 60, "{claims:?}");
    // And independently, with PyJWT.
    let verify = workspace_root().join("tests/jwt/verify.py");
    let (ok, out) = run_with_timeout(
        Command::new("python3").arg(&verify).args([
            &format!("{gw}/.well-known/gateway/jwks.json"),
            &assertion,
            &echo,
        ]),
        Duration::from_secs(30),
    );
    assert!(ok, "PyJWT refused the assertion: {out}");
    assert!(out.contains(&admin_id), "{out}");
    let seen = send(gw, "/me", Some(&plain), &[]);
    assert_eq!(seen.all("x-user-id"), [plain_id.as_str()]);
    assert_eq!(seen.all("roles"), ["user"]);
    let seen = send(gw, "/static/css/app.css?v=1", None, &[]);
    assert_eq!(seen.path, "/assets/css/app.css?v=1");

    // --- answers ------------------------------------------------------------------------------
    assert_eq!(status_of(gw, "/branches/1/products", Some(&plain)), 403);
    assert_eq!(
        status_of(gw, "/branches/1/products", Some(&elsewhere)),
        401,
        "another application's token"
    );
    let r = reqwest::blocking::get(format!("{gw}/me")).unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(status_of(gw, "/nowhere", None), 404);
    let r = reqwest::blocking::Client::new()
        .post(format!("{gw}/products"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    let (status, body) = raw_get(gw, "/down", &[]);
    assert_eq!(status, 502);
    assert!(
        !body.contains("127.0.0.1") && !body.to_lowercase().contains("refused"),
        "{body}"
    );
    let t = Instant::now();
    assert_eq!(raw_get(gw, "/slow", &[]).0, 504);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(raw_get(gw, "/healthz", &[]).0, 200);
    assert_eq!(status_of(gw, "/limited", None), 200);
    assert_eq!(status_of(gw, "/limited", None), 200);
    assert_eq!(status_of(gw, "/limited", None), 429);

    // --- forged tokens: every classic attack, made by PyJWT from a genuine token --------------
    let kid = portcullis_jwt::key_id(&admin).unwrap();
    let pem: Value = reqwest::blocking::get(format!("{}/api/jwt/public-key?kid={kid}", s.url))
        .unwrap()
        .json()
        .unwrap();
    let forge = workspace_root().join("tests/jwt/forge.py");
    let out = Command::new("python3")
        .arg(&forge)
        .args([
            admin.as_str(),
            pem["publicKey"].as_str().unwrap(),
            "another-kid",
            &format!("{echo}/jwks.json"),
        ])
        .output()
        .expect("python3 runs (scripts/test installs PyJWT)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(forged.as_object().unwrap().len() >= 15);
    for (attack, t) in forged.as_object().unwrap() {
        let t = t.as_str().unwrap();
        for path in ["/me", "/branches/1/products"] {
            assert_eq!(status_of(gw, path, Some(t)), 401, "{attack} on {path}");
        }
        // On a public route a bad token is no identity: nothing is forwarded for it.
        let seen = send(gw, "/products", Some(t), &[]);
        assert_eq!(seen.status, 200);
        assert!(
            seen.all("x-user-id").is_empty() && seen.all("roles").is_empty(),
            "{attack}"
        );
    }

    // --- made-up kids: each is a 401, and Portcullis is asked at most once per interval -----
    let fetches = |log: &str| log.matches("signing keys fetched").count();
    let before = fetches(&g.log());
    assert!(before >= 1, "the start-up fetch is logged: {}", g.log());
    let t = Instant::now();
    for i in 0..20 {
        let mut c = serde_json::Map::new();
        c.insert("sub".into(), json!("nobody"));
        let k = portcullis_jwt::KeyPair::generate(
            format!("made-up-{i}"),
            portcullis_jwt::Algorithm::EdDSA,
        );
        assert_eq!(status_of(gw, "/me", Some(&k.sign(&c))), 401);
    }
    let allowed = 1 + (t.elapsed().as_millis() / 300) as usize;
    let made = fetches(&g.log()) - before;
    assert!(
        made <= allowed,
        "{made} fetches for 20 unknown kids in {:?}",
        t.elapsed()
    );

    // --- path tricks --------------------------------------------------------------------------
    // Dot segments resolve before matching, and the upstream gets the path that matched.
    let seen = send(gw, "/branches/1/../../products", None, &[]);
    assert_eq!((seen.status, seen.path.as_str()), (200, "/products"));
    let seen = send(gw, "/branches/1/%2e%2e/%2E%2E/products", None, &[]);
    assert_eq!((seen.status, seen.path.as_str()), (200, "/products"));
    assert_eq!(status_of(gw, "/branches/1/../../admin", Some(&admin)), 404);
    assert_eq!(status_of(gw, "/products/../branches/1/products", None), 401);
    assert_eq!(
        status_of(gw, "/products/..%2fbranches%2f1%2fproducts", None),
        400
    );
    assert_eq!(status_of(gw, "/branches%2F1%2Fproducts", Some(&admin)), 400);
    assert_eq!(status_of(gw, "/products/%5c..%5cme", None), 400);
    assert_eq!(status_of(gw, "//branches//1//products", None), 401);
    assert_eq!(status_of(gw, "//branches//1//products", Some(&plain)), 403);
    assert_eq!(status_of(gw, "/../me", None), 400);
    let seen = send(gw, "/products?/branches/1/products", None, &[]);
    assert_eq!(
        (seen.status, seen.path.as_str()),
        (200, "/products?/branches/1/products")
    );
    assert_eq!(status_of(gw, "/me?/products", None), 401);
    assert_eq!(status_of(gw, "/me%3f/products", None), 404);

    // --- a rotated Portcullis key: the new kid is fetched, old tokens still pass -------------
    api(
        &s,
        "POST",
        "/api/key/generate",
        None,
        json!({"key": {"algorithm": "EdDSA"}}),
    );
    let (_, rotated) = user_token(&s, None, &app, "later@example.com", &["admin"]);
    assert_ne!(
        portcullis_jwt::key_id(&rotated),
        portcullis_jwt::key_id(&admin)
    );
    assert!(
        eventually(Duration::from_secs(10), || status_of(
            gw,
            "/me",
            Some(&rotated)
        ) == 200),
        "{}",
        g.log()
    );
    assert_eq!(status_of(gw, "/branches/1/products", Some(&rotated)), 200);
    assert_eq!(status_of(gw, "/branches/1/products", Some(&admin)), 200);

    // --- the access log: one JSON object a line, with no token in it -------------------------
    let log = g.log();
    let entries: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("status").is_some())
        .collect();
    assert!(entries.len() > 50, "{log}");
    assert!(entries
        .iter()
        .any(|e| e["status"] == 504 && e["route"] == "/slow"));
    assert!(
        !log.contains(&admin) && !log.contains("sort=name"),
        "tokens and queries stay out of the log"
    );

    // --- SIGHUP: a broken file keeps the old table, a good one replaces it -------------------
    std::fs::write(&file, "this is = not [ toml").unwrap();
    g.signal("-HUP");
    assert!(eventually(Duration::from_secs(5), || g
        .log()
        .contains("was not reloaded")));
    assert_eq!(status_of(gw, "/products", None), 200);
    let extra = format!("[[route]]\npath = \"/new\"\nupstream = \"{echo}\"\nallow = \"public\"\n");
    std::fs::write(&file, config(&s.url, &echo, &down, &app, &extra)).unwrap();
    g.signal("-HUP");
    assert!(
        eventually(Duration::from_secs(5), || status_of(gw, "/new", None)
            == 200),
        "{}",
        g.log()
    );
    let _ = tenant;
}

#[test]
fn gateway_refuses_other_tenants_and_other_issuers_sqlite() {
    refuses_other_tenants_and_other_issuers(Backend::Sqlite);
}

#[test]
fn gateway_refuses_other_tenants_and_other_issuers_postgres() {
    refuses_other_tenants_and_other_issuers(Backend::Postgres);
}

fn refuses_other_tenants_and_other_issuers(backend: Backend) {
    let s = Server::start(backend);
    let echo = echo_upstream();
    let apps = api(&s, "GET", "/api/application", None, json!(null));
    let tenant = apps["applications"][0]["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let other = api(
        &s,
        "POST",
        "/api/tenant",
        None,
        json!({"tenant": {"name": "Elsewhere", "issuer": "https://evil.example"}}),
    )["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mk = |tenant: Option<&str>, name: &str| {
        api(
            &s,
            "POST",
            "/api/application",
            tenant,
            json!({"application": {"name": name}}),
        )["application"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ours = mk(Some(&tenant), "Ours");
    let theirs = mk(Some(&other), "Theirs");
    let (_, good) = user_token(&s, Some(&tenant), &ours, "a@example.com", &[]);
    let (_, foreign) = user_token(&s, Some(&other), &theirs, "b@example.com", &[]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    // Both applications' tokens are for us by audience; the issuer and tenant still decide.
    std::fs::write(
        &file,
        format!(
            "portcullis = \"{}\"\ntenant_id = \"{tenant}\"\naudiences = [\"{ours}\", \"{theirs}\"]\n\
             [[route]]\npath = \"/*\"\nupstream = \"{echo}\"\nallow = \"authenticated\"\n",
            s.url
        ),
    )
    .unwrap();
    let g = Gateway::start(&file);
    assert_eq!(status_of(&g.url, "/x", Some(&good)), 200, "{}", g.log());
    assert_eq!(status_of(&g.url, "/x", Some(&foreign)), 401);

    // Without tenant_id (and with several tenants, so no default one) the issuer is named.
    std::fs::write(
        &file,
        format!(
            "portcullis = \"{}\"\nissuer = \"portcullis\"\naudiences = [\"{ours}\", \"{theirs}\"]\n\
             [[route]]\npath = \"/*\"\nupstream = \"{echo}\"\nallow = \"authenticated\"\n",
            s.url
        ),
    )
    .unwrap();
    let g = Gateway::start(&file);
    assert_eq!(status_of(&g.url, "/x", Some(&good)), 200);
    assert_eq!(
        status_of(&g.url, "/x", Some(&foreign)),
        401,
        "an issuer that is not ours"
    );
}

#[test]
fn gateway_refuses_a_broken_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        "portcullis = \"http://127.0.0.1:9011\"\n[[route]]\npath = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nallow = { roles = \"admin\" }\n",
    )
    .unwrap();
    let (ok, out) = run_with_timeout(
        Command::new(binary())
            .args(["gateway", "--config"])
            .arg(&file),
        Duration::from_secs(10),
    );
    assert!(!ok);
    assert!(out.contains("route[0].allow.roles"), "{out}");
}

/// The gateway's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[test]
fn gateway_streams_a_gib_each_way_in_bounded_memory() {
    use http_body_util::BodyExt as _;
    use hyper::body::{Bytes, Frame};

    let echo = echo_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    // Only public routes: no Portcullis needed (the one named is never reached).
    std::fs::write(
        &file,
        format!(
            "portcullis = \"http://127.0.0.1:9\"\n\
             [[route]]\npath = \"/*\"\nupstream = \"{echo}\"\nallow = \"public\"\n"
        ),
    )
    .unwrap();
    let g = Gateway::start(&file);
    let addr = g.url.trim_start_matches("http://").to_string();

    // 1 GiB each way in 1 MiB chunks of one static buffer: nothing the size of the transfer
    // exists anywhere, in the test or (the point) in the gateway.
    const GIB: u64 = 1 << 30;
    static CHUNK: [u8; 1 << 20] = [0; 1 << 20];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (uploaded, downloaded) = rt.block_on(async {
        async fn connect<B>(addr: &str) -> hyper::client::conn::http1::SendRequest<B>
        where
            B: hyper::body::Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            send
        }
        let chunks =
            futures_util::stream::iter((0..GIB >> 20).map(|_| {
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(&CHUNK)))
            }));
        let req = hyper::Request::post("/upload")
            .header("host", &addr)
            .header("content-length", GIB)
            .body(http_body_util::StreamBody::new(chunks))
            .unwrap();
        let resp = connect(&addr).await.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let up: Value = serde_json::from_slice(&body).unwrap();

        let req = hyper::Request::get(format!("/download/{}", GIB >> 20))
            .header("host", &addr)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let resp = connect(&addr).await.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut down = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame.unwrap().into_data() {
                down += d.len() as u64;
            }
        }
        (up["bytes"].as_u64().unwrap(), down)
    });
    let took = started.elapsed();
    assert_eq!(uploaded, GIB, "bytes the upstream received");
    assert_eq!(downloaded, GIB, "bytes the client received");
    let peak = peak_rss_mib(g.child.id());
    eprintln!("1 GiB each way through the gateway in {took:?}; its peak RSS {peak} MiB");
    assert!(
        peak < 100,
        "the gateway's peak memory reached {peak} MiB moving 1 GiB each way"
    );
}

#[test]
fn gateway_tunnels_websockets_and_drains_requests_on_sigterm() {
    let echo = echo_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "portcullis = \"http://127.0.0.1:9\"\nshutdown_grace = \"5s\"\n\
             [[route]]\npath = \"/*\"\nupstream = \"{echo}\"\nallow = \"public\"\n"
        ),
    )
    .unwrap();
    let mut g = Gateway::start(&file);

    // Any protocol but WebSocket is not tunnelled: an h2c upgrade would carry requests past
    // the route table.
    let addr = g.url.trim_start_matches("http://").to_string();
    let mut h2c = TcpStream::connect(&addr).unwrap();
    h2c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    h2c.write_all(
        format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut first = [0u8; 12];
    h2c.read_exact(&mut first).unwrap();
    assert!(
        !first.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    drop(h2c);

    // A WebSocket upgrade goes through, and the two connections are joined.
    let mut ws = TcpStream::connect(&addr).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ws.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for msg in [&b"ping"[..], b"through the gateway"] {
        ws.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        ws.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    drop(ws);

    // SIGTERM while a request is in flight: it is answered, then the process exits cleanly.
    let url = format!("{}/pause", g.url);
    let in_flight =
        std::thread::spawn(move || reqwest::blocking::get(url).unwrap().status().as_u16());
    std::thread::sleep(Duration::from_millis(200));
    g.signal("-TERM");
    assert_eq!(in_flight.join().unwrap(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = g.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}\n{}", g.log());
}

/// `Set-Cookie` answers as `name=value` pairs.
fn cookies_of(r: &reqwest::blocking::Response) -> Vec<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (k, v) = v.split(';').next()?.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of the hosted login page's form.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

/// A browser signing in through the gateway from `/login?rd=…`: the gateway's answer at the
/// end (its Location) and the session cookie.
fn browser_sign_in(gw: &str, rd: &str, login_id: &str) -> (String, String) {
    let b = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut u = reqwest::Url::parse(&format!("{gw}/login")).unwrap();
    u.query_pairs_mut().append_pair("rd", rd);
    let r = b.get(u).header("Accept", "text/html").send().unwrap();
    assert_eq!(r.status(), 302);
    let pending = cookies_of(&r);
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = b.get(&authorize).send().unwrap();
    assert_eq!(r.status(), 200, "{authorize}");
    let csrf = cookies_of(&r);
    let html = r.text().unwrap();
    let mut form = hidden_inputs(&html);
    form.push(("loginId".into(), login_id.into()));
    form.push(("password".into(), "correct horse battery".into()));
    let portcullis = authorize.split("/oauth2/").next().unwrap();
    let cookie = |c: &[(String, String)]| {
        c.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let r = b
        .post(format!("{portcullis}/oauth2/authorize"))
        .header("Cookie", cookie(&csrf))
        .form(&form)
        .send()
        .unwrap();
    assert!(matches!(r.status().as_u16(), 302 | 303), "{}", r.status());
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(gw), "{back}");
    let r = b
        .get(&back)
        .header("Cookie", cookie(&pending))
        .send()
        .unwrap();
    assert_eq!(r.status(), 302, "{back}");
    let session = cookies_of(&r)
        .into_iter()
        .find(|(k, v)| k == "__portcullis_gw" && !v.is_empty())
        .expect("a session cookie");
    (
        r.headers()["location"].to_str().unwrap().to_string(),
        format!("{}={}", session.0, session.1),
    )
}

#[test]
fn gateway_signs_browsers_in_with_the_code_flow_sqlite() {
    signs_browsers_in_with_the_code_flow(Backend::Sqlite);
}

#[test]
fn gateway_signs_browsers_in_with_the_code_flow_postgres() {
    signs_browsers_in_with_the_code_flow(Backend::Postgres);
}

fn signs_browsers_in_with_the_code_flow(backend: Backend) {
    let s = Server::start(backend);
    let echo = echo_upstream();
    let port = portcullis_test_ports::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = api(
        &s,
        "POST",
        "/api/application",
        None,
        json!({"application": {"name": "Gateway", "roles": [{"name": "admin"}],
            // Access tokens shorter than the gateway's refresh margin: every request refreshes.
            // Reusable refresh tokens: a browser's parallel requests may all refresh at once.
            "jwtConfiguration": {"enabled": true, "timeToLiveInSeconds": 20,
                "refreshTokenUsagePolicy": "Reusable"},
            "oauthConfiguration": {
                "authorizedRedirectURLs": [format!("{public}/oauth-redirect")],
                "enabledGrants": ["authorization_code", "refresh_token"],
                "proofKeyForCodeExchangePolicy": "Required",
                "clientAuthenticationPolicy": "Required"}}}),
    );
    let app_id = app["application"]["id"].as_str().unwrap().to_string();
    let secret = app["application"]["oauthConfiguration"]["clientSecret"]
        .as_str()
        .unwrap()
        .to_string();
    let (admin_id, _) = user_token(&s, None, &app_id, "admin@example.com", &["admin"]);
    user_token(&s, None, &app_id, "plain@example.com", &[]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let text = format!(
        "portcullis = \"{}\"\n[oauth]\nclient_id = \"{app_id}\"\nclient_secret = \"{secret}\"\n\
         public_url = \"{public}\"\n[identity]\nheaders = {{ \"x-user-id\" = \"sub\" }}\n\
         [[route]]\npath = \"/me\"\nupstream = \"{echo}\"\nallow = \"authenticated\"\n\
         [[route]]\npath = \"/admin\"\nupstream = \"{echo}\"\nallow = {{ roles = [\"admin\"] }}\n",
        s.url
    );
    std::fs::write(&file, &text).unwrap();
    let cmd_port = Gateway::start_on(&file, &format!("127.0.0.1:{port}"));
    let gw = cmd_port.url.clone();

    // A browser without a session is sent to sign in; an API client gets a 401.
    let b = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = b
        .get(format!("{gw}/admin?tab=1"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/login?rd=%2Fadmin%3Ftab%3D1");
    assert_eq!(status_of(&gw, "/admin", None), 401);

    let (to, session) = browser_sign_in(&gw, "/admin?tab=1", "admin@example.com");
    assert_eq!(to, "/admin?tab=1");
    let seen = send(&gw, "/admin", None, &[("Cookie", &session)]);
    assert_eq!(seen.status, 200, "{}", cmd_port.log());
    assert_eq!(seen.all("x-user-id"), [admin_id.as_str()]);

    // The access token is near its end: the gateway refreshes it and hands the browser a new
    // cookie, which works on its own.
    let r = b
        .get(format!("{gw}/admin"))
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", cmd_port.log());
    let (k, v) = cookies_of(&r)
        .into_iter()
        .find(|(k, _)| k == "__portcullis_gw")
        .expect("a refreshed session cookie");
    let refreshed = format!("{k}={v}");
    assert_ne!(refreshed, session);
    assert_eq!(
        send(&gw, "/admin", None, &[("Cookie", &refreshed)]).status,
        200
    );

    // Another copy with the same configuration reads the same cookie: no shared state.
    let copy = Gateway::start(&file);
    assert_eq!(
        send(&copy.url, "/admin", None, &[("Cookie", &session)]).status,
        200
    );
    // A tampered cookie is no session.
    let mut tampered = session.clone().into_bytes();
    let mid = tampered.len() - 20;
    tampered[mid] = if tampered[mid] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        send(&gw, "/admin", None, &[("Cookie", &tampered)]).status,
        401
    );

    // The plain user signs in, and is refused the admin route.
    let (_, plain) = browser_sign_in(&gw, "/me", "plain@example.com");
    assert_eq!(send(&gw, "/me", None, &[("Cookie", &plain)]).status, 200);
    assert_eq!(send(&gw, "/admin", None, &[("Cookie", &plain)]).status, 403);

    // Return URLs only ever lead back to this origin.
    for trick in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%5Cevil.example",
    ] {
        let (to, _) = browser_sign_in(&gw, trick, "plain@example.com");
        assert_eq!(to, "/", "{trick}");
    }

    // A redirect without the browser's own pending sign-in is refused.
    assert_eq!(status_of(&gw, "/oauth-redirect?code=x&state=y", None), 400);

    // Logout forgets the session here and ends Portcullis' session.
    let r = b.get(format!("{gw}/logout")).send().unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("{}/oauth2/logout", s.url)));
    assert!(cookies_of(&r)
        .iter()
        .any(|(k, v)| k == "__portcullis_gw" && v.is_empty()));
    cmd_port.signal("-TERM");
}

// ------------------------------------------------------------------ login_fork

/// A legacy system's login, as the fork calls it: JSON `{"username","password"}`; 200
/// `{"ok":true,"user":{…}}` for one of its users with the right password, 401 `{"ok":false}`
/// otherwise. `/broken` answers 500 and `/slow` takes 3 s. It counts the calls to `/login`.
fn legacy_login_server(calls: Arc<AtomicUsize>) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            let login = move |axum::Json(v): axum::Json<Value>| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Long enough for concurrent sign-ins of one user to overlap.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let user = match (v["username"].as_str(), v["password"].as_str()) {
                        (Some("lee@example.com"), Some(LEE_PASSWORD)) => {
                            json!({"email": "lee@example.com", "firstName": "Lee", "lastName": "Legacy"})
                        }
                        (Some("oldname"), Some("old name's password")) => {
                            json!({"email": "old@example.com", "username": "ignored"})
                        }
                        (Some(u), Some("race password")) if u.starts_with("race") => {
                            json!({"firstName": "Race"})
                        }
                        _ => {
                            return (
                                axum::http::StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"ok": false})),
                            )
                        }
                    };
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"ok": true, "user": user})),
                    )
                }
            };
            let app = axum::Router::new()
                .route("/login", axum::routing::post(login))
                .route(
                    "/broken",
                    axum::routing::post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
                )
                .route(
                    "/slow",
                    axum::routing::post(|| async {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        axum::Json(json!({"ok": true}))
                    }),
                );
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// Has JSON-special characters, so the template's escaping is exercised.
const LEE_PASSWORD: &str = "legacy \"pw\" \\ 1";

fn api_status(s: &Server, path: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", s.url))
        .header("Authorization", &s.api_key)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn gateway_login_fork_migrates_legacy_users_sqlite() {
    login_fork_migrates_legacy_users(Backend::Sqlite);
}

#[test]
fn gateway_login_fork_migrates_legacy_users_postgres() {
    login_fork_migrates_legacy_users(Backend::Postgres);
}

fn login_fork_migrates_legacy_users(backend: Backend) {
    let s = Server::start(backend);
    let echo = echo_upstream();
    let calls = Arc::new(AtomicUsize::new(0));
    let legacy = legacy_login_server(calls.clone());
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let app = api(
        &s,
        "POST",
        "/api/application",
        None,
        json!({"application": {"name": "Forked"}}),
    )["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    user_token(&s, None, &app, "known@example.com", &[]);

    let fork = |path: &str, url: &str| {
        format!(
            "[[login_fork]]\npath = \"{path}\"\napplication_id = \"{app}\"\napi_key = \"{}\"\n\
             [login_fork.legacy]\nurl = \"{url}\"\n\
             body = '{{\"username\": \"{{{{loginId}}}}\", \"password\": \"{{{{password}}}}\"}}'\n\
             success_json_pointer = \"/ok\"\nuser_json_pointer = \"/user\"\ntimeout = \"500ms\"\n",
            s.api_key
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "portcullis = \"{}\"\naudiences = [\"{app}\"]\ntrusted_proxies = [\"127.0.0.1\"]\nmetrics = true\n\
             [[route]]\npath = \"/me\"\nupstream = \"{echo}\"\nallow = \"authenticated\"\n{}{}{}{}",
            s.url,
            fork("/login-fork", &format!("{legacy}/login")),
            fork("/login-fork-down", &format!("{down}/login")),
            fork("/login-fork-broken", &format!("{legacy}/broken")),
            fork("/login-fork-slow", &format!("{legacy}/slow")),
        ),
    )
    .unwrap();
    let g = Gateway::start(&file);
    let c = reqwest::blocking::Client::new();
    // Every sign-in the fork sends on costs a failed login in Portcullis' lockout count for the
    // client's address: each comes from an address of its own (the test is a trusted proxy),
    // which also shows the client's address reaches Portcullis.
    let clients = Arc::new(AtomicUsize::new(1));
    let next_client = {
        let clients = clients.clone();
        move || format!("10.0.0.{}", clients.fetch_add(1, Ordering::SeqCst))
    };
    let post = |path: &str, login_id: &str, password: &str| {
        let r = c
            .post(format!("{}{path}", g.url))
            .header("X-Forwarded-For", next_client())
            .json(&json!({"loginId": login_id, "password": password}))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let calls_now = || calls.load(Ordering::SeqCst);

    // A Portcullis user signs in through the fork without the legacy system hearing of it.
    let (status, body) = post("/login-fork", "known@example.com", "correct horse battery");
    assert_eq!(status, 200, "{body}\n{}", g.log());
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_of(&g.url, "/me", Some(&token)), 200);
    // Nor with a wrong password, and a malformed sign-in is Portcullis' to refuse.
    let (status, _) = post("/login-fork", "known@example.com", "wrong horse");
    assert_eq!(status, 404);
    let (status, body) = post("/login-fork", "", "no login id");
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        calls_now(),
        0,
        "the legacy system was asked about a Portcullis user"
    );

    // Wrong legacy password: nothing is created, and the answer is Portcullis' own 404, the same
    // as for a login id nobody knows.
    let (status, wrong) = post("/login-fork", "lee@example.com", "not the password");
    assert_eq!(status, 404, "{wrong}");
    assert_eq!(calls_now(), 1);
    assert_eq!(api_status(&s, "/api/user?email=lee@example.com"), 404);
    let (status, unknown) = post("/login-fork", "nobody@example.com", "whatever");
    assert_eq!((status, unknown), (404, wrong));

    // The right legacy password (form-encoded this time): the user is created in Portcullis
    // with the typed password and the legacy system's names, and gets Portcullis' tokens.
    let r = c
        .post(format!("{}/login-fork", g.url))
        .header("X-Forwarded-For", next_client())
        .form(&[("loginId", "lee@example.com"), ("password", LEE_PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["user"]["email"], "lee@example.com");
    let token = v["token"].as_str().expect("an access token");
    assert_eq!(status_of(&g.url, "/me", Some(token)), 200);
    assert_eq!(calls_now(), 3);
    let lee = api(
        &s,
        "GET",
        "/api/user?email=lee@example.com",
        None,
        json!(null),
    );
    assert_eq!(lee["user"]["firstName"], "Lee");
    assert_eq!(
        lee["user"]["registrations"][0]["applicationId"],
        app.as_str()
    );
    // From now on Portcullis answers alone, directly as well as through the fork.
    let (status, _) = post("/login-fork", "lee@example.com", LEE_PASSWORD);
    assert_eq!(status, 200);
    api(
        &s,
        "POST",
        "/api/login",
        None,
        json!({"loginId": "lee@example.com", "password": LEE_PASSWORD, "applicationId": app}),
    );
    assert_eq!(
        calls_now(),
        3,
        "a migrated user's sign-in reached the legacy system"
    );
    // Once Portcullis has the user, only Portcullis judges its passwords.
    let (status, _) = post("/login-fork", "lee@example.com", "not the password");
    assert_eq!(status, 404);
    assert_eq!(calls_now(), 3);

    // A username sign-in keeps its username as the login id; the legacy email comes along.
    let (status, body) = post("/login-fork", "oldname", "old name's password");
    assert_eq!(status, 200, "{body}");
    let old = api(&s, "GET", "/api/user?username=oldname", None, json!(null));
    assert_eq!(old["user"]["email"], "old@example.com");

    // Concurrent first sign-ins of one new user all succeed: the creates that lose the race
    // find the user there and sign in. (Four: each first 404 counts against the login id, and
    // the fifth would lock it.)
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}/login-fork", g.url);
            let from = next_client();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(url)
                    .header("X-Forwarded-For", from)
                    .json(&json!({"loginId": "race@example.com", "password": "race password"}))
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for r in racers {
        assert_eq!(r.join().unwrap(), 200, "{}", g.log());
    }
    assert_eq!(api_status(&s, "/api/user?email=race@example.com"), 200);

    // The legacy system down, failing or too slow: 503 with FusionAuth's error body, and no user.
    for path in ["/login-fork-down", "/login-fork-broken", "/login-fork-slow"] {
        let (status, body) = post(path, "race2@example.com", "race password");
        assert_eq!(status, 503, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["generalErrors"][0]["code"], "[LegacySystemFailed]",
            "{body}"
        );
        assert_eq!(api_status(&s, "/api/user?email=race2@example.com"), 404);
    }
    // Only POST signs in.
    assert_eq!(status_of(&g.url, "/login-fork", None), 405);

    let metrics = reqwest::blocking::get(format!("{}/metrics", g.url))
        .unwrap()
        .text()
        .unwrap();
    for line in [
        r#"portcullis_gateway_login_fork_total{outcome="migrated",path="/login-fork"} 3"#,
        r#"portcullis_gateway_login_fork_total{outcome="unavailable",path="/login-fork-down"} 1"#,
        r#"portcullis_gateway_login_fork_total{outcome="unavailable",path="/login-fork-slow"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }

    let log = g.log();
    for secret in [
        LEE_PASSWORD,
        "not the password",
        "wrong horse",
        "race password",
        "correct horse",
    ] {
        assert!(!log.contains(secret), "the gateway logged a password");
    }
}

// ------------------------------------------------------------------ metrics

#[test]
fn gateway_counts_requests_per_route_for_prometheus() {
    let echo = echo_upstream();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let routes = format!(
        "[[route]]\npath = \"/products\"\nupstream = \"{echo}\"\nallow = \"public\"\n\
         [[route]]\npath = \"/down\"\nupstream = \"{down}\"\nallow = \"public\"\n\
         [[route]]\npath = \"/slow\"\nupstream = \"{echo}\"\nallow = \"public\"\ntimeout = \"200ms\"\n"
    );
    std::fs::write(
        &file,
        format!(
            "portcullis = \"http://127.0.0.1:9\"\nmetrics_bind = \"127.0.0.1:0\"\n{routes}\
             [[route]]\npath = \"/*\"\nupstream = \"{echo}\"\nallow = \"public\"\n"
        ),
    )
    .unwrap();
    let g = Gateway::start(&file);
    let log = g.log();
    let metrics_url = log
        .lines()
        .find_map(|l| l.strip_prefix("Portcullis gateway metrics on "))
        .unwrap_or_else(|| panic!("no metrics address:\n{log}"))
        .trim()
        .to_string();

    for _ in 0..3 {
        assert_eq!(status_of(&g.url, "/products", None), 200);
    }
    assert_eq!(status_of(&g.url, "/down", None), 502);
    assert_eq!(status_of(&g.url, "/slow", None), 504);
    assert_eq!(status_of(&g.url, "/healthz", None), 200);
    assert_eq!(status_of(&g.url, "/a/..;/b", None), 400);
    // On the main address `/metrics` is only ever a route's: here the upstream's.
    let seen = send(&g.url, "/metrics", None, &[]);
    assert_eq!((seen.status, seen.path.as_str()), (200, "/metrics"));

    let text = reqwest::blocking::get(&metrics_url)
        .unwrap()
        .text()
        .unwrap();
    for line in [
        r#"portcullis_gateway_requests_total{route="/products",status="2xx"} 3"#,
        r#"portcullis_gateway_requests_total{route="/down",status="5xx"} 1"#,
        r#"portcullis_gateway_requests_total{route="/slow",status="5xx"} 1"#,
        r#"portcullis_gateway_requests_total{route="/*",status="2xx"} 1"#,
        r#"portcullis_gateway_requests_total{route="_gateway",status="2xx"} 1"#,
        r#"portcullis_gateway_requests_total{route="_none",status="4xx"} 1"#,
        r#"portcullis_gateway_upstream_errors_total{kind="unavailable",route="/down"} 1"#,
        r#"portcullis_gateway_upstream_errors_total{kind="timeout",route="/slow"} 1"#,
        r#"portcullis_gateway_request_duration_seconds_count{route="/products"} 3"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} is missing:\n{text}"
        );
    }
    // The metrics address serves nothing else.
    let other = metrics_url.replace("/metrics", "/products");
    assert_eq!(reqwest::blocking::get(other).unwrap().status(), 404);

    // `metrics = true` serves them on the main address instead, before any route.
    std::fs::write(
        &file,
        format!("portcullis = \"http://127.0.0.1:9\"\nmetrics = true\n{routes}"),
    )
    .unwrap();
    let g = Gateway::start(&file);
    assert!(!g.log().contains("metrics on"));
    assert_eq!(status_of(&g.url, "/products", None), 200);
    let text = reqwest::blocking::get(format!("{}/metrics", g.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.contains(r#"portcullis_gateway_requests_total{route="/products",status="2xx"} 1"#),
        "{text}"
    );
}
