//! Plain-HTTP requests (`http://`, HTTP/1.1) on connections the sending task drives itself.
//!
//! A pooled client (reqwest's, hyper-util's) gives each connection a task of its own: a
//! request goes to that task through a channel, and its answer comes back through another, so
//! every request wakes two tasks and often crosses threads. A webhook slot sends one request
//! after another to one receiver, and a delivery is mostly that hand-off and the socket. Here
//! the task that sends a request also writes it and reads the answer: it takes an idle
//! connection of the origin (or opens one), polls the connection beside its request until the
//! answer's body is read, and puts the connection back. Nothing runs between requests, so an
//! idle connection is checked when it is taken: one its server closed meanwhile is dropped.
//!
//! TLS, proxies and credentials in the URL stay with reqwest (`webhooks`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, HOST, USER_AGENT};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use url::Position;

type Body = Full<Bytes>;
type Io = Pin<Box<Connection<TokioIo<TcpStream>, Body>>>;

/// Idle connections kept per origin; a connection coming back to a full list is closed.
const MAX_IDLE: usize = 32;

/// One connection: where requests go in, and its I/O, polled only while a request is in flight.
struct Conn {
    send: SendRequest<Body>,
    /// `None` once the connection has ended.
    io: Option<Io>,
    /// When it was put back idle.
    since: Instant,
}

/// An `http://` origin's settings and its idle connections.
pub(crate) struct Origin {
    /// `host:port`, as connected to.
    addr: String,
    /// The request target: the URL's path and query.
    target: Uri,
    /// `Host` and `User-Agent`, added to a request's headers where it has none of its own.
    host: HeaderValue,
    connect_timeout: Duration,
    read_timeout: Duration,
    /// How long a connection may stay idle and still be used.
    idle_for: Duration,
    idle: Mutex<Vec<Conn>>,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection within the connect timeout, or no whole answer within the read timeout.
    TimedOut,
    /// The connection could not be opened.
    Unreachable(std::io::Error),
    /// The connection failed or broke off during the exchange.
    Http(hyper::Error),
    /// A new connection closed before the request could be sent.
    Closed,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TimedOut => write!(f, "timed out"),
            Failure::Unreachable(e) => write!(f, "could not be reached: {e}"),
            Failure::Closed => write!(f, "failed: the connection closed before the request"),
            Failure::Http(e) => {
                let mut cause: &dyn std::error::Error = e;
                while let Some(s) = cause.source() {
                    cause = s;
                }
                write!(f, "failed: {cause}")
            }
        }
    }
}

impl Origin {
    /// The origin of `url` when it is plain HTTP with no credentials in it; `None` otherwise.
    pub(crate) fn of(
        url: &reqwest::Url,
        connect_timeout: Duration,
        read_timeout: Duration,
        idle_for: Duration,
    ) -> Option<Origin> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let authority = &url[Position::BeforeHost..Position::AfterPort];
        let target = &url[Position::BeforePath..Position::AfterQuery];
        Some(Origin {
            addr: format!("{host}:{port}"),
            target: target.parse().ok()?,
            host: HeaderValue::from_str(authority).ok()?,
            connect_timeout,
            read_timeout,
            idle_for,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// POSTs `body` with `headers`; the answer's status and the first `keep` bytes of its body.
    /// The whole exchange is bounded by the read timeout, the connection by the connect one.
    pub(crate) async fn post(
        &self,
        mut headers: HeaderMap,
        body: Bytes,
        keep: usize,
    ) -> Result<(u16, Vec<u8>), Failure> {
        if !headers.contains_key(HOST) {
            headers.insert(HOST, self.host.clone());
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("Portcullis/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let mut req = Request::post(self.target.clone())
            .body(Full::new(body))
            .expect("a request from checked parts");
        *req.headers_mut() = headers;
        // An idle connection may have been closed by its server just as it is taken; a request
        // it hands back unsent goes once more, on a new connection.
        let (mut conn, reused) = match self.take_idle() {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        let res = match self.exchange(&mut conn, req, keep).await {
            Err(Exchange::Unsent(req)) if reused => {
                conn = self.connect().await?;
                self.exchange(&mut conn, *req, keep).await
            }
            other => other,
        };
        match res {
            Ok((status, kept, whole)) => {
                if whole {
                    self.put_back(conn);
                }
                Ok((status, kept))
            }
            Err(Exchange::Unsent(_)) => Err(Failure::Closed),
            Err(Exchange::Failed(f)) => Err(f),
        }
    }

    async fn exchange(
        &self,
        conn: &mut Conn,
        req: Request<Body>,
        keep: usize,
    ) -> Result<(u16, Vec<u8>, bool), Exchange> {
        let Conn { send, io, .. } = conn;
        let answer = tokio::time::timeout(self.read_timeout, async {
            // The connection takes a request once its last answer is read.
            if driven(io, std::future::poll_fn(|cx| send.poll_ready(cx)))
                .await
                .is_err()
            {
                return Err(Exchange::Unsent(Box::new(req)));
            }
            let res: Response<Incoming> =
                driven(io, send.try_send_request(req))
                    .await
                    .map_err(|mut e| match e.take_message() {
                        Some(req) => Exchange::Unsent(Box::new(req)),
                        None => Exchange::Failed(Failure::Http(e.into_error())),
                    })?;
            let status = res.status().as_u16();
            let mut body = res.into_body();
            let mut kept = Vec::new();
            loop {
                match driven(io, body.frame()).await {
                    None => return Ok((status, kept, true)),
                    Some(Err(e)) => return Err(Exchange::Failed(Failure::Http(e))),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            kept.extend_from_slice(&data);
                            if kept.len() >= keep {
                                // The rest is not read, so the connection cannot carry another.
                                kept.truncate(keep);
                                return Ok((status, kept, false));
                            }
                        }
                    }
                }
            }
        })
        .await;
        answer.unwrap_or(Err(Exchange::Failed(Failure::TimedOut)))
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| Failure::TimedOut)?
            .map_err(Failure::Unreachable)?;
        // Small requests and answers: each goes at once rather than waiting for an ACK.
        let _ = stream.set_nodelay(true);
        let (send, io) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Failure::Http)?;
        Ok(Conn {
            send,
            io: Some(Box::pin(io)),
            since: Instant::now(),
        })
    }

    /// An idle connection still open, newest first; closed and stale ones are dropped.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("idle connections");
        while let Some(mut c) = idle.pop() {
            if c.since.elapsed() < self.idle_for && still_open(&mut c) {
                return Some(c);
            }
        }
        None
    }

    fn put_back(&self, conn: Conn) {
        let mut conn = conn;
        if !still_open(&mut conn) {
            return;
        }
        conn.since = Instant::now();
        let mut idle = self.idle.lock().expect("idle connections");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Closes the connections idle for longer than they may be used.
    pub(crate) fn sweep(&self) {
        let idle_for = self.idle_for;
        self.idle
            .lock()
            .expect("idle connections")
            .retain(|c| c.since.elapsed() < idle_for);
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

enum Exchange {
    /// The connection handed the request back without sending it.
    Unsent(Box<Request<Body>>),
    Failed(Failure),
}

/// Whether the connection can take a request: its I/O, polled once without waiting, has not
/// ended (a server's close is read here) and it is not closed.
fn still_open(c: &mut Conn) -> bool {
    let Some(io) = c.io.as_mut() else {
        return false;
    };
    if io
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready()
    {
        c.io = None;
        return false;
    }
    !c.send.is_closed()
}

/// Runs `fut` while polling the connection's I/O in the same task, until `fut` is done. When
/// the I/O ends (the connection closed or failed), it is dropped, and with it whatever `fut`
/// waits for from it, which then ends with an error.
async fn driven<F: Future>(io: &mut Option<Io>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx: &mut Context<'_>| loop {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        let Some(c) = io.as_mut() else {
            return Poll::Pending;
        };
        match c.as_mut().poll(cx) {
            // The I/O may have finished what `fut` waits for; it is woken for it, but looking
            // at once saves a turn of the runtime.
            Poll::Pending => return fut.as_mut().poll(cx),
            Poll::Ready(_) => *io = None,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A receiver on loopback written by hand: for each request on a connection, `answer`
    /// gives what is written back and whether the connection is then closed. It counts the
    /// connections it accepts.
    async fn receiver(
        answer: impl Fn(usize) -> (String, bool) + Send + Sync + 'static,
    ) -> (reqwest::Url, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook?x=1", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let (count, answer) = (accepted.clone(), Arc::new(answer));
        let served = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let (answer, served) = (answer.clone(), served.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // A request is whole once its headers and its `content-length` bytes are in.
                        let whole = |b: &[u8]| {
                            let text = String::from_utf8_lossy(b);
                            let (head, rest) = text.split_once("\r\n\r\n")?;
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            (rest.len() >= len).then(|| head.len() + 4 + len)
                        };
                        while whole(&buf).is_none() {
                            let mut chunk = [0u8; 4096];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let used = whole(&buf).unwrap();
                        let head = String::from_utf8_lossy(&buf[..used]).into_owned();
                        assert!(head.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{head}");
                        assert!(
                            head.to_ascii_lowercase().contains("\r\nhost: 127.0.0.1:"),
                            "{head}"
                        );
                        buf.drain(..used);
                        let (text, close) = answer(served.fetch_add(1, Ordering::SeqCst));
                        if s.write_all(text.as_bytes()).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (url.parse().unwrap(), accepted)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn origin(url: &reqwest::Url, read: u64) -> Origin {
        Origin::of(
            url,
            Duration::from_secs(1),
            Duration::from_millis(read),
            Duration::from_secs(4),
        )
        .unwrap()
    }

    async fn post(o: &Origin) -> Result<(u16, Vec<u8>), Failure> {
        o.post(HeaderMap::new(), Bytes::from_static(b"{\"a\":1}"), 16)
            .await
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection() {
        let (url, accepted) = receiver(|i| (ok(&format!("answer {i}")), false)).await;
        let o = origin(&url, 2000);
        for i in 0..5 {
            let (status, body) = post(&o).await.unwrap();
            assert_eq!((status, body), (200, format!("answer {i}").into_bytes()));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(o.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_connection_its_server_closed_is_not_used_again() {
        // Closed without saying so, as a server's idle timeout does.
        let (url, accepted) = receiver(|_| (ok("done"), true)).await;
        let o = origin(&url, 2000);
        for _ in 0..3 {
            assert_eq!(post(&o).await.unwrap().0, 200);
            // Its close reaches this side before the next request.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_answer_longer_than_what_is_kept_is_cut_and_its_connection_closed() {
        let (url, accepted) = receiver(|_| (ok(&"x".repeat(100)), false)).await;
        let o = origin(&url, 2000);
        assert_eq!(post(&o).await.unwrap().1, b"x".repeat(16));
        assert_eq!(
            o.idle_count(),
            0,
            "its unread rest would meet the next request"
        );
        assert_eq!(post(&o).await.unwrap().0, 200);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_receiver_that_does_not_answer_times_out_and_its_connection_is_dropped() {
        let (url, accepted) = receiver(|i| {
            if i == 0 {
                (String::new(), false)
            } else {
                (ok("late"), false)
            }
        })
        .await;
        let o = origin(&url, 300);
        let e = post(&o).await.unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
        assert_eq!(o.idle_count(), 0);
        assert_eq!(post(&o).await.unwrap().0, 200);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let e = post(&origin(&url.parse().unwrap(), 500)).await.unwrap_err();
        assert!(e.to_string().starts_with("could not be reached"), "{e}");
    }

    #[test]
    fn only_plain_http_without_credentials_is_taken() {
        let of = |u: &str| {
            Origin::of(
                &u.parse().unwrap(),
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
            )
            .map(|o| (o.addr, o.target.to_string(), o.host))
        };
        assert_eq!(
            of("http://example.com/a/b?c=d#e"),
            Some((
                "example.com:80".into(),
                "/a/b?c=d".into(),
                HeaderValue::from_static("example.com")
            ))
        );
        assert_eq!(
            of("http://[::1]:8080/"),
            Some((
                "[::1]:8080".into(),
                "/".into(),
                HeaderValue::from_static("[::1]:8080")
            ))
        );
        assert!(of("https://example.com/").is_none());
        assert!(of("http://user:pw@example.com/").is_none());
    }
}
