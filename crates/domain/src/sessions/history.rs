//! A user's recent sign-ins, read back from the login events the outbox keeps: when, through
//! which application, from which address, and why a failure failed. Nothing the user typed is
//! in them.

use super::{Result, Sessions};
use crate::model::Millis;
use uuid::Uuid;

/// One sign-in attempt of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    pub instant: Millis,
    pub success: bool,
    pub application_id: Option<Uuid>,
    pub ip_address: Option<String>,
    /// Why a failure failed when it is not the password (a lock, a deactivated user).
    pub reason: Option<String>,
}

impl Sessions {
    /// The user's `limit` latest sign-ins, newest first.
    pub async fn recent_logins(&self, user: Uuid, limit: usize) -> Result<Vec<LoginRecord>> {
        let events = self.store().login_events(user, limit).await?;
        Ok(events
            .into_iter()
            .map(|e| {
                let body = e.body.get("event");
                let text = |k: &str| {
                    body.and_then(|b| b.get(k))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                };
                LoginRecord {
                    instant: e.create_instant,
                    success: e.kind == "user.login.success",
                    application_id: text("applicationId").and_then(|a| Uuid::parse_str(&a).ok()),
                    ip_address: text("ipAddress"),
                    reason: text("reason"),
                }
            })
            .collect())
    }
}
