//! The microservices-gateway story's runnable example, `examples/shop/`, run end to end: its
//! `run.sh` starts `portcullis serve` set up by the example's Kickstart file (on SQLite, then on a
//! fresh PostgreSQL schema), `portcullis gateway` with the example's `gateway.toml`, and the
//! shop's three Node services, then runs `examples/shop/test/shop.test.mjs`: Debian's Chromium,
//! driven by `playwright-core`, reads the public catalog, signs in on the hosted page through the
//! gateway as the admin (200 with the branch's products) and as the plain shopper (403), and the
//! assertion-verifying inventory gives the same answers; the Login API's bearer tokens too.
//! Screenshots land in `target/ci-output/shop/<backend>/`.
//!
//! Needs Chromium, node and the package (`npm ci --prefix examples/shop/test`); without them the
//! test fails, never skips: `scripts/test` installs them.

use crate::support::{binary, node_test_counts, run_with_timeout, workspace_root, Backend, TestDb};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// A free loopback port below Linux's ephemeral range (32768 and up). The example's processes
/// bind the ports they are given after this test lets go of them; a port from the ephemeral
/// range could meanwhile go to any socket that binds port 0, such as a server of a test running
/// beside this one. Below the range only explicit binds compete, and the counter keeps the two
/// shop tests apart.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = std::process::id() as u16 % SPAN;
    for _ in 0..SPAN {
        let port = LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

fn run_example(backend: Backend) {
    let example = workspace_root().join("examples/shop");
    let test_dir = example.join("test");
    for needed in [
        test_dir.join("node_modules/playwright-core/package.json"),
        PathBuf::from("/usr/bin/chromium"),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: run scripts/test (it installs Chromium and \
             `npm ci --prefix examples/shop/test`)",
            needed.display()
        );
    }
    let db = TestDb::new(backend);
    let shots = workspace_root()
        .join("target/ci-output/shop")
        .join(format!("{backend:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&shots);
    let mut cmd = Command::new("bash");
    cmd.arg(example.join("run.sh"))
        .args(["--", "node", "--test", "--test-reporter=spec"])
        .arg(test_dir.join("shop.test.mjs"))
        .current_dir(&test_dir)
        .env("PORTCULLIS_BIN", binary())
        .env("DATABASE", db.url())
        .env("SCREENSHOT_DIR", &shots)
        .env("NO_COLOR", "1");
    for name in [
        "PORTCULLIS_PORT",
        "GATEWAY_PORT",
        "CATALOG_PORT",
        "INVENTORY_PORT",
        "VERIFIED_PORT",
    ] {
        cmd.env(name, free_port().to_string());
    }
    let (ok, output) = run_with_timeout(&mut cmd, TIMEOUT);
    let (passed, failed) = node_test_counts(&output);
    assert!(
        ok && failed == Some(0) && passed == Some(6),
        "the shop example failed ({backend:?}); passed {passed:?}, failed {failed:?}\n\
         --- run.sh and node output ---\n{output}"
    );
    for shot in [
        "catalog",
        "sign-in",
        "admin-inventory",
        "shopper-forbidden",
        "admin-verified-inventory",
    ] {
        let file = shots.join(format!("shop-{shot}.png"));
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
