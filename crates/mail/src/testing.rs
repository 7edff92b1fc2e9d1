//! A real SMTP server on loopback for tests (feature `testing`): aiosmtpd from PyPI, keeping
//! every message it receives in a Maildir, killed on drop. `scripts/test` installs it.

use std::time::Duration;

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port and waits (up to 10 s) until it listens.
    pub fn start() -> SmtpSink {
        let port = portcullis_test_ports::free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs aiosmtpd (scripts/test installs tests/smtp/requirements.txt)");
        let mut sink = SmtpSink { port, dir, child };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sink;
            }
            if let Ok(Some(status)) = sink.child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                if let Some(mut e) = sink.child.stderr.take() {
                    e.read_to_string(&mut err).ok();
                }
                panic!("aiosmtpd exited ({status}): {err} — install it with `pip install -r tests/smtp/requirements.txt` (scripts/test does)");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd did not start listening on port {port}");
    }

    /// The Maildir the messages land in (`new/` holds one file per message), for a test in
    /// another process that reads them itself.
    pub fn maildir(&self) -> std::path::PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) {
                for e in rd.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Waits (up to 10 s) for a message containing `needle`, without holding up the runtime
    /// that sends it.
    pub async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..200 {
            if let Some(m) = self.messages().into_iter().find(|m| m.contains(needle)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no email containing {needle:?} arrived; got {:?}",
            self.messages()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
