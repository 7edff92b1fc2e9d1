//! The access log: one JSON object per request on stdout, written by a thread of its own so a
//! slow terminal or pipe never holds a request. It names the normalized path (never the query
//! string, which may carry secrets), the route, the status, the time taken, the client's address
//! and the user's id; never a token or a header value.

use serde_json::Value;
use std::io::Write as _;
use std::sync::mpsc;
use std::time::Duration;

/// The longest a line waits in the queue while requests keep coming.
const PAUSE: Duration = Duration::from_millis(10);

enum Entry {
    Line(Value),
    /// Answered once every line queued before it is written.
    Flush(mpsc::SyncSender<()>),
}

#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<Entry>,
}

impl AccessLog {
    pub fn start() -> AccessLog {
        let (tx, rx) = mpsc::channel::<Entry>();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                while let Ok(first) = rx.recv() {
                    // Lines queued together leave in one write.
                    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
                    let mut acks = Vec::new();
                    for entry in
                        std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    {
                        match entry {
                            Entry::Line(v) => {
                                let _ = writeln!(out, "{v}");
                            }
                            Entry::Flush(ack) => acks.push(ack),
                        }
                    }
                    let _ = out.flush();
                    drop(out);
                    for ack in acks {
                        let _ = ack.send(());
                    }
                    // A pause before waiting again: under load, requests then queue their lines
                    // without waking this thread for each one.
                    std::thread::sleep(PAUSE);
                }
            })
            .expect("the access-log thread starts");
        AccessLog { tx }
    }

    pub fn write(&self, entry: Value) {
        let _ = self.tx.send(Entry::Line(entry));
    }

    /// Waits (a second at most) until every line written so far is out, before the process
    /// exits.
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.send(Entry::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
    }
}
