//! SQLite through `rusqlite`, on the calling thread.
//!
//! sqlx runs every SQLite connection on a thread of its own and sends each statement there and
//! each row back: two thread switches per statement, which cost more of a login's CPU than
//! anything but the hash (`docs/benchmarks.md`). A point read or a small write takes SQLite itself a few microseconds,
//! so here the calling task runs it directly:
//!
//! - **Reads** run on the writer connection when it is free (its page cache is the warm one; a
//!   statement takes microseconds). When another task holds it, or a long transaction holds or
//!   awaits it, they run at once on a connection from a small idle list (opened when the list
//!   is empty; WAL lets them read side by side with the writer) rather than wait their turn.
//! - **Writes and transactions** hold the one writer connection behind an async mutex, so this
//!   process's writers queue in order without blocking a thread while they wait, and never meet
//!   SQLite's busy handler (which sleeps) among themselves.
//! - **Small writes commit in groups** ([`Lite::submit`]): a write of a few statements (a login's
//!   last-login instant, event and refresh token; a refresh grant; a login's attempt count or
//!   a webhook claim, whose `RETURNING` rows go back to their caller) is queued, and a task of
//!   its own ([`commit_while_queued`]) runs every queued write in one transaction and commits
//!   once, again and again while writes come. Each caller still gets its answer only after that
//!   commit; a write that fails rolls the group back, and each of its writes runs again alone,
//!   so that it fails alone. Concurrent logins so share one commit, and the pages they all
//!   touch (the tail of `events`, of `refresh_tokens`) go to the WAL once.
//! - **Checkpoints run on a thread of their own** ([`Checkpointer`]): every
//!   [`CHECKPOINT_EVERY`] a thread copies what was committed meanwhile into the database file (a
//!   passive checkpoint, which never blocks the writer), so a commit only appends to the WAL. A
//!   page written by many commits in that time is copied once, and no request waits for the copy
//!   and its `fsync`. But a WAL goes back to its start only after a checkpoint that caught up with
//!   the last commit, which one running beside a busy writer never does. So when the thread finds
//!   the WAL longer than [`CATCH_UP_FRAMES`], the writer's next commit checkpoints the little the
//!   thread has not copied, with no write in between, and the WAL starts over; and should the
//!   thread fall far behind, the writer checkpoints by itself at 65,536 frames
//!   (`wal_autocheckpoint`). (Without either, a million-user delete grew the WAL to 5 GB and
//!   SQLite spent a third of its time finding pages in it.) A long transaction's commit instead
//!   starts the thread's round at once and catches up itself only past
//!   [`CATCH_UP_FRAMES_LONG`]: the thousands of pages a bulk load leaves are copied while the
//!   next load is parsed, not while it waits for the writer. It also reads the WAL file's size,
//!   so that a thread whose rounds fall behind a run of loads (its count then stale) cannot
//!   keep the WAL from starting over.
//! - **Long statements** (bulk inserts, tenant and bulk deletes) run under
//!   `tokio::task::block_in_place` on a multi-threaded runtime, so the runtime moves its other
//!   tasks off the thread meanwhile.
//!
//! `:memory:` has one connection for everything (an in-memory database exists once per
//! connection): reads queue on the writer's mutex too.
//!
//! Statements use `$n` parameters (SQLite reads `$1` as a parameter named "$1") or anonymous
//! `?`; [`bind`] maps each to its argument by name, in constant time per parameter.

use crate::db::Fields;
use crate::{backend, duplicate_field, Arg};
use portcullis_domain::{StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;
use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

/// Idle reading connections kept open, at least; more are opened when more tasks read at once.
const IDLE_READERS: usize = 4;

/// Idle reading connections kept open: one per core as well. A read runs on its calling thread
/// without yielding, so no more connections read at once than threads run the runtime's
/// tasks (one per core); keeping that many means a busy writer does not make every read open
/// and close a connection of its own.
fn idle_readers() -> usize {
    std::thread::available_parallelism().map_or(IDLE_READERS, |n| n.get().max(IDLE_READERS))
}

/// Prepared statements kept per connection (rusqlite's default is 16; a login alone uses 6).
const STATEMENT_CACHE: usize = 256;

/// Per connection: WAL, no fsync per commit (the WAL is synced at checkpoints), foreign keys,
/// waiting up to 10 s for another process's write, and a 32 MiB page cache (UUID keys land all
/// over the indexes; with SQLite's default 2 MiB a bulk load copies pages back in from the OS).
/// The writer's own checkpoint only as a last resort, at 65,536 WAL frames (256 MiB; the
/// checkpointer thread normally keeps it far shorter), so that an import's commit does not
/// wait for its pages to be copied; a WAL file that a large transaction grew is cut back to 64
/// MiB when it starts over. No mmap: every connection remaps the growing file, and the TLB
/// shootdowns of those munmaps cost more than the copies they save.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                       PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                       PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 65536; \
                       PRAGMA journal_size_limit = 67108864;";

/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL frames (pages of 4 KiB, so 16 MiB) beyond which the writer finishes the checkpoint after
/// its next commit, so that the WAL starts over.
const CATCH_UP_FRAMES: i64 = 4096;

/// The same after a long transaction (128 MiB): its commit leaves thousands of pages in the WAL,
/// and the next bulk load waits while the writer copies them, so it lets the checkpointer
/// copy them and only every few loads catches up itself.
const CATCH_UP_FRAMES_LONG: i64 = 32_768;

pub(crate) struct Lite {
    /// The file, or `None` for `:memory:`.
    path: Option<PathBuf>,
    flags: OpenFlags,
    readers: Mutex<Vec<Connection>>,
    /// How many of `readers` are kept ([`idle_readers`]).
    idle_readers: usize,
    writer: Arc<AsyncMutex<Connection>>,
    /// Set by [`close`](Lite::close): every later statement fails, as on a closed pool.
    closed: AtomicBool,
    /// Long transactions (bulk loads and deletes) holding or awaiting the writer: while there
    /// are any, reads go to the readers instead of queueing behind them.
    long_held: Arc<AtomicUsize>,
    /// Small writes waiting for [`commit_while_queued`] to commit them together.
    queue: Arc<Mutex<Queue>>,
    /// The checkpointing thread of a writable file (none for `:memory:` and `mode=ro`).
    checkpointer: Option<Checkpointer>,
    /// What the checkpointer and the writer share about the WAL.
    wal: Arc<Wal>,
}

/// One statement of a submitted write.
pub(crate) struct Step {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
    /// A statement that changes no row ends its write there: the statements before it stay,
    /// the ones after it do not run (a refresh token is replaced only if it was still unused).
    pub(crate) stop_unless_changed: bool,
    /// Its rows (`RETURNING`) go back to the caller.
    pub(crate) returning: bool,
}

impl Step {
    pub(crate) fn new(sql: impl Into<String>, args: Vec<Arg>) -> Step {
        Step {
            sql: sql.into(),
            args,
            stop_unless_changed: false,
            returning: false,
        }
    }
}

/// What a submitted write did: the rows each statement that ran changed (or returned), and the
/// rows its `RETURNING` statements returned.
#[derive(Default)]
pub(crate) struct Written {
    pub(crate) changed: Vec<u64>,
    pub(crate) rows: Vec<LiteRow>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    writes: Vec<Queued>,
    /// A [`commit_while_queued`] task runs (and takes every write queued before it ends).
    active: bool,
}

/// A write waiting in the queue, and where its answer goes.
struct Queued {
    id: u64,
    work: Work,
    done: oneshot::Sender<StoreResult<Written>>,
}

/// What a queued write runs inside the group's transaction.
pub(crate) enum Work {
    /// Statements in order ([`run_steps`]).
    Steps(Vec<Step>),
    /// A function of the writer's connection, for a write whose later statements depend on
    /// what its earlier ones read. It may run twice (alone, after its group failed), each time
    /// in a transaction rolled back on failure, so it reads what it needs every time.
    Call(Box<WriteFn>),
}

/// The function of a [`Work::Call`].
type WriteFn = dyn Fn(&Connection) -> StoreResult<Written> + Send + Sync;

impl Work {
    fn run(&self, conn: &Connection) -> StoreResult<Written> {
        match self {
            Work::Steps(steps) => run_steps(conn, steps),
            Work::Call(f) => f(conn),
        }
    }
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
        let page_size: u64 = writer
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| backend(format!("cannot read the page size [{url}]: {e}")))?;
        let wal = Arc::new(Wal {
            page_size,
            file: path.as_ref().map(|p| {
                let mut f = p.clone().into_os_string();
                f.push("-wal");
                PathBuf::from(f)
            }),
            ..Wal::default()
        });
        let checkpointer = match &path {
            Some(p) if mode != "ro" => Some(Checkpointer::start(p.clone(), flags, wal.clone())),
            _ => None,
        };
        let writer = Arc::new(AsyncMutex::new(writer));
        let queue = Arc::default();
        Ok(Lite {
            path,
            flags,
            readers: Mutex::new(Vec::new()),
            idle_readers: idle_readers(),
            writer,
            closed: AtomicBool::new(false),
            long_held: Arc::default(),
            queue,
            checkpointer,
            wal,
        })
    }

    /// Runs `f` for a read: on the writer's connection when it is free (always, in its turn,
    /// for `:memory:`), otherwise on a reading connection. So a task holding a transaction must
    /// read through it, never through this.
    pub(crate) async fn with_reader<R>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R>,
    ) -> StoreResult<R> {
        if self.path.is_none() {
            return f(&*self.writer().await?);
        }
        self.open_or_fail()?;
        // The writer when it is free: its page cache is the warm one. A reading connection
        // drops its whole cache whenever it sees that another connection has committed, and
        // reads the pages back from the OS (bench login: about 10% more CPU per login). But
        // waiting for the writer's turn behind a group commit means a hand-off from task to
        // task for every read, and concurrent refresh grants then leave a core idle: reading
        // beside it gave about 30% more grants/s (`docs/benchmarks.md`).
        if self.long_held.load(Ordering::Relaxed) == 0 {
            if let Ok(conn) = self.writer.try_lock() {
                return f(&conn);
            }
        }
        let idle = self.readers.lock().expect("reader list").pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path, self.flags)?,
        };
        let out = f(&conn);
        let mut idle = self.readers.lock().expect("reader list");
        if idle.len() < self.idle_readers {
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
        let changed = self.submit(vec![Step::new(sql, args.to_vec())]).await?;
        Ok(changed.first().copied().unwrap_or(0))
    }

    /// Runs `steps` in order as one atomic write, committed together with whatever other
    /// writes are queued when the writer comes free; answers once that commit is done, with the
    /// rows each statement that ran changed. A future dropped before its write ran takes the
    /// write out of the queue.
    pub(crate) async fn submit(&self, steps: Vec<Step>) -> StoreResult<Vec<u64>> {
        self.submit_written(Work::Steps(steps))
            .await
            .map(|w| w.changed)
    }

    /// Runs `f` on the writer as one atomic write in the group commit, as
    /// [`submit`](Lite::submit): for a read and the write it decides, on the writer's warm page
    /// cache and in one hand-off.
    pub(crate) async fn submit_call(
        &self,
        f: impl Fn(&Connection) -> StoreResult<Written> + Send + Sync + 'static,
    ) -> StoreResult<Written> {
        self.submit_written(Work::Call(Box::new(f))).await
    }

    /// One statement with `RETURNING`, in the group commit as [`submit`](Lite::submit): its
    /// rows, once they are committed.
    pub(crate) async fn submit_returning(
        &self,
        sql: &str,
        args: &[Arg],
    ) -> StoreResult<Vec<LiteRow>> {
        let mut step = Step::new(sql, args.to_vec());
        step.returning = true;
        self.submit_written(Work::Steps(vec![step]))
            .await
            .map(|w| w.rows)
    }

    async fn submit_written(&self, work: Work) -> StoreResult<Written> {
        self.open_or_fail()?;
        let (done, answer) = oneshot::channel();
        let (id, wake) = {
            let mut q = self.queue.lock().expect("write queue");
            q.next_id += 1;
            let id = q.next_id;
            q.writes.push(Queued { id, work, done });
            (id, !std::mem::replace(&mut q.active, true))
        };
        if wake {
            tokio::spawn(commit_while_queued(
                self.writer.clone(),
                self.queue.clone(),
                self.wal.clone(),
            ));
        }
        let _unqueue = Unqueue { lite: self, id };
        answer
            .await
            .unwrap_or_else(|_| Err(backend("the write was dropped")))
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
            wal: self.wal.clone(),
            checkpointer: self.checkpointer.as_ref().map(|c| c.signal.clone()),
        })
    }

    /// Refuses every later statement and closes the idle readers (the writer closes when the
    /// last clone of the store is dropped).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.readers.lock().expect("reader list").clear();
        if let Some(c) = &self.checkpointer {
            c.stop();
        }
    }
}

/// The thread that checkpoints a database file's WAL (see the module doc), stopped and joined
/// when the store closes or is dropped.
struct Checkpointer {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    fn start(path: PathBuf, flags: OpenFlags, wal: Arc<Wal>) -> Checkpointer {
        let signal = Arc::new((Mutex::new(Signal::default()), Condvar::new()));
        let signalled = signal.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_until_stopped(&path, flags, &signalled, &wal))
            .map_err(|e| tracing::error!(error = %e, "cannot start the SQLite checkpointer"))
            .ok();
        Checkpointer {
            signal,
            thread: Mutex::new(thread),
        }
    }

    /// Asks the thread to end and waits for it (at most one checkpoint in progress).
    fn stop(&self) {
        let (signal, wake) = &*self.signal;
        signal.lock().expect("checkpointer flag").stopped = true;
        wake.notify_all();
        if let Some(t) = self.thread.lock().expect("checkpointer thread").take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Commits the queued small writes ([`Lite::submit`]) in groups while any are queued: a task
/// of its own, started by the write that finds none running. After each group it yields, so
/// that the tasks the group answered run before it takes the next: they queue their next
/// writes meanwhile, and the next group holds them all.
///
/// Not whichever submitting task takes the writer first: then every submitter waits for the
/// writer's mutex beside its answer, and once a group has answered them the mutex passes from
/// one to the next as each is polled again, a wake-up each before the writes queued meanwhile
/// get their turn. Here one task waits for the writer. Nor a thread that commits each write as
/// soon as it comes: it commits groups of one or two where this gathers seven, and much of a
/// commit's cost is the same whatever its size (`docs/benchmarks.md`).
async fn commit_while_queued(
    writer: Arc<AsyncMutex<Connection>>,
    queue: Arc<Mutex<Queue>>,
    wal: Arc<Wal>,
) {
    let mut running = Running {
        queue: &queue,
        ended: false,
    };
    loop {
        let conn = writer.lock().await;
        let group = {
            let mut q = queue.lock().expect("write queue");
            if q.writes.is_empty() {
                q.active = false;
                running.ended = true;
                return;
            }
            std::mem::take(&mut q.writes)
        };
        commit_group(&conn, group);
        catch_up(&conn, &wal, CATCH_UP_FRAMES, false);
        drop(conn);
        tokio::task::yield_now().await;
    }
}

/// A [`commit_while_queued`] task's place: if the task is dropped before it ends (its runtime
/// shuts down), the next write starts another.
struct Running<'a> {
    queue: &'a Mutex<Queue>,
    ended: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.ended {
            if let Ok(mut q) = self.queue.lock() {
                q.active = false;
            }
        }
    }
}

/// What the checkpointer thread and the writer share about the WAL.
#[derive(Default)]
struct Wal {
    /// Its frames as the checkpointer last found them; 0 once the writer caught up.
    frames: AtomicI64,
    /// The WAL file (`None` for `:memory:`), whose size a long transaction's commit reads.
    file: Option<PathBuf>,
    /// The database's page size: the WAL holds a page per frame.
    page_size: u64,
    /// Held by whichever of them checkpoints: SQLite runs one checkpoint at a time and tells
    /// another that it is busy, so a writer that must catch up waits here for the thread's round
    /// to end instead.
    copying: Mutex<()>,
}

impl Wal {
    /// The frames the WAL file has room for: at least those it holds since it last started
    /// over, once it is longer than it is cut back to then. 0 when it cannot be read.
    fn frames_on_file(&self) -> i64 {
        let bytes = self
            .file
            .as_ref()
            .and_then(|f| std::fs::metadata(f).ok())
            .map_or(0, |m| m.len());
        // A 32-byte header, then frames of a 24-byte header and a page.
        (bytes.saturating_sub(32) / (24 + self.page_size)) as i64
    }
}

/// After a commit on the writer: when the checkpointer found the WAL longer than `limit`, a
/// passive checkpoint here, where no write can come in between, so that it catches up and the
/// next write starts the WAL over (see the module doc). While the thread's round runs it is
/// skipped (the next commit tries again), or, with `wait` (after a long transaction, which
/// catches up only every few), done once that round ends.
fn catch_up(conn: &Connection, wal: &Wal, limit: i64, wait: bool) {
    if wal.frames.load(Ordering::Relaxed) <= limit {
        return;
    }
    let copying = if wait {
        wal.copying.lock().ok()
    } else {
        wal.copying.try_lock().ok()
    };
    if copying.is_some() && wal.frames.swap(0, Ordering::Relaxed) > limit {
        passive_checkpoint(conn);
    }
}

/// A passive checkpoint; the frames in the WAL after it (`None` if it failed, which is logged:
/// the next one retries).
fn passive_checkpoint(conn: &Connection) -> Option<i64> {
    // Its row: busy, frames in the WAL, frames copied.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
        .map_err(|e| tracing::warn!(error = %e, "a SQLite checkpoint failed; the next one retries"))
        .ok()
}

/// Every [`CHECKPOINT_EVERY`], or at once when kicked, when another connection has committed
/// since the last look (`PRAGMA data_version`), a passive checkpoint; the WAL's frames after it
/// go to the writer, which catches up past its limit ([`catch_up`]).
fn checkpoint_until_stopped(
    path: &std::path::Path,
    flags: OpenFlags,
    signal: &(Mutex<Signal>, Condvar),
    wal: &Wal,
) {
    let conn = match connect(&Some(path.to_path_buf()), flags) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the SQLite checkpointer cannot open the database");
            return;
        }
    };
    let version =
        || -> rusqlite::Result<i64> { conn.query_row("PRAGMA data_version", [], |r| r.get(0)) };
    let mut seen = version().unwrap_or(0);
    let (signal, wake) = signal;
    loop {
        let guard = signal.lock().expect("checkpointer flag");
        let (mut guard, _) = wake
            .wait_timeout_while(guard, CHECKPOINT_EVERY, |s| !s.stopped && !s.now)
            .expect("checkpointer flag");
        if guard.stopped {
            return;
        }
        guard.now = false;
        drop(guard);
        let now = version().unwrap_or(seen.wrapping_add(1));
        if now == seen {
            continue;
        }
        seen = now;
        let copying = wal.copying.lock().expect("checkpoint lock");
        if let Some(frames) = passive_checkpoint(&conn) {
            wal.frames.store(frames, Ordering::Relaxed);
        }
        drop(copying);
    }
}

/// What the checkpointer thread is told between its rounds.
#[derive(Default)]
struct Signal {
    /// The store closed: the thread ends.
    stopped: bool,
    /// A long transaction committed: the next round starts at once.
    now: bool,
}

/// Starts the checkpointer's next round at once.
fn kick(signal: &(Mutex<Signal>, Condvar)) {
    let (signal, wake) = signal;
    signal.lock().expect("checkpointer flag").now = true;
    wake.notify_all();
}

/// Takes a submitted write out of the queue if it is still there when its caller goes away.
struct Unqueue<'a> {
    lite: &'a Lite,
    id: u64,
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.lite.queue.lock() {
            q.writes.retain(|w| w.id != self.id);
        }
    }
}

/// Runs `writes` in one transaction, commits, and sends each its answer. A write that fails
/// makes the whole group roll back, and then each write runs again in a transaction of its
/// own, so that only the failing one fails (savepoints around every write would copy each page
/// it touches to a statement journal: the price of isolation paid on every group, not only on
/// the rare one with a failure).
fn commit_group(conn: &Connection, writes: Vec<Queued>) {
    if writes.is_empty() {
        return;
    }
    if writes.len() > 1 {
        if let Ok(results) = run_group(conn, writes.iter().map(|w| &w.work)) {
            for (w, r) in writes.into_iter().zip(results) {
                let _ = w.done.send(Ok(r));
            }
            return;
        }
        // Each alone, below: the failing one gets its own error.
    }
    for w in writes {
        let result = run_group(conn, std::iter::once(&w.work)).map(|mut r| r.remove(0));
        let _ = w.done.send(result);
    }
}

/// Runs each write's statements in one `BEGIN IMMEDIATE` … `COMMIT`; on any error rolls back.
fn run_group<'a>(
    conn: &Connection,
    writes: impl Iterator<Item = &'a Work>,
) -> StoreResult<Vec<Written>> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(lite_err)?;
    let done = writes
        .map(|work| work.run(conn))
        .collect::<StoreResult<Vec<_>>>()
        .and_then(|r| conn.execute_batch("COMMIT").map(|_| r).map_err(lite_err));
    if done.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "rolling back a SQLite write failed");
        }
    }
    done
}

fn run_steps(conn: &Connection, steps: &[Step]) -> StoreResult<Written> {
    let mut w = Written {
        changed: Vec::with_capacity(steps.len()),
        rows: Vec::new(),
    };
    for s in steps {
        let n = if s.returning {
            let rows = query(conn, &s.sql, &s.args)?;
            let n = rows.len() as u64;
            w.rows.extend(rows);
            n
        } else {
            execute(conn, &s.sql, &s.args)?
        };
        w.changed.push(n);
        if s.stop_unless_changed && n == 0 {
            break;
        }
    }
    Ok(w)
}

/// Before SQLite's first connection: no global memory statistics (they take a process-wide
/// mutex around every allocation SQLite makes, a tenth of a login's read in a profile, and
/// nothing here reads them), and the store's own page cache (`pcache`). Too late once SQLite is
/// initialized (another library opened a database first): then it stays as it was. Public for
/// the benchmarks' floors, which open SQLite themselves and must run on the same SQLite.
pub fn configure_sqlite() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is only unsafe while other threads use SQLite; before the
        // first connection (this Once runs before every open) nothing does.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was initialized already; memory statistics stay on"
            );
            return;
        }
        // SAFETY: as above.
        let rc = unsafe { crate::pcache::install() };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite keeps its default page cache");
        }
    });
}

fn connect(path: &Option<PathBuf>, flags: OpenFlags) -> StoreResult<Connection> {
    configure_sqlite();
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
    wal: Arc<Wal>,
    /// The checkpointer's signal, to start its round when a long transaction commits.
    checkpointer: Option<Arc<(Mutex<Signal>, Condvar)>>,
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

    /// Multi-row INSERTs of `rows` into `head`, [`BULK_PARAMS`](crate::BULK_PARAMS) values a
    /// statement, each value bound from the row as `encode` gives it (no copy of it made first).
    pub(crate) fn insert_rows<T>(
        &self,
        head: &str,
        cols: usize,
        rows: &[T],
        encode: &impl Fn(&T, &mut dyn Fields),
    ) -> StoreResult<u64> {
        self.run(|c| {
            let mut n = 0;
            for chunk in rows.chunks((crate::BULK_PARAMS / cols).max(1)) {
                let sql = format!(
                    "INSERT INTO {head} VALUES {}",
                    crate::values_sql(crate::Dialect::Sqlite, chunk.len(), cols)
                );
                let mut stmt = c.prepare_cached(&sql).map_err(lite_err)?;
                let mut out = Binder {
                    stmt: &mut stmt,
                    next: 1,
                    failed: None,
                };
                for r in chunk {
                    encode(r, &mut out);
                }
                let (next, failed) = (out.next, out.failed);
                if let Some(e) = failed {
                    return Err(lite_err(e));
                }
                if next != chunk.len() * cols + 1 {
                    return Err(backend(format!(
                        "{} values for {} rows of {cols} columns",
                        next - 1,
                        chunk.len()
                    )));
                }
                n += stmt.raw_execute().map_err(lite_err)? as u64;
            }
            Ok(n)
        })
    }

    /// Commits. After a long transaction the checkpointer copies its pages at once, on its
    /// own thread: a bulk load's commit leaves thousands of pages in the WAL, and copying them
    /// here (with the file's `fsync`) would hold the writer while the next load waits for it.
    /// The WAL then starts over once a checkpoint has caught up before a transaction begins,
    /// at the latest at SQLite's own checkpoint of 65,536 frames.
    pub(crate) fn commit(mut self) -> StoreResult<()> {
        self.run(|c| c.execute_batch("COMMIT")).map_err(lite_err)?;
        self.open = false;
        match (&self.long, &self.checkpointer) {
            (Some(_), Some(signal)) => {
                // The thread's count is as old as its last round, and a round behind a run of
                // bulk loads on a slow disk can take longer than all of them: the WAL would
                // never start over. Starting over cuts the file back (`journal_size_limit`),
                // so a file past twice the limit holds more than the limit's frames: the
                // writer then catches up whatever the thread last counted.
                let on_file = self.wal.frames_on_file();
                if on_file > 2 * CATCH_UP_FRAMES_LONG {
                    self.wal.frames.fetch_max(on_file, Ordering::Relaxed);
                }
                self.run(|c| catch_up(c, &self.wal, CATCH_UP_FRAMES_LONG, true));
                kick(signal);
            }
            _ => self.run(|c| catch_up(c, &self.wal, CATCH_UP_FRAMES, false)),
        }
        Ok(())
    }
}

/// A bulk insert's values bound one after another to a prepared statement's `?`s.
struct Binder<'a, 'c> {
    stmt: &'a mut rusqlite::CachedStatement<'c>,
    /// The next parameter's number.
    next: usize,
    /// The first binding that failed: the insert fails with it.
    failed: Option<rusqlite::Error>,
}

impl Binder<'_, '_> {
    fn bind(&mut self, v: impl rusqlite::ToSql) {
        if self.failed.is_none() {
            if let Err(e) = self.stmt.raw_bind_parameter(self.next, v) {
                self.failed = Some(e);
            }
        }
        self.next += 1;
    }
}

impl Fields for Binder<'_, '_> {
    fn text(&mut self, v: Option<&str>) {
        self.bind(v)
    }

    fn int(&mut self, v: Option<i64>) {
        self.bind(v)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_together_and_a_failing_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Arc::new(
            Lite::open(&format!("sqlite://{}", dir.path().join("x.db").display())).unwrap(),
        );
        lite.write("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)", &[])
            .await
            .unwrap();
        lite.write("INSERT INTO t (a, b) VALUES (100, 'x')", &[])
            .await
            .unwrap();
        // Hold the writer so that the writes below queue up and go in one group.
        let held = lite.begin(false).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20i64 {
            let lite = lite.clone();
            tasks.push(tokio::spawn(async move {
                // Write 7 inserts a key that is taken: it must fail, alone.
                let key = if i == 7 { 100 } else { i };
                lite.submit(vec![
                    Step::new("INSERT INTO t (a, b) VALUES ($1, 'x')", args![key].to_vec()),
                    Step::new("UPDATE t SET b = 'y' WHERE a = $1", args![key].to_vec()),
                ])
                .await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(lite.queue.lock().unwrap().writes.len(), 20, "all queued");
        held.commit().unwrap();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            if i == 7 {
                assert!(matches!(r, Err(StoreError::Duplicate(_))), "{r:?}");
            } else {
                assert_eq!(r.unwrap(), vec![1, 1], "write {i}");
            }
        }
        let rows = lite
            .read("SELECT COUNT(*) AS n, SUM(b = 'y') AS y FROM t", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].value("n").unwrap(), &Value::Integer(20));
        assert_eq!(rows[0].value("y").unwrap(), &Value::Integer(19));
    }

    /// Counters bumped with `RETURNING` by concurrent callers in one group: each caller gets
    /// its own row, every bump sees the ones before it, and a failing one fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn returning_writes_commit_together_and_each_gets_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Arc::new(
            Lite::open(&format!("sqlite://{}", dir.path().join("r.db").display())).unwrap(),
        );
        lite.write(
            "CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n < 1000))",
            &[],
        )
        .await
        .unwrap();
        lite.write("INSERT INTO c (k, n) VALUES ('full', 999)", &[])
            .await
            .unwrap();
        let held = lite.begin(false).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..12i64 {
            let lite = lite.clone();
            tasks.push(tokio::spawn(async move {
                // Bump 5 pushes the full counter past its check: it must fail, alone.
                let key = if i == 5 {
                    "full".to_string()
                } else {
                    format!("k{}", i % 2)
                };
                lite.submit_returning(
                    "INSERT INTO c (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1 \
                     RETURNING k, n",
                    &[Arg::from(key)],
                )
                .await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(lite.queue.lock().unwrap().writes.len(), 12, "all queued");
        held.commit().unwrap();
        let mut seen = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            if i == 5 {
                assert!(
                    r.is_err(),
                    "the full counter took a bump: {:?}",
                    r.map(|r| r.len())
                );
                continue;
            }
            let rows = r.unwrap();
            assert_eq!(rows.len(), 1, "bump {i}");
            assert_eq!(
                rows[0].value("k").unwrap(),
                &Value::Text(format!("k{}", i % 2))
            );
            match rows[0].value("n").unwrap() {
                Value::Integer(n) => seen.push((i % 2, *n)),
                v => panic!("{v:?}"),
            }
        }
        for k in 0..2 {
            let mut ns: Vec<i64> = seen
                .iter()
                .filter(|(j, _)| *j == k)
                .map(|(_, n)| *n)
                .collect();
            ns.sort();
            assert_eq!(
                ns,
                (1..=ns.len() as i64).collect::<Vec<_>>(),
                "counter k{k}"
            );
        }
        let rows = lite
            .read("SELECT n FROM c WHERE k = 'full'", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].value("n").unwrap(), &Value::Integer(999));
    }

    #[tokio::test]
    async fn a_write_stops_where_a_statement_changes_nothing() {
        let lite = memory();
        lite.write("CREATE TABLE t (a INTEGER PRIMARY KEY, used INTEGER)", &[])
            .await
            .unwrap();
        lite.write("INSERT INTO t (a, used) VALUES (1, NULL)", &[])
            .await
            .unwrap();
        let take_then_insert = |next: i64| {
            vec![
                Step {
                    sql: "UPDATE t SET used = 1 WHERE a = 1 AND used IS NULL".into(),
                    args: vec![],
                    stop_unless_changed: true,
                    returning: false,
                },
                Step::new("INSERT INTO t (a) VALUES ($1)", args![next].to_vec()),
            ]
        };
        assert_eq!(lite.submit(take_then_insert(2)).await.unwrap(), vec![1, 1]);
        assert_eq!(lite.submit(take_then_insert(3)).await.unwrap(), vec![0]);
        let rows = lite.read("SELECT a FROM t ORDER BY a", &[]).await.unwrap();
        let keys: Vec<_> = rows.iter().map(|r| r.value("a").unwrap().clone()).collect();
        assert_eq!(keys, vec![Value::Integer(1), Value::Integer(2)]);
    }

    #[tokio::test]
    async fn a_write_given_up_before_its_turn_never_runs() {
        let lite = memory();
        lite.write("CREATE TABLE t (a INTEGER)", &[]).await.unwrap();
        let held = lite.begin(false).await.unwrap();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            lite.write("INSERT INTO t (a) VALUES (1)", &[]),
        )
        .await;
        assert!(gave_up.is_err(), "it waited for the writer");
        assert!(lite.queue.lock().unwrap().writes.is_empty());
        held.commit().unwrap();
        lite.write("INSERT INTO t (a) VALUES (2)", &[])
            .await
            .unwrap();
        let rows = lite.read("SELECT a FROM t", &[]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].value("a").unwrap(), &Value::Integer(2));
    }

    #[test]
    fn writes_still_commit_after_a_runtime_drops_the_task_that_commits_them() {
        let lite = Arc::new(memory());
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let first = runtime();
        let held = first.block_on(async {
            lite.write("CREATE TABLE t (a INTEGER)", &[]).await.unwrap();
            // The committer starts and waits for the writer this holds.
            let held = lite.writer().await.unwrap();
            let l = lite.clone();
            tokio::spawn(async move { l.write("INSERT INTO t (a) VALUES (1)", &[]).await });
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            assert!(lite.queue.lock().unwrap().active);
            held
        });
        drop(first);
        drop(held);
        assert!(!lite.queue.lock().unwrap().active);
        let rows = runtime().block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                lite.write("INSERT INTO t (a) VALUES (2)", &[]),
            )
            .await
            .expect("the write commits")
            .unwrap();
            lite.read("SELECT a FROM t", &[]).await.unwrap()
        });
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].value("a").unwrap(), &Value::Integer(2));
    }

    #[tokio::test]
    async fn the_checkpointer_moves_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.db");
        let lite = Lite::open(&format!("sqlite://{}", file.display())).unwrap();
        lite.write("CREATE TABLE t (a TEXT)", &[]).await.unwrap();
        for i in 0..200 {
            lite.write(
                "INSERT INTO t (a) VALUES ($1)",
                args![format!("{i:0>2000}")],
            )
            .await
            .unwrap();
        }
        let wal = dir.path().join("x.db-wal");
        let db_len = || std::fs::metadata(&file).unwrap().len();
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 400_000,
            "commits go to the WAL"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while db_len() < 400_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s"
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
        lite.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_a_steady_stream_of_writes_the_wal_still_starts_over() {
        let (dir, _, lite) = text_table().await;
        // About 80,000 WAL frames (320 MiB) in all, never a pause for the checkpointer to
        // catch up with: a WAL that never started over would hold them all. One that does
        // stays near the size it is cut back to (64 MiB), plus what 100 ms of writes add.
        let row = "x".repeat(3000);
        for _ in 0..40_000 {
            lite.write("INSERT INTO t (a) VALUES ($1)", args![row.clone()])
                .await
                .unwrap();
        }
        assert_wal_under_and_rows(&dir, &lite, 160 << 20, 40_000).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_back_to_back_bulk_loads_the_wal_still_starts_over() {
        let (dir, file, lite) = text_table().await;
        // 64 long transactions of about 2,000 WAL frames each (512 MiB in all), one begun as
        // soon as the last committed: their commits leave the copying to the checkpointer, and
        // the WAL must still start over rather than hold them all, even when the checkpointer's
        // rounds fall behind (as on a loaded machine).
        let rows: Vec<String> = (0..2000).map(|i| format!("{i:0>3000}")).collect();
        for _ in 0..64 {
            let tx = lite.begin(true).await.unwrap();
            tx.insert_rows("t (a)", 1, &rows, &|r: &String, out: &mut dyn Fields| {
                out.text(Some(r))
            })
            .unwrap();
            tx.commit().unwrap();
        }
        assert_wal_under_and_rows(&dir, &lite, 320 << 20, 128_000).await;
        // What they committed reaches the database file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&file).unwrap().len() < 200 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s"
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    /// A database file, its path and its store, with an empty table `t (a TEXT)`.
    async fn text_table() -> (tempfile::TempDir, PathBuf, Lite) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.db");
        let lite = Lite::open(&format!("sqlite://{}", file.display())).unwrap();
        lite.write("CREATE TABLE t (a TEXT)", &[]).await.unwrap();
        (dir, file, lite)
    }

    /// Holds the WAL file in `dir` under `limit` bytes and `t` to `rows` rows.
    async fn assert_wal_under_and_rows(
        dir: &tempfile::TempDir,
        lite: &Lite,
        limit: u64,
        rows: i64,
    ) {
        let wal = std::fs::metadata(dir.path().join("x.db-wal"))
            .unwrap()
            .len();
        assert!(wal < limit, "the WAL grew to {wal} bytes");
        let n = lite.read("SELECT COUNT(*) AS n FROM t", &[]).await.unwrap();
        assert_eq!(n[0].value("n").unwrap(), &Value::Integer(rows));
    }

    /// A database file whose table `t` holds one row.
    async fn one_row_file() -> (tempfile::TempDir, Lite) {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(&format!("sqlite://{}", dir.path().join("x.db").display())).unwrap();
        lite.write("CREATE TABLE t (a INTEGER)", &[]).await.unwrap();
        lite.write("INSERT INTO t (a) VALUES (1)", &[])
            .await
            .unwrap();
        (dir, lite)
    }

    #[tokio::test]
    async fn reads_do_not_queue_behind_a_long_transaction() {
        let (_dir, lite) = one_row_file().await;
        let tx = lite.begin(true).await.unwrap();
        tx.write("INSERT INTO t (a) VALUES (2)", &[]).unwrap();
        // On the writer's queue this read would wait for the transaction, here for ever.
        assert_eq!(
            count_at_once(&lite).await,
            Value::Integer(1),
            "uncommitted rows are not seen"
        );
        tx.commit().unwrap();
        assert_eq!(count_at_once(&lite).await, Value::Integer(2));
    }

    /// The rows of `t`, read within 5 s: a read that waits for the writer fails.
    async fn count_at_once(lite: &Lite) -> Value {
        let rows = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            lite.read("SELECT COUNT(*) AS n FROM t", &[]),
        )
        .await
        .expect("the read did not wait for the writer")
        .unwrap();
        rows[0].value("n").unwrap().clone()
    }

    #[tokio::test]
    async fn a_read_does_not_wait_for_a_writer_held_by_another_task() {
        let (_dir, lite) = one_row_file().await;
        // A short holder (a group commit's), not a long transaction: on the writer's queue
        // this read would wait for it, here for ever.
        let held = lite.writer().await.unwrap();
        assert_eq!(count_at_once(&lite).await, Value::Integer(1));
        drop(held);
        // Free again, the writer serves the read.
        let rows = lite.read("SELECT COUNT(*) AS n FROM t", &[]).await.unwrap();
        assert_eq!(rows[0].value("n").unwrap(), &Value::Integer(1));
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
