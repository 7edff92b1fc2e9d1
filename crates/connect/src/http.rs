//! The HTTP side shared by the Generic and REST connectors: one `reqwest` client per connector
//! with its timeouts, TLS trust and client certificate, and the mapping of transport errors to
//! failure kinds.

use crate::config::Reader;
use crate::guard::Limits;
use portcullis_domain::migration::connectors::{FailureKind, LegacyError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::time::Duration;

/// How requests to the legacy system authenticate.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic(***)",
            Auth::Bearer(_) => "Bearer(***)",
        })
    }
}

impl Auth {
    /// `httpAuthenticationUsername`/`httpAuthenticationPassword` (FusionAuth's names), and
    /// `bearerToken` where the contract has one.
    pub fn read(r: &mut Reader, bearer: bool) -> Auth {
        let user: Option<String> = r.opt("httpAuthenticationUsername");
        let pass: Option<String> = r.opt("httpAuthenticationPassword");
        let token: Option<String> = if bearer { r.opt("bearerToken") } else { None };
        match (
            user.filter(|u| !u.is_empty()),
            token.filter(|t| !t.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                r.invalid(
                    "bearerToken",
                    "Use either [connector.bearerToken] or HTTP basic authentication, not both.",
                );
                Auth::None
            }
            (Some(username), None) => Auth::Basic {
                username,
                password: pass.unwrap_or_default(),
            },
            (None, Some(t)) => Auth::Bearer(t),
            (None, None) => Auth::None,
        }
    }

    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            Auth::Bearer(t) => req.bearer_auth(t),
        }
    }
}

/// How long an idle connection to a legacy system or a webhook receiver is kept for the next
/// request: less than common servers keep theirs (Node.js and Apache close an idle connection
/// after 5 s). A connection the server closes just as it is reused fails that request
/// ("connection reset by peer"): for a connector, a sign-in that fails.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(4);

/// Builds the client: `connectTimeout`, `readTimeout`, custom `headers`, and TLS — the PEM
/// certificates of `trustedCertificate` (ours; replaces the public roots, for a legacy system
/// with its own CA) and `clientCertificate` + `clientKey` (ours; PEM, for mutual TLS).
pub fn client(r: &mut Reader, limits: &Limits) -> Option<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .pool_idle_timeout(POOL_IDLE)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
        .use_rustls_tls();
    let headers: BTreeMap<String, String> = r.opt("headers").unwrap_or_default();
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        match (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                map.insert(k, v);
            }
            _ => r.invalid(
                "headers",
                format!("The header [{k}] is not a valid HTTP header."),
            ),
        }
    }
    b = b.default_headers(map);
    if let Some(pem) = r
        .opt::<String>("trustedCertificate")
        .filter(|s| !s.is_empty())
    {
        match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
            Ok(certs) if !certs.is_empty() => {
                b = b.tls_built_in_root_certs(false);
                for c in certs {
                    b = b.add_root_certificate(c);
                }
            }
            _ => r.invalid(
                "trustedCertificate",
                "[connector.trustedCertificate] must hold PEM certificates.",
            ),
        }
    }
    let cert: Option<String> = r.opt("clientCertificate");
    let key: Option<String> = r.opt("clientKey");
    match (cert.filter(|s| !s.is_empty()), key.filter(|s| !s.is_empty())) {
        (Some(c), Some(k)) => match reqwest::Identity::from_pem(format!("{c}\n{k}").as_bytes()) {
            Ok(id) => b = b.identity(id),
            Err(e) => r.invalid(
                "clientCertificate",
                format!("[connector.clientCertificate] and [connector.clientKey] must be a PEM certificate and its key: {e}"),
            ),
        },
        (None, None) => {}
        _ => r.invalid(
            "clientCertificate",
            "A client certificate needs both [connector.clientCertificate] and [connector.clientKey].",
        ),
    }
    match b.build() {
        Ok(c) => Some(c),
        Err(e) => {
            r.invalid(
                "trustedCertificate",
                format!("The TLS settings cannot be used: {e}"),
            );
            None
        }
    }
}

/// `scheme://host:port` of a URL, for messages: never the user and password a URL may carry.
pub fn origin(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A transport error as a failure kind. The message names the legacy host, never a body.
pub fn failure(e: reqwest::Error) -> LegacyError {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_connect() || e.is_request() {
        FailureKind::Unreachable
    } else {
        FailureKind::BadAnswer
    };
    let what = match kind {
        FailureKind::Timeout => "timed out",
        FailureKind::Unreachable => "could not be reached",
        _ => "answered something unreadable",
    };
    let host = e.url().map(origin).unwrap_or_default();
    // Walk to the root cause (connection refused, certificate unknown...), which reqwest's
    // own message hides.
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    LegacyError::new(kind, format!("{host} {what}: {cause}").trim().to_string())
}

/// A status that is neither "yes" nor "no" in the contract.
pub fn unexpected(status: reqwest::StatusCode, url: &reqwest::Url) -> LegacyError {
    LegacyError::new(
        FailureKind::BadAnswer,
        format!("{} answered HTTP {status}", origin(url)),
    )
}

/// Reads a body of at most `max` bytes as it streams in. A body that says or turns out to be
/// longer is abandoned at once (the connection is dropped, not drained), a bad answer: a legacy
/// system cannot make a login hold more than `max` bytes, however much it sends.
pub async fn capped_body(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, LegacyError> {
    let url = res.url().clone();
    let too_big = || {
        LegacyError::new(
            FailureKind::BadAnswer,
            format!(
                "{} answered more than {max} bytes (the connector's maxResponseBytes)",
                origin(&url)
            ),
        )
    };
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut body = Vec::with_capacity(res.content_length().map_or(0, |n| n as usize));
    while let Some(chunk) = res.chunk().await.map_err(failure)? {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body of at most `max` bytes, failing as a bad answer.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
    max: usize,
) -> Result<T, LegacyError> {
    let url = res.url().clone();
    let bytes = capped_body(res, max).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        LegacyError::new(
            FailureKind::BadAnswer,
            format!(
                "{} answered a body that does not fit the contract: {e}",
                origin(&url)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A server on loopback that answers every request on a connection with keep-alive and
    /// counts the connections it accepts.
    fn counting_server() -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if conn.write_all(ok).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    /// A connection idle for longer than servers commonly keep theirs is not reused.
    #[tokio::test]
    async fn an_idle_connection_is_dropped_before_a_server_would_close_it() {
        let (url, accepted) = counting_server();
        let json = serde_json::json!({});
        let client = client(&mut Reader::new(&json), &Limits::default()).unwrap();
        client.get(&url).send().await.unwrap();
        client.get(&url).send().await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "reused at once");
        tokio::time::sleep(POOL_IDLE + Duration::from_millis(700)).await;
        client.get(&url).send().await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "not reused once idle");
    }
}
