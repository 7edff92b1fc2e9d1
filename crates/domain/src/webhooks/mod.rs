//! Webhooks: the `/api/webhook` resources in FusionAuth's shape, the delivery attempts the
//! `webhooks` worker makes from the `events` outbox (one row per event and webhook), their
//! backoff and dead letters, the two signatures a receiver can verify, and the interfaces a
//! store ([`WebhookStore`]) and an HTTP client ([`WebhookSender`]) implement, and the tenants'
//! transaction levels, which call the webhooks before a change commits.
//!
//! Secrets: `httpAuthenticationPassword` and header values are kept in the store and never
//! answered (headers are masked, as connectors' are); the Standard Webhooks secret is made on
//! create, answered once, and kept in the store beside the webhook in the form HMAC needs.

mod deliver;
mod resources;
mod transaction;

pub(crate) use deliver::build_request;
pub use deliver::{backoff, sign_standard, Backoff, Delivered, Outgoing, SAMPLE_EVENTS};
pub use resources::{CreatedWebhook, EventLogQuery};
pub use transaction::{TransactionType, TRANSACTIONAL_EVENTS};

use crate::model::*;
use crate::{Error, Errors, StoreResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The event types a webhook can enable: FusionAuth's user and refresh-token events, and ours
/// (`user.migrated`).
pub const EVENT_TYPES: [&str; 15] = [
    "jwt.refresh-token.revoke",
    "user.bulk.create",
    "user.create",
    "user.deactivate",
    "user.delete",
    "user.email.verified",
    "user.login.failed",
    "user.login.success",
    "user.migrated",
    "user.password.update",
    "user.reactivate",
    "user.registration.create",
    "user.registration.delete",
    "user.registration.update",
    "user.update",
];

/// Header values are shown as this mask (see `migration::connectors::MASK`).
pub use crate::migration::connectors::MASK;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignatureConfiguration {
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub enabled: bool,
    /// The signing key (`/api/key`) that signs `X-FusionAuth-Signature-JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_id: Option<String>,
}

/// A webhook (`/api/webhook`), in FusionAuth's JSON shape. Its `Debug` shows the answer's form,
/// so a webhook in a log line carries no secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(required = true, min_length = 1))]
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Milliseconds to connect (FusionAuth's default 1000).
    #[serde(default = "connect_default", deserialize_with = "connect_or_null")]
    pub connect_timeout: i64,
    /// Milliseconds to wait for the answer (FusionAuth's default 2000).
    #[serde(default = "read_default", deserialize_with = "read_or_null")]
    pub read_timeout: i64,
    /// Event type → whether this webhook gets it.
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub events_enabled: BTreeMap<String, bool>,
    /// Every tenant's events (else only those of `tenantIds`).
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub global: bool,
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub tenant_ids: Vec<Uuid>,
    /// Header name → value, sent with every request; values are secrets (masked in answers).
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_authentication_username: Option<String>,
    /// Kept in the store, never answered; a save that leaves it out keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_authentication_password: Option<String>,
    /// PEM certificates the receiver's TLS certificate must chain to (replaces the public roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_certificate: Option<String>,
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub signature_configuration: SignatureConfiguration,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub data: Json,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
}

fn connect_default() -> i64 {
    1000
}
fn read_default() -> i64 {
    2000
}

/// An explicit `null` (client libraries send them freely) is the default.
fn connect_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or_else(connect_default))
}

fn read_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or_else(read_default))
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Webhook({})",
            serde_json::to_value(self.redacted()).unwrap_or_default()
        )
    }
}

impl Webhook {
    /// The webhook as answers show it: no password, header values masked.
    pub fn redacted(&self) -> Webhook {
        let mut w = self.clone();
        w.http_authentication_password = None;
        for v in w.headers.values_mut() {
            *v = MASK.to_string();
        }
        w
    }

    /// Puts the stored secrets of `old` into a save that left them out or sent the mask;
    /// answers the masked headers that have no stored value.
    pub fn keep_secrets(&mut self, old: &Webhook) -> Vec<String> {
        if self.http_authentication_password.is_none() {
            self.http_authentication_password = old.http_authentication_password.clone();
        }
        let mut unknown = Vec::new();
        for (name, value) in self.headers.iter_mut() {
            if value == MASK {
                match old.headers.get(name) {
                    Some(v) => *value = v.clone(),
                    None => unknown.push(name.clone()),
                }
            }
        }
        unknown
    }

    /// Whether this webhook gets an event of `kind` in `tenant`.
    pub fn wants(&self, kind: &str, tenant: Option<Uuid>) -> bool {
        self.events_enabled.get(kind).copied().unwrap_or(false)
            && (self.global || tenant.is_some_and(|t| self.tenant_ids.contains(&t)))
    }

    /// The longest one request to it can take.
    pub fn request_budget_millis(&self) -> i64 {
        self.connect_timeout.max(0) + self.read_timeout.max(0)
    }
}

/// Where a delivery attempt is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttemptStatus {
    /// Not yet delivered; tried again at `nextAttemptInstant`.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Dead-lettered: not delivered within the maximum age; kept, listed, retried on request.
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => AttemptStatus::Pending,
            "succeeded" => AttemptStatus::Succeeded,
            "failed" => AttemptStatus::Failed,
            _ => return None,
        })
    }
}

/// The delivery of one event to one webhook (`/api/webhook-attempt`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    pub id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    pub event_type: String,
    pub status: AttemptStatus,
    /// Requests whose outcome is recorded: one in flight, or cut short by a node's death,
    /// is not counted.
    pub attempts: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub event_instant: Millis,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub next_attempt_instant: Millis,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_instant: Option<Millis>,
    /// The receiver's last HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    /// Why the last request failed (transport error or status); never a body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A pending attempt this node has claimed, with the event body it sends.
#[derive(Debug, Clone)]
pub struct ClaimedAttempt {
    pub id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    pub event_type: String,
    /// Requests made, this one included.
    pub attempts: i64,
    /// When the current retry window began (the first attempt, or the last manual retry).
    pub window_start: Millis,
    pub event_instant: Millis,
    pub body: String,
    /// The store's own handle on the attempt's row where it has one (SQLite's rowid), so the
    /// end finds the row without the id's index.
    pub row: Option<i64>,
}

/// How a claimed attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptEnd {
    Delivered {
        status: u16,
    },
    /// Try again at `at`.
    Retry {
        at: Millis,
        status: Option<u16>,
        error: String,
    },
    /// Dead-lettered.
    Dead {
        status: Option<u16>,
        error: String,
    },
}

/// A claimed attempt whose request is over, waiting to be recorded.
#[derive(Debug, Clone)]
pub struct EndedAttempt {
    pub attempt: ClaimedAttempt,
    /// When the request ended.
    pub at: Millis,
    pub end: AttemptEnd,
}

/// What the delivery log is filtered by.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptQuery {
    #[serde(default)]
    pub webhook_id: Option<Uuid>,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub event_id: Option<Uuid>,
    /// At most this many, newest first (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What the worker has done, for the metrics.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub delivered: std::sync::atomic::AtomicU64,
    pub retried: std::sync::atomic::AtomicU64,
    pub dead_lettered: std::sync::atomic::AtomicU64,
    /// Summed request time of the attempts above, in microseconds.
    pub request_micros: std::sync::atomic::AtomicU64,
    /// Summed time from an event to its delivery, in milliseconds.
    pub delivery_lag_millis: std::sync::atomic::AtomicU64,
}

/// One entry of FusionAuth's Event Log (`/api/system/event-log`): something that went wrong
/// beside the requests, such as a webhook attempt dead-lettered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLog {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub insert_instant: Millis,
    /// `Error`, `Information` or `Debug`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// Outbox figures for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    /// Events not yet fanned out to their webhooks.
    pub events_pending: i64,
    /// Attempts not yet delivered (not dead-lettered).
    pub attempts_pending: i64,
    pub attempts_failed: i64,
    /// The event instant of the oldest pending attempt.
    pub oldest_pending: Option<Millis>,
}

/// Webhooks, their attempts and the outbox cursor, as a store keeps them.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn insert_webhook(&self, w: &Webhook, secret: &str) -> StoreResult<()>;
    async fn webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>>;
    /// The Standard Webhooks secret of a webhook (`whsec_...`).
    async fn webhook_secret(&self, id: Uuid) -> StoreResult<Option<String>>;
    async fn webhooks(&self) -> StoreResult<Vec<Webhook>>;
    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()>;
    /// Deletes the webhook and its attempts.
    async fn delete_webhook(&self, id: Uuid) -> StoreResult<bool>;

    /// Moves the outbox cursor over up to `limit` events, in order, adding one pending attempt
    /// per event and webhook that wants it, in one transaction; an event missing from the
    /// sequence (a transaction not yet committed) stops the move unless the event after it is
    /// older than `gap_wait` millis (the gap is then a rolled-back transaction). Answers the
    /// events moved over.
    async fn fan_out_events(
        &self,
        now: Millis,
        limit: usize,
        gap_wait: Millis,
    ) -> StoreResult<usize>;
    /// Claims up to `limit` due pending attempts of `webhook` for `node` until `until`
    /// (atomically: two nodes never claim one attempt). Each comes with the count it will have
    /// once made; the attempt's own count moves only when its end is recorded.
    async fn claim_attempts(
        &self,
        webhook: Uuid,
        node: &str,
        now: Millis,
        until: Millis,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedAttempt>>;
    /// Records how claimed attempts ended, in one transaction: each only if `node` still holds
    /// its claim; a dead letter also writes an `Error` entry of the Event Log. Answers, per
    /// attempt and in order, whether it was recorded.
    async fn finish_attempts(&self, node: &str, ended: &[EndedAttempt]) -> StoreResult<Vec<bool>>;
    async fn attempt(&self, id: Uuid) -> StoreResult<Option<WebhookAttempt>>;
    async fn attempts(&self, q: &AttemptQuery, limit: usize) -> StoreResult<Vec<WebhookAttempt>>;
    /// Makes dead-lettered attempts (one, or all of a webhook) pending again now, with a new
    /// retry window; answers how many.
    async fn retry_attempts(
        &self,
        id: Option<Uuid>,
        webhook: Option<Uuid>,
        now: Millis,
    ) -> StoreResult<u64>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
    /// The Event Log, newest first: up to `limit` entries of `kind` (or every kind).
    async fn event_logs(&self, kind: Option<&str>, limit: usize) -> StoreResult<Vec<EventLog>>;
    async fn event_log(&self, id: Uuid) -> StoreResult<Option<EventLog>>;
}

/// A request to a webhook's receiver and what it answered.
#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Checks the transport settings (TLS certificate, headers) before a webhook is saved;
    /// field errors are keyed `webhook.<field>`.
    fn check(&self, w: &Webhook) -> Result<(), Error>;
    /// Posts `out` to the webhook's URL with the webhook's own headers within its timeouts.
    /// `Err`: no answer (the message names the host, never a secret).
    async fn send(&self, w: &Webhook, out: Outgoing) -> Result<Delivered, String>;
    /// Drops what is kept for any webhook not in `live` (the webhooks that exist now), so a
    /// deleted webhook's client and connections do not outlive it.
    fn retain(&self, live: &[Uuid]) {
        let _ = live;
    }
}

/// The stand-in when no HTTP client is configured: every request fails.
pub struct NoWebhookSender;

#[async_trait::async_trait]
impl WebhookSender for NoWebhookSender {
    fn check(&self, _: &Webhook) -> Result<(), Error> {
        Ok(())
    }
    async fn send(&self, _: &Webhook, _: Outgoing) -> Result<Delivered, String> {
        Err("no webhook client is configured".into())
    }
}

pub(crate) fn invalid(errors: &mut Errors, field: &str, message: impl Into<String>) {
    errors.add_field(
        &format!("webhook.{field}"),
        &format!("[invalid]webhook.{field}"),
        message,
    );
}
