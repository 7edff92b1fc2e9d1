//! The Webhook API's rules: who sees which webhook, what a saved webhook must hold, and the
//! delivery log's reads and retries.
//!
//! A caller acting in one tenant (a tenant-locked key, or a global key with a tenant header)
//! sees and manages only the webhooks of that tenant alone (`global: false`, `tenantIds` exactly
//! its tenant); a global webhook, which gets every tenant's events, is the global callers' only.

use super::*;
use crate::identity::Result;
use crate::{Error, Errors, Identity, Scope};

/// What `GET /api/system/event-log` is filtered by.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLogQuery {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub number_of_results: Option<u32>,
}

/// A new webhook and its Standard Webhooks secret, answered once.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

impl Identity {
    fn webhook_visible(scope: Scope, w: &Webhook) -> bool {
        match scope.tenant {
            None => true,
            Some(t) => !w.global && w.tenant_ids == [t],
        }
    }

    async fn check_webhook(&self, scope: Scope, w: &mut Webhook) -> Result<()> {
        let mut errors = Errors::default();
        let url = w.url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        if url.is_empty() {
            errors.add_field(
                "webhook.url",
                "[blank]webhook.url",
                "You must specify the [webhook.url] property.",
            );
        } else if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace))
            || url.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            invalid(
                &mut errors,
                "url",
                "[webhook.url] must be an absolute http:// or https:// URL.",
            );
        }
        w.url = url.to_string();
        for (field, v) in [
            ("connectTimeout", w.connect_timeout),
            ("readTimeout", w.read_timeout),
        ] {
            if !(1..=600_000).contains(&v) {
                invalid(
                    &mut errors,
                    field,
                    format!("[webhook.{field}] must be between 1 and 600000 milliseconds."),
                );
            }
        }
        for kind in w.events_enabled.keys() {
            if !EVENT_TYPES.contains(&kind.as_str()) {
                invalid(
                    &mut errors,
                    "eventsEnabled",
                    format!("[{kind}] is not an event type."),
                );
            }
        }
        for (name, value) in &w.headers {
            // The request's own headers: a custom one of the same name would be sent beside
            // ours, and a receiver reading the first would check the wrong signature.
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("webhook-")
                || matches!(
                    lower.as_str(),
                    "content-type" | "content-length" | "host" | "x-fusionauth-signature-jwt"
                )
            {
                invalid(
                    &mut errors,
                    "headers",
                    format!("The header [{name}] is set by the delivery itself and cannot be configured."),
                );
            }
            if value == MASK {
                invalid(
                    &mut errors,
                    "headers",
                    format!("The header [{name}] has the masked value {MASK} but no stored value to keep; send its value."),
                );
            }
        }
        if let Some(t) = scope.tenant {
            if w.global || (!w.tenant_ids.is_empty() && w.tenant_ids != [t]) {
                errors.add_field(
                    "webhook.tenantIds",
                    "[notAllowed]webhook.tenantIds",
                    "A caller acting in one tenant manages webhooks of that tenant only: [webhook.global] false and [webhook.tenantIds] its tenant.",
                );
            }
            w.tenant_ids = vec![t];
        }
        if w.global {
            w.tenant_ids.clear();
        } else if w.tenant_ids.is_empty() {
            errors.add_field(
                "webhook.tenantIds",
                "[blank]webhook.tenantIds",
                "A webhook that is not [webhook.global] needs at least one tenant in [webhook.tenantIds].",
            );
        }
        w.tenant_ids.sort();
        w.tenant_ids.dedup();
        for (i, t) in w.tenant_ids.iter().enumerate() {
            if self.store().tenant(*t).await?.is_none() {
                errors.add_field(
                    &format!("webhook.tenantIds[{i}]"),
                    "[invalid]webhook.tenantIds",
                    format!("[webhook.tenantIds] {t} names no tenant."),
                );
            }
        }
        let sig = &w.signature_configuration;
        if sig.enabled {
            let key = match sig.signing_key_id.as_deref() {
                Some(kid) if !kid.is_empty() => self.store().signing_key(kid).await?,
                _ => None,
            };
            // A tenant's caller signs with its tenant's keys only.
            let usable = key.is_some_and(|k| scope.sees(Some(k.tenant_id)));
            if !usable {
                errors.add_field(
                    "webhook.signatureConfiguration.signingKeyId",
                    "[invalid]webhook.signatureConfiguration.signingKeyId",
                    "A signed webhook needs [webhook.signatureConfiguration.signingKeyId] to name a signing key (see /api/key).",
                );
            }
        }
        errors.into_result()?;
        self.webhook_sender().check(w)
    }

    pub async fn create_webhook(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut w: Webhook,
    ) -> Result<CreatedWebhook> {
        w.id = Some(id.or(w.id).unwrap_or_else(crate::new_id));
        self.check_webhook(scope, &mut w).await?;
        let now = now_millis();
        w.insert_instant = Some(now);
        w.last_update_instant = Some(now);
        let secret = super::deliver::new_standard_secret();
        self.store()
            .insert_webhook(&w, &secret)
            .await
            .map_err(|e| match e {
                crate::StoreError::Duplicate(_) => Error::field(
                    "webhook.id",
                    "[duplicate]webhook.id",
                    "The value of [webhook.id] is already in use.",
                ),
                e => e.into(),
            })?;
        Ok(CreatedWebhook { webhook: w, secret })
    }

    /// The stored webhook (with its secrets) if the caller may see it.
    pub async fn webhook(&self, scope: Scope, id: Uuid) -> Result<Webhook> {
        self.store()
            .webhook(id)
            .await?
            .filter(|w| Self::webhook_visible(scope, w))
            .ok_or(Error::NotFound)
    }

    pub async fn webhooks(&self, scope: Scope) -> Result<Vec<Webhook>> {
        Ok(self
            .store()
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| Self::webhook_visible(scope, w))
            .collect())
    }

    pub async fn replace_webhook(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Webhook,
    ) -> Result<Webhook> {
        let old = self.webhook(scope, id).await?;
        new.keep_secrets(&old);
        new.id = old.id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.check_webhook(scope, &mut new).await?;
        self.store().update_webhook(&new).await?;
        Ok(new)
    }

    pub async fn patch_webhook(
        &self,
        scope: Scope,
        id: Uuid,
        p: &serde_json::Value,
    ) -> Result<Webhook> {
        let old = self.webhook(scope, id).await?;
        let new: Webhook = crate::identity::patched(&old.redacted(), p, "webhook")?;
        self.replace_webhook(scope, id, new).await
    }

    pub async fn delete_webhook(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.webhook(scope, id).await?;
        self.store()
            .delete_webhook(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// The delivery log, newest first, as the caller may see it.
    pub async fn webhook_attempts(
        &self,
        scope: Scope,
        q: &AttemptQuery,
    ) -> Result<Vec<WebhookAttempt>> {
        if let Some(s) = q.status.as_deref() {
            if AttemptStatus::parse(s).is_none() {
                return Err(Error::field(
                    "status",
                    "[invalid]status",
                    "[status] must be pending, succeeded or failed.",
                ));
            }
        }
        if let Some(w) = q.webhook_id {
            self.webhook(scope, w).await?;
        }
        let limit = q.limit.unwrap_or(100).clamp(1, 1000) as usize;
        let visible = self.webhooks(scope).await?;
        Ok(self
            .store()
            .attempts(q, limit)
            .await?
            .into_iter()
            .filter(|a| a.visible_in(scope) && visible.iter().any(|w| w.id == Some(a.webhook_id)))
            .collect())
    }

    /// One attempt, when the caller sees both its webhook and its event's tenant: a webhook
    /// narrowed to fewer tenants keeps its earlier attempts for others, which stay theirs.
    pub async fn webhook_attempt(&self, scope: Scope, id: Uuid) -> Result<WebhookAttempt> {
        let a = self.store().attempt(id).await?.ok_or(Error::NotFound)?;
        if !a.visible_in(scope) {
            return Err(Error::NotFound);
        }
        self.webhook(scope, a.webhook_id).await?;
        Ok(a)
    }

    /// Makes a dead-lettered attempt pending again now; 400 for one that is not dead-lettered.
    pub async fn retry_webhook_attempt(&self, scope: Scope, id: Uuid) -> Result<WebhookAttempt> {
        let a = self.webhook_attempt(scope, id).await?;
        if a.status != AttemptStatus::Failed {
            return Err(Error::general(
                "[NotDeadLettered]",
                "Only a failed (dead-lettered) attempt can be retried; a pending one is retried by itself.",
            ));
        }
        self.store()
            .retry_attempts(Some(id), None, now_millis())
            .await?;
        self.webhook_attempt(scope, id).await
    }

    /// The Event Log, newest first (`type`: `Error`, `Information`, `Debug`; at most 1000). It
    /// is the whole server's: a caller acting in one tenant may not read it.
    pub async fn event_logs(&self, scope: Scope, q: &EventLogQuery) -> Result<Vec<EventLog>> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        let limit = q.number_of_results.unwrap_or(25).clamp(1, 1000) as usize;
        Ok(self.store().event_logs(q.kind.as_deref(), limit).await?)
    }

    pub async fn event_log(&self, scope: Scope, id: Uuid) -> Result<EventLog> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        self.store().event_log(id).await?.ok_or(Error::NotFound)
    }

    /// Makes every dead-lettered attempt of a webhook pending again; answers how many.
    /// A caller acting in one tenant retries only its tenant's attempts, the newest 1000 per call.
    pub async fn retry_webhook_dead_letters(&self, scope: Scope, webhook: Uuid) -> Result<u64> {
        self.webhook(scope, webhook).await?;
        let now = now_millis();
        if scope.tenant.is_none() {
            return Ok(self
                .store()
                .retry_attempts(None, Some(webhook), now)
                .await?);
        }
        let q = AttemptQuery {
            webhook_id: Some(webhook),
            status: Some(AttemptStatus::Failed.as_str().into()),
            limit: Some(1000),
            ..Default::default()
        };
        let mut n = 0;
        for a in self.webhook_attempts(scope, &q).await? {
            n += self.store().retry_attempts(Some(a.id), None, now).await?;
        }
        Ok(n)
    }
}
