//! `portcullis-bench webhooks`: the webhook worker against a fast local receiver. Two figures,
//! each beside its limit from the same run:
//!
//! - events delivered/s, draining a backlog of `user.bulk.create` events, beside the receiver's
//!   own limit: the same receiver hammered directly by one client with the same request shape
//!   (body size, headers) and as many requests in flight as the webhook has slots (8), just
//!   before the drain and again just after it (this machine's pace moves within a run, so the
//!   limit is the mean of the two);
//! - import users/s with a `user.bulk.create` webhook enabled, beside the same imports without,
//!   in blocks that take turns.
//!
//! Beside the first figure, the CPU time each side takes per request, from `/proc`: `portcullis`
//! per event over the drain, beside the direct client per request (this process, the receiver's
//! threads left out) and the receiver's own. The machine is shared and its pace moves; CPU per
//! request moves less, and says what the worker does beyond the client it is compared with.
//! Then the CPU per event of every process the drain runs on these cores (`portcullis`, the
//! receiver, and on PostgreSQL the database's processes), and the share of the receiver's limit
//! the cores allow at that cost: the deliveries cannot pass it on this machine.
//!
//! Beside the first figure, the floor the store sets: the same number of attempts claimed and
//! recorded as delivered by the store's own calls on a fresh database of the same backend, in
//! this process, with no HTTP and no receiver. It tells whether the store's calls or the
//! requests hold the deliveries back.
//!
//! Portcullis is the `portcullis` binary beside this one, `serve` on SQLite and on PostgreSQL
//! (`--backends`; a fresh schema on the server of `PORTCULLIS_TEST_POSTGRES_URL`).

use crate::gateway::{api, start_portcullis_on};
use clap::Args;
use portcullis_store::testing::{Backend, TestDb};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct WebhooksBench {
    /// Seconds the receiver is hammered directly, just before the drain and again just after.
    #[arg(long, default_value_t = 2)]
    seconds: u64,
    /// Events in the backlog the worker drains.
    #[arg(long, default_value_t = 20000)]
    events: usize,
    /// Import requests timed with and without the webhook.
    #[arg(long, default_value_t = 10)]
    imports: usize,
    /// Users in each timed import request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Backends `serve` runs on, one after the other (comma-separated: sqlite, postgres).
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// The `portcullis` binary (default: the one beside this binary).
    #[arg(long, env = "PORTCULLIS_BIN")]
    portcullis: Option<PathBuf>,
}

/// The webhook's request slots per node (`--webhook-concurrency`'s default).
const SLOTS: usize = 8;

/// Imports per block of the comparison with and without the webhook: enough that one import's
/// deliveries overlap the next.
const IMPORT_BLOCK: usize = 5;

/// The receiver: counts POSTs and answers 204; while its gate is shut it holds every request.
struct Receiver {
    url: String,
    /// Where the bench hammers the receiver itself: past the gate, not counted.
    direct: String,
    count: Arc<AtomicU64>,
    gate: tokio::sync::watch::Sender<bool>,
    /// The `stat` files of the receiver's threads, for its CPU time.
    threads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    /// The CPU time its threads have taken.
    fn cpu(&self) -> Duration {
        let threads = self.threads.lock().expect("the receiver's threads");
        threads.iter().filter_map(|t| crate::cpu::of(t)).sum()
    }
}

fn start_receiver() -> Result<Receiver, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/hook",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let count = Arc::new(AtomicU64::new(0));
    let (gate, open) = tokio::sync::watch::channel(true);
    let c = count.clone();
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mine, on_start) = (threads.clone(), threads.clone());
    std::thread::spawn(move || {
        mine.lock()
            .expect("the receiver's threads")
            .extend(crate::cpu::this_thread_stat());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(move || {
                on_start
                    .lock()
                    .expect("the receiver's threads")
                    .extend(crate::cpu::this_thread_stat())
            })
            .enable_all()
            .build()
            .expect("the receiver's runtime starts");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let app = axum::Router::new().fallback(
                move |uri: axum::http::Uri, body: axum::body::Bytes| {
                    let (c, mut open) = (c.clone(), open.clone());
                    async move {
                        // The bench's own requests (`/direct`) pass the gate and are not counted.
                        if uri.path() == "/direct" {
                            return axum::http::StatusCode::NO_CONTENT;
                        }
                        let _ = open.wait_for(|o| *o).await;
                        if !body.is_empty() {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    let direct = url.replace("/hook", "/direct");
    Ok(Receiver {
        url,
        direct,
        count,
        gate,
        threads,
    })
}

/// Users for one import request: cheap to store (a bcrypt hash is stored, not computed).
fn users(prefix: &str, n: usize) -> Value {
    let users: Vec<Value> = (0..n)
        .map(|i| {
            json!({"email": format!("{prefix}-{i}@hooks.example"), "verified": true,
                "encryptionScheme": "bcrypt",
                "password": "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"})
        })
        .collect();
    json!({"users": users})
}

/// Imports `imports` batches of `batch` users one after another: the time they took.
async fn import_time(
    http: &reqwest::Client,
    pc: &str,
    key: &str,
    tag: &str,
    imports: usize,
    batch: usize,
) -> Result<Duration, String> {
    let bodies: Vec<Value> = (0..imports)
        .map(|i| users(&format!("{tag}-{i}"), batch))
        .collect();
    let start = Instant::now();
    for body in bodies {
        api(http, pc, key, Method::POST, "/api/user/import", body).await?;
    }
    Ok(start.elapsed())
}

/// A webhook metric from `/metrics`.
async fn metric(http: &reqwest::Client, pc: &str, key: &str, line: &str) -> Result<f64, String> {
    let text = http
        .get(format!("{pc}/metrics"))
        .header("authorization", key)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or(0.0))
}

/// What the receiver hammered directly took.
struct Direct {
    /// Requests/s.
    rate: f64,
    /// The client's CPU time per request (this process's, the receiver's threads left out).
    client_micros: f64,
    /// The receiver's CPU time per request.
    receiver_micros: f64,
}

/// The receiver's own limit: one client sending `sample` with the request shape of a delivery
/// (its body, `content-type` and the `webhook-*` headers), `SLOTS` requests in flight, for
/// `secs`.
async fn hammer(
    http: &reqwest::Client,
    receiver: &Receiver,
    sample: &[u8],
    secs: f64,
) -> Result<Direct, String> {
    let url = receiver.direct.as_str();
    let (cpu0, receiver0) = (crate::cpu::this_process(), receiver.cpu());
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SLOTS {
        let (http, url, body) = (http.clone(), url.to_string(), sample.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let res = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", uuid::Uuid::new_v4().to_string())
                    .header("webhook-timestamp", "1733150000")
                    .header(
                        "webhook-signature",
                        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
                    )
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("the receiver answered {}", res.status()));
                }
                n += 1;
            }
            Ok::<u64, String>(n)
        }));
    }
    let mut n = 0u64;
    for t in tasks {
        n += t.await.map_err(|e| e.to_string())??;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let served = receiver.cpu().saturating_sub(receiver0);
    let all = crate::cpu::this_process()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a))
        .unwrap_or_default();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    Ok(Direct {
        rate,
        client_micros: per(all.saturating_sub(served)),
        receiver_micros: per(served),
    })
}

pub async fn run(args: WebhooksBench) -> Result<(), String> {
    let bin = match &args.portcullis {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("portcullis"),
    };
    let http = reqwest::Client::new();
    let receiver = start_receiver()?;
    // The receiver's own limit: an event's shape, SLOTS in flight, one client.
    let sample = serde_json::to_vec(&json!({"event": {"type": "user.bulk.create",
        "id": uuid::Uuid::new_v4(), "createInstant": 1_733_150_000_000_i64,
        "tenantId": uuid::Uuid::new_v4(),
        "users": [{"id": uuid::Uuid::new_v4(), "email": "someone-0-0@hooks.example"}]}}))
    .map_err(|e| e.to_string())?;

    println!(
        "portcullis-bench webhooks: {} cores, a receiver on loopback answering 204",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();
    println!("| backend | measurement | result | beside it | share | target |");
    println!("|---|---|---:|---:|---:|---:|");
    for name in &args.backends {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => return Err(format!("unknown backend [{other}]: use sqlite or postgres")),
        };
        measure(&args, &bin, backend, name.trim(), &http, &receiver, &sample).await?;
    }
    Ok(())
}

/// The store's claims and ends alone: `events` events of `body` in the outbox of a fresh
/// database on `backend`, fanned out to one webhook (untimed, as the drain starts after the
/// fan-out), then claimed back to back and recorded as delivered by a recorder beside the
/// claims, as the worker's recorder runs beside its claims: attempts/s.
async fn store_alone(backend: Backend, events: usize, body: &str) -> Result<f64, String> {
    use portcullis_domain::webhooks::{AttemptEnd, EndedAttempt, Webhook, WebhookStore};
    // The worker's largest claim and largest batch of ends.
    const CLAIM: usize = 512;
    const RECORD: usize = 1024;
    let db = TestDb::new(backend).await;
    let store = db.store.clone();
    let now = portcullis_domain::model::now_millis();
    let quoted = body.replace('\'', "''");
    let ids: Vec<String> = (0..events)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for chunk in ids.chunks(1000) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|id| format!("('{id}', 'user.bulk.create', {now}, '{quoted}')"))
            .collect();
        db.execute(&format!(
            "INSERT INTO events (id, type, create_instant, body) VALUES {}",
            rows.join(", ")
        ))
        .await?;
    }
    let hook: Webhook = serde_json::from_value(json!({"id": uuid::Uuid::new_v4(),
        "url": "http://127.0.0.1:9/", "global": true,
        "eventsEnabled": {"user.bulk.create": true}}))
    .map_err(|e| e.to_string())?;
    let hook_id = hook.id.expect("an id");
    store
        .insert_webhook(&hook, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await
        .map_err(|e| e.to_string())?;
    // A fan-out batch per millisecond, as the worker's batches each get their own instant.
    let mut at = now - events as i64;
    while store
        .fan_out_events(at, 500, 60_000)
        .await
        .map_err(|e| e.to_string())?
        > 0
    {
        at += 1;
    }

    let start = Instant::now();
    // The recorder takes every batch claimed since its last turn, up to the worker's limit.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<EndedAttempt>>();
    let recorder = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut done = 0;
            while let Some(mut ended) = rx.recv().await {
                while ended.len() < RECORD {
                    match rx.try_recv() {
                        Ok(more) => ended.extend(more),
                        Err(_) => break,
                    }
                }
                let recorded = store
                    .finish_attempts("bench", &ended)
                    .await
                    .map_err(|e| e.to_string())?;
                done += recorded.iter().filter(|r| **r).count();
            }
            Ok::<usize, String>(done)
        })
    };
    loop {
        let now = portcullis_domain::model::now_millis();
        let claimed = store
            .claim_attempts(hook_id, "bench", now, now + 60_000, CLAIM)
            .await
            .map_err(|e| e.to_string())?;
        if claimed.is_empty() {
            break;
        }
        let ended = claimed
            .into_iter()
            .map(|attempt| EndedAttempt {
                attempt,
                at: now,
                end: AttemptEnd::Delivered { status: 204 },
            })
            .collect();
        if tx.send(ended).is_err() {
            break;
        }
    }
    drop(tx);
    let done = recorder.await.map_err(|e| e.to_string())??;
    if done != events {
        return Err(format!(
            "the store alone recorded {done} of {events} attempts"
        ));
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

/// Both figures with `portcullis serve` on `backend`: a fresh SQLite file, or a fresh schema
/// on the PostgreSQL server of `PORTCULLIS_TEST_POSTGRES_URL`.
async fn measure(
    args: &WebhooksBench,
    bin: &Path,
    backend: Backend,
    name: &str,
    http: &reqwest::Client,
    receiver: &Receiver,
    sample: &[u8],
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Dropped after the server it serves (declared first).
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDb::postgres().await),
    };
    let database = db.as_ref().map(|d| d.url.clone());
    let (portcullis, pc, key) = start_portcullis_on(bin, dir.path(), http, database).await?;
    let http = http.clone();
    // Imports without the webhook and with it (the receiver answering at once), in blocks that
    // take turns, so the machine's drift and the database's growth fall on both sides alike.
    // Within a block the imports follow one another, so one's deliveries overlap the next; a
    // "with" block's events are all delivered before the webhook is turned off.
    let (n, b) = (args.imports, args.batch);
    import_time(&http, &pc, &key, "warm", 2, b).await?;
    let hook = |on: bool| {
        json!({"webhook": {"url": receiver.url, "global": true,
            "eventsEnabled": {"user.bulk.create": on},
            "connectTimeout": 1000, "readTimeout": 600000}})
    };
    let created = api(&http, &pc, &key, Method::POST, "/api/webhook", hook(false)).await?;
    let hook_path = format!(
        "/api/webhook/{}",
        created["webhook"]["id"].as_str().unwrap_or_default()
    );
    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    let (mut left, mut k) = (n.max(1), 0);
    while left > 0 {
        let m = left.min(IMPORT_BLOCK);
        left -= m;
        k += 1;
        api(&http, &pc, &key, Method::PUT, &hook_path, hook(false)).await?;
        without += import_time(&http, &pc, &key, &format!("plain-{k}"), m, b).await?;
        // Its events fanned out while the webhook is off, so none is delivered.
        let settle = Instant::now() + Duration::from_secs(30);
        while metric(
            &http,
            &pc,
            &key,
            "portcullis_webhook_outbox{state=\"events\"}",
        )
        .await?
            > 0.0
            && Instant::now() < settle
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        api(&http, &pc, &key, Method::PUT, &hook_path, hook(true)).await?;
        let sent = receiver.count.load(Ordering::Relaxed);
        with += import_time(&http, &pc, &key, &format!("hooked-{k}"), m, b).await?;
        let settle = Instant::now() + Duration::from_secs(30);
        while receiver.count.load(Ordering::Relaxed) < sent + m as u64 && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let each = (n.max(1) * b) as f64;
    let (without, with) = (each / without.as_secs_f64(), each / with.as_secs_f64());
    // The backlog: the receiver holds its requests while one-user imports write the events.
    let _ = receiver.gate.send(false);
    let before = receiver.count.load(Ordering::Relaxed);
    for i in 0..args.events {
        api(
            &http,
            &pc,
            &key,
            Method::POST,
            "/api/user/import",
            users(&format!("backlog-{i}"), 1),
        )
        .await?;
    }
    // Every event fanned out into a pending attempt before the gate opens.
    let fanned = Instant::now() + Duration::from_secs(60);
    while Instant::now() < fanned
        && metric(
            &http,
            &pc,
            &key,
            "portcullis_webhook_outbox{state=\"pending\"}",
        )
        .await?
            + (SLOTS as f64)
            < args.events as f64
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The receiver's limit just before the drain and just after it: the machine's pace moves
    // within a run, so the limit is taken on either side of what it is compared with.
    let secs = args.seconds as f64;
    let direct_before = hammer(&http, receiver, sample, secs).await?;
    let target = before + args.events as u64;
    let served = format!("/proc/{}/stat", portcullis.id());
    let (pc_cpu0, receiver_cpu0) = (crate::cpu::of(&served), receiver.cpu());
    // PostgreSQL's processes share the cores with the others: their CPU over the drain too.
    let postgres_cpu0 = (backend == Backend::Postgres).then(|| crate::cpu::of_command("postgres"));
    let start = Instant::now();
    let _ = receiver.gate.send(true);
    let limit = start + Duration::from_secs(300);
    while receiver.count.load(Ordering::Relaxed) < target {
        if Instant::now() > limit {
            return Err(format!(
                "only {} of {} events arrived in 300 s",
                receiver.count.load(Ordering::Relaxed) - before,
                args.events
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered = args.events as f64 / start.elapsed().as_secs_f64();
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / args.events as f64;
    let pc_micros = crate::cpu::of(&served)
        .zip(pc_cpu0)
        .map(|(b, a)| per_event(b.saturating_sub(a)));
    let receiver_micros = per_event(receiver.cpu().saturating_sub(receiver_cpu0));
    let postgres_micros = postgres_cpu0
        .as_ref()
        .map(|before| per_event(crate::cpu::of_command_since("postgres", before)));
    let direct_after = hammer(&http, receiver, sample, secs).await?;
    let direct_rate = (direct_before.rate + direct_after.rate) / 2.0;
    let client_micros = (direct_before.client_micros + direct_after.client_micros) / 2.0;
    let direct_receiver = (direct_before.receiver_micros + direct_after.receiver_micros) / 2.0;
    let body = String::from_utf8_lossy(sample);
    let alone = store_alone(backend, args.events, &body).await?;

    let _ = receiver.gate.send(true);
    // Shares with a target print rounded down, so one printed at its target meets it.
    let share = (delivered / direct_rate * 100.0).floor();
    let reach = alone / direct_rate * 100.0;
    // What the cores allow at the drain's CPU per event, every process of it counted (this
    // machine runs the receiver, and PostgreSQL, beside `portcullis`): the share of the
    // receiver's limit above which the deliveries cannot go here.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let all = pc_micros.map(|pc| {
        let total = pc + receiver_micros + postgres_micros.unwrap_or(0.0);
        let allowed = cores * 1e6 / total.max(0.001);
        (pc, total, allowed, allowed / direct_rate * 100.0)
    });
    let mut short = Vec::new();
    if reach < 80.0 {
        short.push(format!("the store alone reaches {reach:.0}%"));
    }
    if let Some((.., room)) = all.filter(|a| a.3 < 80.0) {
        short.push(format!("these cores allow {room:.0}% at its CPU per event"));
    }
    println!(
        "| {name} | events delivered/s ({} queued, {SLOTS} slots) | {delivered:.0} | receiver hammered directly: {direct_rate:.0}/s ({:.0} before, {:.0} after) | {share:.0}% | ≥ 80%{} |",
        args.events,
        direct_before.rate,
        direct_after.rate,
        match (share >= 80.0, short.is_empty()) {
            (true, _) => String::new(),
            (false, true) => " (NOT met)".into(),
            (false, false) => format!(" (NOT met; {})", short.join("; ")),
        }
    );
    println!(
        "| {name} | events delivered/s beside the store's claims and ends alone (no HTTP) | {delivered:.0} | the store alone: {alone:.0}/s | {:.0}% | — |",
        delivered / alone * 100.0
    );
    if let Some((pc, total, allowed, room)) = all {
        println!(
            "| {name} | CPU µs per event delivered: portcullis (the receiver: {receiver_micros:.0}) | {pc:.0} | the direct client per request: {client_micros:.0} (the receiver: {direct_receiver:.0}) | {:.0}% | — |",
            pc / client_micros.max(0.001) * 100.0
        );
        println!(
            "| {name} | CPU µs per event delivered, every process of the drain: portcullis {pc:.0} + the receiver {receiver_micros:.0}{} | {total:.0} | at that cost {cores:.0} cores allow {allowed:.0}/s | {room:.0}% | — |",
            postgres_micros
                .map(|g| format!(" + PostgreSQL {g:.0}"))
                .unwrap_or_default(),
        );
    }
    let share = (with / without * 100.0).floor();
    println!(
        "| {name} | import users/s with a user.bulk.create webhook ({n} × {b}) | {with:.0} | without: {without:.0}/s | {share:.0}% | ≥ 90%{} |",
        if share >= 90.0 { "" } else { " (NOT met)" }
    );
    Ok(())
}
