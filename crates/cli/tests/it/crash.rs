//! A server killed (SIGKILL) in the middle of a synchronous import leaves all of the request's
//! users or none, and a database the next server opens and writes to as if nothing happened.

use crate::support::*;
use std::process::Command;
use std::time::Duration;

const USERS: usize = 10_000;

fn users() -> serde_json::Value {
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let users: Vec<serde_json::Value> = (0..USERS)
        .map(|i| {
            serde_json::json!({"email": format!("crash{i}@example.com"), "password": bcrypt,
                               "encryptionScheme": "bcrypt", "data": {"n": i}})
        })
        .collect();
    serde_json::json!({ "users": users })
}

/// How many of the batch's users the server holds, by a bulk delete's dry run (an exact count).
fn stored(url: &str, key: &str) -> u64 {
    let res = reqwest::blocking::Client::new()
        .delete(format!(
            "{url}/api/user/bulk?queryString=email:crash*&dryRun=true"
        ))
        .header("Authorization", key)
        .send()
        .expect("the server answers");
    assert_eq!(res.status().as_u16(), 200);
    let v: serde_json::Value = res.json().unwrap();
    v["total"].as_u64().expect("a total")
}

fn restart(url: &str) -> Server {
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--dev", "--bind", "127.0.0.1:0", "--database", url]);
    Server::start_from(cmd, TestDb::Shared)
}

fn import_killed_at_any_point_leaves_all_or_nothing(backend: Backend) {
    let body = serde_json::to_vec(&users()).unwrap();
    // How long the whole request takes here, so that the kill points spread from the body's
    // upload through validation and the transaction to after the answer.
    let whole = {
        let server = Server::start(backend);
        let started = std::time::Instant::now();
        let res = reqwest::blocking::Client::new()
            .post(format!("{}/api/user/import", server.url))
            .header("Authorization", &server.api_key)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(120))
            .send()
            .expect("the server answers");
        assert_eq!(res.status().as_u16(), 200);
        started.elapsed().as_millis() as u64
    };
    // The last point kills only once the answer is in: a timed point cannot promise that on a
    // loaded machine, where one import may take twice as long as the one measured.
    let points_ms = [2, 30, 60, 85, 100, 120]
        .map(|pct| Some(whole * pct / 100))
        .into_iter()
        .chain([None]);
    let mut outcomes = Vec::new();
    for point in points_ms {
        let mut server = Server::start(backend);
        let (url, key) = (server.url.clone(), server.api_key.clone());
        let sent = body.clone();
        let request = std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .post(format!("{url}/api/user/import"))
                .header("Authorization", key)
                .header("content-type", "application/json")
                .body(sent)
                .timeout(Duration::from_secs(60))
                .send()
                .map(|r| r.status().as_u16())
        });
        let (ms, answered) = match point {
            Some(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                server.kill();
                (ms, request.join().unwrap().ok())
            }
            None => {
                let answered = request.join().unwrap().ok();
                assert_eq!(answered, Some(200), "{}", server.log());
                server.kill();
                (u64::MAX, answered)
            }
        };

        let next = restart(server.database_url());
        let n = stored(&next.url, &next.api_key);
        assert!(
            n == 0 || n == USERS as u64,
            "killed after {ms} ms: {n} of {USERS} users stored"
        );
        if answered == Some(200) {
            assert_eq!(n, USERS as u64, "an import answered 200 is durable");
        }
        // The database takes writes again: the batch lands (again, when it had landed) with upsert.
        let res = reqwest::blocking::Client::new()
            .post(format!("{}/api/user/import", next.url))
            .header("Authorization", &next.api_key)
            .header("content-type", "application/json")
            .body({
                let mut v = users();
                v["upsert"] = serde_json::json!(true);
                serde_json::to_vec(&v).unwrap()
            })
            .timeout(Duration::from_secs(120))
            .send()
            .expect("the restarted server answers");
        assert_eq!(res.status().as_u16(), 200, "{}", next.log());
        assert_eq!(stored(&next.url, &next.api_key), USERS as u64);
        outcomes.push((ms, n));
        drop(next);
        drop(server);
    }
    eprintln!("whole import {whole} ms; (kill point ms, users stored): {outcomes:?}");
    assert_eq!(
        outcomes.last().map(|o| o.1),
        Some(USERS as u64),
        "a kill after the answer finds every user"
    );
}

#[test]
fn import_killed_at_any_point_leaves_all_or_nothing_on_sqlite() {
    import_killed_at_any_point_leaves_all_or_nothing(Backend::Sqlite)
}

#[test]
fn import_killed_at_any_point_leaves_all_or_nothing_on_postgres() {
    import_killed_at_any_point_leaves_all_or_nothing(Backend::Postgres)
}
