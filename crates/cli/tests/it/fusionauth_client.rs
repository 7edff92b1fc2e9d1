//! The official FusionAuth client library works against `portcullis serve`.
//!
//! Runs `tests/fusionauth-client/client.test.mjs` — the npm package `@fusionauth/typescript-client`,
//! pinned in that folder's package.json and package-lock.json, driven by node's built-in test runner
//! — against a freshly started server: it creates a tenant, an application with roles, a user with a
//! registration, a group and a tenant-locked API key, retrieves the user by email, updates, patches
//! and deletes it, checks FusionAuth's error answers (duplicate email, tenant required, 401), logs
//! in, validates the JWT, fetches the JWKS and public key, exchanges, imports and revokes refresh
//! tokens and changes the password.
//!
//! Needs `node` and the package installed: `npm ci --prefix tests/fusionauth-client`. Without them
//! the test fails (it never skips): CI must install them.

use crate::support::{
    node_test_count, node_test_counts, node_tests, run_with_timeout, workspace_root, Backend,
    Server,
};
use std::path::PathBuf;
use std::time::Duration;

const NODE_TIMEOUT: Duration = Duration::from_secs(60);

fn client_dir() -> PathBuf {
    workspace_root().join("tests/fusionauth-client")
}

fn run_client_tests(backend: Backend) {
    let dir = client_dir();
    let package = dir.join("node_modules/@fusionauth/typescript-client/package.json");
    assert!(
        package.is_file(),
        "the FusionAuth client library is not installed ({} is missing): \
         run `npm ci --prefix tests/fusionauth-client` from the workspace root",
        package.display()
    );

    let server = Server::start(backend);
    let (ok, output) = run_with_timeout(
        &mut node_tests(&dir, "client.test.mjs", &server),
        NODE_TIMEOUT,
    );
    let (passed, failed) = node_test_counts(&output);
    assert!(
        ok && failed == Some(0) && passed.is_some_and(|n| n > 0),
        "the FusionAuth client library tests failed against portcullis serve ({backend:?}); \
         passed {passed:?}, failed {failed:?}\n--- node output ---\n{output}\n--- server log ---\n{}",
        server.log()
    );
    // Known incompatibilities are `todo` tests in the file: shown with `cargo test -- --nocapture`.
    if let Some(todo) = node_test_count(&output, "todo ").filter(|&n| n > 0) {
        eprintln!(
            "{todo} known incompatibilities (todo) in the FusionAuth client tests:\n{output}"
        );
    }
}

#[test]
fn sqlite() {
    run_client_tests(Backend::Sqlite);
}

#[test]
fn postgres() {
    run_client_tests(Backend::Postgres);
}
