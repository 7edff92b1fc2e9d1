//! `serve`'s workers as an operator meets them: several nodes on one PostgreSQL run each import
//! job once; SIGTERM during an import job stops the process within the grace time without losing
//! the job; the forgot-password email goes out through SMTP, also when SIGTERM follows the
//! request at once.

use crate::support::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

fn call(method: &str, url: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), url)
        .header("Authorization", key)
        .timeout(Duration::from_secs(120));
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().expect("the server answers");
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

fn users(n: usize, prefix: &str) -> Value {
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let users: Vec<Value> = (0..n)
        .map(|i| json!({"email": format!("{prefix}{i}@example.com"), "password": bcrypt, "encryptionScheme": "bcrypt"}))
        .collect();
    json!({ "users": users })
}

/// Queues an import job on `server`; answers its id.
fn queue(server: &Server, body: &Value) -> String {
    let (status, job) = call(
        "POST",
        &format!("{}/api/user/import/job", server.url),
        &server.api_key,
        Some(body),
    );
    assert_eq!(status, 202, "{job}");
    job["job"]["id"].as_str().unwrap().to_string()
}

fn job_state(server: &Server, id: &str) -> String {
    let (status, job) = call(
        "GET",
        &format!("{}/api/user/import/job/{id}", server.url),
        &server.api_key,
        None,
    );
    assert_eq!(status, 200, "{job}");
    job["job"]["state"].as_str().unwrap().to_string()
}

fn wait_for_state(server: &Server, id: &str, states: &[&str], limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let state = job_state(server, id);
        if states.contains(&state.as_str()) {
            return state;
        }
        assert!(
            Instant::now() < end,
            "job {id} is still {state} after {limit:?}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A second `serve` on `database`, with extra arguments.
fn node(database: &str, extra: &[&str]) -> Server {
    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        database,
    ])
    .args(extra);
    Server::start_from(cmd, TestDb::Shared)
}

/// How many times the log says job `id` started.
fn runs(log: &str, id: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("import job started") && l.contains(id))
        .count()
}

/// Users of the batch `prefix` the server holds, by a bulk delete's dry run (an exact count).
fn stored(server: &Server, prefix: &str) -> u64 {
    let (status, v) = call(
        "DELETE",
        &format!(
            "{}/api/user/bulk?queryString=email:{prefix}*&dryRun=true",
            server.url
        ),
        &server.api_key,
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["total"].as_u64().expect("a total")
}

/// Node B starts while node A runs a job (a node that starts must not take it), then both nodes
/// are woken by jobs queued on each and claim from the one queue at once. Every job runs once.
#[test]
fn two_nodes_on_one_postgres_run_each_import_job_once() {
    let a = Server::start(Backend::Postgres);
    let first = queue(&a, &users(20_000, "first"));
    wait_for_state(
        &a,
        &first,
        &["running", "succeeded"],
        Duration::from_secs(60),
    );
    let b = node(a.database_url(), &[]);
    let mut jobs = vec![first];
    for i in 0..10 {
        let on = if i % 2 == 0 { &a } else { &b };
        jobs.push(queue(on, &users(2_000, &format!("batch{i}x"))));
    }
    for id in &jobs {
        let state = wait_for_state(&a, id, &["succeeded", "failed"], Duration::from_secs(180));
        assert_eq!(state, "succeeded", "{}\n{}", a.log(), b.log());
    }
    let (log_a, log_b) = (a.log(), b.log());
    for id in &jobs {
        assert_eq!(
            runs(&log_a, id) + runs(&log_b, id),
            1,
            "job {id} ran once:\n{log_a}\n{log_b}"
        );
    }
    let on_b = jobs.iter().filter(|id| runs(&log_b, id) == 1).count();
    eprintln!("node b ran {on_b} of {} jobs", jobs.len());
    assert!(
        on_b > 0 && on_b < jobs.len(),
        "both nodes ran jobs:\n{log_a}\n{log_b}"
    );
    assert_eq!(stored(&a, "first"), 20_000);
    assert_eq!(stored(&b, "batch9x"), 2_000);
}

/// SIGTERM while an import job runs: the process exits within the grace time, and the job is
/// finished or goes back to the queue — the next server runs it to its end, once.
fn sigterm_during_an_import_job_loses_nothing(backend: Backend) {
    let grace = Duration::from_secs(2);
    let mut first = Server::start_with(backend, &["--shutdown-grace", "2"]);
    let id = queue(&first, &users(40_000, "term"));
    wait_for_state(&first, &id, &["running"], Duration::from_secs(60));
    let stopping = Instant::now();
    let status = first.terminate();
    let took = stopping.elapsed();
    let log = first.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?} after {took:?}:\n{log}"
    );
    // The grace time, and the second the runtime may take to let go of its threads.
    assert!(took < grace + Duration::from_secs(2), "{took:?}:\n{log}");
    let finished = log
        .lines()
        .any(|l| l.contains("import job ended") && l.contains("succeeded"));
    let requeued = log.contains("import job unfinished at shutdown: queued again");
    // On SQLite an import's writes run on its thread and cannot be stopped midway: when they
    // outlast the grace time, the job keeps its claim, which ends within seconds, and it is
    // queued again then.
    let claim_ends = log.contains("worker still running when the grace time ended");
    // A job whose commit lands between the end of the grace time and the process's exit is
    // both: left running at the grace time, then finished.
    assert!(
        [finished, requeued, claim_ends].contains(&true) && !(finished && requeued),
        "finished, queued again, or left to its ending claim:\n{log}"
    );
    assert!(log.contains("worker stopped"), "{log}");
    eprintln!(
        "the job was {} at SIGTERM",
        match (finished, requeued) {
            (true, _) => "finished",
            (_, true) => "queued again",
            _ => "left to its ending claim",
        }
    );

    let next = node(first.database_url(), &[]);
    let state = wait_for_state(
        &next,
        &id,
        &["succeeded", "failed"],
        Duration::from_secs(120),
    );
    assert_eq!(state, "succeeded", "{}", next.log());
    assert_eq!(stored(&next, "term"), 40_000);
    assert_eq!(
        runs(&next.log(), &id),
        usize::from(!finished),
        "a finished job does not run again; one queued again does"
    );
}

#[test]
fn sigterm_during_an_import_job_loses_nothing_on_sqlite() {
    sigterm_during_an_import_job_loses_nothing(Backend::Sqlite)
}

#[test]
fn sigterm_during_an_import_job_loses_nothing_on_postgres() {
    sigterm_during_an_import_job_loses_nothing(Backend::Postgres)
}

use portcullis_mail::testing::SmtpSink;

/// The reset emails of requests answered just before SIGTERM still go out: the mail worker
/// drains its queue while the server stops.
#[test]
fn forgot_password_mail_goes_out_through_smtp_also_at_shutdown() {
    let smtp = SmtpSink::start();
    let mut s = Server::start(Backend::Sqlite);
    let (_, tenants) = call("GET", &format!("{}/api/tenant", s.url), &s.api_key, None);
    let tenant = tenants["tenants"][0]["id"].as_str().unwrap().to_string();
    let (status, patched) = call(
        "PATCH",
        &format!("{}/api/tenant/{tenant}", s.url),
        &s.api_key,
        Some(
            &json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": smtp.port,
            "security": "NONE", "defaultFromEmail": "accounts@shop.example"}}}),
        ),
    );
    assert_eq!(status, 200, "{patched}");
    const USERS: usize = 12;
    for i in 0..USERS {
        let (status, u) = call(
            "POST",
            &format!("{}/api/user", s.url),
            &s.api_key,
            Some(&json!({"user": {"email": format!("reset{i}@example.com")}})),
        );
        assert_eq!(status, 200, "{u}");
    }
    let client = reqwest::blocking::Client::new();
    for i in 0..USERS {
        let res = client
            .post(format!("{}/api/user/forgot-password", s.url))
            .json(&json!({"loginId": format!("reset{i}@example.com")}))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    let status = s.terminate();
    assert!(status.is_some_and(|st| st.success()), "{}", s.log());
    let messages = smtp.messages();
    for i in 0..USERS {
        let to = format!("reset{i}@example.com");
        assert!(
            messages.iter().any(|m| m.contains(&to)),
            "no email to {to} among {} messages:\n{}",
            messages.len(),
            s.log()
        );
    }
}
