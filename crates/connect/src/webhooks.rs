//! Webhook requests over HTTP: one `reqwest` client per webhook (its connect and read timeouts,
//! the TLS roots of its `sslCertificate`, basic authentication), rebuilt when the webhook
//! changes. It is the domain's [`WebhookSender`]; what is sent and when belongs to the domain
//! and the `webhooks` worker.

use crate::http::origin;
use portcullis_domain::webhooks::{Delivered, Outgoing};
use portcullis_domain::{Error, Errors, Webhook, WebhookSender};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

/// How much of a receiver's answer is kept (for the test endpoint and logs).
const MAX_ANSWER: usize = 4096;

#[derive(Default)]
pub struct HttpWebhooks {
    clients: RwLock<HashMap<Uuid, (String, reqwest::Client)>>,
}

impl HttpWebhooks {
    pub fn new() -> Self {
        Self::default()
    }

    fn client(&self, w: &Webhook) -> Result<reqwest::Client, String> {
        let id = w.id.unwrap_or_else(Uuid::nil);
        let key = format!(
            "{}|{}|{}",
            w.connect_timeout,
            w.read_timeout,
            w.ssl_certificate.as_deref().unwrap_or_default()
        );
        if let Some((k, c)) = self.clients.read().expect("not poisoned").get(&id) {
            if *k == key {
                return Ok(c.clone());
            }
        }
        let c = build(w)?;
        self.clients
            .write()
            .expect("not poisoned")
            .insert(id, (key, c.clone()));
        Ok(c)
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
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
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

    async fn send(&self, w: &Webhook, out: &Outgoing) -> Result<Delivered, String> {
        let client = self.client(w)?;
        let mut req = client.post(&w.url).body(out.body.clone());
        for (k, v) in &out.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(user) = w
            .http_authentication_username
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            req = req.basic_auth(user, w.http_authentication_password.as_deref());
        }
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
        .map(|u| origin(&u))
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
