//! Portcullis as an OpenID Provider, checked by a relying party and a browser that are not ours.
//!
//! Runs `tests/oidc/oidc.test.mjs` against a freshly started `portcullis serve`: `openid-client`
//! (the certified-RP author's library, pinned in `tests/oidc/package.json`) does discovery, the
//! code flow with PKCE and ID-token validation, refresh, userinfo, introspection, revocation and
//! logout, while Debian's Chromium (driven by `playwright-core`, with no browser download) signs
//! in, registers and resets a forgotten password (the email read from a real SMTP server) on the
//! hosted pages, and `axe-core` checks each page. Screenshots land in
//! `target/ci-output/oidc/`.
//!
//! Needs `node`, `/usr/bin/chromium` and the packages (`npm ci --prefix tests/oidc`); without them
//! the test fails, never skips: `scripts/test` installs them.

use crate::support::{
    node_test_counts, node_tests, run_with_timeout, workspace_root, Backend, Server, TestDb,
};
use portcullis_mail::testing::SmtpSink;
use std::process::Command;
use std::time::Duration;

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

fn run_oidc_tests(backend: Backend) {
    let dir = workspace_root().join("tests/oidc");
    for needed in [
        dir.join("node_modules/openid-client/package.json"),
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
    // The reset link in the email is built from the public URL, so the server gets its own.
    let smtp = SmtpSink::start();
    let port = portcullis_test_ports::free_port();
    let db = TestDb::new(backend);
    let mut cmd = Command::new(crate::support::binary());
    cmd.args(["serve", "--dev", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")])
        .args(["--database", db.url()])
        // PostgreSQL makes no key of its own: authenticator secrets need one given.
        .args([
            "--two-factor-key",
            "b2lkYy10ZXN0LXR3by1mYWN0b3Ita2V5LTMyLWJ5dGU=",
        ]);
    let server = Server::start_from(cmd, db);
    let output_dir = workspace_root()
        .join("target/ci-output")
        .join(format!("{backend:?}").to_lowercase());
    let (ok, output) = run_with_timeout(
        node_tests(&dir, "oidc.test.mjs", &server)
            .env("PORTCULLIS_CI_OUTPUT", &output_dir)
            .env("PORTCULLIS_SMTP_PORT", smtp.port.to_string())
            .env("PORTCULLIS_MAILDIR", smtp.maildir()),
        NODE_TIMEOUT,
    );
    let (passed, failed) = node_test_counts(&output);
    assert!(
        ok && failed == Some(0) && passed.is_some_and(|n| n >= 14),
        "the OpenID Connect tests failed against portcullis serve ({backend:?}); passed \
         {passed:?}, failed {failed:?}\n--- node output ---\n{output}\n--- server log ---\n{}",
        server.log()
    );
}

#[test]
fn sqlite() {
    run_oidc_tests(Backend::Sqlite);
}

#[test]
fn postgres() {
    run_oidc_tests(Backend::Postgres);
}
