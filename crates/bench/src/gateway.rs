//! `portcullis-bench gateway`: what `portcullis gateway` costs in front of a service. A fast
//! upstream (a fixed small body) is measured directly, through the gateway on a public route and
//! on an authenticated route with a Login API bearer token, through nginx with `auth_request` to
//! Portcullis' `/api/jwt/validate` (Debian's nginx, installed on demand), and through oauth2-proxy
//! validating the same bearer token (built once with `go install` into
//! `~/.cache/portcullis-bench`), all with the same in-process load loop: fixed concurrency, every
//! answer checked for 200. It prints requests/s and p50/p99 latency for each, the authenticated
//! throughput as a share of the direct one, the p99 the gateway adds at half the direct peak rate
//! and at half its own bearer-route peak, and the gateway beside nginx and oauth2-proxy. nginx
//! also proxies with no check at all, so the run shows what one proxy hop alone leaves of the
//! direct rate on the same cores.
//!
//! Portcullis (`serve` on SQLite) and the gateway are the `portcullis` binary beside this one
//! (`cargo build --release -p portcullis -p portcullis-bench`), run as processes of their own.

use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The oauth2-proxy release `go install` builds (one the Go module proxy serves).
const OAUTH2_PROXY: &str = "github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6";
const BODY: &str = "{\"ok\":true,\"items\":[1,2,3]}";

#[derive(Args)]
pub struct GatewayBench {
    /// Seconds each measurement runs (after a one-second warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The `portcullis` binary (default: the one beside this binary).
    #[arg(long, env = "PORTCULLIS_BIN")]
    portcullis: Option<PathBuf>,
    /// Leave out nginx auth_request.
    #[arg(long)]
    no_nginx: bool,
    /// Leave out oauth2-proxy.
    #[arg(long)]
    no_oauth2_proxy: bool,
}

/// A child process killed when dropped.
pub(crate) struct Proc {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Drop for Proc {
    /// SIGTERM first: nginx's master stops its workers only when it is asked, not when killed.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: PathBuf,
    ) -> Result<Proc, String> {
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc { child, name, log })
    }

    /// Its process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `url` answers at all (any status).
    pub(crate) async fn wait_for(
        &mut self,
        http: &reqwest::Client,
        url: &str,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http.get(url).send().await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited ({status}):\n{}", self.name, self.log()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} did not answer at {url}:\n{}",
            self.name,
            self.log()
        ))
    }
}

pub(crate) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The fast upstream: a fixed small JSON body for any path, on a runtime of its own so the load
/// loop's tasks never queue behind it.
fn start_upstream() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the upstream's runtime starts");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let app = axum::Router::new()
                .fallback(|| async { ([("content-type", "application/json")], BODY) });
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(url)
}

/// One run's figures.
#[derive(Clone, Copy)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `concurrency` loops of GET `url` for `secs` (after a one-second warm-up). With `rate`, the
/// loops share that many requests per second, each on a fixed schedule, and latency counts from
/// the scheduled start, so a stall shows in the percentiles rather than lowering the rate.
async fn load(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    concurrency: usize,
    secs: u64,
    rate: Option<f64>,
) -> Result<Figures, String> {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let go = |until: Instant, record: bool| {
        let mut handles = Vec::new();
        for t in 0..concurrency {
            let (http, url, auth) = (http.clone(), url.to_string(), auth.clone());
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(if record { 1 << 16 } else { 0 });
                let start = Instant::now();
                let period = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r));
                let mut next = start
                    + period
                        .map(|p| p.mul_f64(t as f64 / concurrency as f64))
                        .unwrap_or_default();
                while Instant::now() < until {
                    if period.is_some() {
                        tokio::time::sleep_until(next.into()).await;
                        if Instant::now() >= until {
                            break;
                        }
                    }
                    let sent = if period.is_some() {
                        next
                    } else {
                        Instant::now()
                    };
                    let mut req = http.get(&url);
                    if let Some(a) = &auth {
                        req = req.header("authorization", a);
                    }
                    let res = req.send().await.map_err(|e| e.to_string())?;
                    let status = res.status();
                    let body = res.bytes().await.map_err(|e| e.to_string())?;
                    if status != 200 {
                        return Err(format!(
                            "GET {url} answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    if record {
                        lat.push(sent.elapsed().as_micros() as u32);
                    }
                    if let Some(p) = period {
                        next += p;
                    }
                }
                Ok::<Vec<u32>, String>(lat)
            }));
        }
        handles
    };
    for h in go(Instant::now() + Duration::from_secs(1), false) {
        h.await.map_err(|e| e.to_string())??;
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for h in go(start + Duration::from_secs(secs), true) {
        all.extend(h.await.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if all.is_empty() {
        return Err(format!("no request to {url} finished"));
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    Ok(Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

pub(crate) async fn api(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let mut req = http
        .request(method.clone(), format!("{base}{path}"))
        .header("authorization", key);
    if !body.is_null() {
        req = req.json(&body);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{method} {path} answered {status}: {text}"));
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}"))
}

/// `portcullis serve --dev` on SQLite in `dir`: its URL and development API key.
pub(crate) async fn start_portcullis(
    bin: &Path,
    dir: &Path,
    http: &reqwest::Client,
) -> Result<(Proc, String, String), String> {
    start_portcullis_on(bin, dir, http, None).await
}

/// `portcullis serve --dev` on `database` (default: a SQLite file in `dir`), its log in `dir`:
/// its URL and development API key.
pub(crate) async fn start_portcullis_on(
    bin: &Path,
    dir: &Path,
    http: &reqwest::Client,
    database: Option<String>,
) -> Result<(Proc, String, String), String> {
    let database =
        database.unwrap_or_else(|| format!("sqlite://{}", dir.join("portcullis.db").display()));
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut p = Proc::spawn(
        "portcullis serve",
        Command::new(bin)
            .args(["serve", "--dev", "--log", "warn", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database")
            .arg(database),
        dir.join("portcullis.log"),
    )?;
    p.wait_for(http, &format!("{url}/api/status")).await?;
    let key = p
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("Development API key (all permissions): "))
        .map(str::to_string)
        .ok_or_else(|| format!("no development API key in the log:\n{}", p.log()))?;
    Ok((p, url, key))
}

/// nginx, installed from Debian when missing.
fn nginx_binary() -> Result<PathBuf, String> {
    let bin = PathBuf::from("/usr/sbin/nginx");
    if bin.exists() {
        return Ok(bin);
    }
    println!("installing Debian's nginx (apt-get install nginx) for the auth_request column");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // A machine that never ran `apt-get update` knows no package lists yet.
    let installed = apt(&["install", "-y", "-qq", "nginx"])
        || (apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "nginx"]));
    if !installed {
        return Err("apt-get install nginx failed".into());
    }
    // Debian's package starts its own service on port 80; only our config is used here.
    Ok(bin)
}

fn nginx_config(dir: &Path, port: u16, upstream: &str, portcullis: &str) -> String {
    let up = upstream.trim_start_matches("http://");
    let idp = portcullis.trim_start_matches("http://");
    let d = dir.display();
    format!(
        r#"worker_processes 2;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/nginx-body;
    proxy_temp_path {d}/nginx-proxy;
    fastcgi_temp_path {d}/nginx-fastcgi;
    uwsgi_temp_path {d}/nginx-uwsgi;
    scgi_temp_path {d}/nginx-scgi;
    upstream app {{ server {up}; keepalive 64; }}
    upstream idp {{ server {idp}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location = /_auth {{
            internal;
            proxy_pass http://idp/api/jwt/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization $http_authorization;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /plain/ {{
            proxy_pass http://app/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location / {{
            auth_request /_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
    )
}

/// oauth2-proxy from the cache, built there with `go install` the first time.
fn oauth2_proxy_binary() -> Result<PathBuf, String> {
    let home = std::env::var("HOME").map_err(|_| "HOME is not set".to_string())?;
    let bin_dir = PathBuf::from(home).join(".cache/portcullis-bench/bin");
    let bin = bin_dir.join("oauth2-proxy");
    if bin.exists() {
        return Ok(bin);
    }
    println!(
        "building oauth2-proxy ({OAUTH2_PROXY}) into {}",
        bin_dir.display()
    );
    let ok = Command::new("go")
        .args(["install", OAUTH2_PROXY])
        .env("GOBIN", &bin_dir)
        .status()
        .map_err(|e| format!("cannot run go: {e}"))?
        .success();
    if ok && bin.exists() {
        Ok(bin)
    } else {
        Err(format!("go install {OAUTH2_PROXY} failed"))
    }
}

pub async fn run(args: GatewayBench) -> Result<(), String> {
    let bin = match &args.portcullis {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("portcullis"),
    };
    if !bin.exists() {
        return Err(format!(
            "no portcullis binary at {} (cargo build --release -p portcullis)",
            bin.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()
        .map_err(|e| e.to_string())?;

    let upstream = start_upstream()?;
    let (_portcullis, pc, key) = start_portcullis(&bin, dir.path(), &http).await?;
    // The issuer is Portcullis' URL, so an OIDC client (oauth2-proxy) finds its discovery there.
    let tenants = api(
        &http,
        &pc,
        &key,
        reqwest::Method::GET,
        "/api/tenant",
        Value::Null,
    )
    .await?;
    let tenant = tenants["tenants"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    api(
        &http,
        &pc,
        &key,
        reqwest::Method::PATCH,
        &format!("/api/tenant/{tenant}"),
        json!({"tenant": {"issuer": pc}}),
    )
    .await?;
    let app = api(
        &http,
        &pc,
        &key,
        reqwest::Method::POST,
        "/api/application",
        json!({"application": {"name": "Bench gateway", "roles": [{"name": "admin"}],
            "jwtConfiguration": {"enabled": true, "timeToLiveInSeconds": 3600},
            "oauthConfiguration": {"authorizedRedirectURLs": ["http://127.0.0.1/oauth2/callback"],
                "enabledGrants": ["authorization_code", "refresh_token"]}}}),
    )
    .await?;
    let app_id = app["application"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret = app["application"]["oauthConfiguration"]["clientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let password = format!("bench-{}", uuid::Uuid::new_v4());
    api(
        &http,
        &pc,
        &key,
        reqwest::Method::POST,
        "/api/user/registration",
        json!({"user": {"email": "bench@gateway.example", "password": password},
            "registration": {"applicationId": app_id, "roles": ["admin"]}}),
    )
    .await?;
    let login = api(
        &http,
        &pc,
        &key,
        reqwest::Method::POST,
        "/api/login",
        json!({"loginId": "bench@gateway.example", "password": password, "applicationId": app_id}),
    )
    .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| format!("no token in the login answer: {login}"))?
        .to_string();

    // The gateway: one public and one authenticated route to the same upstream.
    let gw_port = free_port()?;
    let gw = format!("http://127.0.0.1:{gw_port}");
    let toml = dir.path().join("gateway.toml");
    std::fs::write(
        &toml,
        format!(
            "bind = \"127.0.0.1:{gw_port}\"\nportcullis = \"{pc}\"\naudiences = [\"{app_id}\"]\n\
             [identity]\nheaders = {{ \"x-user-id\" = \"sub\", \"roles\" = \"roles\" }}\n\
             assertion_header = \"x-portcullis-assertion\"\n\
             [[route]]\npath = \"/public/*\"\nupstream = \"{upstream}\"\nallow = \"public\"\n\
             [[route]]\npath = \"/private/*\"\nupstream = \"{upstream}\"\n\
             allow = {{ roles = [\"admin\"] }}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut gateway = Proc::spawn(
        "portcullis gateway",
        Command::new(&bin)
            .arg("gateway")
            .arg("--config")
            .arg(&toml)
            .env("RUST_LOG", "warn"),
        dir.path().join("gateway.log"),
    )?;
    gateway.wait_for(&http, &format!("{gw}/healthz")).await?;

    let mut nginx = None;
    let mut nginx_skip = None;
    if args.no_nginx {
        nginx_skip = Some("--no-nginx".to_string());
    } else {
        match nginx_binary() {
            Ok(nb) => {
                let port = free_port()?;
                let conf = dir.path().join("nginx.conf");
                std::fs::write(&conf, nginx_config(dir.path(), port, &upstream, &pc))
                    .map_err(|e| e.to_string())?;
                let mut p = Proc::spawn(
                    "nginx",
                    Command::new(nb)
                        .arg("-c")
                        .arg(&conf)
                        .arg("-p")
                        .arg(dir.path()),
                    dir.path().join("nginx.log"),
                )?;
                p.wait_for(&http, &format!("http://127.0.0.1:{port}/"))
                    .await?;
                nginx = Some((p, format!("http://127.0.0.1:{port}")));
            }
            Err(e) => nginx_skip = Some(e),
        }
    }

    let mut proxy = None;
    let mut proxy_skip = None;
    if args.no_oauth2_proxy {
        proxy_skip = Some("--no-oauth2-proxy".to_string());
    } else {
        match oauth2_proxy_binary() {
            Ok(pb) => {
                let port = free_port()?;
                let mut p = Proc::spawn(
                    "oauth2-proxy",
                    Command::new(pb)
                        .arg(format!("--http-address=127.0.0.1:{port}"))
                        .arg(format!("--upstream={upstream}/"))
                        .args(["--provider=oidc", "--email-domain=*"])
                        .arg(format!("--oidc-issuer-url={pc}"))
                        .arg(format!("--client-id={app_id}"))
                        .arg(format!("--client-secret={secret}"))
                        .arg(format!("--cookie-secret={}", uuid::Uuid::new_v4().simple()))
                        .arg(format!(
                            "--redirect-url=http://127.0.0.1:{port}/oauth2/callback"
                        ))
                        .args([
                            "--skip-jwt-bearer-tokens=true",
                            "--insecure-oidc-allow-unverified-email=true",
                            "--cookie-secure=false",
                            "--request-logging=false",
                            "--auth-logging=false",
                            "--standard-logging=false",
                        ]),
                    dir.path().join("oauth2-proxy.log"),
                )?;
                match p
                    .wait_for(&http, &format!("http://127.0.0.1:{port}/ping"))
                    .await
                {
                    Ok(()) => proxy = Some((p, format!("http://127.0.0.1:{port}"))),
                    Err(e) => proxy_skip = Some(format!("oauth2-proxy did not start: {e}")),
                }
            }
            Err(e) => proxy_skip = Some(e),
        }
    }

    let (c, s) = (args.concurrency, args.seconds);
    println!(
        "portcullis-bench gateway: {} cores, {c} requests in flight, {s} s per run, loopback, \
         one client (this process) for every column",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let direct = load(&http, &format!("{upstream}/items"), None, c, s, None).await?;
    let public = load(&http, &format!("{gw}/public/items"), None, c, s, None).await?;
    let bearer = load(
        &http,
        &format!("{gw}/private/items"),
        Some(&token),
        c,
        s,
        None,
    )
    .await?;
    let via_nginx = match &nginx {
        Some((_, url)) => {
            Some(load(&http, &format!("{url}/items"), Some(&token), c, s, None).await?)
        }
        None => None,
    };
    // nginx proxying with no check at all: what one proxy hop leaves of direct on these cores.
    let nginx_plain = match &nginx {
        Some((_, url)) => Some(load(&http, &format!("{url}/plain/items"), None, c, s, None).await?),
        None => None,
    };
    let via_proxy = match &proxy {
        Some((_, url)) => {
            Some(load(&http, &format!("{url}/items"), Some(&token), c, s, None).await?)
        }
        None => None,
    };
    // Half the direct peak, both ways: the latency the gateway adds when nothing saturates.
    let half = direct.rps / 2.0;
    let direct_half = load(&http, &format!("{upstream}/items"), None, c, s, Some(half)).await?;
    let bearer_half = load(
        &http,
        &format!("{gw}/private/items"),
        Some(&token),
        c,
        s,
        Some(half),
    )
    .await?;
    // And at half the bearer route's own peak: the latency it adds at a rate it sustains.
    let low = bearer.rps / 2.0;
    let direct_low = load(&http, &format!("{upstream}/items"), None, c, s, Some(low)).await?;
    let bearer_low = load(
        &http,
        &format!("{gw}/private/items"),
        Some(&token),
        c,
        s,
        Some(low),
    )
    .await?;

    println!();
    println!("| path | requests/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, f: &Figures| {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            f.rps, f.p50_ms, f.p99_ms
        )
    };
    row("(1) upstream directly", &direct);
    row("(2) gateway, public route", &public);
    row("(3) gateway, bearer token, roles rule", &bearer);
    match (&via_nginx, &nginx_skip) {
        (Some(f), _) => row("(4) nginx auth_request → /api/jwt/validate", f),
        (None, reason) => println!(
            "| (4) nginx auth_request | not measured: {} | | |",
            reason.as_deref().unwrap_or("")
        ),
    }
    if let Some(f) = &nginx_plain {
        row("(4b) nginx, plain proxy_pass (no check)", f);
    }
    match (&via_proxy, &proxy_skip) {
        (Some(f), _) => row("(5) oauth2-proxy, bearer token", f),
        (None, reason) => println!(
            "| (5) oauth2-proxy | not measured: {} | | |",
            reason.as_deref().unwrap_or("").replace('\n', " ")
        ),
    }
    row(
        &format!("(1) upstream directly at {half:.0}/s"),
        &direct_half,
    );
    row(
        &format!("(3) gateway, bearer token at {half:.0}/s"),
        &bearer_half,
    );
    row(&format!("(1) upstream directly at {low:.0}/s"), &direct_low);
    row(
        &format!("(3) gateway, bearer token at {low:.0}/s"),
        &bearer_low,
    );
    println!();
    // Rounded down, so a share printed at its target meets it.
    let share = (bearer.rps / direct.rps * 100.0).floor();
    println!(
        "authenticated throughput: {share:.0}% of direct (target >= 70%: {})",
        if share >= 70.0 { "met" } else { "NOT met" }
    );
    if let Some(n) = &nginx_plain {
        println!(
            "one proxy hop with no check (nginx): {:.0}% of direct; the gateway's bearer route: {:.0}% of that",
            n.rps / direct.rps * 100.0,
            bearer.rps / n.rps * 100.0
        );
    }
    let added = bearer_half.p99_ms - direct_half.p99_ms;
    println!(
        "p99 added at {half:.0} req/s (half the direct peak): {added:.2} ms (target <= 1 ms: {})",
        if added <= 1.0 { "met" } else { "NOT met" }
    );
    println!(
        "p99 added at {low:.0} req/s (half the bearer route's own peak): {:.2} ms",
        bearer_low.p99_ms - direct_low.p99_ms
    );
    if let Some(n) = &via_nginx {
        println!(
            "gateway (bearer) vs nginx auth_request: {:.2}x the throughput, p99 {:.2} ms vs {:.2} ms",
            bearer.rps / n.rps,
            bearer.p99_ms,
            n.p99_ms
        );
    }
    if let Some(p) = &via_proxy {
        println!(
            "gateway (bearer) vs oauth2-proxy: {:.2}x the throughput, p99 {:.2} ms vs {:.2} ms",
            bearer.rps / p.rps,
            bearer.p99_ms,
            p.p99_ms
        );
    }
    drop(gateway);
    Ok(())
}
