//! `portcullis migration status` against a running server and straight on its database.

use crate::support::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

fn status_reports_policies_counts_and_the_share(backend: Backend) {
    let s = Server::start(backend);
    let http = reqwest::blocking::Client::new();
    let call = |method: &str, path: &str, body: serde_json::Value| {
        let r = http
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .header("Authorization", &s.api_key)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json::<serde_json::Value>().unwrap()
    };
    let c = call(
        "POST",
        "/api/connector",
        json!({"connector": {"type": "Generic", "name": "old-php-app",
                             "authenticationURL": "http://127.0.0.1:9/login"}}),
    );
    let cid = c["connector"]["id"].as_str().unwrap().to_string();
    let t = call("GET", "/api/tenant", json!(null));
    let tid = t["tenants"][0]["id"].as_str().unwrap().to_string();
    call(
        "PATCH",
        &format!("/api/tenant/{tid}"),
        json!({"tenant": {"connectorPolicies": [{"connectorId": cid, "domains": ["*"], "migrate": true}],
                          "data": {"legacyUserCount": 1000}}}),
    );
    // One login to a legacy system that is down: a failure, counted.
    let r = http
        .post(format!("{}/api/login", s.url))
        .header("Authorization", &s.api_key)
        .json(&json!({"loginId": "someone@legacy.example", "password": "pw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);

    let run = |args: &[&str]| {
        run_with_timeout(
            Command::new(binary())
                .args(["migration", "status"])
                .args(args),
            Duration::from_secs(60),
        )
    };
    // The key is base64url: it may begin with `-`, and must still be taken as the value.
    let (ok, out) = run(&["--url", &s.url, "--api-key", &s.api_key]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["--url", &s.url, "--api-key", "-not-a-key"]);
    assert!(!ok);
    assert!(
        out.contains("401"),
        "a hyphenated key is sent, not parsed as a flag: {out}"
    );
    let (ok, out) = run(&["--url", &s.url, "--api-key", &s.api_key]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("tenant {tid}: 0 users migrated of 1000 (0.0%)")),
        "{out}"
    );
    assert!(out.contains("old-php-app"), "{out}");
    assert!(out.contains("unreachable=1"), "{out}");

    let (ok, out) = run(&[
        "--database",
        s.database_url(),
        "--legacy-count",
        "4",
        "--json",
    ]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tenants"][0]["legacyUserCount"], 4);
    assert_eq!(
        v["tenants"][0]["connectors"][0]["failures"]["unreachable"],
        1
    );

    let (ok, out) = run(&["--database", s.database_url(), "--goal", "2"]);
    assert!(!ok);
    assert!(out.contains("--goal must be between 0 and 1"), "{out}");
}

#[test]
fn migration_status_sqlite() {
    status_reports_policies_counts_and_the_share(Backend::Sqlite);
}

#[test]
fn migration_status_postgres() {
    status_reports_policies_counts_and_the_share(Backend::Postgres);
}

/// With every log level on, the typed password of a login that goes to a connector — right,
/// wrong, or to a legacy system that is down — appears nowhere in what the server prints.
#[test]
fn passwords_sent_to_connectors_never_reach_the_log() {
    let db = TestDb::new(Backend::Sqlite);
    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        db.url(),
    ])
    .env("PORTCULLIS_LOG", "trace");
    let s = Server::start_from(cmd, db);
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", s.url))
            .header("Authorization", &s.api_key)
            .json(&body)
            .send()
            .unwrap()
    };
    let c: serde_json::Value = post(
        "/api/connector",
        json!({"connector": {"type": "Generic", "name": "down", "authenticationURL": "http://127.0.0.1:9/login"}}),
    )
    .json()
    .unwrap();
    let t: serde_json::Value = http
        .get(format!("{}/api/tenant", s.url))
        .header("Authorization", &s.api_key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tid = t["tenants"][0]["id"].as_str().unwrap();
    let r = http
        .patch(format!("{}/api/tenant/{tid}", s.url))
        .header("Authorization", &s.api_key)
        .json(&json!({"tenant": {"connectorPolicies": [{"connectorId": c["connector"]["id"], "domains": ["*"], "migrate": true}]}}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let secret = "Sup3r-Secret-Typed-Password";
    let r = post(
        "/api/login",
        json!({"loginId": "who@legacy.example", "password": secret}),
    );
    assert_eq!(r.status(), 503);
    let r = post(
        "/api/user/forgot-password",
        json!({"loginId": secret, "sendForgotPasswordEmail": false}),
    );
    assert_eq!(r.status(), 404);
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging is on: {log}"
    );
    assert!(log.contains("legacy"), "the failure is logged: {log}");
    assert!(
        !log.contains(secret),
        "the password leaked into the log:\n{log}"
    );
}
