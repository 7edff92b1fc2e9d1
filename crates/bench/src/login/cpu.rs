//! CPU per login beside the hash: the fixture's users on a one-round salted SHA-256, their
//! logins' CPU printed above its floor, what a login's database work and its ES256 signature
//! cost by themselves without Portcullis.

use super::drive::{cpu_time, logins};
use super::fixture::{tenant_of, Fixture, PASSWORD};
use super::floor::{
    bare_postgres, bare_sqlite, commit_and_checkpoint, count_attempt_sqlite, read_postgres,
    read_sqlite, token_hash, users, COUNT_ATTEMPT, FORGET_ATTEMPT_SQLITE, GROUP, WRITES_SQLITE,
    WRITE_POSTGRES,
};
use portcullis_domain::Store;
use portcullis_jwt::{Algorithm, KeyPair};
use portcullis_store::testing::Backend;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Gives every user a one-round salted SHA-256, so that a login's CPU is its own work rather
/// than its hash's.
pub(super) async fn cheap_hash(f: &Fixture) -> Result<(), String> {
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
    Ok(())
}

/// CPU per login on `cores × 2` concurrent loops, then its floor.
pub(super) async fn measure(
    f: &Arc<Fixture>,
    backend: Backend,
    name: &str,
    cores: usize,
    secs: u64,
) -> Result<(), String> {
    let (n, wall, cpu) = logins(f, cores * 2, secs).await?;
    println!(
        "{name:<9} {:<46} {:>11.0} µs   ≤ 100 µs ({:.0} logins/s)",
        "CPU per login beside the hash",
        cpu.as_secs_f64() * 1e6 / n as f64,
        n as f64 / wall.as_secs_f64()
    );
    let floor = floor(f, backend, secs).await?;
    println!(
        "{name:<9} {:<46} {:>11.0} µs   (database {:.0} µs + ES256 signature {:.0} µs)",
        "  its floor: database work + signature alone",
        floor.database + floor.signature,
        floor.database,
        floor.signature,
    );
    Ok(())
}

/// Microseconds of CPU per login.
struct Floor {
    database: f64,
    signature: f64,
}

/// The floor under a login's CPU: its database work (`sqlite` or `postgres`) and one ES256
/// signature of its claims, each measured alone.
async fn floor(f: &Fixture, backend: Backend, secs: u64) -> Result<Floor, String> {
    let (users, tenant) = users(f).await?;
    let app = f.app.to_string();
    let key = KeyPair::generate("floor".into(), Algorithm::ES256);
    // The signature alone, on this thread.
    let rounds = 2000;
    let c0 = crate::cpu::this_thread().unwrap_or_default();
    let t0 = Instant::now();
    for i in 0..rounds {
        let (id, email) = &users[i % users.len()];
        std::hint::black_box(key.sign(&claims(id, email, &app, &tenant)));
    }
    let cpu = crate::cpu::this_thread()
        .unwrap_or_default()
        .saturating_sub(c0);
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

/// Bare rusqlite on this thread: each login's read and its attempt's count in a commit of
/// their own, then its writes, four logins to a commit, a passive checkpoint every 100 ms; CPU
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
    let c0 = crate::cpu::this_thread().unwrap_or_default();
    let mut n = 0usize;
    while Instant::now() < deadline {
        // Each login's read and attempt are committed alone before its verify, as the store
        // does.
        for k in 0..GROUP {
            let (id, email) = &users[(n + k) % users.len()];
            let now = 1_800_000_000_000i64 + (n + k) as i64;
            conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
            read_sqlite(&conn, tenant, email, now).map_err(e)?;
            count_attempt_sqlite(&conn, tenant, id, now).map_err(e)?;
            conn.execute_batch("COMMIT").map_err(e)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
        for _ in 0..GROUP {
            let (id, email) = &users[n % users.len()];
            n += 1;
            let now = 1_800_000_000_000i64 + n as i64;
            let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
                conn.prepare_cached(sql).and_then(|mut s| s.execute(p))
            };
            run(WRITES_SQLITE[0], &[&now, id]).map_err(e)?;
            run(WRITES_SQLITE[1], &[&now, id, &app]).map_err(e)?;
            let ev = event(id, email, app);
            let ev_id = portcullis_domain::new_id().to_string();
            run(
                WRITES_SQLITE[2],
                &[&ev_id, &tenant, &"user.login.success", &now, &ev, id],
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
    let cpu = crate::cpu::this_thread()
        .unwrap_or_default()
        .saturating_sub(c0);
    Ok(cpu.as_secs_f64() * 1e6 / n as f64)
}

/// The same read and write through sqlx on one PostgreSQL connection, one login after the
/// other; this process's CPU µs per login (PostgreSQL's own, in its own processes, is not
/// counted).
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
            .bind(id)
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

/// The claims of a login's access token, as the token service signs them.
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

/// The body of a login's `user.login.success` event.
fn event(user: &str, email: &str, app: &str) -> String {
    json!({"type": "user.login.success", "user": {"id": user, "email": email},
        "applicationId": app, "ipAddress": null})
    .to_string()
}
