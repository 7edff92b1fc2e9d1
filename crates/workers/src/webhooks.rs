//! `webhooks`: delivery of the `events` outbox to the webhooks that want each event. Each round
//! fans new events out into attempt rows (one per event and webhook, in the store's
//! transaction), then, per webhook, claims as many due attempts as the webhook has free slots
//! (its concurrency limit on this node) and makes them on tasks of their own: a slow or dead
//! receiver fills only its own slots, never delaying another's. A claim lasts past the
//! request's timeouts; an attempt whose node died is due again when the claim ends, so every
//! event is delivered at least once, each time with its own event id.

use crate::{Shutdown, Worker};
use portcullis_domain::webhooks::{AttemptEnd, Backoff, ClaimedAttempt, DeliveryStats};
use portcullis_domain::{now_millis, Sessions, Webhook};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use uuid::Uuid;

const NAME: &str = "webhooks";

/// Events fanned out per transaction.
const FAN_OUT_BATCH: usize = 500;

/// How the worker delivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookSettings {
    pub backoff: Backoff,
    /// Requests in flight per webhook on this node.
    pub per_endpoint: usize,
    /// How often the outbox is looked at when nothing is happening.
    pub poll: Duration,
    /// How long a hole in the events' sequence is waited for before it is read past (see
    /// `WebhookStore::fan_out_events`).
    pub gap_wait: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            backoff: Backoff::default(),
            per_endpoint: 8,
            poll: Duration::from_millis(250),
            gap_wait: Duration::from_secs(10),
        }
    }
}

pub struct Webhooks {
    sessions: Sessions,
    node: String,
    settings: WebhookSettings,
    stats: Arc<DeliveryStats>,
}

impl Webhooks {
    /// The worker of node `node` (a name no other live node has).
    pub fn new(sessions: Sessions, node: &str, settings: WebhookSettings) -> Self {
        Self {
            sessions,
            node: node.to_string(),
            settings,
            stats: Arc::default(),
        }
    }

    /// Counts what the worker does into `stats`.
    pub fn with_stats(mut self, stats: Arc<DeliveryStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Fans new events out, then claims and starts due attempts; answers whether anything was
    /// done.
    async fn round(
        &self,
        tasks: &mut JoinSet<()>,
        in_flight: &mut InFlight,
        secrets: &mut HashMap<Uuid, String>,
    ) -> Result<bool, String> {
        let store = self.sessions.identity().store().clone();
        let mut busy = false;
        loop {
            let n = store
                .fan_out_events(
                    now_millis(),
                    FAN_OUT_BATCH,
                    self.settings.gap_wait.as_millis() as i64,
                )
                .await
                .map_err(|e| e.to_string())?;
            busy |= n > 0;
            if n < FAN_OUT_BATCH {
                break;
            }
        }
        let webhooks = store.webhooks().await.map_err(|e| e.to_string())?;
        secrets.retain(|id, _| webhooks.iter().any(|w| w.id == Some(*id)));
        for w in webhooks {
            let Some(id) = w.id else { continue };
            let used = in_flight.per_webhook.get(&id).copied().unwrap_or(0);
            let free = self.settings.per_endpoint.saturating_sub(used);
            if free == 0 {
                continue;
            }
            let now = now_millis();
            // The claim outlives the request's timeouts (waiting for a slot of the HTTP client
            // included), with room for the write after it.
            let until = now + 3 * w.request_budget_millis() + 5_000;
            let claimed = store
                .claim_attempts(id, &self.node, now, until, free)
                .await
                .map_err(|e| e.to_string())?;
            if claimed.is_empty() {
                continue;
            }
            let secret = match secrets.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let s = store
                        .webhook_secret(id)
                        .await
                        .map_err(|e| e.to_string())?
                        .unwrap_or_default();
                    secrets.insert(id, s.clone());
                    s
                }
            };
            busy = true;
            let w = Arc::new(w);
            for a in claimed {
                *in_flight.per_webhook.entry(id).or_default() += 1;
                let task = tasks.spawn(deliver(
                    self.sessions.clone(),
                    w.clone(),
                    secret.clone(),
                    a,
                    self.node.clone(),
                    self.settings.backoff,
                    self.stats.clone(),
                ));
                in_flight.tasks.insert(task.id(), id);
            }
        }
        Ok(busy)
    }
}

/// The requests this node has in flight: per webhook, and the webhook of each task, so a slot
/// is given back however its task ends (a panic included).
#[derive(Default)]
struct InFlight {
    per_webhook: HashMap<Uuid, usize>,
    tasks: HashMap<tokio::task::Id, Uuid>,
}

impl InFlight {
    fn done(&mut self, task: tokio::task::Id) {
        if let Some(w) = self.tasks.remove(&task) {
            if let Some(n) = self.per_webhook.get_mut(&w) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Makes one claimed attempt and records its end.
async fn deliver(
    sessions: Sessions,
    w: Arc<Webhook>,
    secret: String,
    a: ClaimedAttempt,
    node: String,
    backoff: Backoff,
    stats: Arc<DeliveryStats>,
) {
    let started = Instant::now();
    let end = sessions.deliver_attempt(&w, &secret, &a, &backoff).await;
    stats
        .request_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    let now = now_millis();
    match &end {
        AttemptEnd::Delivered { .. } => {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            stats
                .delivery_lag_millis
                .fetch_add((now - a.event_instant).max(0) as u64, Ordering::Relaxed);
        }
        AttemptEnd::Retry { error, .. } => {
            stats.retried.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(webhook = %a.webhook_id, event = %a.event_id, attempt = a.attempts, error = %error, "webhook attempt failed; retried later");
        }
        AttemptEnd::Dead { error, .. } => {
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %a.webhook_id, event = %a.event_id, attempts = a.attempts, error = %error, "webhook attempt dead-lettered");
        }
    }
    let store = sessions.identity().store();
    match store.finish_attempt(&a, &node, now, &end).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(webhook = %a.webhook_id, event = %a.event_id, "webhook attempt: the claim ended before its outcome was recorded; it may be made again")
        }
        Err(e) => {
            tracing::error!(webhook = %a.webhook_id, event = %a.event_id, error = %e, "webhook attempt: the outcome was not recorded; it is made again when its claim ends")
        }
    }
}

fn task_id(r: &Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match r {
        Ok((id, ())) => *id,
        Err(e) => {
            tracing::error!(worker = NAME, error = %e, "webhook attempt: its task failed; it is made again when its claim ends");
            e.id()
        }
    }
}

impl Worker for Webhooks {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        let mut tasks = JoinSet::new();
        let mut in_flight = InFlight::default();
        let mut secrets = HashMap::new();
        while !shutdown.is_stopping() {
            let busy = match self.round(&mut tasks, &mut in_flight, &mut secrets).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(worker = NAME, error = %e, "webhooks: the round failed; the next one tries again");
                    false
                }
            };
            while let Some(r) = tasks.try_join_next_with_id() {
                in_flight.done(task_id(&r));
            }
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                Some(r) = tasks.join_next_with_id(), if !tasks.is_empty() => in_flight.done(task_id(&r)),
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.stopping() => {}
            }
        }
        // Requests in flight finish (bounded by their timeouts) or are given up; one given up is
        // made again when its claim ends.
        tokio::select! {
            _ = async { while tasks.join_next().await.is_some() {} } => {}
            _ = shutdown.give_up() => tasks.abort_all(),
        }
        Ok(())
    }
}
