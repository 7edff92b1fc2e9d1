//! Brute-force locks: every login attempt is counted in the store before any verify, against the
//! user (or the typed login id) and the client's address; a subject over `tooManyAttempts` in the
//! window is refused without a check, and locked when a failure reaches the limit.

use super::{Result, Sessions};
use crate::model::*;
use crate::settings::LoginSettings;
use uuid::Uuid;

/// The brute-force counts one login attempt added (empty when the tenant does not lock).
#[derive(Debug, Default)]
pub(super) struct Counted {
    pub(super) tenant: Uuid,
    /// Counts that start over when the password is right (the user's, the login id's).
    pub(super) reset: Vec<String>,
    /// Counts that only lose this attempt then (the client's address, shared by others).
    pub(super) give_back: Vec<String>,
}

impl Counted {
    pub(super) fn back(&self) -> Option<crate::AttemptsBack<'_>> {
        (!self.reset.is_empty() || !self.give_back.is_empty()).then_some(crate::AttemptsBack {
            tenant: self.tenant,
            reset: &self.reset,
            give_back: &self.give_back,
        })
    }
}

impl Sessions {
    /// Counts one attempt against `subjects` (see `SessionStore::count_login_attempt`).
    pub(super) async fn count_attempt(
        &self,
        tenant: Uuid,
        subjects: &[String],
        settings: &LoginSettings,
        now: Millis,
    ) -> Result<Vec<crate::AttemptCount>> {
        Ok(self
            .store()
            .count_login_attempt(tenant, subjects, now, Self::window_end(settings, now))
            .await?)
    }

    /// Where the window of a count that starts `now` ends.
    pub(super) fn window_end(settings: &LoginSettings, now: Millis) -> Millis {
        now + settings.failed.reset_count_in_seconds.max(1) * 1000
    }

    /// When any count is beyond the limit: the latest end among their windows.
    pub(super) fn over_limit(
        counts: &[crate::AttemptCount],
        settings: &LoginSettings,
    ) -> Option<Millis> {
        let limit = settings.failed.too_many_attempts;
        let over = counts.iter().filter(|c| limit > 0 && c.n > limit);
        let until = over.map(|c| c.expires_instant).max();
        if until.is_some() {
            tracing::warn!(subjects = ?counts.iter().filter(|c| c.n > limit).map(|c| c.subject.split(':').next().unwrap_or("")).collect::<Vec<_>>(), "login refused: too many attempts in the window");
        }
        until
    }

    /// Takes back what a decided login no longer needs counted (see [`Counted`]).
    pub(super) async fn take_back(&self, counted: &Counted) -> Result<()> {
        if let Some(back) = counted.back() {
            self.store().forget_login_attempts(&back).await?;
        }
        Ok(())
    }

    /// A failed check: every subject whose count reached the limit is locked (its count starts
    /// over when the lock ends). The counts themselves stay.
    pub(super) async fn failed(
        &self,
        tenant: Uuid,
        counts: &[crate::AttemptCount],
        settings: &LoginSettings,
        now: Millis,
    ) -> Result<()> {
        let f = &settings.failed;
        for c in counts {
            if f.too_many_attempts > 0 && c.n >= f.too_many_attempts {
                self.store()
                    .lock_login(tenant, &c.subject, now + f.lock_millis())
                    .await?;
                tracing::warn!(tenant = %tenant, subject_kind = %c.subject.split(':').next().unwrap_or(""), "login locked after too many failures");
            }
        }
        tracing::info!(tenant = %tenant, "login failed");
        Ok(())
    }
}

impl Sessions {
    /// When the user's sign-ins are locked after too many failures: when the lock ends.
    pub async fn user_locked_until(&self, tenant: Uuid, user: Uuid) -> Result<Option<Millis>> {
        let subject = crate::store::user_subject(user);
        let locks = self
            .store()
            .login_locks(tenant, std::slice::from_ref(&subject), now_millis())
            .await?;
        Ok(locks.locked_until)
    }

    /// Ends the user's brute-force lock and starts the count of their failures over; the
    /// counts of client addresses stay, since other users share them.
    pub async fn unlock_user(&self, tenant: Uuid, user: Uuid) -> Result<()> {
        self.store()
            .unlock_login(tenant, &crate::store::user_subject(user))
            .await?;
        tracing::info!(%user, "a user's sign-in lock was ended");
        Ok(())
    }
}
