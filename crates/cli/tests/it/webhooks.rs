//! Webhook delivery survives a crash: with events pending for a receiver that is down, the
//! server is killed (SIGKILL) while it retries, a new server starts on the same database, the
//! receiver comes up, and every event arrives, any duplicate carrying the same event id.

use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Events pending at the crash.
const EVENTS: usize = 10_000;
/// Applications each new user is registered for: one request writes a `user.create` and this
/// many `user.registration.create` events, so 10,000 events take 400 requests.
const APPS: usize = 24;
const USERS: usize = EVENTS / (APPS + 1);

/// A receiver on `port`: records each request's `webhook-id` header and the body's event id.
fn receive(listener: TcpListener, got: Arc<Mutex<Vec<(String, String)>>>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let got = got.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut header_id = String::new();
                let mut length = 0usize;
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            "webhook-id" => header_id = v.trim().to_string(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let body_id = v["event"]["id"].as_str().unwrap_or_default().to_string();
                got.lock().unwrap().push((header_id, body_id));
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

fn serve(url: &str, shared: bool, backend: Backend) -> Server {
    let args = [
        "--webhook-backoff-ms",
        "50",
        "--webhook-backoff-max-ms",
        "500",
    ];
    if shared {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--dev", "--bind", "127.0.0.1:0", "--database", url])
            .args(args);
        Server::start_from(cmd, TestDb::Shared)
    } else {
        Server::start_with(backend, &args)
    }
}

/// The outbox gauge `state` from `/metrics`.
fn outbox(server: &Server, state: &str) -> i64 {
    let text = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    let prefix = format!("portcullis_webhook_outbox{{state=\"{state}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(-1)
}

fn pending_events_survive_a_kill(backend: Backend) {
    // A port nothing listens on yet: the receiver is down until after the restart.
    let port = portcullis_test_ports::free_port();
    let mut first = serve("", false, backend);
    let http = reqwest::blocking::Client::new();
    let (url, key) = (first.url.clone(), first.api_key.clone());
    let a = http
        .post(format!("{url}/api/webhook"))
        .header("Authorization", &key)
        .json(&serde_json::json!({"webhook": {
            "url": format!("http://127.0.0.1:{port}/hook"), "global": true,
            "connectTimeout": 100, "readTimeout": 100,
            "eventsEnabled": {"user.create": true, "user.registration.create": true}}}))
        .send()
        .unwrap();
    assert_eq!(a.status().as_u16(), 200, "{}", first.log());

    let apps: Vec<String> = (0..APPS)
        .map(|i| {
            let r = http
                .post(format!("{url}/api/application"))
                .header("Authorization", &key)
                .json(&serde_json::json!({"application": {"name": format!("Hooked {i}")}}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: serde_json::Value = r.json().unwrap();
            v["application"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    let registrations: Vec<serde_json::Value> = apps
        .iter()
        .map(|a| serde_json::json!({"applicationId": a}))
        .collect();
    // Users without passwords (no hashing), each registered for every application.
    let made: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (http, url, key) = (http.clone(), url.clone(), key.clone());
                let registrations = &registrations;
                s.spawn(move || {
                    (t..USERS)
                        .step_by(4)
                        .map(|i| {
                            let r = http
                                .post(format!("{url}/api/user"))
                                .header("Authorization", &key)
                                .json(&serde_json::json!({"user": {
                                    "email": format!("hook{i}@example.com"),
                                    "registrations": registrations}}))
                                .send()
                                .unwrap();
                            assert_eq!(r.status().as_u16(), 200);
                            let v: serde_json::Value = r.json().unwrap();
                            v["user"]["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(made.len() * (APPS + 1), EVENTS);
    // Every event has its attempt, and the worker is retrying them against the closed port.
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox(&first, "pending") < EVENTS as i64 {
        assert!(Instant::now() < deadline, "fan-out: {}", first.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    first.kill();

    let second = serve(first.database_url(), true, backend);
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port is free");
    {
        let got = got.clone();
        std::thread::spawn(move || receive(listener, got));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let distinct: HashSet<String> = got.lock().unwrap().iter().map(|g| g.0.clone()).collect();
        if distinct.len() >= EVENTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} events arrived; server log:\n{}",
            distinct.len(),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = got.lock().unwrap().clone();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (header, body) in &got {
        assert_eq!(header, body, "the webhook-id header is the event's id");
        *per_id.entry(header.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), EVENTS);
    let duplicates = got.len() - EVENTS;
    eprintln!("{EVENTS} events delivered after the kill; {duplicates} duplicates (same event id)");
    assert!(outbox(&second, "failed") == 0);
}

#[test]
fn pending_webhook_events_survive_a_kill_on_sqlite() {
    pending_events_survive_a_kill(Backend::Sqlite)
}

#[test]
fn pending_webhook_events_survive_a_kill_on_postgres() {
    pending_events_survive_a_kill(Backend::Postgres)
}
