//! `portcullis serve` as an operator runs it: settings from flags, environment and TOML,
//! Kickstart, graceful shutdown, and several nodes on one PostgreSQL.

use crate::support::*;
use std::process::Command;
use std::time::Duration;

fn answer(res: reqwest::blocking::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(serde_json::Value::Null))
}

fn get(url: &str, key: &str) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::new();
    answer(
        client
            .get(url)
            .header("Authorization", key)
            .send()
            .expect("the server answers"),
    )
}

fn post(url: &str, key: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::new();
    answer(
        client
            .post(url)
            .header("Authorization", key)
            .json(body)
            .send()
            .expect("the server answers"),
    )
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut s = Server::start(Backend::Sqlite);
    assert_eq!(get(&format!("{}/api/status", s.url), "").0, 200);
    let status = s
        .terminate()
        .expect("the server stops on SIGTERM without being killed");
    assert!(status.success(), "exit status {status:?}:\n{}", s.log());
    assert!(s.log().contains("shutting down"), "{}", s.log());
}

#[test]
fn settings_come_from_the_toml_file_and_the_environment() {
    let db = TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    // The file names a bind address that cannot work; the environment overrides it.
    std::fs::write(
        &config,
        format!(
            "bind = \"256.0.0.1:1\"\ndatabase = \"{}\"\ndev = true\n",
            db.url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("PORTCULLIS_BIND", "127.0.0.1:0");
    let s = Server::start_from(cmd, db);
    let (status, body) = get(&format!("{}/api/tenant", s.url), &s.api_key);
    assert_eq!(status, 200, "{}", s.log());
    assert_eq!(body["tenants"][0]["name"], "Default");
}

#[test]
fn an_invalid_config_file_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "databse = \"sqlite://x.db\"\n").unwrap();
    let (ok, out) = run_with_timeout(
        Command::new(binary())
            .args(["serve", "--config"])
            .arg(&config),
        Duration::from_secs(10),
    );
    assert!(!ok);
    assert!(out.contains("databse"), "{out}");
    let (ok, out) = run_with_timeout(
        Command::new(binary()).args([
            "serve",
            "--database",
            "mysql://x/y",
            "--bind",
            "127.0.0.1:0",
        ]),
        Duration::from_secs(10),
    );
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
}

#[test]
fn a_two_factor_key_is_made_next_to_a_sqlite_database_and_a_bad_one_stops_start_up() {
    let mut s = Server::start(Backend::Sqlite);
    let file = format!(
        "{}.two-factor-key",
        s.database_url().trim_start_matches("sqlite://")
    );
    let key = std::fs::read_to_string(&file).expect("the key file is made on first start");
    assert_eq!(key.trim().len(), 44, "base64 of 32 bytes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the key");
    }
    assert!(s.log().contains("two-factor key made"), "{}", s.log());
    assert!(!s.log().contains(key.trim()), "the key is never logged");
    let (status, body) = get(&format!("{}/api/two-factor/secret", s.url), &s.api_key);
    assert_eq!(status, 200, "{}", s.log());
    assert!(body["secretBase32Encoded"].is_string());
    s.terminate();

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let (ok, out) = run_with_timeout(
        Command::new(binary())
            .args(["serve", "--bind", "127.0.0.1:0", "--database", &db])
            .env("PORTCULLIS_TWO_FACTOR_KEY", "c2hvcnQ="),
        Duration::from_secs(10),
    );
    assert!(!ok);
    assert!(
        out.contains("PORTCULLIS_TWO_FACTOR_KEY") && out.contains("32 bytes"),
        "{out}"
    );
}

#[test]
fn kickstart_runs_on_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kickstart.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "variables": {"key": "kickstarted-key-0123456789abcdef"},
            "apiKeys": [{"key": "#{key}"}],
            "requests": [{"method": "POST", "url": "/api/user",
                          "body": {"user": {"email": "kick@example.com", "password": "password123"}}}]
        })
        .to_string(),
    )
    .unwrap();
    let s = Server::start_with(Backend::Sqlite, &["--kickstart", file.to_str().unwrap()]);
    let (status, body) = get(
        &format!("{}/api/user?email=kick@example.com", s.url),
        "kickstarted-key-0123456789abcdef",
    );
    assert_eq!(status, 200, "{}", s.log());
    assert_eq!(body["user"]["email"], "kick@example.com");

    // A second start on the same database finds it not empty and changes nothing.
    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        s.database_url(),
    ])
    .args(["--kickstart", file.to_str().unwrap()]);
    let again = Server::start_from(cmd, TestDb::Shared);
    assert!(again.log().contains("Kickstart skipped"), "{}", again.log());
}

/// Nodes keep no state of their own: a second `serve` on the same PostgreSQL sees what the
/// first wrote, and both answer.
#[test]
fn two_nodes_share_one_postgres_database() {
    let a = Server::start(Backend::Postgres);
    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        a.database_url(),
    ]);
    let b = Server::start_from(cmd, TestDb::Shared);
    let (status, created) = post(
        &format!("{}/api/user", a.url),
        &a.api_key,
        &serde_json::json!({"user": {"email": "both@example.com"}}),
    );
    assert_eq!(status, 200, "{created}");
    let (status, seen) = get(
        &format!("{}/api/user?email=both@example.com", b.url),
        &b.api_key,
    );
    assert_eq!(status, 200, "{}", b.log());
    assert_eq!(seen["user"]["id"], created["user"]["id"]);
    let (status, tenants) = get(&format!("{}/api/tenant", b.url), &b.api_key);
    assert_eq!(status, 200);
    assert_eq!(
        tenants["tenants"].as_array().unwrap().len(),
        1,
        "one default tenant, not two"
    );
}

/// Import jobs are rows: a job queued on a server that dies (SIGKILL, no goodbye) runs when the
/// next `serve` starts on the same database. A big job goes first so the second is still queued
/// (or the first still running) when the process dies; either way the restarted server must
/// finish both, with every user in place.
fn an_import_job_survives_a_crash(backend: Backend) {
    let mut first = Server::start(backend);
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let users = |n: usize, p: &str| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| serde_json::json!({"email": format!("{p}{i}@example.com"), "password": bcrypt, "encryptionScheme": "bcrypt"}))
            .collect()
    };
    let jobs_url = format!("{}/api/user/import/job", first.url);
    let (status, big) = post(
        &jobs_url,
        &first.api_key,
        &serde_json::json!({"users": users(40_000, "big")}),
    );
    assert_eq!(status, 202, "{big}");
    let (status, small) = post(
        &jobs_url,
        &first.api_key,
        &serde_json::json!({"users": users(10, "small")}),
    );
    assert_eq!(status, 202, "{small}");
    let small_id = small["job"]["id"].as_str().unwrap().to_string();
    let (_, before) = get(&format!("{jobs_url}/{small_id}"), &first.api_key);
    first.kill();
    eprintln!(
        "the second job was {} when the server died",
        before["job"]["state"]
    );

    let mut cmd = Command::new(binary());
    cmd.args([
        "serve",
        "--dev",
        "--bind",
        "127.0.0.1:0",
        "--database",
        first.database_url(),
    ]);
    let second = Server::start_from(cmd, TestDb::Shared);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    for id in [big["job"]["id"].as_str().unwrap(), small_id.as_str()] {
        let job = loop {
            let (status, j) = get(
                &format!("{}/api/user/import/job/{id}", second.url),
                &second.api_key,
            );
            assert_eq!(status, 200, "{j}");
            let state = j["job"]["state"].as_str().unwrap().to_string();
            if state == "succeeded" || state == "failed" {
                break j["job"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} is still {state}: {}",
                second.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    for email in ["big39999@example.com", "small9@example.com"] {
        let (status, _) = get(
            &format!("{}/api/user?email={email}", second.url),
            &second.api_key,
        );
        assert_eq!(status, 200, "{email} was imported");
    }
}

#[test]
fn an_import_job_survives_a_crash_on_sqlite() {
    an_import_job_survives_a_crash(Backend::Sqlite)
}

#[test]
fn an_import_job_survives_a_crash_on_postgres() {
    an_import_job_survives_a_crash(Backend::Postgres)
}

/// Log lines written to a file or a pipe carry no ANSI colour codes (no ESC byte), with the
/// most verbose filter so every kind of line is written: colour is for a terminal only.
#[test]
fn the_log_in_a_file_or_a_pipe_has_no_colour_codes() {
    // A pipe: the harness reads stdout and stderr through pipes.
    let db = TestDb::new(Backend::Sqlite);
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--dev", "--bind", "127.0.0.1:0", "--log", "debug"])
        .args(["--database", db.url()])
        .env_remove("NO_COLOR");
    let mut s = Server::start_from(cmd, db);
    assert_eq!(get(&format!("{}/api/tenant", s.url), &s.api_key).0, 200);
    s.terminate();
    let log = s.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "colour codes in a piped log:\n{log:?}"
    );

    // A file, as `portcullis serve > portcullis.log 2>&1` writes it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.log");
    let file = std::fs::File::create(&path).unwrap();
    let db = format!("sqlite://{}", dir.path().join("portcullis.db").display());
    let mut child = Command::new(binary())
        .args(["serve", "--dev", "--bind", "127.0.0.1:0", "--log", "debug"])
        .args(["--database", &db])
        .env_remove("NO_COLOR")
        .env_remove("PORTCULLIS_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let url = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with("Portcullis listening on "))
        {
            break line["Portcullis listening on ".len()..].trim().to_string();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(get(&format!("{url}/api/status"), "").0, 200);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("shutting down"), "{text}");
    assert!(
        !bytes.contains(&0x1b),
        "colour codes in the log file:\n{text:?}"
    );
}
