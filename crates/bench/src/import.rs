//! `portcullis-bench import` generates realistic users (2 registrations, 1 membership, a `data` object,
//! pre-hashed bcrypt and PBKDF2 credentials) and loads them four ways on each database: through
//! the HTTP API, straight into the store, and — the database's own limit — the same rows with a
//! bare multi-row INSERT (SQLite) or `COPY` (PostgreSQL).

use portcullis_api::{ApiConfig, AppState};
use portcullis_domain::{Identity, Scope};
use portcullis_hash::HashPool;
use portcullis_store::SqlStore;
use serde_json::{json, Value};
use sqlx::Executor;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct ImportBench {
    /// Users per run.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Users per import request (FusionAuth recommends files of up to 100k).
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// PostgreSQL server for the PostgreSQL rows; each run uses a fresh schema.
    #[arg(
        long,
        env = "PORTCULLIS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    sqlite_only: bool,
    /// Users with plaintext passwords for the hashing measurement (hashed at the default
    /// scheme, argon2id: a few hundred take seconds); 0 skips it.
    #[arg(long, default_value_t = 400)]
    plaintext: usize,
}

pub async fn run(b: ImportBench) -> Result<(), String> {
    import(b.users, b.batch, &b.postgres, b.sqlite_only).await?;
    if b.plaintext > 0 {
        plaintext(b.plaintext).await?;
    }
    Ok(())
}

/// Plaintext passwords: users/s of an import that hashes every password (the default scheme,
/// on the shared pool) against the limit `cores × single-core hash rate`, measured in this run.
async fn plaintext(n: usize) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let scheme = portcullis_hash::DEFAULT_SCHEME;
    // One thread's rate, measured before and after the import (the machine's speed drifts
    // while it runs), averaged.
    let single_core = || -> Result<f64, String> {
        let rounds = 8;
        let t = Instant::now();
        for i in 0..rounds {
            portcullis_hash::hash_password(scheme, None, format!("password {i}").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        Ok(rounds as f64 / t.elapsed().as_secs_f64())
    };
    let before = single_core()?;
    let db = Db::sqlite()?;
    let (_store, identity) = setup(&db.url).await?;
    let users: Vec<Value> = (0..n)
        .map(|i| json!({"email": format!("plain{i}@legacy.example.com"), "password": format!("password {i}")}))
        .collect();
    let req = serde_json::from_value(json!({ "users": users })).map_err(|e| e.to_string())?;
    let start = Instant::now();
    identity
        .import_users(Scope::ALL, req)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let after = single_core()?;
    let single = (before + after) / 2.0;
    let limit = cores as f64 * single;
    println!();
    println!("plaintext passwords: {n} users hashed with {scheme} on import into SQLite");
    println!(
        "single-core hash rate {single:.1}/s ({before:.1} before, {after:.1} after) × {cores} cores = limit {limit:.1}/s; import {rate:.1} users/s = {:.0}% of the limit (target ≥ 90%)",
        100.0 * rate / limit
    );
    Ok(())
}

/// A throw-away database: a SQLite file in a temporary directory, or a fresh PostgreSQL schema.
pub(super) struct Db {
    pub(super) url: String,
    schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub(super) fn sqlite() -> Result<Db, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Ok(Db {
            url,
            schema: None,
            _dir: Some(dir),
        })
    }

    pub(super) async fn postgres(base: &str) -> Result<Db, String> {
        sqlx::any::install_default_drivers();
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(base)
            .await
            .map_err(|e| e.to_string())?;
        c.execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
            .await
            .map_err(|e| e.to_string())?;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Db {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some((base.to_string(), schema)),
            _dir: None,
        })
    }

    pub(super) async fn drop_schema(&self) {
        if let Some((base, schema)) = &self.schema {
            if let Ok(mut c) = <sqlx::AnyConnection as sqlx::Connection>::connect(base).await {
                let _ = c
                    .execute(format!("DROP SCHEMA \"{schema}\" CASCADE").as_str())
                    .await;
            }
        }
    }
}

/// User `i`'s login names. A legacy export lists users by their old id, so their emails and
/// usernames come in no order at all: each index keyed by them takes every user at a random
/// place (`user0`, `user1`... would land side by side and flatter the load).
fn login_names(i: usize) -> (String, String) {
    // splitmix64: a bijection, so the names stay unique.
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (
        format!("u{z:016x}@legacy.example.com"),
        format!("u{z:016x}"),
    )
}

/// One realistic legacy user, as an import request carries it.
fn user(i: usize, apps: &[String; 2], group: &str) -> Value {
    let (email, username) = login_names(i);
    let (scheme, password, factor, salt) = if i.is_multiple_of(2) {
        (
            "bcrypt",
            "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e".to_string(),
            Value::Null,
            Value::Null,
        )
    } else {
        (
            "salted-pbkdf2-hmac-sha256",
            "y4N8KpQ3ZbY0tV5hR8wZxk2Jc7mF1aS9dL6eG4uI0oM=".to_string(),
            json!(27500),
            json!("c2FsdHNhbHRzYWx0c2FsdA=="),
        )
    };
    json!({
        "email": email,
        "username": username,
        "firstName": "Legacy", "lastName": format!("User {i}"),
        "birthDate": "1980-01-01", "verified": true,
        "encryptionScheme": scheme, "password": password, "factor": factor, "salt": salt,
        "insertInstant": 1_331_449_200_000_i64 + i as i64,
        "data": {"original_user_id": i, "plan": "gold", "signup_source": "web"},
        "registrations": [
            {"applicationId": apps[0], "roles": ["member"]},
            {"applicationId": apps[1], "roles": ["member"], "data": {"legacy": true}}
        ],
        "memberships": [{"groupId": group}]
    })
}

/// Creates two applications and a group; returns the request bodies of `n` users in batches.
pub(super) async fn fixtures(
    identity: &Identity,
    n: usize,
    batch: usize,
) -> Result<Vec<Vec<u8>>, String> {
    use portcullis_domain::{Application, Group, Role};
    let role = || Role {
        name: "member".into(),
        ..Role::default()
    };
    let mut apps = Vec::new();
    for name in ["Shop", "Forum"] {
        let a = identity
            .create_application(
                Scope::ALL,
                None,
                Application {
                    name: name.into(),
                    roles: vec![role()],
                    ..Application::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        apps.push(a.id.unwrap().to_string());
    }
    let g = identity
        .create_group(
            Scope::ALL,
            None,
            Group {
                name: "Customers".into(),
                ..Group::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let apps: [String; 2] = [apps[0].clone(), apps[1].clone()];
    let group = g.id.unwrap().to_string();
    Ok((0..n)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|c| {
            let users: Vec<Value> = c.iter().map(|&i| user(i, &apps, &group)).collect();
            serde_json::to_vec(&json!({ "users": users })).expect("serializes")
        })
        .collect())
}

pub(super) async fn setup(url: &str) -> Result<(SqlStore, Identity), String> {
    let store = SqlStore::connect(url).await.map_err(|e| e.to_string())?;
    let identity = Identity::new(Arc::new(store.clone()), HashPool::for_this_machine());
    identity
        .ensure_defaults()
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, identity))
}

/// A field of `/proc/self/status` (`VmRSS`, `VmHWM`) in bytes.
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// What a run of imports took: users/s, and its peak resident memory above what the process
/// held when it started, beside the largest request body.
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    peak: u64,
    body: u64,
}

impl Run {
    /// Times `load` over `bodies`, with the process's peak resident memory reset before it
    /// (`/proc/self/clear_refs`), so the peak is this run's.
    async fn measure<F: std::future::Future<Output = Result<(), String>>>(
        n: usize,
        bodies: Vec<Vec<u8>>,
        load: impl FnOnce(Vec<Vec<u8>>) -> F,
    ) -> Result<Run, String> {
        let body = bodies.iter().map(|b| b.len() as u64).max().unwrap_or(0);
        let held: u64 = bodies.iter().map(|b| b.len() as u64).sum();
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        // The bodies are the bench's, not the import's: they count in neither.
        let before = proc_status("VmRSS").saturating_sub(held);
        let start = Instant::now();
        load(bodies).await?;
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let peak = proc_status("VmHWM").saturating_sub(before);
        Ok(Run { rate, peak, body })
    }

    fn memory(&self) -> String {
        format!(
            "{} MiB ({:.1}x)",
            self.peak >> 20,
            self.peak as f64 / self.body.max(1) as f64
        )
    }
}

/// Users/s straight into the store (parsing and validation included), through the import the
/// server runs: the body read as a stream.
async fn direct(url: &str, n: usize, batch: usize) -> Result<Run, String> {
    let (_store, identity) = setup(url).await?;
    let bodies = fixtures(&identity, n, batch).await?;
    Run::measure(n, bodies, |bodies| async move {
        for b in bodies {
            identity
                .import_json(Scope::ALL, b.into())
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    })
    .await
}

/// Users/s through `POST /api/user/import` on a loopback server.
async fn via_api(url: &str, n: usize, batch: usize) -> Result<Run, String> {
    let (_store, identity) = setup(url).await?;
    let bodies = fixtures(&identity, n, batch).await?;
    let key = identity
        .create_api_key(None, None, portcullis_domain::ApiKey::default())
        .await
        .map_err(|e| e.to_string())?
        .key
        .unwrap();
    // The synchronous import alone: no workers behind the server.
    let (resets, _) = portcullis_domain::reset_queue();
    let state = AppState::new(
        identity.clone(),
        portcullis_domain::Sessions::new(identity),
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
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = portcullis_api::router(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let run = Run::measure(n, bodies, |bodies| async move {
        for b in bodies {
            let res = http
                .post(format!("http://{addr}/api/user/import"))
                .header("Authorization", &key)
                .body(b)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!(
                    "import failed: {}",
                    res.text().await.unwrap_or_default()
                ));
            }
        }
        Ok(())
    })
    .await?;
    server.abort();
    Ok(run)
}

/// The tables a bare load fills, as `table (columns)`: the columns, in the order, of the store's
/// import (`crate::floor_sql` holds them to it).
pub(crate) const TABLES: [&str; 3] = [
    "users (id, tenant_id, email_lower, username_lower, body, pw_scheme, pw_factor, pw_salt, pw_hash, insert_instant)",
    "registrations (id, tenant_id, user_id, application_id, body)",
    "group_members (id, tenant_id, group_id, user_id, body)",
];

/// A bare multi-row INSERT into `head` of `rows` rows of `cols` anonymous parameters, as the
/// store's import writes SQLite's.
pub(crate) fn insert_sql(head: &str, cols: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(", "));
    format!(
        "INSERT INTO {head} VALUES {}",
        vec![one.as_str(); rows].join(", ")
    )
}

/// Rows of the users, registrations and group_members tables, as text.
struct RawRows {
    users: Vec<[String; 10]>,
    regs: Vec<[String; 5]>,
    members: Vec<[String; 5]>,
}

/// The rows our import writes for `n` users, already serialized: what a bare bulk load gets.
fn raw_rows(n: usize, tenant: &str, apps: &[String; 2], group: &str) -> RawRows {
    let mut users = Vec::with_capacity(n);
    let mut regs = Vec::with_capacity(2 * n);
    let mut members = Vec::with_capacity(n);
    // Ids as the import makes them (time-ordered), so that the two loads differ only in who
    // sends the rows.
    let new_id = || portcullis_domain::new_id().to_string();
    for i in 0..n {
        let id = new_id();
        let body = user(i, apps, group).to_string();
        let (email, username) = login_names(i);
        users.push([
            id.clone(),
            tenant.into(),
            email,
            username,
            body,
            "bcrypt".into(),
            "10".into(),
            String::new(),
            "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e".into(),
            "1331449200000".into(),
        ]);
        for app in apps {
            let rid = new_id();
            let body = json!({"id": rid, "applicationId": app, "roles": ["member"]}).to_string();
            regs.push([rid, tenant.into(), id.clone(), app.clone(), body]);
        }
        let mid = new_id();
        let body = json!({"id": mid, "groupId": group, "userId": id}).to_string();
        members.push([mid, tenant.into(), group.into(), id.clone(), body]);
    }
    RawRows {
        users,
        regs,
        members,
    }
}

async fn ids(identity: &Identity) -> Result<(String, [String; 2], String), String> {
    let t = identity
        .tenants(Scope::ALL)
        .await
        .map_err(|e| e.to_string())?[0]
        .id
        .unwrap()
        .to_string();
    let apps = identity
        .applications(Scope::ALL)
        .await
        .map_err(|e| e.to_string())?;
    let groups = identity
        .groups(Scope::ALL)
        .await
        .map_err(|e| e.to_string())?;
    let a: Vec<String> = apps
        .iter()
        .rev()
        .take(2)
        .map(|a| a.id.unwrap().to_string())
        .collect();
    Ok((
        t,
        [a[0].clone(), a[1].clone()],
        groups[0].id.unwrap().to_string(),
    ))
}

/// Users/s of a bare multi-row INSERT of the same rows into the same SQLite schema, a
/// transaction per `batch` users as the import's requests are (with the store open beside it,
/// so its checkpointer copies the commits as it does for the import); with `users_only`, of the
/// `users` rows alone (no registrations or memberships): the most SQLite takes on this machine
/// for a layout with one row per user and its unique keys.
async fn raw_sqlite(url: &str, n: usize, batch: usize, users_only: bool) -> Result<f64, String> {
    let (_store, identity) = setup(url).await?;
    fixtures(&identity, 0, 1).await?;
    let (tenant, apps, group) = ids(&identity).await?;
    let RawRows {
        users,
        regs,
        members,
    } = raw_rows(n, &tenant, &apps, &group);
    let file = url
        .strip_prefix("sqlite://")
        .ok_or_else(|| format!("not a SQLite file URL: {url}"))?;
    portcullis_store::configure_sqlite();
    let conn = rusqlite::Connection::open(file).map_err(|e| e.to_string())?;
    // The store's own pragmas, so the two loads differ only in who sends the rows.
    conn.execute_batch(portcullis_store::SQLITE_PRAGMAS)
        .map_err(|e| e.to_string())?;
    fn insert<const C: usize>(
        conn: &rusqlite::Connection,
        head: &str,
        rows: &[[String; C]],
    ) -> rusqlite::Result<()> {
        for chunk in rows.chunks(4000 / C) {
            let sql = insert_sql(head, C, chunk.len());
            let mut stmt = conn.prepare_cached(&sql)?;
            let values = chunk.iter().flat_map(|r| r.iter().map(String::as_str));
            stmt.execute(rusqlite::params_from_iter(values))?;
        }
        Ok(())
    }
    let batch = batch.max(1);
    let start = Instant::now();
    (|| {
        for k in 0..n.div_ceil(batch) {
            let (from, to) = (k * batch, ((k + 1) * batch).min(n));
            conn.execute_batch("BEGIN")?;
            insert(&conn, TABLES[0], &users[from..to])?;
            if !users_only {
                insert(&conn, TABLES[1], &regs[2 * from..2 * to])?;
                insert(&conn, TABLES[2], &members[from..to])?;
            }
            conn.execute_batch("COMMIT")?;
        }
        Ok::<(), rusqlite::Error>(())
    })()
    .map_err(|e| e.to_string())?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn csv<const C: usize>(rows: &[[String; C]]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        }
        out.push(b'\n');
    }
    out
}

/// Users/s of `COPY` of the same rows into the same PostgreSQL schema.
async fn raw_postgres(db: &Db, n: usize) -> Result<f64, String> {
    let (_store, identity) = setup(&db.url).await?;
    fixtures(&identity, 0, 1).await?;
    let (tenant, apps, group) = ids(&identity).await?;
    let RawRows {
        users,
        regs,
        members,
    } = raw_rows(n, &tenant, &apps, &group);
    let (u, r, m) = (csv(&users), csv(&regs), csv(&members));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut tx = sqlx::Connection::begin(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    for (table, data) in TABLES.iter().zip([u, r, m]) {
        let sql = format!("COPY {table} FROM STDIN (FORMAT csv)");
        let mut copy = tx.copy_in_raw(&sql).await.map_err(|e| e.to_string())?;
        copy.send(data).await.map_err(|e| e.to_string())?;
        copy.finish().await.map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn import(n: usize, batch: usize, postgres: &str, sqlite_only: bool) -> Result<(), String> {
    println!("bench import: {n} users (2 registrations, 1 membership, data, bcrypt/PBKDF2 hashes), {batch} per request");
    println!(
        "{:<12} {:>12} {:>18} {:>14} {:>18} {:>12} {:>16}",
        "database",
        "API users/s",
        "API peak (x body)",
        "store users/s",
        "store peak (x body)",
        "raw users/s",
        "store / raw"
    );
    let mut rows = vec![("SQLite", None)];
    if !sqlite_only {
        rows.push(("PostgreSQL", Some(postgres)));
    }
    let mut floor = None;
    for (name, pg) in rows {
        let fresh = || async {
            match pg {
                None => Db::sqlite(),
                Some(base) => Db::postgres(base).await,
            }
        };
        let (d1, d2, d3) = (fresh().await?, fresh().await?, fresh().await?);
        let api = via_api(&d1.url, n, batch).await?;
        let store = direct(&d2.url, n, batch).await?;
        let raw = match pg {
            None => raw_sqlite(&d3.url, n, batch, false).await?,
            Some(_) => raw_postgres(&d3, n).await?,
        };
        for d in [&d1, &d2, &d3] {
            d.drop_schema().await;
        }
        let what = if pg.is_some() { "COPY" } else { "INSERT" };
        println!(
            "{name:<12} {:>12.0} {:>18} {:>14.0} {:>18} {raw:>12.0} {:>9.0}% of {what}",
            api.rate,
            api.memory(),
            store.rate,
            store.memory(),
            100.0 * store.rate / raw
        );
        if pg.is_none() {
            floor = Some(raw_sqlite(&fresh().await?.url, n, batch, true).await?);
        }
    }
    if let Some(f) = floor {
        println!(
            "SQLite alone, the users rows only (no registrations, memberships, events): {f:.0} users/s \
             — target ≥ 100,000 users/s into SQLite"
        );
    }
    Ok(())
}
