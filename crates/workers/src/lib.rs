//! The background work of a `serve` node: named workers, started in one place and stopped
//! together, gracefully.
//!
//! | worker | its unit of work | with several nodes on one database |
//! |---|---|---|
//! | `import-jobs` ([`ImportJobs`]) | one import job | each job is claimed by one node (`domain::jobs`) |
//! | `reset-mail` ([`ResetMail`]) | one forgot-password request | each node drains its own queue |
//! | `cleanup` ([`Cleanup`]) | one sweep of expired rows | set-based deletes, harmless when two nodes sweep |
//! | `webhooks` ([`Webhooks`]) | one delivery attempt of an event to a webhook | the outbox's fan-out takes its cursor's row; each attempt is claimed by one node (`FOR UPDATE SKIP LOCKED` on PostgreSQL) |
//!
//! A crate of its own, though `serve` (`crates/cli`) owns the workers — builds them, starts them
//! and stops them on SIGTERM/SIGINT: the API's test servers run these same workers in-process,
//! and the workers' own tests run them over both stores, which a module of the binary would not
//! allow. It knows the domain only; what it needs from elsewhere (reading an import job's file,
//! the node's name) is passed in.
//!
//! Stopping takes a bounded grace time. [`Stopper::begin`] (at the signal) tells every worker
//! to take no new unit of work; [`Workers::stop`] (once the HTTP server has stopped and nothing
//! more can be queued) lets queues drain and waits for the workers. A worker finishes the unit
//! in hand, or gives it up at [`Shutdown::give_up`], shortly before the grace time ends, leaving
//! nothing half-done (an import job goes back to the queue); a worker still running when the
//! grace time ends is stopped where it is.

mod cleanup;
mod import_jobs;
mod reset_mail;
mod webhooks;

pub use cleanup::Cleanup;
pub use import_jobs::ImportJobs;
pub use reset_mail::ResetMail;
pub use webhooks::{WebhookSettings, Webhooks};

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A kind of background work.
pub trait Worker: Send + 'static {
    /// The name the log knows the worker by.
    fn name(&self) -> &'static str;

    /// Works until `shutdown` says to stop, then finishes the unit of work in hand (or gives it
    /// up at [`Shutdown::give_up`], leaving nothing half-done) and returns. An error or a panic
    /// ends this run only: the worker runs again after [`RESTART_PAUSE`].
    fn run(&mut self, shutdown: &Shutdown) -> impl Future<Output = Result<(), String>> + Send;
}

/// How long a failed worker waits before it runs again, so a failure that repeats (a database
/// that is down) fills the log slowly.
pub const RESTART_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// No new unit of work; the one in hand is given up at `give_up`, and workers still running
    /// at `end` are stopped where they are.
    Stopping {
        give_up: Instant,
        end: Instant,
    },
    /// As `Stopping`, and nothing more will be queued: queues drain and their workers stop.
    Quiet {
        give_up: Instant,
        end: Instant,
    },
}

impl Phase {
    fn times(self) -> Option<(Instant, Instant)> {
        match self {
            Phase::Running => None,
            Phase::Stopping { give_up, end } | Phase::Quiet { give_up, end } => {
                Some((give_up, end))
            }
        }
    }
}

/// What a worker watches to know when to stop. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Phase>);

impl Shutdown {
    /// True once stopping has begun: take no new unit of work.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() != Phase::Running
    }

    /// Resolves once stopping has begun (or the [`Workers`] are gone).
    pub async fn stopping(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|p| *p != Phase::Running).await;
    }

    /// Resolves once nothing more will be queued: the HTTP server has stopped (or the
    /// [`Workers`] are gone). A queue's worker then drains it and stops.
    pub async fn quiet(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|p| matches!(p, Phase::Quiet { .. })).await;
    }

    /// Resolves when the unit of work in hand must be given up: shortly before the grace time
    /// ends, so that giving it up (an import job put back in the queue) still fits in it.
    pub async fn give_up(&self) {
        let mut rx = self.0.clone();
        let at = rx
            .wait_for(|p| *p != Phase::Running)
            .await
            .ok()
            .and_then(|p| p.times());
        if let Some((give_up, _)) = at {
            tokio::time::sleep_until(give_up).await;
        }
    }
}

/// Begins the stop of a set of [`Workers`]; cheap to clone, for the signal handler.
#[derive(Clone)]
pub struct Stopper {
    phase: Arc<watch::Sender<Phase>>,
    grace: Duration,
}

impl Stopper {
    /// Tells every worker to take no new unit of work; the grace time starts now. Only the
    /// first call counts.
    pub fn begin(&self) {
        let now = Instant::now();
        // Giving up a unit (one UPDATE) needs little time; a short grace leaves it a quarter.
        let give_up = now + self.grace - (self.grace / 4).min(Duration::from_secs(1));
        let end = now + self.grace;
        self.phase.send_if_modified(|p| {
            if *p != Phase::Running {
                return false;
            }
            *p = Phase::Stopping { give_up, end };
            true
        });
    }
}

/// The workers of one node.
pub struct Workers {
    phase: Arc<watch::Sender<Phase>>,
    grace: Duration,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    /// No workers yet; stopping them will take at most `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::Running)),
            grace,
            tasks: Vec::new(),
        }
    }

    /// Starts `worker` on a task of its own.
    pub fn spawn<W: Worker>(&mut self, worker: W) {
        let name = worker.name();
        let shutdown = self.shutdown();
        self.tasks
            .push((name, tokio::spawn(supervise(worker, shutdown))));
    }

    /// What the workers watch, for work outside them that stops with them (the HTTP server).
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.phase.subscribe())
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            phase: self.phase.clone(),
            grace: self.grace,
        }
    }

    /// Stops every worker: begins the stop if the signal has not, says nothing more will be
    /// queued, and waits for the workers until the grace time ends; those still running then
    /// are stopped where they are.
    pub async fn stop(mut self) {
        self.stopper().begin();
        let mut end = Instant::now();
        self.phase.send_modify(|p| {
            if let Some((give_up, e)) = p.times() {
                end = e;
                *p = Phase::Quiet { give_up, end: e };
            }
        });
        for (name, mut task) in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout_at(end, &mut task).await.is_err() {
                task.abort();
                tracing::warn!(
                    worker = name,
                    "worker still running when the grace time ended: stopped where it was"
                );
            }
        }
    }
}

impl Drop for Workers {
    /// Workers dropped without [`Workers::stop`] (a test's server) end at once.
    fn drop(&mut self) {
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

/// Runs a worker, logging its start, stop and failures, and runs it again after a failure
/// unless the node is stopping.
async fn supervise<W: Worker>(mut worker: W, shutdown: Shutdown) {
    let name = worker.name();
    loop {
        tracing::info!(worker = name, "worker started");
        let outcome = AssertUnwindSafe(worker.run(&shutdown)).catch_unwind().await;
        let failure = match outcome {
            Ok(Ok(())) => break,
            Ok(Err(e)) => e,
            Err(panic) => panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
        };
        tracing::error!(worker = name, error = %failure, "worker failed");
        if shutdown.is_stopping() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RESTART_PAUSE) => {}
            _ = shutdown.stopping() => break,
        }
    }
    tracing::info!(worker = name, "worker stopped");
}
