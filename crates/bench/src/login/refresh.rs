//! Refresh-token grants/s, each task following its own rotation chain, printed above their
//! ceiling: the grants/s a grant's statements alone reach in the database, with no signature and
//! no Portcullis.

use super::drive::drive;
use super::fixture::{request, Fixture};
use super::floor::{
    bare_postgres, bare_sqlite, commit_and_checkpoint, token_hash, users, GROUP, ROTATE_POSTGRES,
    TAKE, TOKEN, USER, WRITES_SQLITE,
};
use portcullis_domain::{LoginOutcome, Scope};
use portcullis_store::testing::Backend;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Grants/s on `cores × 4` concurrent chains, each started by a login, then their ceiling.
pub(super) async fn measure(
    f: &Arc<Fixture>,
    backend: Backend,
    name: &str,
    cores: usize,
    secs: u64,
) -> Result<(), String> {
    let mut chains = Vec::new();
    for t in 0..cores * 4 {
        match f.sessions.login(Scope::ALL, request(f, t)).await {
            Ok(LoginOutcome::Success(tokens)) => chains.push(Arc::new(tokio::sync::Mutex::new(
                tokens.refresh_token.expect("refresh tokens on"),
            ))),
            other => return Err(format!("a bench login did not succeed: {other:?}")),
        }
    }
    let chains = Arc::new(chains);
    let f3 = f.clone();
    let (n, wall, cpu) = drive(cores * 4, secs, move |t, _| {
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
    let (limit, how) = ceiling(f, backend, cores, secs).await?;
    println!(
        "{name:<9} {:<46} {limit:>12.0}/s   ({how})",
        "  its ceiling: a grant's statements alone"
    );
    Ok(())
}

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

/// The ceiling over refresh grants: the grants/s a grant's statements alone reach, and how
/// that was measured.
async fn ceiling(
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

/// Bare rusqlite on one thread, SQLite's one writer: each chain's token read, its user read,
/// the token marked used and its successor inserted, `GROUP` grants to a commit.
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

/// `tasks` bare PostgreSQL connections at once, each following a chain of its own: the token
/// read, its user read, then the rotation as one statement.
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
