//! Transaction levels: FusionAuth's `eventConfiguration.events[type].transactionType` of a
//! tenant. At a level other than `None`, a transactional event's enabled webhooks are called
//! before its change commits, and the change is made only when enough of them answered 2xx.
//!
//! The receivers are called after the change is checked and before its write transaction
//! begins, so no database lock (SQLite's one writer, PostgreSQL's row locks) is held while a
//! receiver is waited for; each webhook's connect and read timeouts bound the wait. The webhooks
//! that answered 2xx are recorded as delivered in the change's own transaction (see
//! [`crate::Event::delivered`]), so the outbox does not send them the event again.

use super::{build_request, Webhook};
use crate::identity::Result;
use crate::model::Json;
use crate::{Error, Event, Identity};
use serde_json::Value;
use uuid::Uuid;

/// FusionAuth's transaction levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionType {
    /// The change commits whatever the webhooks answer; the event is delivered afterwards.
    None,
    /// At least one webhook answers 2xx.
    Any,
    /// More than half of them.
    SimpleMajority,
    /// At least two thirds of them.
    SuperMajority,
    /// All of them.
    AbsoluteMajority,
}

impl TransactionType {
    pub const NAMES: [&'static str; 5] = [
        "None",
        "Any",
        "SimpleMajority",
        "SuperMajority",
        "AbsoluteMajority",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "None" => TransactionType::None,
            "Any" => TransactionType::Any,
            "SimpleMajority" => TransactionType::SimpleMajority,
            "SuperMajority" => TransactionType::SuperMajority,
            "AbsoluteMajority" => TransactionType::AbsoluteMajority,
            _ => return None,
        })
    }

    /// Whether `ok` 2xx answers of `total` webhooks meet the level; with no webhook to ask,
    /// every level is met.
    pub fn met(self, ok: usize, total: usize) -> bool {
        if total == 0 {
            return true;
        }
        match self {
            TransactionType::None => true,
            TransactionType::Any => ok >= 1,
            TransactionType::SimpleMajority => 2 * ok > total,
            TransactionType::SuperMajority => 3 * ok >= 2 * total,
            TransactionType::AbsoluteMajority => ok == total,
        }
    }

    /// The level `tenant_settings` set for events of `kind` (`None` when unset).
    pub fn of(tenant_settings: &Json, kind: &str) -> TransactionType {
        tenant_settings
            .get("eventConfiguration")
            .and_then(|c| c.get("events"))
            .and_then(|e| e.get(kind))
            .and_then(|c| c.get("transactionType"))
            .and_then(Value::as_str)
            .and_then(TransactionType::parse)
            .unwrap_or(TransactionType::None)
    }
}

/// The event types a transaction level applies to: the user changes. Logins (which FusionAuth
/// also holds for a level), failed logins, refresh-token revocations and `user.migrated` are
/// always delivered after the fact.
pub const TRANSACTIONAL_EVENTS: [&str; 11] = [
    "user.bulk.create",
    "user.create",
    "user.deactivate",
    "user.delete",
    "user.email.verified",
    "user.password.update",
    "user.reactivate",
    "user.registration.create",
    "user.registration.delete",
    "user.registration.update",
    "user.update",
];

impl Identity {
    /// Calls the webhooks of each transactional event whose tenant sets a level, before the
    /// change is written: `Err` ([`Error::WebhookTransaction`]) when a level is not met (the
    /// caller then writes nothing); else each event's `delivered` names the webhooks that
    /// answered 2xx.
    pub(crate) async fn transact(&self, events: &mut [Event]) -> Result<()> {
        for e in events.iter_mut() {
            e.delivered = self
                .hold(e.id, e.tenant_id, &e.kind, || e.body.to_string())
                .await?;
        }
        Ok(())
    }

    /// [`Identity::transact`] for events already in their text form (an import's).
    pub(crate) async fn transact_texts(
        &self,
        events: &mut [crate::event::EventText],
    ) -> Result<()> {
        for e in events.iter_mut() {
            e.delivered = self
                .hold(e.id, e.tenant_id, &e.kind, || e.body.clone())
                .await?;
        }
        Ok(())
    }

    /// Whether events of `kind` in `tenant` are held for their webhooks before their change
    /// is written (the tenant sets a level for them).
    pub(crate) async fn holds_events(&self, tenant: Uuid, kind: &str) -> Result<bool> {
        Ok(self.level(Some(tenant), kind).await? != TransactionType::None)
    }

    /// One event: the webhooks that answered 2xx when its tenant sets a level (none asked
    /// without one); `body` is made only when they are asked.
    async fn hold(
        &self,
        id: Uuid,
        tenant: Option<Uuid>,
        kind: &str,
        body: impl FnOnce() -> String,
    ) -> Result<Vec<Uuid>> {
        match self.level(tenant, kind).await? {
            TransactionType::None => Ok(Vec::new()),
            level => self.call_receivers(level, id, tenant, kind, body()).await,
        }
    }

    async fn level(&self, tenant: Option<Uuid>, kind: &str) -> Result<TransactionType> {
        if !TRANSACTIONAL_EVENTS.contains(&kind) {
            return Ok(TransactionType::None);
        }
        let Some(t) = tenant else {
            return Ok(TransactionType::None);
        };
        Ok(match self.store().tenant(t).await? {
            Some(tenant) => TransactionType::of(&tenant.settings, kind),
            None => TransactionType::None,
        })
    }

    /// Sends the event to every webhook that wants it, all at once, and answers those that
    /// answered 2xx if the tenant's level is met.
    async fn call_receivers(
        &self,
        level: TransactionType,
        id: Uuid,
        tenant: Option<Uuid>,
        kind: &str,
        body: String,
    ) -> Result<Vec<Uuid>> {
        let hooks: Vec<Webhook> = (self.store().webhooks().await?)
            .into_iter()
            .filter(|w| w.wants(kind, tenant))
            .collect();
        if hooks.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = crate::TokenService::new(self.store().clone());
        let calls = hooks.iter().map(|w| {
            let (tokens, body) = (&tokens, body.clone());
            async move {
                let wid = w.id?;
                let secret = self.store().webhook_secret(wid).await.ok()??;
                let out = build_request(tokens, w, &secret, id, body).await.ok()?;
                match self.webhook_sender().send(w, out).await {
                    Ok(d) if (200..300).contains(&d.status) => Some(wid),
                    Ok(d) => {
                        tracing::info!(webhook = %wid, event = %id, status = d.status, "transactional webhook refused the event");
                        None
                    }
                    Err(e) => {
                        tracing::info!(webhook = %wid, event = %id, error = %e, "transactional webhook gave no answer");
                        None
                    }
                }
            }
        });
        let ok: Vec<Uuid> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect();
        if level.met(ok.len(), hooks.len()) {
            Ok(ok)
        } else {
            Err(Error::WebhookTransaction(format!(
                "The [{kind}] event's webhooks did not meet the tenant's transaction level \
                 [{level:?}]: {} of {} answered with a 2xx status. Nothing was changed.",
                ok.len(),
                hooks.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TransactionType::*;

    #[test]
    fn levels_count_answers_as_fusionauth_does() {
        assert!(Any.met(1, 3) && !Any.met(0, 3));
        assert!(SimpleMajority.met(2, 3) && !SimpleMajority.met(1, 2));
        assert!(SuperMajority.met(2, 3) && !SuperMajority.met(3, 5));
        assert!(AbsoluteMajority.met(3, 3) && !AbsoluteMajority.met(2, 3));
        assert!(AbsoluteMajority.met(0, 0) && None.met(0, 5));
    }
}
