//! The admin pages in a browser that is not ours: runs `tests/oidc/admin.test.mjs` (Debian's
//! Chromium through `playwright-core`, `axe-core` on each page) against a freshly started
//! `portcullis serve`. Screenshots land in `target/ci-output/<backend>/admin/`.
//!
//! Needs `node`, `/usr/bin/chromium` and the packages (`npm ci --prefix tests/oidc`); without them
//! the test fails, never skips: `scripts/test` installs them.

use crate::support::{
    node_test_counts, node_tests, run_with_timeout, workspace_root, Backend, Server, TestDb,
};
use std::process::Command;
use std::time::Duration;

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

fn run_admin_tests(backend: Backend) {
    let dir = workspace_root().join("tests/oidc");
    for needed in [
        dir.join("node_modules/playwright-core/package.json"),
        dir.join("node_modules/axe-core/axe.min.js"),
        "/usr/bin/chromium".into(),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: run scripts/test (it installs Chromium and `npm ci --prefix tests/oidc`)",
            needed.display()
        );
    }
    let db = TestDb::new(backend);
    let port = portcullis_test_ports::free_port();
    // No public URL: the admin sign-in returns to the address serve listens on.
    let mut cmd = Command::new(crate::support::binary());
    cmd.args(["serve", "--dev", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database", db.url()]);
    let server = Server::start_from(cmd, db);
    // The first administrator, made the way the README says: `portcullis admin create`.
    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4());
    let create = || {
        let out = Command::new(crate::support::binary())
            .args([
                "admin",
                "create",
                "--database",
                server.database_url(),
                "--email",
                &email,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let made = create();
    let password = made
        .trim()
        .rsplit_once(": ")
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| panic!("no password in {made:?}"));
    assert_eq!(
        create().trim(),
        format!("{email} has the admin role"),
        "a second run changes nothing"
    );
    let output_dir = workspace_root()
        .join("target/ci-output")
        .join(format!("{backend:?}").to_lowercase());
    let (ok, output) = run_with_timeout(
        node_tests(&dir, "admin.test.mjs", &server)
            .env("PORTCULLIS_CI_OUTPUT", &output_dir)
            .env("PORTCULLIS_ADMIN_EMAIL", &email)
            .env("PORTCULLIS_ADMIN_PASSWORD", &password),
        NODE_TIMEOUT,
    );
    let (passed, failed) = node_test_counts(&output);
    assert!(
        ok && failed == Some(0) && passed == Some(2),
        "the admin page tests failed against portcullis serve ({backend:?}); passed {passed:?}, \
         failed {failed:?}\n--- node output ---\n{output}\n--- server log ---\n{}",
        server.log()
    );
}

#[test]
fn sqlite() {
    run_admin_tests(Backend::Sqlite);
}

#[test]
fn postgres() {
    run_admin_tests(Backend::Postgres);
}
