//! Webhook requests over HTTP: per webhook, its URL and its own headers (`content-type`, its
//! custom headers, basic authentication) prepared once with the client that sends them,
//! rebuilt when the webhook changes and dropped when the worker finds it deleted. An
//! `http://` receiver gets connections the sending task drives itself (`plain_http`: no
//! hand-off to a connection task per request); `https://`, a proxy from the environment or
//! credentials in the URL get a `reqwest` client (its connect and read timeouts, the TLS roots
//! of its `sslCertificate`).
//! It is the domain's [`WebhookSender`]; what is sent and when belongs to the domain and the
//! `webhooks` worker.

use crate::http::origin as origin_of;
use crate::plain_http::Origin;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use portcullis_domain::webhooks::{Delivered, Outgoing};
use portcullis_domain::{Error, Errors, Webhook, WebhookSender};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

/// How much of a receiver's answer is kept (for the test endpoint and logs).
const MAX_ANSWER: usize = 4096;

#[derive(Default)]
pub struct HttpWebhooks {
    prepared: RwLock<HashMap<Uuid, Arc<Prepared>>>,
}

/// What every request of one webhook shares, built when the webhook is first sent to or has
/// changed: its client, its URL parsed, and its own headers (with `content-type` and the basic
/// authentication) checked. A request then only adds the headers of its event.
struct Prepared {
    client: reqwest::Client,
    /// The receiver's connections when it is plain HTTP and no proxy is set.
    plain: Option<Origin>,
    url: reqwest::Url,
    headers: HeaderMap,
    /// The settings it was built from.
    url_text: String,
    connect_timeout: i64,
    read_timeout: i64,
    ssl_certificate: Option<String>,
    own_headers: BTreeMap<String, String>,
    username: Option<String>,
    password: Option<String>,
}

impl Prepared {
    fn new(w: &Webhook) -> Result<Prepared, String> {
        let url = reqwest::Url::parse(&w.url)
            .map_err(|_| "[webhook.url] must be an absolute http:// or https:// URL.")?;
        let mut headers = HeaderMap::new();
        for (k, v) in &w.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| format!("The header [{k}] is not a valid HTTP header."))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|_| format!("The header [{k}] is not a valid HTTP header."))?;
            headers.append(name, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(user) = w
            .http_authentication_username
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            let pair = format!(
                "{user}:{}",
                w.http_authentication_password
                    .as_deref()
                    .unwrap_or_default()
            );
            let mut value = HeaderValue::try_from(format!("Basic {}", B64.encode(pair)))
                .map_err(|_| "The basic authentication cannot be sent as a header.")?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let plain = (!proxied())
            .then(|| {
                Origin::of(
                    &url,
                    Duration::from_millis(w.connect_timeout.max(1) as u64),
                    Duration::from_millis(w.read_timeout.max(1) as u64),
                    crate::http::POOL_IDLE,
                )
            })
            .flatten();
        Ok(Prepared {
            client: build(w)?,
            plain,
            url,
            headers,
            url_text: w.url.clone(),
            connect_timeout: w.connect_timeout,
            read_timeout: w.read_timeout,
            ssl_certificate: w.ssl_certificate.clone(),
            own_headers: w.headers.clone(),
            username: w.http_authentication_username.clone(),
            password: w.http_authentication_password.clone(),
        })
    }

    /// Whether it was built from `w` as it is now.
    fn is_for(&self, w: &Webhook) -> bool {
        self.url_text == w.url
            && self.connect_timeout == w.connect_timeout
            && self.read_timeout == w.read_timeout
            && self.ssl_certificate == w.ssl_certificate
            && self.own_headers == w.headers
            && self.username == w.http_authentication_username
            && self.password == w.http_authentication_password
    }
}

/// Whether the environment names a proxy for plain HTTP, which reqwest then goes through.
fn proxied() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|p| !p.is_empty()))
}

impl HttpWebhooks {
    pub fn new() -> Self {
        Self::default()
    }

    fn prepared(&self, w: &Webhook) -> Result<Arc<Prepared>, String> {
        let id = w.id.unwrap_or_else(Uuid::nil);
        if let Some(p) = self.prepared.read().expect("not poisoned").get(&id) {
            if p.is_for(w) {
                return Ok(p.clone());
            }
        }
        let p = Arc::new(Prepared::new(w)?);
        self.prepared
            .write()
            .expect("not poisoned")
            .insert(id, p.clone());
        Ok(p)
    }
}

fn build(w: &Webhook) -> Result<reqwest::Client, String> {
    let connect = Duration::from_millis(w.connect_timeout.max(1) as u64);
    let read = Duration::from_millis(w.read_timeout.max(1) as u64);
    let mut b = reqwest::Client::builder()
        .connect_timeout(connect)
        .read_timeout(read)
        // The whole request is bounded too: a receiver trickling bytes cannot hold a delivery.
        .timeout(connect + read)
        .pool_idle_timeout(crate::http::POOL_IDLE)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
        // An attempt is made once per request: its retries are the worker's, with backoff
        // (and the request is then not copied in case it is retried).
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .use_rustls_tls();
    if let Some(pem) = w
        .ssl_certificate
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or("[webhook.sslCertificate] must hold PEM certificates.")?;
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| format!("The TLS settings cannot be used: {e}"))
}

#[async_trait::async_trait]
impl WebhookSender for HttpWebhooks {
    fn check(&self, w: &Webhook) -> Result<(), Error> {
        let mut errors = Errors::default();
        match reqwest::Url::parse(&w.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => errors.add_field(
                "webhook.url",
                "[invalid]webhook.url",
                "[webhook.url] must be an absolute http:// or https:// URL.",
            ),
        }
        for (k, v) in &w.headers {
            if HeaderName::try_from(k.as_str()).is_err()
                || HeaderValue::try_from(v.as_str()).is_err()
            {
                errors.add_field(
                    "webhook.headers",
                    "[invalid]webhook.headers",
                    format!("The header [{k}] is not a valid HTTP header."),
                );
            }
        }
        if let Err(e) = build(w) {
            errors.add_field(
                "webhook.sslCertificate",
                "[invalid]webhook.sslCertificate",
                e,
            );
        }
        errors.into_result()
    }

    fn retain(&self, live: &[Uuid]) {
        self.prepared
            .write()
            .expect("not poisoned")
            .retain(|id, p| {
                if let Some(o) = &p.plain {
                    o.sweep();
                }
                live.contains(id)
            });
    }

    async fn send(&self, w: &Webhook, out: Outgoing) -> Result<Delivered, String> {
        let p = self.prepared(w)?;
        let mut headers = p.headers.clone();
        for (k, v) in out.headers {
            let name = HeaderName::try_from(k).map_err(|e| e.to_string())?;
            let value = HeaderValue::try_from(v).map_err(|e| e.to_string())?;
            headers.insert(name, value);
        }
        if let Some(origin) = &p.plain {
            let (status, body) = origin
                .post(headers, out.body.into(), MAX_ANSWER)
                .await
                .map_err(|e| format!("{} {e}", origin_of(&p.url)))?;
            return Ok(Delivered {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let req = p.client.post(p.url.clone()).headers(headers).body(out.body);
        let res = req.send().await.map_err(|e| describe(&w.url, e))?;
        let status = res.status().as_u16();
        let mut res = res;
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ANSWER {
                body.truncate(MAX_ANSWER);
                break;
            }
        }
        Ok(Delivered {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// A transport error naming the receiver's origin (never the URL's user and password) and the
/// root cause.
fn describe(url: &str, e: reqwest::Error) -> String {
    let host = reqwest::Url::parse(url)
        .map(|u| origin_of(&u))
        .unwrap_or_default();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    format!("{host} {what}: {cause}").trim().to_string()
}

/// For callers that keep the sender behind the domain's interface.
pub fn sender() -> Arc<dyn WebhookSender> {
    Arc::new(HttpWebhooks::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap as Received;
    use std::sync::Mutex;

    /// A receiver on loopback that keeps the headers of every request.
    async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        let app = axum::Router::new().fallback(move |headers: Received| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(headers);
                axum::http::StatusCode::NO_CONTENT
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, got)
    }

    fn webhook(url: &str) -> Webhook {
        Webhook {
            id: Some(Uuid::new_v4()),
            url: url.to_string(),
            connect_timeout: 1000,
            read_timeout: 2000,
            headers: [
                ("X-Custom".to_string(), "one".to_string()),
                ("webhook-id".to_string(), "theirs".to_string()),
            ]
            .into(),
            http_authentication_username: Some("user".into()),
            http_authentication_password: Some("pw".into()),
            ..Webhook::default()
        }
    }

    #[test]
    fn a_deleted_webhooks_client_is_dropped_and_a_live_one_kept() {
        let sender = HttpWebhooks::new();
        let (live, deleted) = (
            webhook("http://127.0.0.1:9/a"),
            webhook("http://127.0.0.1:9/b"),
        );
        let kept = sender.prepared(&live).unwrap();
        sender.prepared(&deleted).unwrap();
        assert_eq!(sender.prepared.read().unwrap().len(), 2);
        sender.retain(&[live.id.unwrap()]);
        let map = sender.prepared.read().unwrap();
        assert_eq!(map.len(), 1, "the deleted webhook's client is gone");
        assert!(
            Arc::ptr_eq(&map[&live.id.unwrap()], &kept),
            "the live webhook keeps the client it has"
        );
    }

    fn event() -> Outgoing {
        Outgoing {
            headers: vec![("webhook-id".into(), "ours".into())],
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_request_carries_the_webhooks_headers_and_follows_its_changes() {
        let (url, got) = receiver().await;
        let sender = HttpWebhooks::new();
        let mut w = webhook(&url);
        assert_eq!(sender.send(&w, event()).await.unwrap().status, 204);
        {
            let got = got.lock().unwrap();
            let h = &got[0];
            assert_eq!(h["x-custom"], "one");
            assert_eq!(h["content-type"], "application/json");
            assert_eq!(
                h["authorization"],
                format!("Basic {}", B64.encode("user:pw"))
            );
            // The event's header replaces the webhook's of the same name.
            let ids: Vec<_> = h.get_all("webhook-id").iter().collect();
            assert_eq!(ids, ["ours"]);
        }

        // A changed webhook is sent as it now is: its headers, its authentication, its URL.
        w.headers.insert("X-Custom".into(), "two".into());
        w.http_authentication_username = None;
        assert_eq!(sender.send(&w, event()).await.unwrap().status, 204);
        let (other, got_other) = receiver().await;
        w.url = other;
        assert_eq!(sender.send(&w, event()).await.unwrap().status, 204);
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["x-custom"], "two");
        assert!(got[1].get("authorization").is_none());
        assert_eq!(got_other.lock().unwrap().len(), 1);
    }
}
