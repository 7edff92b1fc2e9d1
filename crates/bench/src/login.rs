//! `portcullis-bench login`: end-to-end figures of the login path on throw-away
//! SQLite and PostgreSQL databases, each printed beside the figure it is judged against.
//!
//! It drives the login service (`Sessions`) in-process — store, hashing pool, JWT signing — so
//! the figures are the server's own cost without HTTP parsing or a client in the same process.
//! CPU time is this process's (`/proc/self/stat`); PostgreSQL's own CPU is not in it.
//!
//! Beside the CPU per login it prints the floor under it: what a login's database work and its
//! signature cost by themselves, without Portcullis. On SQLite that is the statements of a login
//! (the one read, the writes that record it) through bare `rusqlite` on one thread, four logins
//! per commit and a passive checkpoint every 100 ms as the store does them, plus one ES256
//! signature; on PostgreSQL (whose own CPU is not counted) the same read and write sent through
//! sqlx on one connection, plus the signature. Beside the refresh grants it prints their
//! ceiling: how many grants' statements (read the token, read the user, mark the token used and
//! insert its successor) the database alone takes per second — SQLite's one writer on one thread
//! with four grants per commit, PostgreSQL from `4 × cores` connections at once — with no
//! signature and no Portcullis.

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
        "portcullis-bench login: {cores} cores, hash pool of {cores} workers, {} s per measurement",
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
            let floor = floor::measure(&f, backend, args.seconds).await?;
            println!(
                "{name:<9} {:<46} {:>11.0} µs   (database {:.0} µs + ES256 signature {:.0} µs)",
                "  its floor: database work + signature alone",
                floor.database + floor.signature,
                floor.database,
                floor.signature,
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
        let (limit, how) = floor::grants(&f, backend, cores, args.seconds).await?;
        println!(
            "{name:<9} {:<46} {limit:>12.0}/s   ({how})",
            "  its ceiling: a grant's statements alone"
        );
    }
    Ok(())
}

/// The floor under a login's CPU (its database work and its signature) and the ceiling over
/// refresh grants (their statements alone), without Portcullis: SQL as the store sends it.
pub(super) mod floor {
    use super::{cpu_time, Fixture};
    use portcullis_jwt::{Algorithm, KeyPair};
    use portcullis_store::testing::Backend;
    use serde_json::{json, Map, Value};
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    /// Microseconds of CPU per login.
    pub(super) struct Floor {
        pub database: f64,
        pub signature: f64,
    }

    /// A login's one read, as the store sends it: the user by login id with registrations,
    /// memberships and the lock check (`SqlStore::user_for_login`).
    const READ: &str = "WITH u AS (SELECT id, body, pw_scheme, pw_factor, pw_salt, pw_hash \
        FROM users WHERE tenant_id = $1 AND (email_lower = $2 OR username_lower = $2) \
        ORDER BY CASE WHEN email_lower = $2 THEN 0 ELSE 1 END LIMIT 1) \
      SELECT CAST(0 AS BIGINT) AS part, id, body, pw_scheme, pw_factor, pw_salt, pw_hash, \
        CAST(NULL AS BIGINT) AS until_instant, CAST(NULL AS BIGINT) AS n FROM u \
      UNION ALL SELECT CAST(1 AS BIGINT), r.id, r.body, NULL, NULL, NULL, NULL, NULL, NULL \
        FROM registrations r WHERE r.user_id IN (SELECT id FROM u) \
      UNION ALL SELECT CAST(2 AS BIGINT), m.id, m.body, NULL, NULL, NULL, NULL, NULL, NULL \
        FROM group_members m WHERE m.user_id IN (SELECT id FROM u) \
      UNION ALL SELECT CAST(3 AS BIGINT), NULL, NULL, NULL, NULL, NULL, NULL, \
        (SELECT MAX(until_instant) FROM login_locks WHERE tenant_id = $1 \
           AND until_instant > $4 AND subject IN (COALESCE((SELECT 'user:' || id FROM u), $3), $5)), NULL \
      ORDER BY 1, 2";

    /// A login's read of `email` on bare rusqlite, every row's body fetched.
    pub(crate) fn read_sqlite(
        conn: &rusqlite::Connection,
        tenant: &str,
        email: &str,
        now: i64,
    ) -> rusqlite::Result<()> {
        let mut read = conn.prepare_cached(READ)?;
        let mut rows = read.query(rusqlite::params![
            tenant,
            email,
            format!("login:{email}"),
            now,
            None::<String>
        ])?;
        while let Some(row) = rows.next()? {
            std::hint::black_box(row.get_ref(2)?);
        }
        Ok(())
    }

    /// The same read on a bare PostgreSQL connection.
    pub(crate) async fn read_postgres(
        conn: &mut sqlx::PgConnection,
        tenant: &str,
        email: &str,
        now: i64,
    ) -> sqlx::Result<()> {
        let rows = sqlx::query(READ)
            .bind(tenant)
            .bind(email)
            .bind(format!("login:{email}"))
            .bind(now)
            .bind(None::<String>)
            .fetch_all(conn)
            .await?;
        std::hint::black_box(rows);
        Ok(())
    }

    /// A login's attempt counted on bare rusqlite, its row read back as the store reads it.
    pub(crate) fn count_attempt_sqlite(
        conn: &rusqlite::Connection,
        tenant: &str,
        user: &str,
        now: i64,
    ) -> rusqlite::Result<()> {
        let mut count = conn.prepare_cached(COUNT_ATTEMPT)?;
        let mut rows = count.query(rusqlite::params![
            tenant,
            now,
            now + 60_000,
            format!("user:{user}")
        ])?;
        while let Some(row) = rows.next()? {
            std::hint::black_box(row.get_ref(1)?);
        }
        Ok(())
    }

    /// A login's writes (`SqlStore::record_login`): lastLoginInstant on the user and the
    /// registration, the event, the refresh token. SQLite's JSON edit; PostgreSQL's below.
    const WRITES_SQLITE: [&str; 4] = [
        "UPDATE users SET body = json_set(body, '$.lastLoginInstant', $1) WHERE id = $2",
        "UPDATE registrations SET body = json_set(body, '$.lastLoginInstant', $1) \
         WHERE user_id = $2 AND application_id = $3",
        "INSERT INTO events (id, tenant_id, type, create_instant, body) VALUES ($1, $2, $3, $4, $5)",
        "INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, \
         application_id, start_instant, insert_instant, expires_instant, used_instant) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
    ];

    /// The login's attempt, counted before the verify (`SessionStore::count_login_attempt`,
    /// one subject: the bench's logins name no address). The store commits it alone, so that
    /// every node sees it before the password is checked.
    const COUNT_ATTEMPT: &str =
        "INSERT INTO login_attempts (tenant_id, subject, n, expires_instant) \
        VALUES ($1, $4, 1, $3) ON CONFLICT (tenant_id, subject) DO UPDATE SET \
        n = CASE WHEN login_attempts.expires_instant <= $2 THEN 1 \
            ELSE login_attempts.n + 1 END, \
        expires_instant = CASE WHEN login_attempts.expires_instant <= $2 \
            THEN excluded.expires_instant ELSE login_attempts.expires_instant END \
        RETURNING subject, n, expires_instant";

    /// A successful login takes its attempt back, as the last part of its writes.
    const FORGET_ATTEMPT_SQLITE: &str = "UPDATE login_attempts SET n = CASE WHEN subject IN ($2) \
        THEN 0 ELSE n - 1 END WHERE tenant_id = $1 AND n > 0 AND subject IN ($2)";

    /// The same writes as one PostgreSQL statement, as the store batches them: each part's
    /// parameters numbered on from the one before's.
    const WRITE_POSTGRES: &str = "WITH p0 AS (UPDATE users SET body = (body::jsonb || \
        jsonb_build_object('lastLoginInstant', $1::bigint))::text WHERE id = $2), \
      p1 AS (UPDATE registrations SET body = (body::jsonb || \
        jsonb_build_object('lastLoginInstant', $3::bigint))::text \
        WHERE user_id = $4 AND application_id = $5), \
      p2 AS (INSERT INTO events (id, tenant_id, type, create_instant, body) \
        VALUES ($6, $7, $8, $9, $10)), \
      p3 AS (INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, application_id, \
        start_instant, insert_instant, expires_instant, used_instant) \
        VALUES ($11, $12, $13, $14, $15, $16, $17, $18, $19, NULL)) \
      UPDATE login_attempts SET n = CASE WHEN subject IN ($21) THEN 0 ELSE n - 1 END \
        WHERE tenant_id = $20 AND n > 0 AND subject IN ($21)";

    /// Logins per commit in the SQLite floor: about what the store's group commit gathers with
    /// the bench's four concurrent logins.
    const GROUP: usize = 4;

    /// A grant's reads as the store sends them: the token (`SqlStore::refresh_token`), then
    /// its user (`SqlStore::user`, the same statement shape as a login's read).
    const TOKEN: &str = "SELECT token_hash, id, family_id, tenant_id, user_id, application_id, \
        start_instant, insert_instant, expires_instant, used_instant FROM refresh_tokens \
        WHERE token_hash = $1";
    const USER: &str = "WITH u AS (SELECT id, body, pw_scheme, pw_factor, pw_salt, pw_hash \
        FROM users WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2) LIMIT 1) \
      SELECT CAST(0 AS BIGINT) AS part, id, body, pw_scheme, pw_factor, pw_salt, pw_hash, \
        CAST(NULL AS BIGINT) AS until_instant, CAST(NULL AS BIGINT) AS n FROM u \
      UNION ALL SELECT CAST(1 AS BIGINT), r.id, r.body, NULL, NULL, NULL, NULL, NULL, NULL \
        FROM registrations r WHERE r.user_id IN (SELECT id FROM u) \
      UNION ALL SELECT CAST(2 AS BIGINT), m.id, m.body, NULL, NULL, NULL, NULL, NULL, NULL \
        FROM group_members m WHERE m.user_id IN (SELECT id FROM u) \
      ORDER BY 1, 2";
    /// The grant's write (`SqlStore::rotate_refresh_token`): on SQLite the mark, then the
    /// successor when the mark changed a row; on PostgreSQL one statement.
    const TAKE: &str = "UPDATE refresh_tokens SET used_instant = $1 \
        WHERE token_hash = $2 AND used_instant IS NULL";
    const ROTATE_POSTGRES: &str = "WITH taken AS (UPDATE refresh_tokens SET used_instant = $10 \
        WHERE token_hash = $11 AND used_instant IS NULL RETURNING 1) \
      INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, application_id, \
        start_instant, insert_instant, expires_instant, used_instant) \
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL FROM taken";

    /// A new refresh token's first six columns: hash, id, family, tenant, user, application.
    fn new_token(user: &str, tenant: &str, app: &str) -> [String; 6] {
        [
            token_hash(),
            portcullis_domain::new_id().to_string(),
            portcullis_domain::new_id().to_string(),
            tenant.to_string(),
            user.to_string(),
            app.to_string(),
        ]
    }

    /// The grants/s a grant's statements alone reach, and how that was measured.
    pub(super) async fn grants(
        f: &Fixture,
        backend: Backend,
        cores: usize,
        secs: u64,
    ) -> Result<(f64, String), String> {
        let (users, tenant) = users(f).await?;
        let app = f.app.to_string();
        match backend {
            Backend::Sqlite => {
                let url = f.db.url.clone();
                let rate = tokio::task::spawn_blocking(move || {
                    sqlite_grants(&url, &users, &tenant, &app, secs)
                })
                .await
                .map_err(|e| e.to_string())??;
                Ok((
                    rate,
                    format!("one thread, SQLite's one writer, {GROUP} grants per commit"),
                ))
            }
            Backend::Postgres => {
                let tasks = 4 * cores;
                let rate = postgres_grants(f, &users, &tenant, &app, tasks, secs).await?;
                Ok((
                    rate,
                    format!("{tasks} connections; PostgreSQL's CPU shares these cores"),
                ))
            }
        }
    }

    fn sqlite_grants(
        url: &str,
        users: &[(String, String)],
        tenant: &str,
        app: &str,
        secs: u64,
    ) -> Result<f64, String> {
        let e = |e: rusqlite::Error| e.to_string();
        let conn = bare_sqlite(url)?;
        let insert = |t: &[String; 6], now: i64| {
            conn.prepare_cached(WRITES_SQLITE[3]).and_then(|mut s| {
                s.execute(rusqlite::params![
                    t[0],
                    t[1],
                    t[2],
                    t[3],
                    t[4],
                    t[5],
                    now,
                    now,
                    now + 86_400_000
                ])
            })
        };
        let now0 = 1_800_000_000_000i64;
        let mut chains = Vec::new();
        for (id, _) in users {
            let t = new_token(id, tenant, app);
            insert(&t, now0).map_err(e)?;
            chains.push(t);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (start, mut last_checkpoint) = (Instant::now(), Instant::now());
        let mut n = 0usize;
        while Instant::now() < deadline {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            for _ in 0..GROUP {
                let k = n % chains.len();
                n += 1;
                let now = now0 + n as i64;
                let user: String = conn
                    .prepare_cached(TOKEN)
                    .and_then(|mut s| s.query_row([&chains[k][0]], |r| r.get(4)))
                    .map_err(e)?;
                let mut read = conn.prepare_cached(USER).map_err(e)?;
                let mut rows = read.query(rusqlite::params![user, tenant]).map_err(e)?;
                while let Some(row) = rows.next().map_err(e)? {
                    std::hint::black_box(row.get_ref(2).map_err(e)?);
                }
                drop(rows);
                let taken = conn
                    .prepare_cached(TAKE)
                    .and_then(|mut s| s.execute(rusqlite::params![now, chains[k][0]]))
                    .map_err(e)?;
                if taken != 1 {
                    return Err("the floor's token was used already".into());
                }
                let next = new_token(&user, tenant, app);
                insert(&next, now).map_err(e)?;
                chains[k] = next;
            }
            commit_and_checkpoint(&conn, &mut last_checkpoint).map_err(e)?;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    }

    async fn postgres_grants(
        f: &Fixture,
        users: &[(String, String)],
        tenant: &str,
        app: &str,
        tasks: usize,
        secs: u64,
    ) -> Result<f64, String> {
        let e = |e: sqlx::Error| e.to_string();
        let deadline = Instant::now() + Duration::from_secs(secs) + Duration::from_millis(500);
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (url, schema) = (f.db.url.clone(), f.db.schema().map(str::to_string));
            let (user, tenant, app) = (
                users[t % users.len()].0.clone(),
                tenant.to_string(),
                app.to_string(),
            );
            handles.push(tokio::spawn(async move {
                let mut conn = bare_postgres(&url, schema.as_deref()).await?;
                let now0 = 1_800_000_000_000i64;
                let mut token = new_token(&user, &tenant, &app);
                bind_token(sqlx::query(WRITES_SQLITE[3]), &token, now0)
                    .execute(&mut conn)
                    .await
                    .map_err(e)?;
                // Connected and seeded: count from here, all tasks alike.
                let start = deadline - Duration::from_secs(secs);
                tokio::time::sleep_until(start.into()).await;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let now = now0 + n as i64 + 1;
                    let row = sqlx::query(TOKEN)
                        .bind(&token[0])
                        .fetch_one(&mut conn)
                        .await
                        .map_err(e)?;
                    let user: String = sqlx::Row::try_get(&row, "user_id").map_err(e)?;
                    let rows = sqlx::query(USER)
                        .bind(&user)
                        .bind(&tenant)
                        .fetch_all(&mut conn)
                        .await
                        .map_err(e)?;
                    std::hint::black_box(rows);
                    let next = new_token(&user, &tenant, &app);
                    let done = bind_token(sqlx::query(ROTATE_POSTGRES), &next, now)
                        .bind(now)
                        .bind(&token[0])
                        .execute(&mut conn)
                        .await
                        .map_err(e)?;
                    if done.rows_affected() != 1 {
                        return Err("the ceiling's token was used already".to_string());
                    }
                    token = next;
                    n += 1;
                }
                Ok::<u64, String>(n)
            }));
        }
        let mut n = 0;
        for h in handles {
            n += h.await.map_err(|e| e.to_string())??;
        }
        Ok(n as f64 / secs as f64)
    }

    /// Binds a new token's nine columns (`$1`..`$9`): its six, then start, insert and expiry.
    fn bind_token<'q>(
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        t: &'q [String; 6],
        now: i64,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        t.iter()
            .fold(q, |q, v| q.bind(v))
            .bind(now)
            .bind(now)
            .bind(now + 86_400_000)
    }

    /// A connection of our own to the store's SQLite file, with the store's pragmas.
    pub(crate) fn bare_sqlite(url: &str) -> Result<rusqlite::Connection, String> {
        let file = url
            .strip_prefix("sqlite://")
            .ok_or("not a SQLite file URL")?;
        let conn = rusqlite::Connection::open(file).map_err(|e| e.to_string())?;
        conn.execute_batch(portcullis_store::SQLITE_PRAGMAS)
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Commits, and every 100 ms a passive checkpoint, as the store's checkpointer does.
    fn commit_and_checkpoint(
        conn: &rusqlite::Connection,
        last_checkpoint: &mut Instant,
    ) -> rusqlite::Result<()> {
        conn.execute_batch("COMMIT")?;
        if last_checkpoint.elapsed() >= Duration::from_millis(100) {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            *last_checkpoint = Instant::now();
        }
        Ok(())
    }

    /// A connection of our own to the store's PostgreSQL database, in its schema.
    pub(crate) async fn bare_postgres(
        url: &str,
        schema: Option<&str>,
    ) -> Result<sqlx::PgConnection, String> {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(schema) = schema {
            conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(conn)
    }

    /// This thread's user + system CPU time.
    fn thread_cpu() -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    fn claims(user: &str, email: &str, app: &str, tenant: &str) -> Map<String, Value> {
        let now = 1_800_000_000i64;
        let v = json!({"aud": app, "exp": now + 3600, "iat": now, "iss": "portcullis",
            "sub": user, "jti": Uuid::new_v4(), "authenticationType": "PASSWORD",
            "email": email, "email_verified": true, "applicationId": app, "roles": [],
            "auth_time": now, "sid": Uuid::new_v4(), "tid": tenant});
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    fn event(user: &str, email: &str, app: &str) -> String {
        json!({"type": "user.login.success", "user": {"id": user, "email": email},
            "applicationId": app, "ipAddress": null})
        .to_string()
    }

    fn token_hash() -> String {
        format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
    }

    /// The fixture's users as (id, email), its tenant and its application.
    async fn users(f: &Fixture) -> Result<(Vec<(String, String)>, String), String> {
        let store = &f.db.store;
        let tenant = super::tenant_of(store).await?;
        let mut out = Vec::new();
        for email in &f.logins {
            let u = portcullis_domain::Store::user_by_email(store, tenant, email)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("a bench user is missing")?;
            out.push((u.user.id.expect("stored").to_string(), email.clone()));
        }
        Ok((out, tenant.to_string()))
    }

    pub(super) async fn measure(f: &Fixture, backend: Backend, secs: u64) -> Result<Floor, String> {
        let (users, tenant) = users(f).await?;
        let app = f.app.to_string();
        let key = KeyPair::generate("floor".into(), Algorithm::ES256);
        // The signature alone, on this thread.
        let rounds = 2000;
        let c0 = thread_cpu().unwrap_or_default();
        let t0 = Instant::now();
        for i in 0..rounds {
            let (id, email) = &users[i % users.len()];
            std::hint::black_box(key.sign(&claims(id, email, &app, &tenant)));
        }
        let cpu = thread_cpu().unwrap_or_default().saturating_sub(c0);
        // Ticks are 10 ms: with too few of them, the wall time of this one busy thread.
        let spent = if cpu > Duration::from_millis(200) {
            cpu
        } else {
            t0.elapsed()
        };
        let signature = spent.as_secs_f64() * 1e6 / rounds as f64;
        let database = match backend {
            Backend::Sqlite => {
                let url = f.db.url.clone();
                let (users, tenant, app) = (users.clone(), tenant.clone(), app.clone());
                tokio::task::spawn_blocking(move || sqlite(&url, &users, &tenant, &app, secs))
                    .await
                    .map_err(|e| e.to_string())??
            }
            Backend::Postgres => postgres(f, &users, &tenant, &app, secs).await?,
        };
        Ok(Floor {
            database,
            signature,
        })
    }

    /// Bare rusqlite on this thread: each login's attempt counted in a commit of its own, then
    /// its read and its writes, four logins to a commit, a passive checkpoint every 100 ms; CPU
    /// µs per login.
    fn sqlite(
        url: &str,
        users: &[(String, String)],
        tenant: &str,
        app: &str,
        secs: u64,
    ) -> Result<f64, String> {
        let e = |e: rusqlite::Error| e.to_string();
        let conn = bare_sqlite(url)?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last_checkpoint = Instant::now();
        let c0 = thread_cpu().unwrap_or_default();
        let mut n = 0usize;
        while Instant::now() < deadline {
            // Each login's attempt is committed alone before its verify, as the store does.
            for k in 0..GROUP {
                let (id, _) = &users[(n + k) % users.len()];
                let now = 1_800_000_000_000i64 + (n + k) as i64;
                conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
                count_attempt_sqlite(&conn, tenant, id, now).map_err(e)?;
                conn.execute_batch("COMMIT").map_err(e)?;
            }
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            for _ in 0..GROUP {
                let (id, email) = &users[n % users.len()];
                n += 1;
                let now = 1_800_000_000_000i64 + n as i64;
                read_sqlite(&conn, tenant, email, now).map_err(e)?;
                let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
                    conn.prepare_cached(sql).and_then(|mut s| s.execute(p))
                };
                run(WRITES_SQLITE[0], &[&now, id]).map_err(e)?;
                run(WRITES_SQLITE[1], &[&now, id, &app]).map_err(e)?;
                let ev = event(id, email, app);
                let ev_id = portcullis_domain::new_id().to_string();
                run(
                    WRITES_SQLITE[2],
                    &[&ev_id, &tenant, &"user.login.success", &now, &ev],
                )
                .map_err(e)?;
                let (rt, family) = (
                    portcullis_domain::new_id().to_string(),
                    portcullis_domain::new_id().to_string(),
                );
                let exp = now + 86_400_000;
                run(
                    WRITES_SQLITE[3],
                    &[
                        &token_hash(),
                        &rt,
                        &family,
                        &tenant,
                        id,
                        &app,
                        &now,
                        &now,
                        &exp,
                    ],
                )
                .map_err(e)?;
                run(FORGET_ATTEMPT_SQLITE, &[&tenant, &format!("user:{id}")]).map_err(e)?;
            }
            commit_and_checkpoint(&conn, &mut last_checkpoint).map_err(e)?;
        }
        let cpu = thread_cpu().unwrap_or_default().saturating_sub(c0);
        Ok(cpu.as_secs_f64() * 1e6 / n as f64)
    }

    /// The same read and write through sqlx on one PostgreSQL connection, one login after the
    /// other; this process's CPU µs per login (PostgreSQL's own is not counted, as above).
    async fn postgres(
        f: &Fixture,
        users: &[(String, String)],
        tenant: &str,
        app: &str,
        secs: u64,
    ) -> Result<f64, String> {
        let e = |e: sqlx::Error| e.to_string();
        let mut conn = bare_postgres(&f.db.url, f.db.schema()).await?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let c0 = cpu_time().unwrap_or_default();
        let mut n = 0usize;
        while Instant::now() < deadline {
            let (id, email) = &users[n % users.len()];
            n += 1;
            let now = 1_800_000_000_000i64 + n as i64;
            read_postgres(&mut conn, tenant, email, now)
                .await
                .map_err(e)?;
            sqlx::query(COUNT_ATTEMPT)
                .bind(tenant)
                .bind(now)
                .bind(now + 60_000)
                .bind(format!("user:{id}"))
                .fetch_all(&mut conn)
                .await
                .map_err(e)?;
            sqlx::query(WRITE_POSTGRES)
                .bind(now)
                .bind(id)
                .bind(now)
                .bind(id)
                .bind(app)
                .bind(portcullis_domain::new_id().to_string())
                .bind(tenant)
                .bind("user.login.success")
                .bind(now)
                .bind(event(id, email, app))
                .bind(token_hash())
                .bind(portcullis_domain::new_id().to_string())
                .bind(portcullis_domain::new_id().to_string())
                .bind(tenant)
                .bind(id)
                .bind(app)
                .bind(now)
                .bind(now)
                .bind(now + 86_400_000)
                .bind(tenant)
                .bind(format!("user:{id}"))
                .execute(&mut conn)
                .await
                .map_err(e)?;
        }
        let cpu = cpu_time().unwrap_or_default().saturating_sub(c0);
        Ok(cpu.as_secs_f64() * 1e6 / n as f64)
    }

    /// The statements above, each with the store path it copies and the backends the store
    /// sends it on: `crate::floor_sql` fails when the store sends another text.
    #[cfg(test)]
    pub(crate) const STATEMENTS: &[(&str, &[Backend], &str)] = &[
        (
            "a login's read (user_for_login)",
            &[Backend::Sqlite, Backend::Postgres],
            READ,
        ),
        (
            "record_login: the user",
            &[Backend::Sqlite],
            WRITES_SQLITE[0],
        ),
        (
            "record_login: the registration",
            &[Backend::Sqlite],
            WRITES_SQLITE[1],
        ),
        (
            "record_login: the event",
            &[Backend::Sqlite],
            WRITES_SQLITE[2],
        ),
        (
            "record_login: the refresh token",
            &[Backend::Sqlite],
            WRITES_SQLITE[3],
        ),
        (
            "record_login: the attempt taken back",
            &[Backend::Sqlite],
            FORGET_ATTEMPT_SQLITE,
        ),
        (
            "record_login as one statement",
            &[Backend::Postgres],
            WRITE_POSTGRES,
        ),
        (
            "the attempt counted (count_login_attempt)",
            &[Backend::Sqlite, Backend::Postgres],
            COUNT_ATTEMPT,
        ),
        (
            "a grant's token (refresh_token)",
            &[Backend::Sqlite, Backend::Postgres],
            TOKEN,
        ),
        (
            "a grant's user (user)",
            &[Backend::Sqlite, Backend::Postgres],
            USER,
        ),
        ("rotate_refresh_token: the mark", &[Backend::Sqlite], TAKE),
        (
            "rotate_refresh_token as one statement",
            &[Backend::Postgres],
            ROTATE_POSTGRES,
        ),
    ];
}

async fn tenant_of(store: &portcullis_store::SqlStore) -> Result<Uuid, String> {
    let t = store.tenants().await.map_err(|e| e.to_string())?;
    Ok(t[0].id.expect("stored"))
}
