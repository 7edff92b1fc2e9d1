//! `portcullis bench login`: end-to-end figures of the login path (MISSION §13) on throw-away
//! SQLite and PostgreSQL databases, each printed beside the figure it is judged against.
//!
//! It drives the login service (`Sessions`) in-process — store, hashing pool, JWT signing — so
//! the figures are the server's own cost without HTTP parsing or a client in the same process.
//! CPU time is this process's (`/proc/self/stat`); PostgreSQL's own CPU is not in it.

use clap::Args;
use portcullis_domain::{
    Application, Identity, LoginOutcome, LoginRequest, Password, Registration, Scope, Sessions,
    Store, User,
};
use portcullis_hash::HashPool;
use portcullis_store::testing::{Backend, TestDb};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Args)]
pub struct LoginBench {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Backends to measure (comma-separated: sqlite, postgres).
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// Measurements to run (comma-separated: logins, cpu, refresh); fewer make a cleaner profile.
    #[arg(long, default_value = "logins,cpu,refresh", value_delimiter = ',')]
    measure: Vec<String>,
}

const USERS: usize = 32;
const PASSWORD: &str = "bench password";

/// This process's user + system CPU time.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime), counted after the command name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Fixture {
    db: TestDb,
    sessions: Sessions,
    app: Uuid,
    logins: Vec<String>,
}

async fn fixture(backend: Backend, pool: HashPool) -> Result<Fixture, String> {
    let e = |e: portcullis_domain::Error| e.to_string();
    let db = TestDb::new(backend).await;
    let identity = Identity::new(Arc::new(db.store.clone()), pool);
    identity.ensure_defaults().await.map_err(e)?;
    let mut app = Application {
        name: "Bench".into(),
        ..Application::default()
    };
    app.settings.insert(
        "loginConfiguration".into(),
        json!({"generateRefreshTokens": true}),
    );
    let app = identity
        .create_application(Scope::ALL, None, app)
        .await
        .map_err(e)?
        .id
        .expect("created");
    let mut logins = Vec::new();
    for i in 0..USERS {
        let email = format!("user{i}@bench.example");
        identity
            .create_user(
                Scope::ALL,
                None,
                User {
                    email: Some(email.clone()),
                    password: Some(Password(PASSWORD.into())),
                    registrations: vec![Registration {
                        application_id: Some(app),
                        roles: vec![],
                        ..Registration::default()
                    }],
                    ..User::default()
                },
            )
            .await
            .map_err(e)?;
        logins.push(email);
    }
    Ok(Fixture {
        db,
        sessions: Sessions::new(identity),
        app,
        logins,
    })
}

fn request(f: &Fixture, i: usize) -> LoginRequest {
    LoginRequest {
        login_id: Some(f.logins[i % f.logins.len()].clone()),
        password: Some(Password(PASSWORD.into())),
        application_id: Some(f.app),
        ..LoginRequest::default()
    }
}

/// Runs `tasks` concurrent loops of `op` for `secs`; returns (operations, wall, CPU).
async fn drive<F, Fut>(tasks: usize, secs: u64, op: F) -> Result<(u64, Duration, Duration), String>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (t0, c0) = (Instant::now(), cpu_time().unwrap_or_default());
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (op, done) = (op.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                op(t, n).await?;
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    let cpu = cpu_time().unwrap_or_default().saturating_sub(c0);
    Ok((done.load(Ordering::Relaxed), t0.elapsed(), cpu))
}

/// `tasks` concurrent loops of successful logins, spread over the fixture's users.
async fn logins(
    f: &Arc<Fixture>,
    tasks: usize,
    secs: u64,
) -> Result<(u64, Duration, Duration), String> {
    let f = f.clone();
    drive(tasks, secs, move |t, i| {
        let f = f.clone();
        async move {
            let req = request(&f, t + i as usize * 7);
            expect_success(f.sessions.login(Scope::ALL, req).await)
        }
    })
    .await
}

fn expect_success(o: Result<LoginOutcome, portcullis_domain::Error>) -> Result<(), String> {
    match o {
        Ok(LoginOutcome::Success(_)) => Ok(()),
        other => Err(format!("a bench login did not succeed: {other:?}")),
    }
}

pub async fn run(args: LoginBench) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One verify, alone on one thread: the unit the hash-bound limit is made of.
    let cred =
        portcullis_hash::hash_password(portcullis_hash::DEFAULT_SCHEME, None, PASSWORD.as_bytes())
            .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let rounds = 10;
    for _ in 0..rounds {
        assert!(portcullis_hash::verify(&cred, PASSWORD.as_bytes()));
    }
    let verify = t0.elapsed() / rounds;
    let limit = cores as f64 / verify.as_secs_f64();
    println!(
        "portcullis bench login: {cores} cores, hash pool of {cores} workers, {} s per measurement",
        args.seconds
    );
    println!(
        "single verify, {} (factor {}): {:.1} ms → hash-bound limit {cores} / verify = {limit:.1} logins/s",
        cred.scheme,
        cred.factor,
        verify.as_secs_f64() * 1e3
    );
    println!();
    println!(
        "{:<9} {:<46} {:>14}   target",
        "backend", "measurement", "result"
    );
    for name in &args.backends {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => return Err(format!("unknown backend [{other}]: use sqlite or postgres")),
        };
        let f = Arc::new(fixture(backend, HashPool::for_this_machine()).await?);

        let measure = |m: &str| args.measure.iter().any(|x| x.trim() == m);

        // 1. Logins/s with the tenant's default scheme, against the hash-bound limit.
        if measure("logins") {
            let (n, wall, _) = logins(&f, cores * 4, args.seconds).await?;
            let rate = n as f64 / wall.as_secs_f64();
            println!(
                "{name:<9} {:<46} {:>12.1}/s   ≥ 90% of {limit:.1}/s: {:.0}%",
                "logins, default hash",
                rate,
                100.0 * rate / limit
            );
        }

        // 2. CPU per login beside the hash: the same users with a one-round salted SHA-256.
        for email in &f.logins {
            let mut u =
                f.db.store
                    .user_by_email(tenant_of(&f.db.store).await?, &email.to_lowercase())
                    .await
                    .map_err(|e| e.to_string())?
                    .expect("bench user");
            u.credential = Some(
                portcullis_hash::hash_password("salted-sha256", Some(1), PASSWORD.as_bytes())
                    .map_err(|e| e.to_string())?,
            );
            f.db.store
                .update_user(&u)
                .await
                .map_err(|e| e.to_string())?;
        }
        if measure("cpu") {
            let (n, wall, cpu) = logins(&f, cores * 2, args.seconds).await?;
            println!(
                "{name:<9} {:<46} {:>11.0} µs   ≤ 100 µs ({:.0} logins/s)",
                "CPU per login beside the hash",
                cpu.as_secs_f64() * 1e6 / n as f64,
                n as f64 / wall.as_secs_f64()
            );
        }

        // 3. Refresh-token grants/s: each task follows its own rotation chain.
        if !measure("refresh") {
            continue;
        }
        let mut chains = Vec::new();
        for t in 0..cores * 4 {
            match f.sessions.login(Scope::ALL, request(&f, t)).await {
                Ok(LoginOutcome::Success(tokens)) => chains.push(Arc::new(
                    tokio::sync::Mutex::new(tokens.refresh_token.expect("refresh tokens on")),
                )),
                other => return Err(format!("a bench login did not succeed: {other:?}")),
            }
        }
        let chains = Arc::new(chains);
        let f3 = f.clone();
        let (n, wall, cpu) = drive(cores * 4, args.seconds, move |t, _| {
            let (f, chains) = (f3.clone(), chains.clone());
            async move {
                let mut token = chains[t].lock().await;
                let r = f
                    .sessions
                    .refresh(&token)
                    .await
                    .map_err(|e| format!("a bench refresh failed: {e}"))?;
                *token = r.refresh_token;
                Ok(())
            }
        })
        .await?;
        println!(
            "{name:<9} {:<46} {:>12.0}/s   ≥ 10,000/s ({:.0} µs CPU each)",
            "refresh-token grants (one-time use)",
            n as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / n as f64
        );
    }
    Ok(())
}

async fn tenant_of(store: &portcullis_store::SqlStore) -> Result<Uuid, String> {
    let t = store.tenants().await.map_err(|e| e.to_string())?;
    Ok(t[0].id.expect("stored"))
}
