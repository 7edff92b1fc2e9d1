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
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

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
        cmd.env(name, portcullis_test_ports::free_port().to_string());
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
