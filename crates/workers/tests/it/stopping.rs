//! A set of workers stops within its grace time: a unit of work in hand is finished when it
//! fits, given up when it does not, and a worker that ignores the stop is stopped where it is.
//! A worker that fails runs again.

use portcullis_workers::{Shutdown, Worker, Workers, RESTART_PAUSE};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Units of work of `unit` each, one after another, until told to stop.
#[derive(Clone, Default)]
struct Units {
    unit: Duration,
    /// Whether a unit gives up at `Shutdown::give_up`.
    gives_up: bool,
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    gave_up: Arc<AtomicBool>,
}

impl Worker for Units {
    fn name(&self) -> &'static str {
        "units"
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        while !shutdown.is_stopping() {
            self.started.fetch_add(1, Ordering::SeqCst);
            if self.gives_up {
                tokio::select! {
                    _ = tokio::time::sleep(self.unit) => {}
                    _ = shutdown.give_up() => {
                        self.gave_up.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                }
            } else {
                tokio::time::sleep(self.unit).await;
            }
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_stop_waits_for_the_unit_in_hand() {
    let w = Units {
        unit: Duration::from_millis(400),
        gives_up: true,
        ..Units::default()
    };
    let mut workers = Workers::new(Duration::from_secs(10));
    workers.spawn(w.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    workers.stop().await;
    let took = started.elapsed();
    assert_eq!(w.started.load(Ordering::SeqCst), 1);
    assert_eq!(
        w.finished.load(Ordering::SeqCst),
        1,
        "the unit in hand ended"
    );
    assert!(!w.gave_up.load(Ordering::SeqCst));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_unit_longer_than_the_grace_time_is_given_up_within_it() {
    let w = Units {
        unit: Duration::from_secs(60),
        gives_up: true,
        ..Units::default()
    };
    let mut workers = Workers::new(Duration::from_secs(1));
    workers.spawn(w.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    workers.stop().await;
    let took = started.elapsed();
    assert!(
        w.gave_up.load(Ordering::SeqCst),
        "the worker gave its unit up"
    );
    assert_eq!(w.finished.load(Ordering::SeqCst), 0);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn a_worker_that_ignores_the_stop_is_stopped_when_the_grace_time_ends() {
    let w = Units {
        unit: Duration::from_secs(60),
        gives_up: false,
        ..Units::default()
    };
    let mut workers = Workers::new(Duration::from_secs(1));
    workers.spawn(w.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    workers.stop().await;
    let took = started.elapsed();
    assert_eq!(w.finished.load(Ordering::SeqCst), 0);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

/// Panics on its first run; counts its runs.
#[derive(Clone, Default)]
struct FailsOnce {
    runs: Arc<AtomicUsize>,
}

impl Worker for FailsOnce {
    fn name(&self) -> &'static str {
        "fails-once"
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("the first run fails");
        }
        shutdown.stopping().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_that_fails_runs_again_after_a_pause() {
    let w = FailsOnce::default();
    let mut workers = Workers::new(Duration::from_secs(1));
    workers.spawn(w.clone());
    tokio::time::sleep(RESTART_PAUSE / 2).await;
    assert_eq!(w.runs.load(Ordering::SeqCst), 1, "not again at once");
    crate::eventually(RESTART_PAUSE * 2, "a second run", || async {
        w.runs.load(Ordering::SeqCst) == 2
    })
    .await;
    workers.stop().await;
}
