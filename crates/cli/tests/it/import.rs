//! `portcullis import` and FusionAuth's documented curl loop, against the real binary.

use crate::support::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

fn write_batch(dir: &std::path::Path, name: &str, emails: &[&str]) {
    let users: Vec<_> = emails
        .iter()
        .map(|e| json!({"email": e, "password": "imported-password"}))
        .collect();
    std::fs::write(dir.join(name), json!({ "users": users }).to_string()).unwrap();
}

fn user_status(s: &Server, email: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}/api/user?email={email}", s.url))
        .header("Authorization", &s.api_key)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn import(args: &[&str]) -> (bool, String) {
    run_with_timeout(
        Command::new(binary())
            .arg("import")
            .args(args)
            .arg("--quiet"),
        Duration::from_secs(60),
    )
}

#[test]
fn import_stops_at_the_first_failing_file_and_resumes_after_the_last_that_landed() {
    let s = Server::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    write_batch(dir.path(), "01.json", &["a1@example.com", "a2@example.com"]);
    write_batch(dir.path(), "02.json", &["b1@example.com", "b1@example.com"]);
    write_batch(dir.path(), "03.json", &["c1@example.com"]);
    let path = dir.path().to_str().unwrap();

    let (ok, out) = import(&[path, "--url", &s.url, "--api-key", &s.api_key]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("02.json") && out.contains("[duplicate]user.email"),
        "{out}"
    );
    assert_eq!(
        user_status(&s, "a1@example.com"),
        200,
        "the first file landed"
    );
    assert_eq!(
        user_status(&s, "b1@example.com"),
        404,
        "the failing file wrote nothing"
    );
    assert_eq!(
        user_status(&s, "c1@example.com"),
        404,
        "the run stopped there"
    );

    write_batch(dir.path(), "02.json", &["b1@example.com", "b2@example.com"]);
    let (ok, out) = import(&[path, "--url", &s.url, "--api-key", &s.api_key, "--resume"]);
    assert!(ok, "01.json is skipped, so its users do not collide: {out}");
    assert!(out.contains("Imported 3 users from 2 files"), "{out}");
    assert_eq!(user_status(&s, "c1@example.com"), 200);
}

#[test]
fn import_straight_into_a_store_without_a_server() {
    let db = TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    write_batch(dir.path(), "users.json", &["direct@example.com"]);
    let file = dir.path().join("users.json");
    let (ok, out) = import(&[file.to_str().unwrap(), "--database", db.url()]);
    assert!(ok, "{out}");
    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        db.url(),
    ]);
    let s = Server::start_from(cmd, TestDb::Shared);
    assert_eq!(user_status(&s, "direct@example.com"), 200, "{}", s.log());
}

/// The shell loop of FusionAuth's migration guide, unchanged but for its three variables.
#[test]
fn fusionauths_documented_curl_loop_imports_a_directory() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is needed for this test: scripts/test installs it"
    );
    let s = Server::start(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    write_batch(dir.path(), "1.json", &["loop1@example.com"]);
    write_batch(dir.path(), "2.json", &["loop2@example.com"]);
    let script = format!(
        r#"#!/bin/sh

API_KEY={key}
JSON_FILE_DIR={dir}
FA_HOST={host}

for file in $JSON_FILE_DIR/*.json; do
  echo "Processing $file";
  RES=`curl --max-time 600 \
       -s -w "%{{http_code}}" \
       -H "Authorization: $API_KEY" \
       -H "Content-type: application/json" \
       -XPOST \
       $FA_HOST/api/user/import \
       -d@$file`
  if [ "$RES" -ne "200" ]; then
    echo "Error: $RES";
    exit 1;
  fi
done
"#,
        key = s.api_key,
        dir = dir.path().display(),
        host = s.url
    );
    let path = dir.path().join("import.sh");
    std::fs::write(&path, script).unwrap();
    let (ok, out) = run_with_timeout(Command::new("sh").arg(&path), Duration::from_secs(60));
    assert!(ok, "{out}");
    assert_eq!(user_status(&s, "loop1@example.com"), 200);
    assert_eq!(user_status(&s, "loop2@example.com"), 200);
}

/// A field of `/proc/PID/status` in bytes (`VmHWM`, the peak resident memory; `VmRSS`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

fn create(s: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
    let res = reqwest::blocking::Client::new()
        .post(format!("{}{path}", s.url))
        .header("Authorization", &s.api_key)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().unwrap()
}

/// One request of 200,000 realistic users (registrations, a membership, `data`, bcrypt
/// hashes): the server's peak resident memory, start-up included, stays under three times the
/// request's body.
#[test]
fn an_import_of_200000_users_peaks_under_three_times_its_body() {
    let s = Server::start(Backend::Sqlite);
    let app = create(
        &s,
        "/api/application",
        json!({"application": {"name": "Shop", "roles": [{"name": "member"}]}}),
    )["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = create(&s, "/api/group", json!({"group": {"name": "Customers"}}))["group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let users: Vec<_> = (0..200_000)
        .map(|i| {
            json!({
                "email": format!("user{i}@legacy.example.com"), "username": format!("user{i}"),
                "firstName": "Legacy", "lastName": format!("User {i}"), "verified": true,
                "encryptionScheme": "bcrypt",
                "password": "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
                "data": {"original_user_id": i, "plan": "gold", "signup_source": "web"},
                "registrations": [{"applicationId": app, "roles": ["member"]}],
                "memberships": [{"groupId": group}]
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "users": users })).unwrap();
    drop(users);
    let size = body.len() as u64;
    let res = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap()
        .post(format!("{}/api/user/import", s.url))
        .header("Authorization", &s.api_key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().unwrap());
    let peak = proc_status_bytes(s.pid(), "VmHWM");
    let mib = |b: u64| b / (1024 * 1024);
    assert!(
        peak < 3 * size,
        "peak resident memory {} MiB for a body of {} MiB: over three times the body",
        mib(peak),
        mib(size)
    );
    eprintln!(
        "200,000 users: body {} MiB, server peak {} MiB ({:.2}x), resident after {} MiB",
        mib(size),
        mib(peak),
        peak as f64 / size as f64,
        mib(proc_status_bytes(s.pid(), "VmRSS"))
    );
}
