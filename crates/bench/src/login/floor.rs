//! The SQL the floor and the ceiling send, as the store sends it, and the bare connections they
//! send it on: a login's read and writes, a grant's reads and rotation, each statement listed in
//! `STATEMENTS` with the store path it copies so that `crate::floor_sql` holds it to the store's.

use super::fixture::{tenant_of, Fixture};
#[cfg(test)]
use portcullis_store::testing::Backend;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A login's one read, as the store sends it: the user by login id with registrations,
/// memberships and the lock check (`SqlStore::user_for_login`).
const READ: &str = "WITH u AS NOT MATERIALIZED (SELECT id, body, pw_scheme, pw_factor, pw_salt, pw_hash \
    FROM users WHERE tenant_id = $1 AND (email_lower = $2 OR username_lower = $2) \
    ORDER BY CASE WHEN email_lower = $2 THEN 0 ELSE 1 END LIMIT 1) \
  SELECT CAST(0 AS BIGINT) AS part, id, body, pw_scheme, pw_factor, pw_salt, pw_hash, \
    CAST(NULL AS BIGINT) AS until_instant, CAST(NULL AS BIGINT) AS n FROM u \
  UNION ALL SELECT CAST(1 AS BIGINT), r.id, r.body, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM registrations r WHERE r.user_id = (SELECT id FROM u) \
  UNION ALL SELECT CAST(2 AS BIGINT), m.id, m.body, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM group_members m WHERE m.user_id = (SELECT id FROM u) \
  UNION ALL SELECT CAST(3 AS BIGINT), NULL, NULL, NULL, NULL, NULL, NULL, \
    (SELECT MAX(until_instant) FROM login_locks WHERE tenant_id = $1 \
       AND until_instant > $4 AND subject IN (COALESCE((SELECT 'user:' || id FROM u), $3), $5)), NULL";

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
pub(super) const WRITES_SQLITE: [&str; 4] = [
    "UPDATE users SET body = json_set(body, '$.lastLoginInstant', $1) WHERE id = $2",
    "UPDATE registrations SET body = json_set(body, '$.lastLoginInstant', $1) \
     WHERE user_id = $2 AND application_id = $3",
    "INSERT INTO events (id, tenant_id, type, create_instant, body, login_user_id) \
     VALUES ($1, $2, $3, $4, $5, $6)",
    "INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, \
     application_id, start_instant, insert_instant, expires_instant, used_instant) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
];

/// The login's attempt, counted before the verify (`SessionStore::count_login_attempt`,
/// one subject: the bench's logins name no address). The store commits it alone (on SQLite
/// with the login's read, in one turn of its writer), so that every node sees it before the
/// password is checked.
pub(super) const COUNT_ATTEMPT: &str =
    "INSERT INTO login_attempts (tenant_id, subject, n, expires_instant) \
    VALUES ($1, $4, 1, $3) ON CONFLICT (tenant_id, subject) DO UPDATE SET \
    n = CASE WHEN login_attempts.expires_instant <= $2 THEN 1 \
        ELSE login_attempts.n + 1 END, \
    expires_instant = CASE WHEN login_attempts.expires_instant <= $2 \
        THEN excluded.expires_instant ELSE login_attempts.expires_instant END \
    RETURNING subject, n, expires_instant";

/// A successful login takes its attempt back, as the last part of its writes.
pub(super) const FORGET_ATTEMPT_SQLITE: &str =
    "UPDATE login_attempts SET n = CASE WHEN subject IN ($2) \
    THEN 0 ELSE n - 1 END WHERE tenant_id = $1 AND n > 0 AND subject IN ($2)";

/// The same writes as one PostgreSQL statement, as the store batches them: each part's
/// parameters numbered on from the one before's.
pub(super) const WRITE_POSTGRES: &str = "WITH p0 AS (UPDATE users SET body = (body::jsonb || \
    jsonb_build_object('lastLoginInstant', $1::bigint))::text WHERE id = $2), \
  p1 AS (UPDATE registrations SET body = (body::jsonb || \
    jsonb_build_object('lastLoginInstant', $3::bigint))::text \
    WHERE user_id = $4 AND application_id = $5), \
  p2 AS (INSERT INTO events (id, tenant_id, type, create_instant, body, login_user_id) \
    VALUES ($6, $7, $8, $9, $10, $11)), \
  p3 AS (INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, application_id, \
    start_instant, insert_instant, expires_instant, used_instant) \
    VALUES ($12, $13, $14, $15, $16, $17, $18, $19, $20, NULL)) \
  UPDATE login_attempts SET n = CASE WHEN subject IN ($22) THEN 0 ELSE n - 1 END \
    WHERE tenant_id = $21 AND n > 0 AND subject IN ($22)";

/// Logins per commit in the SQLite floor: about what the store's group commit gathers with
/// the bench's four concurrent logins.
pub(super) const GROUP: usize = 4;

/// A grant's reads as the store sends them: the token (`SqlStore::refresh_token`), then
/// its user (`SqlStore::user`, the same statement shape as a login's read).
pub(super) const TOKEN: &str =
    "SELECT token_hash, id, family_id, tenant_id, user_id, application_id, \
    start_instant, insert_instant, expires_instant, used_instant FROM refresh_tokens \
    WHERE token_hash = $1";
pub(super) const USER: &str =
    "WITH u AS NOT MATERIALIZED (SELECT id, body, pw_scheme, pw_factor, pw_salt, pw_hash \
    FROM users WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2) LIMIT 1) \
  SELECT CAST(0 AS BIGINT) AS part, id, body, pw_scheme, pw_factor, pw_salt, pw_hash, \
    CAST(NULL AS BIGINT) AS until_instant, CAST(NULL AS BIGINT) AS n FROM u \
  UNION ALL SELECT CAST(1 AS BIGINT), r.id, r.body, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM registrations r WHERE r.user_id = (SELECT id FROM u) \
  UNION ALL SELECT CAST(2 AS BIGINT), m.id, m.body, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM group_members m WHERE m.user_id = (SELECT id FROM u)";
/// The grant's write (`SqlStore::rotate_refresh_token`): on SQLite the mark, then the
/// successor when the mark changed a row; on PostgreSQL one statement.
pub(super) const TAKE: &str = "UPDATE refresh_tokens SET used_instant = $1 \
    WHERE token_hash = $2 AND used_instant IS NULL";
pub(super) const ROTATE_POSTGRES: &str =
    "WITH taken AS (UPDATE refresh_tokens SET used_instant = $10 \
    WHERE token_hash = $11 AND used_instant IS NULL RETURNING 1) \
  INSERT INTO refresh_tokens (token_hash, id, family_id, tenant_id, user_id, application_id, \
    start_instant, insert_instant, expires_instant, used_instant) \
  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL FROM taken";

/// A connection of our own to the store's SQLite file, with the store's pragmas.
pub(crate) fn bare_sqlite(url: &str) -> Result<rusqlite::Connection, String> {
    let file = url
        .strip_prefix("sqlite://")
        .ok_or("not a SQLite file URL")?;
    portcullis_store::configure_sqlite();
    let conn = rusqlite::Connection::open(file).map_err(|e| e.to_string())?;
    conn.execute_batch(portcullis_store::SQLITE_PRAGMAS)
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Commits, and every 100 ms a passive checkpoint, as the store's checkpointer does.
pub(super) fn commit_and_checkpoint(
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

/// A refresh token's stored hash, unique to it.
pub(super) fn token_hash() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The fixture's users as (id, email), and its tenant.
pub(super) async fn users(f: &Fixture) -> Result<(Vec<(String, String)>, String), String> {
    let store = &f.db.store;
    let tenant = tenant_of(store).await?;
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
