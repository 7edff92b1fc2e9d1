//! The bounded hashing pool: a fixed set of threads fed by a bounded queue.
//!
//! Password hashing costs 10-500 ms of CPU (and, for argon2, tens of MiB of memory). Running it
//! on the async runtime's threads would stall every other request; spawning a thread per job
//! would let a login storm take unbounded memory. The pool runs jobs on `workers` threads and
//! holds at most `queue_limit` waiting jobs; past that, [`HashPool::run`] answers [`PoolBusy`]
//! at once so the caller can answer 503 instead of queueing without bound.

use crate::{Credential, HashError};
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

/// A bounded pool of hashing threads shared by the server and the importer. Cloning shares
/// the same threads; they stop when the last clone is dropped and the queue has drained.
#[derive(Clone)]
pub struct HashPool {
    sender: SyncSender<Job>,
    workers: usize,
    queue_limit: usize,
    /// The last measured duration of each kind of job given to [`HashPool::run_as`].
    costs: Arc<Mutex<HashMap<String, Duration>>>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .field("queue_limit", &self.queue_limit)
            .finish()
    }
}

impl HashPool {
    /// A pool of `workers` threads (at least 1) that queues at most `queue_limit` jobs beyond
    /// those running.
    pub fn new(workers: usize, queue_limit: usize) -> Self {
        let workers = workers.max(1);
        let (sender, receiver) = sync_channel::<Job>(queue_limit);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("portcullis-hash-{i}"))
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
        Self {
            sender,
            workers,
            queue_limit,
            costs: Arc::default(),
        }
    }

    /// One thread per core, and a queue of 64 jobs per thread (about 1-30 s of work).
    pub fn for_this_machine() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(n, n * 64)
    }

    /// Number of threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `job` on a pool thread and waits for its result without blocking the runtime.
    /// `Err(PoolBusy)` when the queue is full (or the job panicked).
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
        match self.sender.try_send(job) {
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
        self.run_as(&kind, move || {
            crate::hash_password(&scheme, factor, password.as_ref())
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
