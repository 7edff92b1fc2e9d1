//! `reset-mail`: drains this node's queue of forgot-password requests (`domain::forgot`), each
//! request's look-ups, change-password id and email ([`Sessions::deliver_reset`]) on a task of
//! its own, a few at once, so one tenant's slow SMTP server does not hold back the others'.
//! At shutdown, once the HTTP server has stopped, the queue is closed and drained within the
//! grace time.

use crate::{Shutdown, Worker};
use portcullis_domain::{PendingReset, ResetInbox, Sessions};
use tokio::task::JoinSet;

const NAME: &str = "reset-mail";

/// Requests acted on at once.
const AT_ONCE: usize = 8;

pub struct ResetMail {
    sessions: Sessions,
    inbox: ResetInbox,
}

impl ResetMail {
    pub fn new(sessions: Sessions, inbox: ResetInbox) -> Self {
        Self { sessions, inbox }
    }
}

impl Worker for ResetMail {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        let mut sending = JoinSet::new();
        // Until the inbox is closed and empty.
        let mut more = true;
        let mut closed = false;
        while more || !sending.is_empty() {
            tokio::select! {
                biased;
                _ = shutdown.give_up() => {
                    let left = self.inbox.len() + sending.len();
                    if left > 0 {
                        tracing::warn!(requests = left, "forgot-password requests unfinished when the grace time ended: no email sent for them");
                    }
                    sending.abort_all();
                    return Ok(());
                }
                Some(done) = sending.join_next() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!(worker = NAME, "a forgot-password request panicked: no email sent");
                        }
                    }
                }
                _ = shutdown.quiet(), if !closed => {
                    self.inbox.close();
                    closed = true;
                }
                next = self.inbox.recv(), if more && sending.len() < AT_ONCE => match next {
                    Some(reset) => {
                        sending.spawn(deliver(self.sessions.clone(), reset));
                    }
                    None => more = false,
                },
            }
        }
        Ok(())
    }
}

async fn deliver(sessions: Sessions, reset: PendingReset) {
    let tenant = reset.tenant_id();
    if let Err(e) = sessions.deliver_reset(reset).await {
        tracing::warn!(tenant = ?tenant, error = %e, "forgot password: no email sent");
    }
}
