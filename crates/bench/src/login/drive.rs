//! The driver the measurements run on: concurrent loops for a number of seconds, counted, with
//! the wall time and this process's CPU time they took; and the logins loop on it.

use super::fixture::{request, Fixture};
use portcullis_domain::{LoginOutcome, Scope};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This process's user + system CPU time.
pub(super) fn cpu_time() -> Option<Duration> {
    crate::cpu::this_process()
}

/// Runs `tasks` concurrent loops of `op` for `secs`; returns (operations, wall, CPU).
pub(super) async fn drive<F, Fut>(
    tasks: usize,
    secs: u64,
    op: F,
) -> Result<(u64, Duration, Duration), String>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (t0, c0) = (Instant::now(), cpu_time().unwrap_or_default());
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (op, done) = (op.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                op(t, n).await?;
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    let cpu = cpu_time().unwrap_or_default().saturating_sub(c0);
    Ok((done.load(Ordering::Relaxed), t0.elapsed(), cpu))
}

/// `tasks` concurrent loops of successful logins, spread over the fixture's users.
pub(super) async fn logins(
    f: &Arc<Fixture>,
    tasks: usize,
    secs: u64,
) -> Result<(u64, Duration, Duration), String> {
    let f = f.clone();
    drive(tasks, secs, move |t, i| {
        let f = f.clone();
        async move {
            let req = request(&f, t + i as usize * 7);
            expect_success(f.sessions.login(Scope::ALL, req).await)
        }
    })
    .await
}

fn expect_success(o: Result<LoginOutcome, portcullis_domain::Error>) -> Result<(), String> {
    match o {
        Ok(LoginOutcome::Success(_)) => Ok(()),
        other => Err(format!("a bench login did not succeed: {other:?}")),
    }
}
