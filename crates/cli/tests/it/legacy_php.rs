//! The migration story's runnable example, `examples/legacy-php/`, run end to end: its `run.sh`
//! sets Portcullis up (issuer, the PHP app as an OAuth client, the connector to the app's login
//! API and the tenant's policy) against a freshly started `portcullis serve`, starts Apache with
//! `mod_php` and `mod_auth_openidc` (an OpenID-certified relying party), and then runs
//! `examples/legacy-php/test/legacy-php.test.mjs`: Debian's Chromium, driven by `playwright-core`,
//! opens the PHP page, signs in on Portcullis' login page as a user who exists only in the legacy
//! app's table, and sees the PHP page show the user's name and roles. The user is then checked
//! here through the API: migrated, with the legacy roles. Screenshots land in
//! `target/ci-output/legacy-php/<backend>/`.
//!
//! Needs Apache with `libapache2-mod-php`, `php-sqlite3` and `libapache2-mod-auth-openidc`,
//! Chromium, node and the package (`npm ci --prefix examples/legacy-php/test`); without them the
//! test fails, never skips: `scripts/test` installs them.

use crate::support::{node_test_counts, run_with_timeout, workspace_root, Backend, Server};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

fn run_example(backend: Backend) {
    let example = workspace_root().join("examples/legacy-php");
    let test_dir = example.join("test");
    for needed in [
        test_dir.join("node_modules/playwright-core/package.json"),
        PathBuf::from("/usr/bin/chromium"),
        PathBuf::from("/usr/sbin/apache2"),
        PathBuf::from("/usr/lib/apache2/modules/mod_auth_openidc.so"),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: run scripts/test (it installs Apache, mod_php, mod_auth_openidc, \
             Chromium and `npm ci --prefix examples/legacy-php/test`)",
            needed.display()
        );
    }
    let server = Server::start(backend);
    // A free loopback port for Apache: the redirect URI registered in Portcullis names it.
    let app_port = portcullis_test_ports::free_port();
    let shots = workspace_root()
        .join("target/ci-output/legacy-php")
        .join(format!("{backend:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&shots);
    let (ok, output) = run_with_timeout(
        Command::new("bash")
            .arg(example.join("run.sh"))
            .args(["--", "node", "--test", "--test-reporter=spec"])
            .arg(test_dir.join("legacy-php.test.mjs"))
            .current_dir(&test_dir)
            .env("PORTCULLIS", &server.url)
            .env("KEY", &server.api_key)
            .env("APP_PORT", app_port.to_string())
            .env("SCREENSHOT_DIR", &shots)
            .env("NO_COLOR", "1"),
        TIMEOUT,
    );
    let (passed, failed) = node_test_counts(&output);
    assert!(
        ok && failed == Some(0) && passed == Some(1),
        "the legacy PHP example failed ({backend:?}); passed {passed:?}, failed {failed:?}\n\
         --- run.sh and node output ---\n{output}\n--- server log ---\n{}",
        server.log()
    );

    // Alice now lives in Portcullis: migrated through the connector, her legacy roles on the app.
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Value {
        let res = client
            .get(format!("{}{path}", server.url))
            .header("Authorization", &server.api_key)
            .send()
            .expect("the server answers");
        assert_eq!(res.status().as_u16(), 200, "GET {path}");
        res.json().expect("JSON")
    };
    let alice = get("/api/user?email=alice@legacy.example")["user"].clone();
    assert_eq!(alice["data"]["migrated"], true, "{alice}");
    let connectors = get("/api/connector");
    let connector = connectors["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Legacy PHP app")
        .unwrap_or_else(|| panic!("no connector for the PHP app in {connectors}"));
    assert_eq!(alice["connectorId"], connector["id"], "{alice}");
    let apps = get("/api/application");
    let app = apps["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Legacy PHP app")
        .unwrap_or_else(|| panic!("no PHP app in {apps}"));
    let registration = alice["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["applicationId"] == app["id"])
        .unwrap_or_else(|| panic!("alice is not registered to the PHP app: {alice}"));
    let mut roles: Vec<&str> = registration["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["admin", "user"], "{alice}");
    for shot in [
        "1-portcullis-login",
        "2-wrong-password",
        "3-php-page-signed-in",
        "4-signed-out",
    ] {
        let file = shots.join(format!("{shot}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }
}

#[test]
fn sqlite() {
    run_example(Backend::Sqlite);
}

#[test]
fn postgres() {
    run_example(Backend::Postgres);
}
