//! Shared harness: the real `portcullis` binary started as `serve --dev` on a free loopback port with
//! a throw-away database, its development API key and address read from what it prints, and the
//! process stopped (SIGTERM, then SIGKILL) and the database removed when the [`Server`] is dropped.
//!
//! SQLite gets a file in a temporary directory; PostgreSQL gets a fresh schema, created and dropped
//! with `psql`, on the server named by `PORTCULLIS_TEST_POSTGRES_URL` (default: the local `test`
//! database, as for the store's tests), so tests run in parallel without seeing each other.

#![allow(dead_code)] // Each test module uses its own part of the harness.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `serve` may take to print its address (it runs the migrations first).
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The `portcullis` binary Cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

/// The workspace root, for files outside the crate (e.g. `tests/fusionauth-client`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub fn postgres_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

/// A name no other test (in this process or another) is using.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database for one server: removed on drop.
pub enum TestDb {
    /// Another server's database, owned and removed by that server.
    Shared,
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        base: String,
        schema: String,
    },
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
                TestDb::Sqlite { url, _dir: dir }
            }
            Backend::Postgres => {
                let base = postgres_url();
                let schema = unique_name("it");
                psql(&base, &format!("CREATE SCHEMA \"{schema}\"")).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is needed for this test \
                         (set PORTCULLIS_TEST_POSTGRES_URL): {e}"
                    )
                });
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDb::Postgres { url, base, schema }
            }
        }
    }

    /// The `--database` URL.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
            TestDb::Shared => "",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { base, schema, .. } = self {
            let _ = psql(base, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        }
    }
}

/// Runs one SQL statement with the `psql` client.
fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A running `portcullis serve --dev`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The development API key (all permissions).
    pub api_key: String,
    log: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    db: TestDb,
}

impl Server {
    pub fn start(backend: Backend) -> Server {
        Server::start_with(backend, &[])
    }

    /// Starts the server with extra `serve` arguments (e.g. `--kickstart FILE`).
    pub fn start_with(backend: Backend, extra_args: &[&str]) -> Server {
        let db = TestDb::new(backend);
        let mut cmd = Command::new(binary());
        cmd.args([
            "serve",
            "--dev",
            "--bind",
            "127.0.0.1:0",
            "--database",
            db.url(),
        ])
        .args(extra_args);
        Server::start_from(cmd, db)
    }

    /// Starts `cmd` (a `serve --dev` that binds a free port) over `db`.
    pub fn start_from(mut cmd: Command, db: TestDb) -> Server {
        let mut child = cmd
            // Settings from the developer's environment must not change what the test runs.
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_KICKSTART")
            .env_remove("PORTCULLIS_MAX_BODY_BYTES")
            .env_remove("PORTCULLIS_TWO_FACTOR_KEY")
            .env_remove("PORTCULLIS_TWO_FACTOR_OLD_KEYS")
            .env_remove("PORTCULLIS_MAX_IMPORT_BYTES")
            .env_remove("PORTCULLIS_IMPORT_BUDGET_BYTES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the portcullis binary starts");

        // Both pipes are drained for the server's whole life (a full pipe would stall it); the
        // lines are kept for failure messages, and stdout's are also sent here to be parsed.
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let readers = vec![
            drain(child.stdout.take().expect("stdout"), log.clone(), Some(tx)),
            drain(child.stderr.take().expect("stderr"), log.clone(), None),
        ];

        let deadline = Instant::now() + START_TIMEOUT;
        let (mut api_key, mut url) = (None, None);
        while url.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(k) = line.strip_prefix("Development API key (all permissions): ") {
                        api_key = Some(k.trim().to_string());
                    } else if let Some(a) = line.strip_prefix("Portcullis listening on ") {
                        url = Some(a.trim().trim_end_matches('/').to_string());
                    }
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "portcullis serve did not print its address within {START_TIMEOUT:?} \
                         (exit status: {status:?}); it printed:\n{}",
                        log.lock().unwrap()
                    );
                }
            }
        }
        let Some(api_key) = api_key else {
            let _ = child.kill();
            panic!(
                "portcullis serve --dev printed no development API key:\n{}",
                log.lock().unwrap()
            );
        };
        Server {
            child,
            url: url.unwrap(),
            api_key,
            log,
            readers,
            db,
        }
    }

    /// Everything the server printed so far (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's process id, to read its memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The database URL the server uses, for a second node or a CLI command on the same data.
    pub fn database_url(&self) -> &str {
        self.db.url()
    }
}

impl Server {
    /// Kills the process at once (SIGKILL), as a crash or a power cut would stop it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// Sends SIGTERM and waits up to 5 s; `None` when the process had to be killed.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so the server shuts down as in production (and releases the database);
        // SIGKILL if it has not gone within a few seconds. `db` is dropped after this.
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

pub fn drain(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    })
}

/// `node --test` with the spec reporter on `file` in `dir` (one file, its tests in order), pointed
/// at `server` through `PORTCULLIS_URL` and `PORTCULLIS_API_KEY`.
pub fn node_tests(dir: &Path, file: &str, server: &Server) -> Command {
    let mut cmd = Command::new("node");
    cmd.args([
        "--test",
        "--test-reporter=spec",
        "--test-concurrency=1",
        file,
    ])
    .current_dir(dir)
    .env("PORTCULLIS_URL", &server.url)
    .env("PORTCULLIS_API_KEY", &server.api_key)
    .env("NO_COLOR", "1");
    cmd
}

/// The count on `node --test`'s spec reporter's closing `ℹ <what>N` line (`what` = `"pass "`,
/// `"fail "`, `"todo "`): `None` when the line is missing, so a run that never got to its tests
/// fails.
pub fn node_test_count(output: &str, what: &str) -> Option<u32> {
    output.lines().find_map(|l| {
        l.trim_start_matches('ℹ')
            .trim()
            .strip_prefix(what)?
            .trim()
            .parse::<u32>()
            .ok()
    })
}

/// The passed and failed counts of a `node --test` run (see [`node_test_count`]).
pub fn node_test_counts(output: &str) -> (Option<u32>, Option<u32>) {
    (
        node_test_count(output, "pass "),
        node_test_count(output, "fail "),
    )
}

/// Runs a command to completion within `timeout`, returning (success, stdout + stderr). A command
/// still running at the deadline is killed and reported as failed.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let out = Arc::new(Mutex::new(String::new()));
    let readers = [
        drain(child.stdout.take().expect("stdout"), out.clone(), None),
        drain(child.stderr.take().expect("stderr"), out.clone(), None),
    ];
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait on the child") {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let mut text = out.lock().unwrap().clone();
    if status.is_none() {
        text.push_str(&format!("\n[killed after {timeout:?}]\n"));
    }
    (status.is_some_and(|s| s.success()), text)
}
