//! SQLite through `rusqlite`, on the calling thread.
//!
//! sqlx runs every SQLite connection on a thread of its own and sends each statement there and
//! each row back: two thread switches per statement, which were most of a login's CPU beside the
//! hash (`docs/login.md`). A point read or a small write takes SQLite itself a few microseconds,
//! so here the calling task runs it directly:
//!
//! - **Reads** run on the writer connection, in its queue (its page cache is the warm one; a
//!   statement takes microseconds), except while a long transaction holds or awaits it: then on a
//!   connection from a small idle list (opened when the list is empty; WAL lets them read side
//!   by side with the writer).
//! - **Writes and transactions** hold the one writer connection behind an async mutex, so this
//!   process's writers queue in order without blocking a thread while they wait, and never meet
//!   SQLite's busy handler (which sleeps) among themselves.
//! - **Long statements** (bulk inserts, tenant and bulk deletes) run under
//!   `tokio::task::block_in_place` on a multi-threaded runtime, so the runtime moves its other
//!   tasks off the thread meanwhile.
//!
//! `:memory:` has one connection for everything (an in-memory database exists once per
//! connection): reads queue on the writer's mutex too.
//!
//! Statements use `$n` parameters (SQLite reads `$1` as a parameter named "$1") or anonymous
//! `?`; [`bind`] maps each to its argument by name, in constant time per parameter.

use crate::{backend, duplicate_field, Arg};
use portcullis_domain::{StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Idle reading connections kept open; more are opened when more tasks read at once.
const IDLE_READERS: usize = 4;

/// Prepared statements kept per connection (rusqlite's default is 16; a login alone uses 6).
const STATEMENT_CACHE: usize = 256;

/// Per connection: WAL, no fsync per commit (the WAL is synced at checkpoints), foreign keys,
/// waiting up to 10 s for another process's write, and a 32 MiB page cache (UUID keys land all
/// over the indexes; with SQLite's default 2 MiB a bulk load copies pages back in from the OS).
/// No mmap: every connection remaps the growing file, and the TLB shootdowns of those munmaps
/// cost more than the copies they save.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                       PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                       PRAGMA cache_size = -32768;";

pub(crate) struct Lite {
    /// The file, or `None` for `:memory:`.
    path: Option<PathBuf>,
    flags: OpenFlags,
    readers: Mutex<Vec<Connection>>,
    writer: Arc<AsyncMutex<Connection>>,
    /// Set by [`close`](Lite::close): every later statement fails, as on a closed pool.
    closed: AtomicBool,
    /// Long transactions (bulk loads and deletes) holding or awaiting the writer: while there
    /// are any, reads go to the readers instead of queueing behind them.
    long_held: Arc<AtomicUsize>,
}

/// A row as SQLite returned it.
pub(crate) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    pub(crate) fn value(&self, column: &str) -> StoreResult<&Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
            .ok_or_else(|| backend(format!("no column [{column}] in the row")))
    }
}

/// A constraint violation in the domain's words, as `db_err` does for PostgreSQL.
pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let msg = msg.as_deref().unwrap_or("");
        match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::Duplicate(duplicate_field(msg));
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::MissingReference,
            _ => {}
        }
    }
    backend(e)
}

impl Lite {
    /// Opens `sqlite://FILE` (or `sqlite:FILE`, with `?mode=ro|rw|rwc|memory`), or `:memory:`.
    pub(crate) fn open(url: &str) -> StoreResult<Lite> {
        let rest = url.strip_prefix("sqlite:").unwrap_or(url);
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mode = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("mode="))
            .unwrap_or("rwc");
        let memory = file == ":memory:" || file.is_empty() || mode == "memory";
        let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let flags = match mode {
            "ro" => base | OpenFlags::SQLITE_OPEN_READ_ONLY,
            "rw" => base | OpenFlags::SQLITE_OPEN_READ_WRITE,
            _ => base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        };
        let path = (!memory).then(|| PathBuf::from(file));
        let writer = connect(&path, flags)
            .map_err(|e| backend(format!("cannot open the database [{url}]: {e}")))?;
        Ok(Lite {
            path,
            flags,
            readers: Mutex::new(Vec::new()),
            writer: Arc::new(AsyncMutex::new(writer)),
            closed: AtomicBool::new(false),
            long_held: Arc::default(),
        })
    }

    /// Runs `f` for a read: on the writer's connection in its turn (always for `:memory:`), or
    /// on a reading connection while a long transaction holds or awaits the writer. So a task
    /// holding a transaction must read through it, never through this.
    pub(crate) async fn with_reader<R>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R>,
    ) -> StoreResult<R> {
        if self.path.is_none() {
            return f(&*self.writer().await?);
        }
        self.open_or_fail()?;
        // The writer, unless a long transaction holds it: its page cache is the warm one. A
        // reading connection drops its whole cache whenever it sees that another connection
        // has committed, and reads the pages back from the OS (bench login: `pread` and
        // `pcache1Truncate`); a statement is microseconds, so waiting for the writer's turn
        // costs less.
        if self.long_held.load(Ordering::Relaxed) == 0 {
            return f(&*self.writer().await?);
        }
        let idle = self.readers.lock().expect("reader list").pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path, self.flags)?,
        };
        let out = f(&conn);
        let mut idle = self.readers.lock().expect("reader list");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    fn open_or_fail(&self) -> StoreResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(backend("the database is closed"));
        }
        Ok(())
    }

    /// The writer connection, once this task's turn comes.
    pub(crate) async fn writer(&self) -> StoreResult<OwnedMutexGuard<Connection>> {
        self.open_or_fail()?;
        Ok(self.writer.clone().lock_owned().await)
    }

    pub(crate) async fn read(&self, sql: &str, args: &[Arg]) -> StoreResult<Vec<LiteRow>> {
        self.with_reader(|c| query(c, sql, args)).await
    }

    pub(crate) async fn write(&self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        execute(&*self.writer().await?, sql, args)
    }

    /// Opens a transaction on the writer (`BEGIN IMMEDIATE`: it takes the write lock at once,
    /// so another process cannot make it fail half-way on upgrading a read lock).
    pub(crate) async fn begin(&self, long: bool) -> StoreResult<LiteTx> {
        // Counted before waiting, so reads that come meanwhile do not queue behind it.
        let long = long.then(|| LongHeld::new(&self.long_held));
        let conn = self.writer().await?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(lite_err)?;
        Ok(LiteTx {
            conn,
            open: true,
            long,
        })
    }

    /// Refuses every later statement and closes the idle readers (the writer closes when the
    /// last clone of the store is dropped).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.readers.lock().expect("reader list").clear();
    }
}

fn connect(path: &Option<PathBuf>, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = match path {
        Some(p) => Connection::open_with_flags(p, flags),
        None => Connection::open_in_memory(),
    }
    .map_err(lite_err)?;
    conn.execute_batch(PRAGMAS).map_err(lite_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A transaction on the writer: rolled back when dropped uncommitted.
pub(crate) struct LiteTx {
    conn: OwnedMutexGuard<Connection>,
    open: bool,
    /// Its statements may take long: run them where the runtime can move other tasks away.
    long: Option<LongHeld>,
}

/// One long transaction counted in [`Lite::long_held`] for as long as this lives.
struct LongHeld(Arc<AtomicUsize>);

impl LongHeld {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        LongHeld(count.clone())
    }
}

impl Drop for LongHeld {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiteTx {
    fn run<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let conn = &*self.conn;
        if self.long.is_some() && multi_threaded() {
            tokio::task::block_in_place(|| f(conn))
        } else {
            f(conn)
        }
    }

    pub(crate) fn read(&self, sql: &str, args: &[Arg]) -> StoreResult<Vec<LiteRow>> {
        self.run(|c| query(c, sql, args))
    }

    pub(crate) fn write(&self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        self.run(|c| execute(c, sql, args))
    }

    pub(crate) fn commit(mut self) -> StoreResult<()> {
        self.run(|c| c.execute_batch("COMMIT")).map_err(lite_err)?;
        self.open = false;
        Ok(())
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a SQLite transaction failed");
            }
        }
    }
}

fn multi_threaded() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Binds `args` to `stmt`: `$n` to the n-th argument, an anonymous `?` to the argument at its
/// position.
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> StoreResult<()> {
    for i in 1..=stmt.parameter_count() {
        let k = match stmt.parameter_name(i) {
            None => i,
            Some(name) => name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| backend(format!("unsupported SQL parameter [{name}]")))?,
        };
        let arg = args
            .get(k.wrapping_sub(1))
            .ok_or_else(|| backend(format!("no argument for SQL parameter {k}")))?;
        match arg {
            Arg::Text(t) => stmt.raw_bind_parameter(i, t.as_deref()),
            Arg::Int(n) => stmt.raw_bind_parameter(i, n),
            Arg::OptInt(n) => stmt.raw_bind_parameter(i, n),
        }
        .map_err(lite_err)?;
    }
    Ok(())
}

pub(crate) fn query(conn: &Connection, sql: &str, args: &[Arg]) -> StoreResult<Vec<LiteRow>> {
    let mut stmt = conn.prepare_cached(sql).map_err(lite_err)?;
    bind(&mut stmt, args)?;
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(lite_err)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(Value::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(lite_err)?;
        out.push(LiteRow {
            columns: columns.clone(),
            values,
        });
    }
    Ok(out)
}

pub(crate) fn execute(conn: &Connection, sql: &str, args: &[Arg]) -> StoreResult<u64> {
    let mut stmt = conn.prepare_cached(sql).map_err(lite_err)?;
    bind(&mut stmt, args)?;
    Ok(stmt.raw_execute().map_err(lite_err)? as u64)
}

/// Applies the pending migrations of `migrator`, recording them as sqlx does (same table,
/// same checksums), so a database sqlx migrated before goes on from where it stopped.
pub(crate) async fn migrate(lite: &Lite, migrator: &sqlx::migrate::Migrator) -> StoreResult<()> {
    let conn = lite.writer().await?;
    let fail = |e: rusqlite::Error| backend(format!("schema migration failed: {e}"));
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations ( \
           version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
           installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
           success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .map_err(fail)?;
    let applied: Vec<(i64, bool, Vec<u8>)> = conn
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(fail)?;
    for m in migrator.iter() {
        if let Some((_, ok, sum)) = applied.iter().find(|(v, ..)| *v == m.version) {
            if !ok {
                return Err(backend(format!(
                    "schema migration failed: migration {} was left partly applied",
                    m.version
                )));
            }
            if sum.as_slice() != &*m.checksum {
                return Err(backend(format!(
                    "schema migration failed: migration {} was applied but has since changed",
                    m.version
                )));
            }
            continue;
        }
        let t0 = std::time::Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        let done = conn.execute_batch(&m.sql).and_then(|_| {
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
                rusqlite::params![
                    m.version,
                    &*m.description,
                    &*m.checksum,
                    t0.elapsed().as_nanos() as i64
                ],
            )
        });
        match done {
            Ok(_) => conn.execute_batch("COMMIT").map_err(fail)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(fail(e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Lite {
        let lite = Lite::open("sqlite::memory:").expect("opens");
        assert!(lite.path.is_none());
        lite
    }

    #[tokio::test]
    async fn numbered_parameters_bind_by_number_whatever_their_order_in_the_text() {
        let lite = memory();
        lite.write("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)", &[])
            .await
            .unwrap();
        // `$3` appears first, `$1` twice: SQLite numbers them by first appearance.
        lite.write(
            "INSERT INTO t (c, a, b) VALUES ($3, $1 || $1, $2)",
            args![Some("x".to_string()), 7, None::<String>],
        )
        .await
        .unwrap();
        let rows = lite.read("SELECT a, b, c FROM t", &[]).await.unwrap();
        assert_eq!(rows[0].value("a").unwrap(), &Value::Text("xx".into()));
        assert_eq!(rows[0].value("b").unwrap(), &Value::Integer(7));
        assert_eq!(rows[0].value("c").unwrap(), &Value::Null);
        let err = lite.read("SELECT $2 AS v", args![1]).await.err().unwrap();
        assert!(err.to_string().contains("no argument"), "{err}");
    }

    #[tokio::test]
    async fn a_transaction_dropped_uncommitted_leaves_nothing_and_frees_the_writer() {
        let lite = memory();
        lite.write("CREATE TABLE t (a INTEGER PRIMARY KEY)", &[])
            .await
            .unwrap();
        {
            let tx = lite.begin(false).await.unwrap();
            tx.write("INSERT INTO t (a) VALUES (1)", &[]).unwrap();
            // A duplicate: the constraint error in the domain's words.
            let dup = tx.write("INSERT INTO t (a) VALUES (1)", &[]).err().unwrap();
            assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
        }
        let tx = lite.begin(false).await.unwrap();
        assert!(tx.read("SELECT a FROM t", &[]).unwrap().is_empty());
        tx.write("INSERT INTO t (a) VALUES (2)", &[]).unwrap();
        tx.commit().unwrap();
        assert_eq!(lite.read("SELECT a FROM t", &[]).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn reads_do_not_queue_behind_a_long_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(&format!("sqlite://{}", dir.path().join("x.db").display())).unwrap();
        lite.write("CREATE TABLE t (a INTEGER)", &[]).await.unwrap();
        lite.write("INSERT INTO t (a) VALUES (1)", &[])
            .await
            .unwrap();
        let tx = lite.begin(true).await.unwrap();
        tx.write("INSERT INTO t (a) VALUES (2)", &[]).unwrap();
        // On the writer's queue this read would wait for the transaction, here for ever.
        let count = || async {
            let rows = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                lite.read("SELECT COUNT(*) AS n FROM t", &[]),
            )
            .await
            .expect("the read did not wait for the transaction")
            .unwrap();
            rows[0].value("n").unwrap().clone()
        };
        assert_eq!(
            count().await,
            Value::Integer(1),
            "uncommitted rows are not seen"
        );
        tx.commit().unwrap();
        assert_eq!(count().await, Value::Integer(2));
    }

    #[tokio::test]
    async fn readers_of_a_file_see_what_the_writer_committed() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(&format!("sqlite://{}", dir.path().join("x.db").display())).unwrap();
        lite.write("CREATE TABLE t (a INTEGER)", &[]).await.unwrap();
        for i in 0..3 {
            lite.write("INSERT INTO t (a) VALUES ($1)", args![i])
                .await
                .unwrap();
            let n = lite.read("SELECT COUNT(*) AS n FROM t", &[]).await.unwrap();
            assert_eq!(n[0].value("n").unwrap(), &Value::Integer(i + 1));
        }
        let ro = Lite::open(&format!(
            "sqlite://{}?mode=ro",
            dir.path().join("x.db").display()
        ))
        .unwrap();
        assert!(ro.write("INSERT INTO t (a) VALUES (9)", &[]).await.is_err());
    }
}
