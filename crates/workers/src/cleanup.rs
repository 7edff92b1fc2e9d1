//! `cleanup`: deletes rows no request can use any more, at start and then every interval:
//! expired refresh tokens, change-password ids, OAuth codes and SSO sessions, two-factor rows (pending
//! logins, trusted computers, emailed and used codes), and login-attempt counts and locks whose
//! window has ended. Each is a set-based delete in the store; two nodes sweeping at once delete
//! each row once, so nodes need no claim for it.

use crate::{Shutdown, Worker};
use portcullis_domain::{now_millis, Identity, Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "cleanup";

pub struct Cleanup {
    store: Arc<dyn Store>,
    every: Duration,
}

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Swept {
    refresh_tokens: u64,
    change_password_ids: u64,
    oauth: u64,
    login_attempts: u64,
    two_factor: u64,
}

impl Cleanup {
    /// The interval `serve` sweeps at unless told otherwise.
    pub const EVERY: Duration = Duration::from_secs(300);

    /// Sweeps the identity service's store every `every`.
    pub fn new(identity: &Identity, every: Duration) -> Self {
        Self {
            store: identity.store().clone(),
            every,
        }
    }

    async fn sweep(&self) -> StoreResult<Swept> {
        let now = now_millis();
        Ok(Swept {
            refresh_tokens: self.store.delete_expired_refresh_tokens(now).await?,
            change_password_ids: self.store.delete_expired_change_password_ids(now).await?,
            oauth: self.store.delete_expired_oauth_rows(now).await?,
            login_attempts: self.store.delete_ended_login_attempts(now).await?,
            two_factor: self.store.delete_expired_two_factor_rows(now).await?,
        })
    }
}

impl Worker for Cleanup {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        while !shutdown.is_stopping() {
            tokio::select! {
                swept = self.sweep() => match swept {
                    Ok(s) if s == Swept::default() => tracing::debug!("cleanup: nothing expired"),
                    Ok(s) => tracing::info!(
                        refresh_tokens = s.refresh_tokens,
                        change_password_ids = s.change_password_ids,
                        oauth_codes_and_sessions = s.oauth,
                        login_attempts = s.login_attempts,
                        two_factor = s.two_factor,
                        "cleanup: expired rows deleted"
                    ),
                    Err(e) => tracing::warn!(worker = NAME, error = %e, "cleanup: the sweep failed; the next one tries again"),
                },
                // A sweep stopped part-way has deleted whole slices only; the next start goes on.
                _ = shutdown.give_up() => return Ok(()),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.stopping() => {}
            }
        }
        Ok(())
    }
}
