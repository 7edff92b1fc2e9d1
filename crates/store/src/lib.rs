//! The SQL store: the domain's [`Store`] on SQLite (the embedded default, one file in WAL mode)
//! and on PostgreSQL (for production and for several `serve` nodes on one database).
//!
//! Both backends take the same SQL: every statement here is portable (`$n` parameters, `ON
//! CONFLICT`, no dialect functions); what differs — DDL migrations, connection set-up, the one
//! in-place JSON edit and the batching of independent writes (`record_login`) — is chosen by
//! [`Dialect`]. PostgreSQL is reached through sqlx's pool, SQLite through `rusqlite` on the
//! calling thread (`db` and `lite` say why). Each entity is stored as its JSON
//! body beside the columns we index, so a new optional field never needs a migration.

use db::{Db, Row, Tx};
use portcullis_domain::validate::{normalize_login_id, normalized};
use portcullis_domain::{
    ApiKey, Application, BulkDelete, Event, Group, ImportJob, LoginLocks, LoginWrites, Membership,
    Millis, Registration, Role, Scope, Store, StoreError, StoreResult, StoredUser, Tenant, User,
};
use portcullis_hash::Credential;
use std::sync::Arc;
use uuid::Uuid;

#[cfg(feature = "testing")]
pub mod testing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The store over its database.
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
    dialect: Dialect,
    /// Tenants, applications and connectors, shared by the clones of this store (see `cache`).
    cache: Arc<cache::Cache>,
    /// Users per transaction of a large delete on SQLite (`SqlStore::delete_users_sliced`).
    delete_slice: usize,
    /// Rows per statement of the deletes of expired rows (`sessions::CLEANUP_SLICE`).
    cleanup_slice: i64,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Turns a constraint violation into the domain's words: which field was duplicated.
fn db_err(e: sqlx::Error) -> StoreError {
    let Some(db) = e.as_database_error() else {
        return backend(e);
    };
    let what = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
    match db.kind() {
        sqlx::error::ErrorKind::UniqueViolation => StoreError::Duplicate(duplicate_field(&what)),
        sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::MissingReference,
        _ => backend(e),
    }
}

/// Maps SQLite's "UNIQUE constraint failed: users.tenant_id, users.email_lower" and PostgreSQL's
/// constraint names (`users_email_uq`, `users_pkey`) to the field the caller sent.
fn duplicate_field(what: &str) -> &'static str {
    let has = |s: &str| what.contains(s);
    if has("api_keys") {
        if has("key_hash") {
            "apiKey.key"
        } else {
            "apiKey.id"
        }
    } else if has("group_members") {
        "members"
    } else if has("registrations") {
        if has("application") {
            "registration.applicationId"
        } else {
            "registration.id"
        }
    } else if has("user_groups") {
        if has("name") {
            "group.name"
        } else {
            "group.id"
        }
    } else if has("applications") {
        "application.id"
    } else if has("tenants") {
        if has("name") {
            "tenant.name"
        } else {
            "tenant.id"
        }
    } else if has("email") {
        "user.email"
    } else if has("username") {
        "user.username"
    } else {
        "user.id"
    }
}

fn body<T: serde::de::DeserializeOwned>(row: &Row) -> StoreResult<T> {
    let text: String = row.get("body")?;
    serde_json::from_str(&text).map_err(backend)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("entities serialize")
}

fn id_of(id: Option<Uuid>) -> String {
    id.expect("the service sets ids before storing").to_string()
}

/// A bound parameter: the store binds only text (ids, JSON) and integers (instants).
#[derive(Clone)]
enum Arg {
    Text(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(Arg::from($a)),*] };
}

// After `args!`, which they use.
mod bulk;
pub mod cache;
mod connectors;
mod db;
mod jobs;
mod lite;
mod pcache;
mod pg;

pub use lite::configure_sqlite;
/// The pragmas every SQLite connection of the store runs (see `lite`), for tools that write the
/// same file by other means (the import bench's raw baseline).
pub use lite::PRAGMAS as SQLITE_PRAGMAS;
mod oauth;
mod search;
mod sessions;
mod themes;
mod webhooks;

fn scope_param(scope: Scope) -> Option<String> {
    scope.tenant.map(|t| t.to_string())
}

/// The user's body as stored: registrations and memberships live in their own tables.
fn user_body(u: &User) -> String {
    portcullis_domain::import::user_body(u)
}

impl SqlStore {
    /// Connects, creating a SQLite file if missing, and applies pending schema migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// As [`connect`](Self::connect); on PostgreSQL every connection works in `schema` (tests
    /// give each test its own).
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            StoreError::Backend(format!(
                "unsupported database URL [{url}]: use sqlite://FILE or postgres://USER@HOST/DB"
            ))
        })?;
        let db = match dialect {
            Dialect::Sqlite => {
                let lite = lite::Lite::open(url)?;
                db::migrate_lite(&lite, &SQLITE_MIGRATIONS).await?;
                Db::Lite(Arc::new(lite))
            }
            Dialect::Postgres => Db::Pg(Arc::new(
                pg::Pg::open(url, schema, &POSTGRES_MIGRATIONS).await?,
            )),
        };
        Ok(Self {
            db,
            dialect,
            cache: Default::default(),
            delete_slice: bulk::DELETE_SLICE,
            cleanup_slice: sessions::CLEANUP_SLICE,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Large deletes on SQLite in slices of `users` (tests: slices without a million users).
    #[cfg(feature = "testing")]
    pub fn with_delete_slice(mut self, users: usize) -> Self {
        self.delete_slice = users.max(1);
        self
    }

    /// Deletes of expired rows in slices of `rows` (tests: several slices without many rows).
    #[cfg(feature = "testing")]
    pub fn with_cleanup_slice(mut self, rows: usize) -> Self {
        self.cleanup_slice = rows.max(1) as i64;
        self
    }

    /// Every tenant, from the cache or the database.
    async fn cached_tenants(&self) -> StoreResult<Arc<cache::Tenants>> {
        if let Some(t) = self.cache.tenants() {
            return Ok(t);
        }
        let generation = self.cache.generation();
        let all = self
            .fetch_bodies("SELECT body FROM tenants ORDER BY insert_instant, id", &[])
            .await?;
        let t = Arc::new(cache::Tenants::new(all));
        self.cache.put_tenants(generation, t.clone());
        Ok(t)
    }

    /// Runs independent writes together: on SQLite as one write in the writer's next group
    /// commit (`lite::Lite::submit`), on PostgreSQL as one statement whose leading parts are
    /// CTEs (one round trip). Each part numbers its own parameters from `$1`. On PostgreSQL not
    /// a transaction: a part that fails leaves the earlier ones written.
    pub(crate) async fn batch(&self, parts: Vec<(String, Vec<Arg>)>) -> StoreResult<()> {
        if let Db::Lite(l) = &self.db {
            let steps = parts
                .into_iter()
                .map(|(sql, args)| lite::Step::new(sql, args))
                .collect();
            return l.submit(steps).await.map(|_| ());
        }
        let mut sql = String::new();
        let mut args = Vec::new();
        let last = parts.len().saturating_sub(1);
        for (i, (part, part_args)) in parts.into_iter().enumerate() {
            let part = renumber(&part, args.len());
            if i < last {
                sql.push_str(if i == 0 { "WITH " } else { ", " });
                sql.push_str(&format!("p{i} AS ({part})"));
            } else {
                sql.push(' ');
                sql.push_str(&part);
            }
            args.extend(part_args);
        }
        self.db.write(&sql, &args).await.map(|_| ())
    }

    /// A guard that invalidates the per-node cache (`cache`) when the write it guards
    /// ends, however it ends (and once before, so no read during the write is kept).
    fn invalidates(&self) -> Invalidate<'_> {
        self.cache.invalidate();
        Invalidate(&self.cache)
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    async fn fetch_bodies<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: &[Arg],
    ) -> StoreResult<Vec<T>> {
        let rows = self.db.read(sql, args).await?;
        rows.iter().map(body).collect()
    }

    async fn exec(&self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        self.db.write(sql, args).await
    }

    /// One write statement and, when it changed a row, `events`, in one transaction; without
    /// events, the statement alone (SQLite's group commit).
    async fn exec_with_events(
        &self,
        sql: &str,
        args: &[Arg],
        events: &[Event],
    ) -> StoreResult<u64> {
        if events.is_empty() {
            return self.exec(sql, args).await;
        }
        let mut tx = self.db.begin().await?;
        let n = tx.write(sql, args).await?;
        if n > 0 {
            bulk::insert_events(self.dialect, &mut tx, events).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn one<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: &[Arg],
    ) -> StoreResult<Option<T>> {
        Ok(self.fetch_bodies(sql, args).await?.into_iter().next())
    }

    /// The body of `table`'s row `id`, if it is in `scope`.
    async fn scoped<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        scope: Scope,
        id: Uuid,
    ) -> StoreResult<Option<T>> {
        self.one(
            &format!("SELECT body FROM {table} WHERE id = $1 AND {SCOPED}"),
            args![Some(id.to_string()), scope_param(scope)],
        )
        .await
    }

    /// Every body of `table` in `scope`, oldest first.
    async fn scoped_all<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        scope: Scope,
    ) -> StoreResult<Vec<T>> {
        self.fetch_bodies(
            &format!("SELECT body FROM {table} WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY insert_instant, id"),
            args![scope_param(scope)],
        )
        .await
    }

    /// Deletes `table`'s row `id` (if in `scope`) and, first, the rows of `child` whose
    /// `child_key` points at it, in one transaction.
    async fn delete_scoped_with(
        &self,
        table: &str,
        child: &str,
        child_key: &str,
        scope: Scope,
        id: Uuid,
    ) -> StoreResult<bool> {
        let (id, t) = (Some(id.to_string()), scope_param(scope));
        let mut tx = self.db.begin().await?;
        tx.write(
            &format!("DELETE FROM {child} WHERE {child_key} IN (SELECT id FROM {table} WHERE id = $1 AND {SCOPED})"),
            args![id.clone(), t.clone()],
        )
        .await?;
        let n = tx
            .write(
                &format!("DELETE FROM {table} WHERE id = $1 AND {SCOPED}"),
                args![id, t],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The user `cond` selects (with `order`, the first), with registrations and memberships,
    /// in one statement: a login reads a user with one round trip, not three.
    async fn user_where(
        &self,
        cond: &str,
        order: &str,
        args: &[Arg],
    ) -> StoreResult<Option<StoredUser>> {
        Ok(self.user_where_with(cond, order, "", args).await?.0)
    }

    /// The user matching `cond` with registrations and memberships, in one statement; `extra`
    /// adds one more `UNION ALL` part (numbered 3, its figures in `until_instant` and `n`), whose
    /// row comes back beside the user.
    async fn user_where_with(
        &self,
        cond: &str,
        order: &str,
        extra: &str,
        args: &[Arg],
    ) -> StoreResult<(Option<StoredUser>, Option<Row>)> {
        let rows = self.db.read(&user_sql(cond, order, extra), args).await?;
        user_of_rows(rows)
    }
}

/// The statement of [`SqlStore::user_where_with`]. Its parts come in any order
/// ([`user_of_rows`] sorts them), and `u` is looked up again where it is used rather than
/// written to a temporary table: on SQLite the temporary table, the `IN` lists and the sort each
/// open a B-tree of their own for a statement that returns a handful of rows, and every one of
/// those takes a lock that all connections share (the page cache's), so concurrent reads
/// queue on it; a lookup by a unique key costs less.
fn user_sql(cond: &str, order: &str, extra: &str) -> String {
    format!(
        "WITH u AS NOT MATERIALIZED (SELECT id, body, pw_scheme, pw_factor, pw_salt, pw_hash \
           FROM users WHERE {cond} {order} LIMIT 1) \
         SELECT CAST(0 AS BIGINT) AS part, id, body, pw_scheme, pw_factor, pw_salt, pw_hash, \
           CAST(NULL AS BIGINT) AS until_instant, CAST(NULL AS BIGINT) AS n FROM u \
         UNION ALL SELECT CAST(1 AS BIGINT), r.id, r.body, NULL, NULL, NULL, NULL, NULL, NULL \
           FROM registrations r WHERE r.user_id = (SELECT id FROM u) \
         UNION ALL SELECT CAST(2 AS BIGINT), m.id, m.body, NULL, NULL, NULL, NULL, NULL, NULL \
           FROM group_members m WHERE m.user_id = (SELECT id FROM u) \
         {extra}"
    )
}

/// The user and the extra part's row from the rows of [`user_sql`].
fn user_of_rows(
    rows: impl IntoIterator<Item = Row>,
) -> StoreResult<(Option<StoredUser>, Option<Row>)> {
    let mut user: Option<User> = None;
    let mut credential = None;
    let mut extra_row = None;
    let (mut registrations, mut memberships) = (Vec::new(), Vec::new());
    for row in rows {
        match row.get::<i64>("part")? {
            0 => {
                user = Some(body(&row)?);
                credential = bulk::credential_of(&row)?;
            }
            1 => registrations.push(body::<Registration>(&row)?),
            2 => memberships.push(body::<Membership>(&row)?),
            _ => extra_row = Some(row),
        }
    }
    let user = user.map(|mut user| {
        // By id: one order on both databases, whatever PostgreSQL's collation (a UUID's bytes
        // compare as its lower-case text does).
        registrations.sort_unstable_by_key(|r| r.id);
        memberships.sort_unstable_by_key(|m| m.id);
        user.registrations = registrations;
        user.memberships = memberships;
        StoredUser { user, credential }
    });
    Ok((user, extra_row))
}

/// A login's read ([`Store::user_for_login`]): the user of the login id with registrations and
/// memberships, and the lock as a fourth part — on the found user's subject, else the login
/// id's (as `login_subject` names them), and `extra`'s.
fn login_read(
    tenant: Uuid,
    login_id: &str,
    extra: Option<&str>,
    now: Millis,
) -> (String, Vec<Arg>) {
    let first = "COALESCE((SELECT 'user:' || id FROM u), $3)";
    let locks = format!(
        "UNION ALL SELECT CAST(3 AS BIGINT), NULL, NULL, NULL, NULL, NULL, NULL, \
           (SELECT MAX(until_instant) FROM login_locks WHERE tenant_id = $1 \
              AND until_instant > $4 AND subject IN ({first}, $5)), NULL"
    );
    let args = args![
        Some(tenant.to_string()),
        Some(login_id.to_string()),
        Some(portcullis_domain::login_subject(None, login_id)),
        now,
        extra.map(str::to_string),
    ];
    (
        user_sql(LOGIN_ID_COND, LOGIN_ID_ORDER, &locks),
        args.to_vec(),
    )
}

/// The locks of a login's read, from the row of its fourth part.
fn login_locks_of(row: Option<Row>) -> StoreResult<LoginLocks> {
    let row = row.ok_or_else(|| backend("the lock check returned no row"))?;
    Ok(LoginLocks {
        locked_until: row.get("until_instant")?,
    })
}

/// `sql` with every `$n` turned into `$(n + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            n.push(d);
            chars.next();
        }
        if let Ok(n) = n.parse::<usize>() {
            out.push_str(&(n + offset).to_string());
        }
    }
    out
}

struct Invalidate<'a>(&'a cache::Cache);

impl Drop for Invalidate<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

/// `(?, ?, ..), (?, ..), ..` (SQLite) or `($1, $2, ..), ($k+1, ..), ..` (PostgreSQL) for `rows`
/// rows of `cols` parameters.
///
/// SQLite gets anonymous parameters: SQLite keeps named ones (`$n` is a name to it) in a list it
/// scans linearly when it parses and binds them, so thousands of `$n` in one statement cost
/// quadratic time (35% of an import's time, when it had them).
fn values_sql(dialect: Dialect, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row INSERT in the bulk path: large enough to amortize a statement, small
/// enough to stay under both databases' parameter limits (SQLite 32766, PostgreSQL 65535).
const BULK_PARAMS: usize = 4000;

/// Runs `INSERT INTO {head} VALUES ...` for `rows`, `cols` parameters each, in chunks.
async fn bulk_insert<T>(
    dialect: Dialect,
    tx: &mut Tx,
    head: &str,
    cols: usize,
    rows: &[T],
    bind: impl Fn(&T) -> Vec<Arg>,
) -> StoreResult<()> {
    let per = (BULK_PARAMS / cols).max(1);
    for chunk in rows.chunks(per) {
        let sql = format!(
            "INSERT INTO {head} VALUES {}",
            values_sql(dialect, chunk.len(), cols)
        );
        let args: Vec<Arg> = chunk.iter().flat_map(&bind).collect();
        tx.write_owned(&sql, args).await?;
    }
    Ok(())
}

/// The URL without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

const SCOPED: &str = "($2 IS NULL OR tenant_id = $2)";

/// A user by login id (`$1` the tenant, `$2` the lower-cased id): email or username, email first.
const LOGIN_ID_COND: &str = "tenant_id = $1 AND (email_lower = $2 OR username_lower = $2)";
const LOGIN_ID_ORDER: &str = "ORDER BY CASE WHEN email_lower = $2 THEN 0 ELSE 1 END";

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.read("SELECT 1", &[]).await.map(|_| ())
    }

    async fn is_pristine(&self) -> StoreResult<bool> {
        let rows = self
            .db
            .read(
                "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_keys) AS n",
                &[],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| backend("COUNT returned no row"))?;
        Ok(row.get::<i64>("n")? == 0)
    }

    async fn insert_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        self.exec(
            "INSERT INTO tenants (id, name_lower, body, insert_instant) VALUES ($1, $2, $3, $4)",
            args![
                Some(id_of(t.id)),
                Some(t.name.trim().to_lowercase()),
                Some(json(t)),
                t.insert_instant.unwrap_or(0),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn tenant(&self, id: Uuid) -> StoreResult<Option<Tenant>> {
        Ok(self.cached_tenants().await?.get(id).cloned())
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        Ok(self.cached_tenants().await?.all.clone())
    }

    async fn update_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        self.exec(
            "UPDATE tenants SET name_lower = $2, body = $3 WHERE id = $1",
            args![
                Some(id_of(t.id)),
                Some(t.name.trim().to_lowercase()),
                Some(json(t)),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_tenant(&self, id: Uuid) -> StoreResult<bool> {
        let _invalidate = self.invalidates();
        let id = Some(id.to_string());
        // SQLite: the users first, in slices of their own transactions (`delete_users_sliced`
        // says why); what a slice left, or a user added meanwhile, goes in the last transaction
        // below with the tenant.
        if self.dialect == Dialect::Sqlite {
            self.delete_users_sliced("tenant_id = $1", args![id.clone()])
                .await?;
        }
        let mut tx = self.db.begin_long().await?;
        // Children first, one statement per table. Rows hanging off users: explicit on SQLite
        // (faster than its cascade), left to the cascade on PostgreSQL (faster there; see
        // `bench tenant-delete` and `Store::delete_users`).
        let user_children: &[&str] = match self.dialect {
            Dialect::Sqlite => &[
                "DELETE FROM group_members WHERE tenant_id = $1",
                "DELETE FROM registrations WHERE tenant_id = $1",
                "DELETE FROM refresh_tokens WHERE tenant_id = $1",
                "DELETE FROM change_password_ids WHERE tenant_id = $1",
                "DELETE FROM two_factor_rows WHERE tenant_id = $1",
                "DELETE FROM oauth_codes WHERE tenant_id = $1",
                "DELETE FROM sso_sessions WHERE tenant_id = $1",
            ],
            Dialect::Postgres => &[],
        };
        for sql in user_children.iter().copied().chain([
            "DELETE FROM users WHERE tenant_id = $1",
            "DELETE FROM user_groups WHERE tenant_id = $1",
            "DELETE FROM applications WHERE tenant_id = $1",
            "DELETE FROM api_keys WHERE tenant_id = $1",
            "DELETE FROM import_jobs WHERE tenant_id = $1",
            "DELETE FROM login_attempts WHERE tenant_id = $1",
            "DELETE FROM login_locks WHERE tenant_id = $1",
            "DELETE FROM signing_keys WHERE tenant_id = $1",
            "DELETE FROM themes WHERE tenant_id = $1",
        ]) {
            tx.write(sql, args![id.clone()]).await?;
        }
        let n = tx
            .write("DELETE FROM tenants WHERE id = $1", args![id])
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_application(&self, a: &Application) -> StoreResult<()> {
        self.exec(
            "INSERT INTO applications (id, tenant_id, body, insert_instant) VALUES ($1, $2, $3, $4)",
            args![
                Some(id_of(a.id)),
                Some(id_of(a.tenant_id)),
                Some(json(a)),
                a.insert_instant.unwrap_or(0),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn application(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Application>> {
        let in_scope = |a: &Application| scope.tenant.is_none_or(|t| a.tenant_id == Some(t));
        if let Some(a) = self.cache.application(id) {
            return Ok(Some(a).filter(in_scope));
        }
        let generation = self.cache.generation();
        let found: Option<Application> = self.scoped("applications", Scope::ALL, id).await?;
        if let Some(a) = &found {
            self.cache.put_application(generation, a.clone());
        }
        Ok(found.filter(in_scope))
    }

    async fn applications(&self, scope: Scope) -> StoreResult<Vec<Application>> {
        self.scoped_all("applications", scope).await
    }

    async fn update_application(&self, a: &Application, removed: &[Role]) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        const UPDATE: &str = "UPDATE applications SET body = $2 WHERE id = $1";
        let (id, tenant) = (id_of(a.id), id_of(a.tenant_id));
        if removed.is_empty() {
            return self.exec(UPDATE, args![id, json(a)]).await.map(|_| ());
        }
        // Registrations hold role names, groups role ids, both in their JSON bodies: each is
        // edited in place, one statement per removed role and table.
        let (registrations, groups) = match self.dialect {
            Dialect::Sqlite => (
                "UPDATE registrations SET body = json_set(body, '$.roles', \
                   (SELECT json_group_array(value) FROM json_each(body, '$.roles') \
                    WHERE value <> $2)) \
                 WHERE application_id = $1 AND EXISTS \
                   (SELECT 1 FROM json_each(body, '$.roles') WHERE value = $2)",
                "UPDATE user_groups SET body = json_set(body, '$.roleIds', \
                   (SELECT json_group_array(value) FROM json_each(body, '$.roleIds') \
                    WHERE value <> $2)) \
                 WHERE tenant_id = $1 AND EXISTS \
                   (SELECT 1 FROM json_each(body, '$.roleIds') WHERE value = $2)",
            ),
            Dialect::Postgres => (
                "UPDATE registrations SET body = jsonb_set(body::jsonb, '{roles}', \
                   (body::jsonb -> 'roles') - CAST($2 AS TEXT))::text \
                 WHERE application_id = $1 AND (body::jsonb -> 'roles') @> to_jsonb(CAST($2 AS TEXT))",
                "UPDATE user_groups SET body = jsonb_set(body::jsonb, '{roleIds}', \
                   (body::jsonb -> 'roleIds') - CAST($2 AS TEXT))::text \
                 WHERE tenant_id = $1 AND (body::jsonb -> 'roleIds') @> to_jsonb(CAST($2 AS TEXT))",
            ),
        };
        let mut tx = self.db.begin().await?;
        tx.write(UPDATE, args![id.clone(), json(a)]).await?;
        for r in removed {
            tx.write(registrations, args![id.clone(), r.name.clone()])
                .await?;
            tx.write(groups, args![tenant.clone(), r.id.map(|i| i.to_string())])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_application(&self, scope: Scope, id: Uuid) -> StoreResult<bool> {
        let _invalidate = self.invalidates();
        self.delete_scoped_with("applications", "registrations", "application_id", scope, id)
            .await
    }

    async fn insert_group(&self, g: &Group) -> StoreResult<()> {
        self.exec(
            "INSERT INTO user_groups (id, tenant_id, name_lower, body, insert_instant) VALUES ($1, $2, $3, $4, $5)",
            args![
                Some(id_of(g.id)),
                Some(id_of(g.tenant_id)),
                Some(g.name.trim().to_lowercase()),
                Some(json(g)),
                g.insert_instant.unwrap_or(0),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn group(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Group>> {
        self.scoped("user_groups", scope, id).await
    }

    async fn groups(&self, scope: Scope) -> StoreResult<Vec<Group>> {
        self.scoped_all("user_groups", scope).await
    }

    async fn update_group(&self, g: &Group) -> StoreResult<()> {
        self.exec(
            "UPDATE user_groups SET name_lower = $2, body = $3 WHERE id = $1",
            args![
                Some(id_of(g.id)),
                Some(g.name.trim().to_lowercase()),
                Some(json(g)),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_group(&self, scope: Scope, id: Uuid) -> StoreResult<bool> {
        self.delete_scoped_with("user_groups", "group_members", "group_id", scope, id)
            .await
    }

    async fn insert_memberships(&self, tenant: Uuid, members: &[Membership]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for m in members {
            tx.write(
                "INSERT INTO group_members (id, tenant_id, group_id, user_id, body) VALUES ($1, $2, $3, $4, $5)",
                args![id_of(m.id), tenant.to_string(), id_of(m.group_id), id_of(m.user_id), json(m)],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn delete_membership(&self, scope: Scope, group: Uuid, user: Uuid) -> StoreResult<bool> {
        Ok(self
            .exec(
                "DELETE FROM group_members WHERE group_id = $1 AND ($2 IS NULL OR tenant_id = $2) AND user_id = $3",
                args![Some(group.to_string()), scope_param(scope), Some(user.to_string())],
            )
            .await?
            > 0)
    }

    async fn delete_membership_by_id(&self, scope: Scope, id: Uuid) -> StoreResult<bool> {
        Ok(self
            .exec(
                &format!("DELETE FROM group_members WHERE id = $1 AND {SCOPED}"),
                args![Some(id.to_string()), scope_param(scope)],
            )
            .await?
            > 0)
    }

    async fn insert_user(&self, su: &StoredUser) -> StoreResult<()> {
        self.insert_user_with_events(su, &[]).await
    }

    async fn insert_user_with_events(&self, su: &StoredUser, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        insert_user_tx(&mut tx, su).await?;
        bulk::insert_events(self.dialect, &mut tx, events).await?;
        tx.commit().await
    }

    async fn user(&self, scope: Scope, id: Uuid) -> StoreResult<Option<StoredUser>> {
        self.user_where(
            &format!("id = $1 AND {SCOPED}"),
            "",
            args![Some(id.to_string()), scope_param(scope)],
        )
        .await
    }

    async fn user_by_email(&self, tenant: Uuid, email: &str) -> StoreResult<Option<StoredUser>> {
        self.user_where(
            "tenant_id = $1 AND email_lower = $2",
            "",
            args![Some(tenant.to_string()), Some(normalize_login_id(email))],
        )
        .await
    }

    async fn user_by_username(
        &self,
        tenant: Uuid,
        username: &str,
    ) -> StoreResult<Option<StoredUser>> {
        self.user_where(
            "tenant_id = $1 AND username_lower = $2",
            "",
            args![Some(tenant.to_string()), Some(normalize_login_id(username))],
        )
        .await
    }

    async fn user_by_login_id(
        &self,
        tenant: Uuid,
        login_id: &str,
    ) -> StoreResult<Option<StoredUser>> {
        self.user_where(
            LOGIN_ID_COND,
            LOGIN_ID_ORDER,
            args![Some(tenant.to_string()), Some(normalize_login_id(login_id))],
        )
        .await
    }

    async fn user_for_login(
        &self,
        tenant: Uuid,
        login_id: &str,
        extra: Option<&str>,
        now: Millis,
    ) -> StoreResult<(Option<StoredUser>, LoginLocks)> {
        let (sql, args) = login_read(tenant, &normalize_login_id(login_id), extra, now);
        let (user, row) = user_of_rows(self.db.read(&sql, &args).await?)?;
        Ok((user, login_locks_of(row)?))
    }

    async fn user_for_login_counted(
        &self,
        tenant: Uuid,
        login_id: &str,
        extra: Option<&str>,
        now: Millis,
        window_end: Option<Millis>,
    ) -> StoreResult<portcullis_domain::CountedLoginRead> {
        match &self.db {
            Db::Lite(l) => {
                sessions::read_and_count_lite(l, tenant, login_id, extra, now, window_end).await
            }
            Db::Pg(_) => {
                portcullis_domain::read_then_count(self, tenant, login_id, extra, now, window_end)
                    .await
            }
        }
    }

    async fn update_credential(&self, user: Uuid, c: &Credential) -> StoreResult<()> {
        self.exec(
            "UPDATE users SET pw_scheme = $2, pw_factor = $3, pw_salt = $4, pw_hash = $5 WHERE id = $1",
            args![
                user.to_string(),
                c.scheme.clone(),
                c.factor as i64,
                c.salt.clone(),
                c.hash.clone(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn record_login(&self, w: &LoginWrites<'_>) -> StoreResult<()> {
        let user = Some(w.user.to_string());
        let last_login = |table: &str, cond: &str| match self.dialect {
            Dialect::Sqlite => format!(
                "UPDATE {table} SET body = json_set(body, '$.lastLoginInstant', $1) WHERE {cond}"
            ),
            Dialect::Postgres => format!(
                "UPDATE {table} SET body = (body::jsonb || \
                 jsonb_build_object('lastLoginInstant', $1::bigint))::text WHERE {cond}"
            ),
        };
        let mut parts = vec![(
            last_login("users", "id = $2"),
            vec![Arg::from(w.now), Arg::from(user.clone())],
        )];
        if let Some(a) = w.application {
            parts.push((
                last_login("registrations", "user_id = $2 AND application_id = $3"),
                vec![Arg::from(w.now), Arg::from(user), Arg::from(a.to_string())],
            ));
        }
        parts.extend(w.event.map(event_part));
        if let Some(t) = w.refresh_token {
            parts.push((
                sessions::INSERT_REFRESH_TOKEN.to_string(),
                sessions::refresh_token_args(t),
            ));
        }
        parts.extend(w.attempts.as_ref().and_then(sessions::forget_attempts_part));
        self.batch(parts).await
    }

    async fn update_user(&self, su: &StoredUser) -> StoreResult<()> {
        self.exec(UPDATE_USER, &update_user_args(su))
            .await
            .map(|_| ())
    }

    async fn update_profile(&self, u: &User, c: Option<&Credential>) -> StoreResult<bool> {
        self.update_profile_with_events(u, c, &[]).await
    }

    async fn update_profile_with_events(
        &self,
        u: &User,
        c: Option<&Credential>,
        events: &[Event],
    ) -> StoreResult<bool> {
        // The body is the caller's, except the instants that logins and password changes write
        // in place: those are read from the row in the same statement.
        let kept: &[&str] = match c {
            Some(_) => &["lastLoginInstant"],
            None => &["lastLoginInstant", "passwordLastUpdateInstant"],
        };
        let body = match self.dialect {
            Dialect::Sqlite => format!(
                "json_patch($4, json_object({}))",
                kept.iter()
                    .map(|k| format!("'{k}', json_extract(body, '$.{k}')"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Dialect::Postgres => format!(
                "(($4)::jsonb{} || jsonb_strip_nulls(jsonb_build_object({})))::text",
                kept.iter().map(|k| format!(" - '{k}'")).collect::<String>(),
                kept.iter()
                    .map(|k| format!("'{k}', body::jsonb -> '{k}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let credential = match c {
            Some(_) => ", pw_scheme = $6, pw_factor = $7, pw_salt = $8, pw_hash = $9",
            None => "",
        };
        let mut args = vec![
            Arg::from(id_of(u.id)),
            Arg::from(normalized(&u.email)),
            Arg::from(normalized(&u.username)),
            Arg::from(user_body(u)),
            Arg::from(id_of(u.tenant_id)),
        ];
        if let Some(c) = c {
            args.extend([
                Arg::from(c.scheme.clone()),
                Arg::from(c.factor as i64),
                Arg::from(c.salt.clone()),
                Arg::from(c.hash.clone()),
            ]);
        }
        let n = self
            .exec_with_events(
                &format!(
                    "UPDATE users SET email_lower = $2, username_lower = $3, body = {body}\
                     {credential} WHERE id = $1 AND tenant_id = $5"
                ),
                &args,
                events,
            )
            .await?;
        Ok(n > 0)
    }

    async fn set_password(&self, user: Uuid, c: &Credential, now: Millis) -> StoreResult<()> {
        self.set_password_with_events(user, c, now, &[]).await
    }

    async fn set_password_with_events(
        &self,
        user: Uuid,
        c: &Credential,
        now: Millis,
        events: &[Event],
    ) -> StoreResult<()> {
        let body = match self.dialect {
            Dialect::Sqlite => {
                "json_set(body, '$.passwordChangeRequired', json('false'), \
                   '$.passwordLastUpdateInstant', $6, '$.lastUpdateInstant', $6)"
            }
            Dialect::Postgres => {
                "(body::jsonb || jsonb_build_object('passwordChangeRequired', false, \
                   'passwordLastUpdateInstant', $6::bigint, 'lastUpdateInstant', $6::bigint))::text"
            }
        };
        self.exec_with_events(
            &format!(
                "UPDATE users SET pw_scheme = $2, pw_factor = $3, pw_salt = $4, pw_hash = $5, \
                 body = {body} WHERE id = $1"
            ),
            args![
                user.to_string(),
                c.scheme.clone(),
                c.factor as i64,
                c.salt.clone(),
                c.hash.clone(),
                now,
            ],
            events,
        )
        .await
        .map(|_| ())
    }

    async fn delete_user(&self, scope: Scope, id: Uuid) -> StoreResult<bool> {
        self.delete_user_with_events(scope, id, &[]).await
    }

    async fn delete_user_with_events(
        &self,
        scope: Scope,
        id: Uuid,
        events: &[Event],
    ) -> StoreResult<bool> {
        let (id, t) = (Some(id.to_string()), scope_param(scope));
        let mut tx = self.db.begin().await?;
        let n = tx
            .write(
                &format!("DELETE FROM users WHERE id = $1 AND {SCOPED}"),
                args![id.clone(), t],
            )
            .await?;
        if n > 0 {
            for sql in [
                "DELETE FROM registrations WHERE user_id = $1",
                "DELETE FROM group_members WHERE user_id = $1",
            ] {
                tx.write(sql, args![id.clone()]).await?;
            }
            bulk::insert_events(self.dialect, &mut tx, events).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_registration(
        &self,
        tenant: Uuid,
        user: Uuid,
        r: &Registration,
    ) -> StoreResult<()> {
        self.insert_registration_with_events(tenant, user, r, &[])
            .await
    }

    async fn insert_registration_with_events(
        &self,
        tenant: Uuid,
        user: Uuid,
        r: &Registration,
        events: &[Event],
    ) -> StoreResult<()> {
        self.exec_with_events(
            "INSERT INTO registrations (id, tenant_id, user_id, application_id, body) VALUES ($1, $2, $3, $4, $5)",
            args![
                Some(id_of(r.id)),
                Some(tenant.to_string()),
                Some(user.to_string()),
                Some(id_of(r.application_id)),
                Some(json(r)),
            ],
            events,
        )
        .await
        .map(|_| ())
    }

    async fn update_registration(&self, user: Uuid, r: &Registration) -> StoreResult<()> {
        self.update_registration_with_events(user, r, &[]).await
    }

    async fn update_registration_with_events(
        &self,
        user: Uuid,
        r: &Registration,
        events: &[Event],
    ) -> StoreResult<()> {
        self.exec_with_events(
            "UPDATE registrations SET body = $3 WHERE user_id = $1 AND application_id = $2",
            args![
                Some(user.to_string()),
                Some(id_of(r.application_id)),
                Some(json(r)),
            ],
            events,
        )
        .await
        .map(|_| ())
    }

    async fn delete_registration(
        &self,
        scope: Scope,
        user: Uuid,
        application: Uuid,
    ) -> StoreResult<bool> {
        self.delete_registration_with_events(scope, user, application, &[])
            .await
    }

    async fn delete_registration_with_events(
        &self,
        scope: Scope,
        user: Uuid,
        application: Uuid,
        events: &[Event],
    ) -> StoreResult<bool> {
        Ok(self
            .exec_with_events(
                "DELETE FROM registrations WHERE user_id = $1 AND ($2 IS NULL OR tenant_id = $2) AND application_id = $3",
                args![Some(user.to_string()), scope_param(scope), Some(application.to_string())],
                events,
            )
            .await?
            > 0)
    }

    fn import_slice(&self) -> usize {
        bulk::import_slice(self.dialect)
    }

    async fn begin_import(&self) -> StoreResult<Box<dyn portcullis_domain::ImportWriter>> {
        SqlStore::begin_import(self).await
    }

    async fn find_users(
        &self,
        tenant: Uuid,
        ids: &[Uuid],
        emails: &[String],
        usernames: &[String],
    ) -> StoreResult<Vec<StoredUser>> {
        self.find_users_in(tenant, ids, emails, usernames).await
    }

    async fn search_users(
        &self,
        query: &portcullis_domain::search::UserQuery,
    ) -> StoreResult<portcullis_domain::search::UserPage> {
        self.search_users_page(query).await
    }

    async fn delete_users(
        &self,
        tenant: Uuid,
        what: &BulkDelete,
        dry_run: bool,
        id_limit: usize,
    ) -> StoreResult<(u64, Vec<Uuid>)> {
        self.delete_users_where(tenant, what, dry_run, id_limit)
            .await
    }

    async fn append_events(&self, events: &[Event]) -> StoreResult<()> {
        self.append(events).await
    }

    async fn events(
        &self,
        tenant: Option<Uuid>,
        kind: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        self.read_events(tenant, kind, limit).await
    }

    async fn login_events(&self, user: Uuid, limit: usize) -> StoreResult<Vec<Event>> {
        self.read_login_events(user, limit).await
    }

    async fn insert_import_job(&self, job: &ImportJob, body: Option<&str>) -> StoreResult<()> {
        self.insert_job(job, body).await
    }

    async fn import_job(&self, scope: Scope, id: Uuid) -> StoreResult<Option<ImportJob>> {
        self.job(scope, id).await
    }

    async fn recent_import_jobs(&self, scope: Scope, limit: usize) -> StoreResult<Vec<ImportJob>> {
        self.recent_jobs(scope, limit).await
    }

    async fn claim_import_job(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Option<(ImportJob, Option<String>)>> {
        self.claim_job(node, now, until).await
    }

    async fn renew_import_job(&self, id: Uuid, node: &str, until: Millis) -> StoreResult<bool> {
        self.renew_job(id, node, until).await
    }

    async fn finish_import_job(&self, job: &ImportJob, node: &str) -> StoreResult<bool> {
        self.finish_job(job, node).await
    }

    async fn release_import_job(&self, id: Uuid, node: &str) -> StoreResult<bool> {
        self.release_job(id, node).await
    }

    async fn requeue_import_jobs(&self, now: Millis) -> StoreResult<u64> {
        self.requeue_jobs(now).await
    }

    async fn taken(
        &self,
        tenant: Uuid,
        ids: &[Uuid],
        emails: &[String],
        usernames: &[String],
    ) -> StoreResult<portcullis_domain::Taken> {
        let mut taken = portcullis_domain::Taken::default();
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        for row in self.users_where_in("id", None, "id", &ids).await? {
            let id: String = row.get("id")?;
            taken.ids.extend(Uuid::parse_str(&id).ok());
        }
        for (column, values, into) in [
            ("email_lower", emails, &mut taken.emails),
            ("username_lower", usernames, &mut taken.usernames),
        ] {
            for row in self
                .users_where_in(&format!("{column} AS v"), Some(tenant), column, values)
                .await?
            {
                into.insert(row.get::<String>("v")?);
            }
        }
        Ok(taken)
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        let mut stored = key.clone();
        stored.key = None;
        self.exec(
            "INSERT INTO api_keys (id, key_hash, tenant_id, body, insert_instant) VALUES ($1, $2, $3, $4, $5)",
            args![
                Some(id_of(key.id)),
                Some(key_hash.to_string()),
                key.tenant_id.map(|t| t.to_string()),
                Some(json(&stored)),
                key.insert_instant.unwrap_or(0),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        self.one(
            "SELECT body FROM api_keys WHERE id = $1",
            args![Some(id.to_string())],
        )
        .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        if let Some(k) = self.cache.api_key(key_hash) {
            return Ok(Some(k));
        }
        let generation = self.cache.generation();
        let key: Option<ApiKey> = self
            .one(
                "SELECT body FROM api_keys WHERE key_hash = $1",
                args![Some(key_hash.to_string())],
            )
            .await?;
        if let Some(k) = &key {
            self.cache.put_api_key(generation, key_hash, k.clone());
        }
        Ok(key)
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.fetch_bodies("SELECT body FROM api_keys ORDER BY insert_instant, id", &[])
            .await
    }

    async fn update_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        let mut stored = key.clone();
        stored.key = None;
        self.exec(
            "UPDATE api_keys SET tenant_id = $2, body = $3 WHERE id = $1",
            args![
                Some(id_of(key.id)),
                key.tenant_id.map(|t| t.to_string()),
                Some(json(&stored)),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let _invalidate = self.invalidates();
        Ok(self
            .exec(
                "DELETE FROM api_keys WHERE id = $1",
                args![Some(id.to_string())],
            )
            .await?
            > 0)
    }
}

/// The statement that rewrites a user's row (body, indexed columns, credential) in its tenant;
/// its arguments are [`update_user_args`].
pub(crate) const UPDATE_USER: &str =
    "UPDATE users SET email_lower = $2, username_lower = $3, body = $4, pw_scheme = $5, \
     pw_factor = $6, pw_salt = $7, pw_hash = $8 WHERE id = $1 AND tenant_id = $9";

pub(crate) fn update_user_args(su: &StoredUser) -> Vec<Arg> {
    let mut args = vec![Arg::from(id_of(su.user.id))];
    args.extend(user_row_args(su));
    args.push(Arg::from(id_of(su.user.tenant_id)));
    args
}

/// A user's columns from `email_lower` to `pw_hash`, in the table's order.
fn user_row_args(su: &StoredUser) -> [Arg; 7] {
    let (u, c) = (&su.user, su.credential.as_ref());
    [
        Arg::from(normalized(&u.email)),
        Arg::from(normalized(&u.username)),
        Arg::from(user_body(u)),
        Arg::from(c.map(|c| c.scheme.clone())),
        Arg::OptInt(c.map(|c| c.factor as i64)),
        Arg::from(c.map(|c| c.salt.clone())),
        Arg::from(c.map(|c| c.hash.clone())),
    ]
}

/// A user's row for `INSERT INTO users (id, tenant_id, email_lower, username_lower, body,
/// pw_scheme, pw_factor, pw_salt, pw_hash, insert_instant)`.
pub(crate) fn insert_user_args(su: &StoredUser) -> Vec<Arg> {
    let u = &su.user;
    let mut args = vec![Arg::from(id_of(u.id)), Arg::from(id_of(u.tenant_id))];
    args.extend(user_row_args(su));
    args.push(Arg::from(u.insert_instant.unwrap_or(0)));
    args
}

/// An event's insert as a part for [`SqlStore::batch`].
pub(crate) fn event_part(e: &portcullis_domain::Event) -> (String, Vec<Arg>) {
    (
        "INSERT INTO events (id, tenant_id, type, create_instant, body, login_user_id) \
         VALUES ($1, $2, $3, $4, $5, $6)"
            .into(),
        vec![
            e.id.to_string().into(),
            e.tenant_id.map(|t| t.to_string()).into(),
            e.kind.clone().into(),
            e.create_instant.into(),
            e.body.to_string().into(),
            e.login_user().map(|u| u.to_string()).into(),
        ],
    )
}

/// A user's inserts (row, registrations, memberships) as parts for [`SqlStore::batch`].
pub(crate) fn insert_user_parts(su: &StoredUser) -> Vec<(String, Vec<Arg>)> {
    let u = &su.user;
    let (tenant, id) = (id_of(u.tenant_id), id_of(u.id));
    let mut parts = vec![(
        "INSERT INTO users (id, tenant_id, email_lower, username_lower, body, pw_scheme, \
         pw_factor, pw_salt, pw_hash, insert_instant) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            .to_string(),
        insert_user_args(su),
    )];
    for r in &u.registrations {
        parts.push((
            "INSERT INTO registrations (id, tenant_id, user_id, application_id, body) \
             VALUES ($1, $2, $3, $4, $5)"
                .into(),
            vec![
                Arg::from(id_of(r.id)),
                Arg::from(tenant.clone()),
                Arg::from(id.clone()),
                Arg::from(id_of(r.application_id)),
                Arg::from(json(r)),
            ],
        ));
    }
    for m in &u.memberships {
        parts.push((
            "INSERT INTO group_members (id, tenant_id, group_id, user_id, body) \
             VALUES ($1, $2, $3, $4, $5)"
                .into(),
            vec![
                Arg::from(id_of(m.id)),
                Arg::from(tenant.clone()),
                Arg::from(id_of(m.group_id)),
                Arg::from(id.clone()),
                Arg::from(json(m)),
            ],
        ));
    }
    parts
}

/// Inserts a user with their registrations and memberships inside `tx`.
pub(crate) async fn insert_user_tx(tx: &mut Tx, su: &StoredUser) -> StoreResult<()> {
    for (sql, args) in insert_user_parts(su) {
        tx.write_owned(&sql, args).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_parts_number_their_parameters_after_the_earlier_ones() {
        assert_eq!(
            super::renumber("UPDATE t SET b = json_set(b, '$.x', $1) WHERE id = $2", 3),
            "UPDATE t SET b = json_set(b, '$.x', $4) WHERE id = $5"
        );
        assert_eq!(super::renumber("$10 $9", 0), "$10 $9");
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://portcullis.db"), "sqlite://portcullis.db");
    }

    #[test]
    fn constraint_messages_name_the_field() {
        assert_eq!(
            duplicate_field("UNIQUE constraint failed: users.tenant_id, users.email_lower "),
            "user.email"
        );
        assert_eq!(duplicate_field("duplicate key value violates unique constraint \"users_username_uq\" users_username_uq"), "user.username");
        assert_eq!(duplicate_field("x users_pkey"), "user.id");
        assert_eq!(
            duplicate_field(
                "UNIQUE constraint failed: registrations.user_id, registrations.application_id"
            ),
            "registration.applicationId"
        );
        assert_eq!(duplicate_field("api_keys_key_hash_uq"), "apiKey.key");
    }
}
