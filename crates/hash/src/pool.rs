//! The bounded hashing pool: a fixed set of threads fed by a bounded queue.
//!
//! Password hashing costs 10-500 ms of CPU (and, for argon2, tens of MiB of memory). Running it
//! on the async runtime's threads would stall every other request; spawning a thread per job
//! would let a login storm take unbounded memory. The pool runs jobs on `workers` threads and
//! holds at most `queue_limit` waiting jobs; past that, [`HashPool::run`] answers [`PoolBusy`]
//! at once so the caller can answer 503 instead of queueing without bound.
//!
//! Beside that main lane the pool has a smaller costly lane (half as many threads, at least
//! one, with a short queue of its own). A verify of a credential much costlier than the tenant's
//! own scheme ([`HashPool::for_verify`]) runs there, so a few guesses against imported hashes at
//! the limits (seconds of CPU each) can never take every worker from everyone else's logins.
//!
//! The pool carries the [`Registry`] of schemes its owner hashes and verifies with (every
//! built-in scheme unless [`HashPool::with_registry`] says otherwise), so schemes loaded at start
//! join every hash, verify and cost check the server makes.

use crate::{Credential, HashError, Registry};
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job of a kind last measured under this runs on the caller's thread (see
/// [`HashPool::run_as`]): handing it to a pool thread and waking the caller again costs more
/// than the job.
pub const INLINE_BELOW: Duration = Duration::from_micros(50);

/// The pool is full: the caller should answer 503 and let the client retry.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[error("the password hashing pool is busy; retry shortly")]
pub struct PoolBusy;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A verify whose credential costs more than this many times the tenant's own scheme runs on
/// the costly lane. The cost model is right within about a factor of two across schemes, so a
/// legacy hash about as costly as the tenant's (bcrypt 10 beside argon2id's defaults) stays on
/// the main lane.
pub const COSTLY_ABOVE: u64 = 2;

/// Which of the pool's two sets of threads a job runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Every job but the costly verifies: `workers` threads.
    Main,
    /// Verifies far costlier than the tenant's own scheme: half as many threads (at least one)
    /// and a short queue, so they never hold every worker.
    Costly,
}

/// One set of threads fed by one bounded queue.
struct Threads {
    sender: SyncSender<Job>,
    workers: usize,
    queue_limit: usize,
}

impl Threads {
    fn start(name: &str, workers: usize, queue_limit: usize) -> Self {
        let (sender, receiver) = sync_channel::<Job>(queue_limit);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // Hold the lock only while taking a job, never while running it.
                    let job = match receiver.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                })
                .expect("the OS could not start a hashing thread");
        }
        Threads {
            sender,
            workers,
            queue_limit,
        }
    }
}

/// A bounded pool of hashing threads shared by the server and the importer. Cloning shares
/// the same threads; they stop when the last clone is dropped and the queues have drained.
#[derive(Clone)]
pub struct HashPool {
    main: Arc<Threads>,
    costly: Arc<Threads>,
    /// The lane [`run`](Self::run) and [`run_as`](Self::run_as) use: `Main` unless this clone
    /// came from [`for_verify`](Self::for_verify) or [`on`](Self::on).
    lane: Lane,
    /// The last measured duration of each kind of job given to [`HashPool::run_as`].
    costs: Arc<Mutex<HashMap<String, Duration>>>,
    /// The schemes this pool's owner hashes and verifies with.
    registry: Arc<Registry>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.main.workers)
            .field("queue_limit", &self.main.queue_limit)
            .field("costly_workers", &self.costly.workers)
            .field("costly_queue_limit", &self.costly.queue_limit)
            .field("lane", &self.lane)
            .finish()
    }
}

impl HashPool {
    /// A pool of `workers` threads (at least 1) that queues at most `queue_limit` jobs beyond
    /// those running, beside a costly lane of half as many threads (at least 1) that queues at
    /// most 8 jobs per thread (never more than `queue_limit`).
    pub fn new(workers: usize, queue_limit: usize) -> Self {
        let workers = workers.max(1);
        let costly = (workers / 2).max(1);
        Self {
            main: Arc::new(Threads::start("portcullis-hash", workers, queue_limit)),
            costly: Arc::new(Threads::start(
                "portcullis-hash-costly",
                costly,
                queue_limit.min(costly * 8),
            )),
            lane: Lane::Main,
            costs: Arc::default(),
            registry: Arc::new(Registry::with_builtin()),
        }
    }

    /// The same pool, hashing and verifying with `registry` instead of the built-in schemes.
    pub fn with_registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = registry;
        self
    }

    /// The schemes this pool's owner hashes, verifies and prices credentials with.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// One thread per core, and a queue of 64 jobs per thread (about 1-30 s of work).
    pub fn for_this_machine() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(n, n * 64)
    }

    /// Number of threads of the main lane.
    pub fn workers(&self) -> usize {
        self.main.workers
    }

    /// Number of threads of the costly lane.
    pub fn costly_workers(&self) -> usize {
        self.costly.workers
    }

    /// The lane [`run`](Self::run) and [`run_as`](Self::run_as) of this handle use.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// The same pool, running jobs on `lane`.
    pub fn on(&self, lane: Lane) -> HashPool {
        HashPool {
            lane,
            ..self.clone()
        }
    }

    /// The lane a verify of `credential` belongs on when the tenant hashes new passwords with
    /// `target_scheme` at `target_factor`: `Costly` when the credential costs more than
    /// [`COSTLY_ABOVE`] times a credential of the tenant's own (see [`mod@crate::cost`]). A target
    /// that is not a scheme we write is measured as the default scheme; a credential that does
    /// not parse fails at once and stays on the main lane.
    pub fn lane_for(
        &self,
        credential: &Credential,
        target_scheme: &str,
        target_factor: Option<u32>,
    ) -> Lane {
        let r = &self.registry;
        let Some(cost) = r.cost(credential) else {
            return Lane::Main;
        };
        let target = r
            .new_hash_cost(target_scheme, target_factor)
            .or_else(|_| r.new_hash_cost(crate::DEFAULT_SCHEME, None))
            .unwrap_or(1);
        if cost > target.saturating_mul(COSTLY_ABOVE) {
            Lane::Costly
        } else {
            Lane::Main
        }
    }

    /// The pool a verify of `credential` runs on (see [`lane_for`](Self::lane_for)): this
    /// pool, its `run` and `run_as` on the lane the credential's cost picks.
    pub fn for_verify(
        &self,
        credential: &Credential,
        target_scheme: &str,
        target_factor: Option<u32>,
    ) -> HashPool {
        self.on(self.lane_for(credential, target_scheme, target_factor))
    }

    /// Runs `job` on a thread of this handle's lane and waits for its result without blocking
    /// the runtime. `Err(PoolBusy)` when the lane's queue is full (or the job panicked).
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolBusy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            if let Ok(value) = result {
                let _ = tx.send(value);
            }
        });
        let threads = match self.lane {
            Lane::Main => &self.main,
            Lane::Costly => &self.costly,
        };
        match threads.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                return Err(PoolBusy)
            }
        }
        rx.await.map_err(|_| PoolBusy)
    }

    /// As [`run`](Self::run) for a job of `kind` (say, a verify of one scheme and factor): a
    /// kind whose last run took under [`INLINE_BELOW`] runs on the caller's thread (a salted
    /// SHA-256 takes a microsecond; the round trip to a pool thread costs tens), every other on
    /// the pool. Each run is timed, so a kind that turns slow goes back to the pool.
    pub async fn run_as<T, F>(&self, kind: &str, job: F) -> Result<T, PoolBusy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let cheap = self.runs_inline(kind);
        let costs = Arc::clone(&self.costs);
        let kind = kind.to_string();
        let timed = move || {
            let t0 = Instant::now();
            let out = job();
            if let Ok(mut c) = costs.lock() {
                c.insert(kind, t0.elapsed());
            }
            out
        };
        if cheap {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(timed))
                .map_err(|_| PoolBusy);
        }
        self.run(timed).await
    }

    /// Hashes a new password with `scheme` and `factor` through [`run_as`](Self::run_as): a
    /// scheme as cheap as a salted SHA-256 runs on the caller's thread, argon2id and its like on
    /// the pool.
    pub async fn hash_password<P>(
        &self,
        scheme: String,
        factor: Option<u32>,
        password: P,
    ) -> Result<Result<Credential, HashError>, PoolBusy>
    where
        P: AsRef<[u8]> + Send + 'static,
    {
        let kind = format!("hash {scheme}:{}", factor.unwrap_or(0));
        let registry = Arc::clone(&self.registry);
        self.run_as(&kind, move || {
            registry.hash_password(&scheme, factor, password.as_ref())
        })
        .await
    }

    /// Whether a job of `kind` would run on the caller's thread now.
    pub fn runs_inline(&self, kind: &str) -> bool {
        self.costs
            .lock()
            .map(|c| c.get(kind).is_some_and(|d| *d < INLINE_BELOW))
            .unwrap_or(false)
    }
}
