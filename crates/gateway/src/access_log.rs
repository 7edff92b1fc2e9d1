//! The access log: one JSON object per request on stdout, written by a thread of its own so a
//! slow terminal or pipe never holds a request. It names the normalized path (never the query
//! string, which may carry secrets), the route, the status, the time taken, the client's address
//! and the user's id; never a token or a header value.

use serde_json::Value;
use std::io::Write as _;
use std::sync::mpsc;

#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<Value>,
}

impl AccessLog {
    pub fn start() -> AccessLog {
        let (tx, rx) = mpsc::channel::<Value>();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                while let Ok(first) = rx.recv() {
                    // Lines queued together leave in one write.
                    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
                    let _ = writeln!(out, "{first}");
                    while let Ok(more) = rx.try_recv() {
                        let _ = writeln!(out, "{more}");
                    }
                    let _ = out.flush();
                }
            })
            .expect("the access-log thread starts");
        AccessLog { tx }
    }

    pub fn write(&self, entry: Value) {
        let _ = self.tx.send(entry);
    }
}
