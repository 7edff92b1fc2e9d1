//! What stands between a login and a legacy system: an overall deadline, a concurrency limit
//! and a circuit breaker, one set per connector.
//!
//! The breaker counts consecutive failures (unreachable, timeout, bad answer). At the threshold it
//! opens: calls fail at once as `circuitOpen` without touching the legacy system, so a dead legacy
//! system costs a login microseconds instead of a timeout, and a struggling one gets room to
//! recover. After `openSeconds` one trial call is let through (half-open); its success closes the
//! breaker, its failure opens it again. "Unknown user" and "wrong password" are answers, not
//! failures.

use portcullis_domain::migration::connectors::{FailureKind, LegacyError, LegacyResult};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Limits shared by every connector type, read from the connector's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_concurrency: usize,
    pub failure_threshold: u32,
    pub open_for: Duration,
    /// The most bytes one answer may carry (an HTTP body; for LDAP, the attribute values of the
    /// entries a search returns). A larger answer is abandoned as it streams in, a bad answer.
    pub max_response_bytes: usize,
}

/// `maxResponseBytes` when the connector does not say: a user's profile is kilobytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(2_000),
            read_timeout: Duration::from_millis(5_000),
            max_concurrency: 64,
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Limits {
    /// The longest one call may take, from asking for a permit to the last byte of the answer:
    /// connecting plus reading (a lookup and a verify are two calls, each with its own deadline).
    pub fn deadline(&self) -> Duration {
        self.connect_timeout + self.read_timeout
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; others fail fast until it returns.
    HalfOpen,
}

pub struct Guard {
    limits: Limits,
    permits: Semaphore,
    state: Mutex<State>,
}

impl Guard {
    pub fn new(limits: Limits) -> Self {
        Self {
            permits: Semaphore::new(limits.max_concurrency.max(1)),
            limits,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the breaker lets a call through now (and, when half-open, claims the one trial).
    fn admit(&self) -> bool {
        let mut s = self.state.lock().expect("not poisoned");
        match *s {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *s = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    fn record(&self, healthy: bool) {
        let mut s = self.state.lock().expect("not poisoned");
        *s = match (*s, healthy) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.limits.failure_threshold => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (State::Open { until }, false) => State::Open { until },
            _ => {
                tracing::warn!(
                    open_seconds = self.limits.open_for.as_secs(),
                    "connector circuit breaker opened"
                );
                State::Open {
                    until: Instant::now() + self.limits.open_for,
                }
            }
        };
    }

    /// Whether the breaker is open now (for status and tests).
    pub fn is_open(&self) -> bool {
        matches!(
            *self.state.lock().expect("not poisoned"),
            State::Open { until } if Instant::now() < until
        )
    }

    /// Runs one connector call under the breaker, the concurrency limit and the deadline.
    pub async fn call<T, F>(&self, f: F) -> LegacyResult<T>
    where
        F: Future<Output = LegacyResult<T>>,
    {
        if !self.admit() {
            return Err(LegacyError::new(
                FailureKind::CircuitOpen,
                "the legacy system failed repeatedly; not asking it until the circuit breaker's wait is over",
            ));
        }
        // The deadline covers the whole call, waiting for a permit included: a login never
        // waits on a connector longer than `deadline()`.
        let deadline = tokio::time::Instant::now() + self.limits.deadline();
        // Waiting for a permit counts against the connect timeout: a queue longer than that
        // would only turn into timeouts later.
        let permit =
            match tokio::time::timeout(self.limits.connect_timeout, self.permits.acquire()).await {
                Ok(Ok(p)) => p,
                _ => {
                    self.release_trial();
                    return Err(LegacyError::new(
                        FailureKind::Busy,
                        format!(
                            "{} calls to the legacy system are already under way",
                            self.limits.max_concurrency
                        ),
                    ));
                }
            };
        let out = match tokio::time::timeout_at(deadline, f).await {
            Ok(r) => r,
            Err(_) => Err(LegacyError::new(
                FailureKind::Timeout,
                format!(
                    "the legacy system did not answer within {} ms",
                    self.limits.deadline().as_millis()
                ),
            )),
        };
        drop(permit);
        let healthy = match &out {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind,
                FailureKind::Unreachable | FailureKind::Timeout | FailureKind::BadAnswer
            ),
        };
        self.record(healthy);
        out
    }

    /// A half-open trial that never reached the legacy system gives its turn back.
    fn release_trial(&self) {
        let mut s = self.state.lock().expect("not poisoned");
        if *s == State::HalfOpen {
            *s = State::Open {
                until: Instant::now(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(threshold: u32, open_ms: u64) -> Guard {
        Guard::new(Limits {
            failure_threshold: threshold,
            open_for: Duration::from_millis(open_ms),
            connect_timeout: Duration::from_millis(50),
            read_timeout: Duration::from_millis(50),
            max_concurrency: 1,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    async fn fail(g: &Guard) -> LegacyResult<()> {
        g.call(async { Err(LegacyError::new(FailureKind::Unreachable, "down")) })
            .await
    }

    #[tokio::test]
    async fn opens_after_threshold_and_half_opens_after_the_wait() {
        let g = guard(3, 100);
        for _ in 0..3 {
            assert_eq!(fail(&g).await.unwrap_err().kind, FailureKind::Unreachable);
        }
        assert!(g.is_open());
        let asked = std::sync::atomic::AtomicBool::new(false);
        let r = g
            .call(async {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(r.unwrap_err().kind, FailureKind::CircuitOpen);
        assert!(
            !asked.load(std::sync::atomic::Ordering::SeqCst),
            "an open breaker asks nobody"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        // The trial call succeeds: closed again.
        g.call(async { Ok(()) }).await.unwrap();
        assert!(!g.is_open());
        fail(&g).await.unwrap_err();
        g.call(async { Ok(()) }).await.unwrap();
    }

    #[tokio::test]
    async fn failed_trial_reopens() {
        let g = guard(1, 50);
        fail(&g).await.unwrap_err();
        assert!(g.is_open());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(fail(&g).await.unwrap_err().kind, FailureKind::Unreachable);
        assert!(g.is_open());
    }

    #[tokio::test]
    async fn answers_are_not_failures() {
        let g = guard(1, 1000);
        for _ in 0..5 {
            let r: LegacyResult<Option<()>> = g.call(async { Ok(None) }).await;
            assert!(r.unwrap().is_none());
        }
        assert!(!g.is_open());
    }

    #[tokio::test]
    async fn slow_calls_time_out_and_a_full_connector_is_busy() {
        let g = std::sync::Arc::new(guard(100, 1000));
        let slow = {
            let g = g.clone();
            tokio::spawn(async move {
                g.call(async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The one permit is held by the slow call.
        let busy = g.call(async { Ok(()) }).await.unwrap_err();
        assert_eq!(busy.kind, FailureKind::Busy);
        assert_eq!(slow.await.unwrap().unwrap_err().kind, FailureKind::Timeout);
    }
}
