//! `webhooks`: delivery of the `events` outbox to the webhooks that want each event. The
//! worker fans new events out into attempt rows (one per event and webhook, in the store's
//! transaction), then, per webhook, claims due attempts into a queue that the webhook's slots
//! (its concurrency limit on this node, each a task) make one after another: a slow or dead
//! receiver fills only its own slots, never delaying another's, and a slot whose request ends
//! takes the next attempt at once, while the worker writes claims and fans out beside it. A
//! claim lasts past the request's timeouts; an attempt whose node died is due again when the
//! claim ends, so every event is delivered at least once, each time with its own event id.
//!
//! The store has one writer (SQLite) or a round trip per statement (PostgreSQL), so the worker
//! keeps its writes few, batched and off the requests' path:
//!
//! - it claims ahead, so a slot that frees takes the next attempt at once: as many as the
//!   webhook's slots made in the last [`CLAIM_HORIZON`] (twice its slots at least,
//!   [`CLAIM_MAX`] at most), and claims again when fewer than half of those wait. A fast receiver
//!   so costs one claim per few hundred attempts, a slow one a claim per few requests. An
//!   attempt whose claim could end before its request does (the receiver slowed down while it
//!   waited) is not made but left to be claimed again when its claim ends, so a node never makes
//!   an attempt another node may have claimed;
//! - a task hands its attempt's end to a recorder task, which records every end that arrived
//!   within [`RECORD_GATHER`] of the first in one transaction;
//! - it works when a slot's queue runs low or empty or at the poll, never looping on an empty
//!   claim, and while slots work it fans out and rereads the webhooks every [`REFRESH_BUSY`], so
//!   an event written meanwhile waits that long at most.
//!
//! An attempt claimed ahead and not made, or whose end is not yet recorded, when the node dies
//! is made again when its claim ends.

use crate::{Shutdown, Worker};
use portcullis_domain::webhooks::{
    AttemptEnd, Backoff, ClaimedAttempt, DeliveryStats, EndedAttempt,
};
use portcullis_domain::{now_millis, Sessions, Webhook};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use uuid::Uuid;

const NAME: &str = "webhooks";

/// Events fanned out per transaction.
const FAN_OUT_BATCH: usize = 500;

/// While slots work, how often the outbox is fanned out and the webhooks reread.
const REFRESH_BUSY: Duration = Duration::from_millis(10);

/// Ends recorded per transaction at most.
const RECORD_BATCH: usize = 1024;

/// How long the recorder waits after an end for more to record with it: a commit costs more
/// than its rows, and an end recorded later only makes a crash's duplicates a little likelier.
const RECORD_GATHER: Duration = Duration::from_millis(5);

/// How far ahead, in the time its slots take to make them, a webhook's attempts are claimed.
const CLAIM_HORIZON: Duration = Duration::from_millis(25);

/// Attempts claimed ahead per webhook at most.
const CLAIM_MAX: usize = 512;

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

    /// Fans new events out and rereads the webhooks (when `refresh`), then fills the free slots
    /// from the attempts claimed ahead, claiming more when fewer than half a queue wait.
    async fn round(&self, refresh: bool, state: &mut State) -> Result<(), String> {
        let store = self.sessions.identity().store().clone();
        if refresh || state.webhooks.is_none() {
            loop {
                let n = store
                    .fan_out_events(
                        now_millis(),
                        FAN_OUT_BATCH,
                        self.settings.gap_wait.as_millis() as i64,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if n < FAN_OUT_BATCH {
                    break;
                }
            }
            let webhooks = store.webhooks().await.map_err(|e| e.to_string())?;
            let live: Vec<Uuid> = webhooks.iter().filter_map(|w| w.id).collect();
            self.sessions.identity().webhook_sender().retain(&live);
            state
                .secrets
                .retain(|id, _| webhooks.iter().any(|w| w.id == Some(*id)));
            // A deleted webhook's attempts are gone with it; an updated one's wait for the
            // webhook as it now is.
            state
                .ready
                .retain(|id, r| match webhooks.iter().find(|w| w.id == Some(*id)) {
                    Some(w) => {
                        r.queue().webhook = Arc::new(w.clone());
                        true
                    }
                    None => {
                        // Its slots stop after the request they are making.
                        r.queue().attempts.clear();
                        false
                    }
                });
            state.webhooks = Some(webhooks.into_iter().map(Arc::new).collect());
            state.refreshed = Instant::now();
        }
        let per_endpoint = self.settings.per_endpoint;
        let webhooks = state.webhooks.clone().unwrap_or_default();
        for w in webhooks {
            let Some(id) = w.id else { continue };
            self.start_ready(state, id);
            let used = state.in_flight.per_webhook.get(&id).copied().unwrap_or(0);
            let free = per_endpoint.saturating_sub(used);
            let (queued, ahead) = state.ready.get(&id).map_or((0, 2 * per_endpoint), |r| {
                (r.queue().attempts.len(), r.ahead(per_endpoint))
            });
            let want = (free + ahead).saturating_sub(queued);
            if (free == 0 && queued >= ahead.div_ceil(2)) || want == 0 {
                continue;
            }
            let now = now_millis();
            // The claim outlives the request's timeouts and the wait for a slot (one request
            // ahead at most, in a queue no longer than the slots; for a slot of the HTTP client
            // too), with room for the write after it.
            let until = now + 3 * w.request_budget_millis() + 5_000;
            let claimed = store
                .claim_attempts(id, &self.node, now, until, want)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(r) = state.ready.get_mut(&id) {
                r.claimed(Instant::now());
            }
            if claimed.is_empty() {
                continue;
            }
            let secret = match state.secrets.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let s = store
                        .webhook_secret(id)
                        .await
                        .map_err(|e| e.to_string())?
                        .unwrap_or_default();
                    state.secrets.insert(id, s.clone());
                    s
                }
            };
            let ready = state
                .ready
                .entry(id)
                .or_insert_with(|| Ready::new(w.clone()));
            let low = ready.ahead(per_endpoint).div_ceil(2);
            let mut queue = ready.queue();
            queue.secret = secret.into();
            queue.low = low;
            queue
                .attempts
                .extend(claimed.into_iter().map(|a| (a, until)));
            drop(queue);
            self.start_ready(state, id);
        }
        Ok(())
    }

    /// Starts slots for webhook `id`, as many as it has free and attempts claimed ahead wait.
    /// Each slot makes attempts from the queue until it is empty, so a request that ends is
    /// followed at once by the next, whatever the worker is writing meanwhile.
    fn start_ready(&self, state: &mut State, id: Uuid) {
        let Some(ready) = state.ready.get(&id) else {
            return;
        };
        let waiting = ready.queue().attempts.len();
        let used = state.in_flight.per_webhook.get(&id).copied().unwrap_or(0);
        let free = self.settings.per_endpoint.saturating_sub(used);
        for _ in 0..free.min(waiting) {
            let task = state.tasks.spawn(slot(
                ready.shared.clone(),
                state.wake.clone(),
                self.sessions.clone(),
                self.settings.backoff,
                self.stats.clone(),
                state.ends.clone(),
            ));
            state.in_flight.start(task.id(), id);
        }
    }
}

/// Records the ends that `arrived` sends, all that arrived meanwhile in one transaction, until
/// every sender is gone.
async fn record(
    sessions: Sessions,
    node: String,
    mut arrived: mpsc::UnboundedReceiver<EndedAttempt>,
) {
    let store = sessions.identity().store().clone();
    let mut ended = Vec::new();
    while arrived.recv_many(&mut ended, RECORD_BATCH).await > 0 {
        // The ends that arrive a moment later share the transaction: its commit costs more
        // than its rows.
        tokio::time::sleep(RECORD_GATHER).await;
        while ended.len() < RECORD_BATCH {
            match arrived.try_recv() {
                Ok(e) => ended.push(e),
                Err(_) => break,
            }
        }
        match store.finish_attempts(&node, &ended).await {
            Ok(recorded) => {
                for (e, ok) in ended.iter().zip(recorded) {
                    if !ok {
                        tracing::warn!(webhook = %e.attempt.webhook_id, event = %e.attempt.event_id, "webhook attempt: the claim ended before its outcome was recorded; it may be made again")
                    }
                }
            }
            Err(e) => {
                tracing::error!(worker = NAME, attempts = ended.len(), error = %e, "webhook attempts: their outcomes were not recorded; they are made again when their claims end")
            }
        }
        ended.clear();
    }
}

/// What the worker keeps between rounds.
struct State {
    tasks: JoinSet<()>,
    in_flight: InFlight,
    /// Where the tasks send their attempts' ends.
    ends: mpsc::UnboundedSender<EndedAttempt>,
    /// The webhooks as last read (`None`: not yet read).
    webhooks: Option<Vec<Arc<Webhook>>>,
    refreshed: Instant,
    secrets: HashMap<Uuid, String>,
    /// Per webhook, the attempts claimed ahead, waiting for a slot.
    ready: HashMap<Uuid, Ready>,
    /// Wakes the worker when a webhook's attempts claimed ahead run low.
    wake: Arc<Notify>,
}

/// Attempts of one webhook claimed ahead, so a slot that frees takes the next at once rather
/// than after a claim's write; and the pace of its claims.
struct Ready {
    /// Filled by the worker, taken from by the webhook's slots.
    shared: Arc<Mutex<Queue>>,
    last_claim: Instant,
    /// How many to keep claimed ahead, from the pace of the last claims.
    ahead: usize,
}

/// What a webhook's slots take their attempts from.
struct Queue {
    /// The webhook as last read, so a slot's next request follows an update.
    webhook: Arc<Webhook>,
    secret: Arc<str>,
    /// The attempts and when their claims end.
    attempts: VecDeque<(ClaimedAttempt, i64)>,
    /// Attempts taken since the last claim.
    made: usize,
    /// When the attempts waiting drop below this many, the worker is woken to claim more.
    low: usize,
}

impl Queue {
    /// The next attempt to make, with the webhook and its secret. An attempt whose claim could
    /// end while its request is still running (and another node claim it) is dropped, to be
    /// claimed again when its claim ends.
    fn next(&mut self, wake: &Notify) -> Option<(Arc<Webhook>, Arc<str>, ClaimedAttempt)> {
        let latest_end = now_millis() + self.webhook.request_budget_millis();
        while let Some((a, until)) = self.attempts.pop_front() {
            if latest_end >= until {
                tracing::debug!(webhook = %a.webhook_id, event = %a.event_id, "webhook attempt: its claim ends too soon to make it; claimed again later");
                continue;
            }
            self.made += 1;
            if self.attempts.len() + 1 == self.low {
                wake.notify_one();
            }
            return Some((self.webhook.clone(), self.secret.clone(), a));
        }
        None
    }
}

impl Ready {
    fn new(webhook: Arc<Webhook>) -> Self {
        Ready {
            shared: Arc::new(Mutex::new(Queue {
                webhook,
                secret: "".into(),
                attempts: VecDeque::new(),
                made: 0,
                low: 0,
            })),
            // Made right after its first claim.
            last_claim: Instant::now(),
            ahead: 0,
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.lock().expect("a webhook's queue")
    }

    /// How many attempts to keep claimed ahead with `slots` slots.
    fn ahead(&self, slots: usize) -> usize {
        self.ahead.clamp(2 * slots, CLAIM_MAX.max(2 * slots))
    }

    /// A claim was made at `now`: the pace since the one before sets the next ones' size.
    fn claimed(&mut self, now: Instant) {
        let made = std::mem::take(&mut self.queue().made);
        let took = now.duration_since(self.last_claim).as_secs_f64();
        if took > 0.0 {
            self.ahead = (made as f64 * CLAIM_HORIZON.as_secs_f64() / took) as usize;
        }
        self.last_claim = now;
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
    fn start(&mut self, task: tokio::task::Id, webhook: Uuid) {
        *self.per_webhook.entry(webhook).or_default() += 1;
        self.tasks.insert(task, webhook);
    }

    fn done(&mut self, task: tokio::task::Id) {
        if let Some(w) = self.tasks.remove(&task) {
            if let Some(n) = self.per_webhook.get_mut(&w) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// A slot of a webhook: makes the attempts of its queue one after another until none waits.
async fn slot(
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
    sessions: Sessions,
    backoff: Backoff,
    stats: Arc<DeliveryStats>,
    ends: mpsc::UnboundedSender<EndedAttempt>,
) {
    loop {
        let next = queue.lock().expect("a webhook's queue").next(&wake);
        let Some((w, secret, a)) = next else { return };
        deliver(&sessions, &w, &secret, a, &backoff, &stats, &ends).await;
    }
}

/// Makes one claimed attempt and sends its end to the worker, to be recorded.
async fn deliver(
    sessions: &Sessions,
    w: &Webhook,
    secret: &str,
    a: ClaimedAttempt,
    backoff: &Backoff,
    stats: &DeliveryStats,
    ends: &mpsc::UnboundedSender<EndedAttempt>,
) {
    let started = Instant::now();
    let end = sessions.deliver_attempt(w, secret, &a, backoff).await;
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
    // The worker is gone only when it was stopped where it stood: the claim then ends unrecorded
    // and the attempt is made again.
    let _ = ends.send(EndedAttempt {
        attempt: a,
        at: now,
        end,
    });
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
        let (ends, arrived) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(self.sessions.clone(), self.node.clone(), arrived));
        let mut state = State {
            tasks: JoinSet::new(),
            in_flight: InFlight::default(),
            ends,
            webhooks: None,
            refreshed: Instant::now(),
            secrets: HashMap::new(),
            ready: HashMap::new(),
            wake: Arc::new(Notify::new()),
        };
        // Whether the last wait ended at the poll (no attempt ended meanwhile).
        let mut polled = true;
        while !shutdown.is_stopping() {
            while let Some(r) = state.tasks.try_join_next_with_id() {
                state.in_flight.done(task_id(&r));
            }
            let refresh = polled || state.refreshed.elapsed() >= REFRESH_BUSY;
            if let Err(e) = self.round(refresh, &mut state).await {
                tracing::error!(worker = NAME, error = %e, "webhooks: the round failed; the next one tries again");
            }
            polled = false;
            // While slots work, the outbox is looked at every `REFRESH_BUSY`.
            let busy = !state.tasks.is_empty();
            tokio::select! {
                Some(r) = state.tasks.join_next_with_id(), if busy => {
                    state.in_flight.done(task_id(&r));
                }
                _ = state.wake.notified() => {}
                _ = tokio::time::sleep(REFRESH_BUSY), if busy => {}
                _ = tokio::time::sleep(self.settings.poll), if !busy => polled = true,
                _ = shutdown.stopping() => {}
            }
        }
        // Requests in flight finish (bounded by their timeouts) and are recorded, and so do the
        // attempts claimed ahead, in the slots as they free; or they are given up. One given
        // up, or not recorded, is made again when its claim ends.
        let give_up = shutdown.give_up();
        tokio::pin!(give_up);
        let ids: Vec<Uuid> = state.ready.keys().copied().collect();
        for id in ids {
            self.start_ready(&mut state, id);
        }
        loop {
            tokio::select! {
                r = state.tasks.join_next_with_id() => match r {
                    Some(r) => {
                        state.in_flight.done(task_id(&r));
                        let ids: Vec<Uuid> = state.ready.keys().copied().collect();
                        for id in ids {
                            self.start_ready(&mut state, id);
                        }
                    }
                    None => break,
                },
                _ = &mut give_up => {
                    state.tasks.abort_all();
                    break;
                }
            }
        }
        // With the last sender gone, the recorder writes what is left and ends.
        drop(state);
        if let Err(e) = recorder.await {
            tracing::error!(worker = NAME, error = %e, "webhooks: the recorder failed; the attempts it had not recorded are made again when their claims end");
        }
        Ok(())
    }
}
