//! One delivery: the request a webhook gets for an event (the event's stored body, the Standard
//! Webhooks headers, FusionAuth's `X-FusionAuth-Signature-JWT` when enabled, the webhook's
//! own headers), how its outcome becomes the attempt's next state (exponential backoff with
//! jitter until the maximum age, then the dead letters), and the sample events of the test
//! endpoint.

use super::{AttemptEnd, ClaimedAttempt, Webhook, WebhookAttempt};
use crate::identity::Result;
use crate::model::*;
use crate::{Error, Scope, Sessions};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// A request to a receiver: what is the event's own. The sender adds the webhook's own
/// headers, `content-type` and its basic authentication; a header here replaces one of the
/// webhook's with its name.
#[derive(Clone)]
pub struct Outgoing {
    /// Header name → value: the signatures, `webhook-id` and `webhook-timestamp`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Outgoing")
            .field("headers", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivered {
    pub status: u16,
    /// The start of the answer's body (a few KiB at most).
    pub body: String,
}

/// How failed attempts are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait after the first failure; each later failure doubles it.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// How long after its retry window began an attempt is dead-lettered.
    pub max_age: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
            max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

/// The wait after failure number `failures` (1 for the first): `base · 2^(failures-1)`, capped
/// at `max`, of which a random part (`jitter` in [0, 1)) up to a half is taken off, so receivers
/// that failed together are not all retried at the same instant.
pub fn backoff(b: &Backoff, failures: i64, jitter: f64) -> Duration {
    let exp = (failures.max(1) - 1).min(40) as u32;
    let full = b
        .base
        .checked_mul(2u32.saturating_pow(exp.min(31)))
        .unwrap_or(b.max)
        .min(b.max);
    full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
}

/// The Standard Webhooks signature header value: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` under the secret (`whsec_` + base64 of its bytes).
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = B64.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// A new Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes.
pub(crate) fn new_standard_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    format!("whsec_{}", B64.encode(bytes))
}

/// The event types the test endpoint can send a sample of.
pub const SAMPLE_EVENTS: [&str; 15] = super::EVENT_TYPES;

/// The request for `body` (an event's stored JSON) with event id `event_id`, its JWT signed by
/// `tokens`.
pub(crate) async fn build_request(
    tokens: &crate::TokenService,
    w: &Webhook,
    secret: &str,
    event_id: Uuid,
    body: String,
) -> Result<Outgoing> {
    let mut headers = Vec::with_capacity(4);
    let now = now_millis() / 1000;
    let id = event_id.to_string();
    headers.push((
        "webhook-signature".into(),
        sign_standard(secret, &id, now, &body),
    ));
    headers.push(("webhook-id".into(), id));
    headers.push(("webhook-timestamp".into(), now.to_string()));
    let sig = &w.signature_configuration;
    if sig.enabled {
        let kid = sig.signing_key_id.as_deref().unwrap_or_default();
        let mut claims = Map::new();
        claims.insert(
            "request_body_sha256".into(),
            json!(B64.encode(Sha256::digest(body.as_bytes()))),
        );
        claims.insert("iat".into(), json!(now));
        let jwt = tokens.sign_with_key(kid, &claims).await?;
        headers.push(("X-FusionAuth-Signature-JWT".into(), jwt));
    }
    Ok(Outgoing { headers, body })
}

impl Sessions {
    /// The request for `body` (an event's stored JSON) with event id `event_id`.
    pub async fn webhook_request(
        &self,
        w: &Webhook,
        secret: &str,
        event_id: Uuid,
        body: String,
    ) -> Result<Outgoing> {
        build_request(self.tokens(), w, secret, event_id, body).await
    }

    /// Makes the request of a claimed attempt and answers its end: delivered on a 2xx; else
    /// retried after the backoff, or dead-lettered once the next try would fall past the
    /// maximum age.
    pub async fn deliver_attempt(
        &self,
        w: &Webhook,
        secret: &str,
        a: &ClaimedAttempt,
        b: &Backoff,
    ) -> AttemptEnd {
        let sent = match self
            .webhook_request(w, secret, a.event_id, a.body.clone())
            .await
        {
            Ok(out) => self.identity().webhook_sender().send(w, out).await,
            Err(e) => Err(format!("the request could not be signed: {e}")),
        };
        let (status, error) = match sent {
            Ok(d) if (200..300).contains(&d.status) => {
                return AttemptEnd::Delivered { status: d.status }
            }
            Ok(d) => (
                Some(d.status),
                format!("the receiver answered HTTP {}", d.status),
            ),
            Err(e) => (None, e),
        };
        let wait = backoff(b, a.attempts, rand::random::<f64>());
        let at = now_millis() + wait.as_millis() as i64;
        if at > a.window_start + b.max_age.as_millis() as i64 {
            AttemptEnd::Dead { status, error }
        } else {
            AttemptEnd::Retry { at, status, error }
        }
    }

    /// `POST /api/webhook/{id}/test`: sends a sample event of `kind` now (not stored, no retry)
    /// and answers what the receiver said.
    pub async fn test_webhook(&self, scope: Scope, id: Uuid, kind: &str) -> Result<Delivered> {
        let w = self.identity().webhook(scope, id).await?;
        if !super::EVENT_TYPES.contains(&kind) {
            return Err(Error::field(
                "event",
                "[invalid]event",
                format!(
                    "[event] must be one of the event types: {}.",
                    super::EVENT_TYPES.join(", ")
                ),
            ));
        }
        let tenant = scope.tenant.or_else(|| w.tenant_ids.first().copied());
        let event = sample_event(kind, tenant);
        let secret = self
            .identity()
            .store()
            .webhook_secret(id)
            .await?
            .unwrap_or_default();
        let out = self
            .webhook_request(&w, &secret, event.id, event.body.to_string())
            .await?;
        self.identity()
            .webhook_sender()
            .send(&w, out)
            .await
            .map_err(|e| {
                Error::general(
                    "[WebhookFailed]",
                    format!("The webhook's receiver gave no answer: {e}"),
                )
            })
    }
}

/// A sample event of `kind`, shaped as the real ones, naming an example user.
fn sample_event(kind: &str, tenant: Option<Uuid>) -> crate::Event {
    let mut fields = Json::new();
    let user = json!({"id": Uuid::nil(), "email": "example@example.com", "username": "example"});
    if kind == "user.bulk.create" {
        fields.insert("users".into(), Value::Array(vec![user]));
    } else {
        fields.insert("user".into(), user);
    }
    fields.insert("sample".into(), json!(true));
    crate::Event::new(kind, tenant, fields)
}

impl WebhookAttempt {
    /// Whether an attempt is visible in `scope`: a tenant's caller sees its tenant's only.
    pub fn visible_in(&self, scope: Scope) -> bool {
        scope.tenant.is_none() || (self.tenant_id.is_some() && scope.sees(self.tenant_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_jitter_takes_at_most_half() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_age: Duration::from_secs(10),
        };
        assert_eq!(backoff(&b, 1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(&b, 3, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(&b, 30, 0.0), Duration::from_millis(1000));
        let jittered = backoff(&b, 2, 0.999_999);
        assert!(jittered >= Duration::from_millis(100) && jittered < Duration::from_millis(101));
        assert_eq!(backoff(&b, 200, 0.0), Duration::from_millis(1000));
    }

    #[test]
    fn the_standard_signature_matches_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign_standard(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
