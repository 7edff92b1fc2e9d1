//! The slow-migration quick start of `docs/migration/slow.md`, run as a reader runs it:
//! `examples/slow-migration-quickstart.sh` (curl and jq) against a real `portcullis serve --dev`
//! and the example legacy app (`examples/legacy-app/legacy.py`), then the users it migrated
//! checked through the API — and the guide checked to show the script's commands verbatim.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = "examples/slow-migration-quickstart.sh";
/// The line after which the script holds exactly the commands the guide shows.
const MARKER: &str = "# --- the commands of the guide, from here to the end ---\n";

/// The example legacy app on a free port, stopped (and its database removed) on drop.
struct LegacyApp {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl LegacyApp {
    fn start() -> LegacyApp {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(workspace_root().join("examples/legacy-app/legacy.py"))
            .args(["--seed", "--port", "0", "--token", "legacy-secret", "--db"])
            .arg(dir.path().join("legacy.sqlite"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the example legacy app");
        // Its first line names the port it bound; nothing is printed after it.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("legacy app on ") else {
            let _ = child.kill();
            panic!(
                "the example legacy app did not start (is bcrypt installed? \
                 pip install -r examples/legacy-app/requirements.txt; scripts/test does): {line:?}"
            );
        };
        LegacyApp {
            url: url.to_string(),
            child,
            _dir: dir,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LegacyApp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", s.url))
        .header("Authorization", &s.api_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().expect("the server answers");
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

/// The id of the entity named `name` in a list answer (`{"<plural>": [...]}`).
fn id_named(s: &Server, path: &str, plural: &str, name: &str) -> Value {
    let (status, body) = call(s, "GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    body[plural]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {body}"))["id"]
        .clone()
}

fn user(s: &Server, email: &str) -> Value {
    let (status, body) = call(s, "GET", &format!("/api/user?email={email}"), None);
    assert_eq!(status, 200, "{email}: {body}");
    body["user"].clone()
}

fn sorted_roles(registration: &Value) -> Vec<String> {
    let mut roles: Vec<String> = registration["roles"]
        .as_array()
        .unwrap_or_else(|| panic!("no roles in {registration}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    roles.sort();
    roles
}

fn the_quickstart_script_migrates_the_example_apps_users(backend: Backend) {
    for tool in ["curl", "jq"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "the quick start needs {tool} (scripts/test installs it)"
        );
    }
    let mut legacy = LegacyApp::start();
    let s = Server::start(backend);

    let (ok, out) = run_with_timeout(
        Command::new("bash")
            .arg(workspace_root().join(SCRIPT))
            .env("KEY", &s.api_key)
            .env("PORTCULLIS", &s.url)
            .env("LEGACY", &legacy.url),
        Duration::from_secs(120),
    );
    assert!(
        ok,
        "the quick start failed:\n{out}\nserver log:\n{}",
        s.log()
    );

    let app = id_named(&s, "/api/application", "applications", "Shop");
    let generic = id_named(&s, "/api/connector", "connectors", "legacy app (Generic)");
    let rest = id_named(&s, "/api/connector", "connectors", "legacy app (REST)");
    let employees = id_named(&s, "/api/group", "groups", "employees");

    // Alice came through the Generic endpoint, her roles on the application her login named.
    let alice = user(&s, "alice@legacy.example");
    assert_eq!(alice["data"]["migrated"], true, "{alice}");
    assert_eq!(alice["connectorId"], generic, "{alice}");
    let regs = alice["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{alice}");
    assert_eq!(regs[0]["applicationId"], app, "{alice}");
    assert_eq!(sorted_roles(&regs[0]), ["admin", "user"], "{alice}");

    // Bob came through the REST endpoint, by username.
    let bob = user(&s, "bob@legacy.example");
    assert_eq!(bob["data"]["migrated"], true, "{bob}");
    assert_eq!(bob["connectorId"], rest, "{bob}");
    assert_eq!(bob["registrations"][0]["applicationId"], app, "{bob}");
    assert_eq!(sorted_roles(&bob["registrations"][0]), ["user"], "{bob}");

    // Carol: migrated with the legacy group mapped onto ours, and her new password set.
    let carol = user(&s, "carol@legacy.example");
    assert_eq!(carol["data"]["migrated"], true, "{carol}");
    assert_ne!(carol["passwordChangeRequired"], true, "{carol}");
    let (_, carol_full) = call(
        &s,
        "GET",
        &format!("/api/user/{}", carol["id"].as_str().unwrap()),
        None,
    );
    assert!(
        carol_full["user"]["memberships"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["groupId"] == employees)),
        "carol is a member of employees: {carol_full}"
    );

    // With the legacy app gone, the migrated users still log in: Portcullis is their system of
    // record.
    legacy.stop();
    for (login_id, password) in [
        ("alice@legacy.example", "alice-password"),
        ("bob", "bob-password"),
        ("carol", "carol-new-password"),
    ] {
        let (status, body) = call(
            &s,
            "POST",
            "/api/login",
            Some(json!({"loginId": login_id, "password": password, "applicationId": app})),
        );
        assert_eq!(
            status, 200,
            "{login_id} after the legacy app stopped: {body}"
        );
        assert!(body["token"].is_string(), "{body}");
    }
}

#[test]
fn quickstart_sqlite() {
    the_quickstart_script_migrates_the_example_apps_users(Backend::Sqlite);
}

#[test]
fn quickstart_postgres() {
    the_quickstart_script_migrates_the_example_apps_users(Backend::Postgres);
}

/// The guide shows the script's commands verbatim, so what a reader pastes is what the test runs.
#[test]
fn the_guide_shows_the_quickstart_script_verbatim() {
    let script = std::fs::read_to_string(workspace_root().join(SCRIPT)).unwrap();
    let (_, commands) = script
        .split_once(MARKER)
        .unwrap_or_else(|| panic!("{SCRIPT} has no line {MARKER:?}"));
    let guide = std::fs::read_to_string(workspace_root().join("docs/migration/slow.md")).unwrap();
    assert!(
        guide.contains(&format!("```sh\n{commands}```\n")),
        "docs/migration/slow.md must show the commands of {SCRIPT} (after its marker line) \
         verbatim in one sh block"
    );
}
