//! Forgot password (`POST /api/user/forgot-password`), including users who are still only in a
//! legacy system: connectors that can look a user up without a password are asked,
//! the profile is copied in, and the reset email goes out. The new password, set through the
//! emailed change-password id, is what makes the user migrated.
//!
//! The caller's answer never depends on whether the user exists: with the email to send, the
//! request is put on a [`ResetQueue`] and answered 200 at once; the mail worker
//! (`portcullis-workers`) drains the queue, and the look-ups, the migration and the SMTP
//! conversation happen there ([`Sessions::deliver_reset`]), so neither the body nor the time
//! tells. At most three resets per login id an hour are acted on, so the open endpoint floods
//! neither an inbox nor the legacy system.

use crate::mail::{Email, EmailSettings};
use crate::model::*;
use crate::sessions::Sessions;
use crate::{Error, Errors};
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;

type Result<T, E = Error> = std::result::Result<T, E>;

/// FusionAuth's forgot-password request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ForgotPasswordRequest {
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub application_id: Option<Uuid>,
    /// Default true. False (API key required) answers the change-password id instead, for
    /// callers that deliver it themselves.
    #[serde(default)]
    pub send_forgot_password_email: Option<bool>,
}

pub enum ForgotOutcome {
    /// The email is on its way if the user exists (200 `{}`).
    Accepted,
    /// `sendForgotPasswordEmail: false`: the id, for the trusted caller.
    ChangePasswordId(String),
}

/// How long an emailed change-password id is good for (see
/// [`crate::settings::change_password_id_ttl_millis`]).
fn id_ttl_millis(tenant: &Tenant) -> Millis {
    crate::settings::change_password_id_ttl_millis(tenant)
}

/// Forgot-password requests answered and not yet acted on, for the mail worker to drain.
/// Bounded: a flood of requests beyond [`RESET_QUEUE_CAPACITY`] waiting is dropped (and logged)
/// rather than held in memory; the callers' answers are the same.
#[derive(Clone)]
pub struct ResetQueue(mpsc::Sender<PendingReset>);

/// The receiving end of a [`ResetQueue`]: the mail worker's.
pub struct ResetInbox(mpsc::Receiver<PendingReset>);

/// Requests a [`ResetQueue`] holds at most.
pub const RESET_QUEUE_CAPACITY: usize = 10_000;

/// A new queue for forgot-password requests and its inbox.
pub fn reset_queue() -> (ResetQueue, ResetInbox) {
    let (tx, rx) = mpsc::channel(RESET_QUEUE_CAPACITY);
    (ResetQueue(tx), ResetInbox(rx))
}

impl ResetInbox {
    /// The next request; `None` once the inbox is closed and empty.
    pub async fn recv(&mut self) -> Option<PendingReset> {
        self.0.recv().await
    }

    /// Refuses further requests (they are logged and dropped); those already queued are still
    /// received.
    pub fn close(&mut self) {
        self.0.close()
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One forgot-password request waiting for the mail worker.
pub struct PendingReset {
    tenant: Tenant,
    login_id: String,
    /// The link the email carries, `{changePasswordId}` to be replaced, when the tenant names
    /// none (see [`EmailSettings::reset_link_or`]).
    link: Option<String>,
}

impl PendingReset {
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant.id
    }
}

/// Reset emails per login id within [`RESET_WINDOW_MILLIS`].
const RESETS_PER_WINDOW: u64 = 3;
const RESET_WINDOW_MILLIS: Millis = 3_600_000;

impl Sessions {
    /// `trusted`: the caller sent a valid API key. An email to send goes on `resets`.
    pub async fn forgot_password(
        &self,
        scope: Scope,
        req: ForgotPasswordRequest,
        trusted: bool,
        resets: &ResetQueue,
    ) -> Result<ForgotOutcome> {
        let mut errors = Errors::default();
        let login_id = crate::validate::login_id(
            req.login_id.as_deref(),
            "loginId",
            "You must specify the [loginId] (an email or a username).",
            &mut errors,
        )
        .to_string();
        errors.into_result()?;
        let identity = self.identity();
        let tenant = identity.acting_tenant(scope).await?;
        if req.send_forgot_password_email == Some(false) {
            if !trusted {
                return Err(Error::Unauthorized);
            }
            let user = self
                .find_or_adopt(&tenant, &login_id)
                .await?
                .ok_or(Error::NotFound)?;
            return Ok(ForgotOutcome::ChangePasswordId(
                self.new_change_password_id(&tenant, &user).await?,
            ));
        }
        self.queue_reset(tenant, login_id, None, resets);
        Ok(ForgotOutcome::Accepted)
    }

    /// Puts a reset email for `login_id` on `resets`, for the mail worker; `link` is the reset
    /// page the email points to when the tenant names none (the hosted pages pass theirs).
    /// Whether the login id exists is not looked at here, so the caller's answer cannot tell.
    pub fn queue_reset(
        &self,
        tenant: Tenant,
        login_id: String,
        link: Option<String>,
        resets: &ResetQueue,
    ) {
        // The answer is the same whether or not the request could be queued.
        match resets.0.try_send(PendingReset {
            tenant,
            login_id,
            link,
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(r)) => {
                tracing::warn!(tenant = ?r.tenant.id, "forgot password: the mail queue is full; nothing sent")
            }
            Err(mpsc::error::TrySendError::Closed(r)) => {
                tracing::warn!(tenant = ?r.tenant.id, "forgot password: no mail worker runs; nothing sent")
            }
        }
    }

    /// Acts on one queued forgot-password request: the look-ups, the migration of a user only
    /// a legacy system holds, the change-password id and the email. The mail worker's unit of
    /// work; the error is for its log.
    pub async fn deliver_reset(&self, reset: PendingReset) -> Result<()> {
        self.send_reset(&reset.tenant, &reset.login_id, reset.link.as_deref())
            .await
    }

    /// The user by email or username; else a copy from the first connector (in policy order)
    /// that can look users up and knows this login id.
    async fn find_or_adopt(&self, tenant: &Tenant, login_id: &str) -> Result<Option<StoredUser>> {
        let store = self.identity().store();
        let tenant_id = tenant.id.expect("stored");
        let key = crate::normalize_login_id(login_id);
        if let Some(u) = store.user_by_email(tenant_id, &key).await? {
            return Ok(Some(u));
        }
        if let Some(u) = store.user_by_username(tenant_id, &key).await? {
            return Ok(Some(u));
        }
        self.identity()
            .lookup_through_connectors(tenant, login_id)
            .await
    }

    async fn new_change_password_id(&self, tenant: &Tenant, user: &StoredUser) -> Result<String> {
        let id = crate::secrets::new_secret();
        self.identity()
            .store()
            .insert_change_password_id(
                &crate::secrets::stored_hash(&id),
                tenant.id.expect("stored"),
                user.user.id.expect("stored"),
                now_millis().saturating_add(id_ttl_millis(tenant)),
            )
            .await?;
        Ok(id)
    }

    async fn send_reset(&self, tenant: &Tenant, login_id: &str, link: Option<&str>) -> Result<()> {
        // An open endpoint must not become a way to flood someone's inbox or the legacy
        // system's lookups: a few resets per login id per hour, counted in the store so every
        // node agrees. The caller's answer is the same either way.
        let now = now_millis();
        let subject = format!("reset:{}", crate::normalize_login_id(login_id));
        let n = self
            .identity()
            .store()
            .count_login_attempt(
                tenant.id.expect("stored"),
                std::slice::from_ref(&subject),
                now,
                now + RESET_WINDOW_MILLIS,
            )
            .await?
            .first()
            .map_or(0, |c| c.n);
        if n > RESETS_PER_WINDOW {
            tracing::warn!(tenant = ?tenant.id, "forgot password: too many requests for one login id; nothing sent");
            return Ok(());
        }
        let Some(user) = self.find_or_adopt(tenant, login_id).await? else {
            tracing::info!(tenant = ?tenant.id, "forgot password for an unknown login id: nothing sent");
            return Ok(());
        };
        let Some(to) = user.user.email.clone().filter(|e| !e.is_empty()) else {
            tracing::info!(user = ?user.user.id, "forgot password: the user has no email address");
            return Ok(());
        };
        let id = self.new_change_password_id(tenant, &user).await?;
        let settings = EmailSettings::of(tenant);
        let link = settings.reset_link_or(&id, link);
        let name = user
            .user
            .first_name
            .clone()
            .unwrap_or_else(|| "there".into());
        let email = Email {
            to,
            subject: "Reset your password".into(),
            text: format!(
                "Hi {name},\n\nSomeone (hopefully you) asked to reset the password of your account.\n\
                 Choose a new password here:\n\n{link}\n\n\
                 The link works once, for {} minutes. If you did not ask for this, ignore this email.\n",
                id_ttl_millis(tenant) / 60_000
            ),
        };
        self.identity()
            .mailer()
            .send(&settings, &email)
            .await
            .map_err(|e| Error::Busy(format!("the email could not be sent: {e}")))?;
        tracing::info!(user = ?user.user.id, "forgot-password email sent");
        Ok(())
    }
}
