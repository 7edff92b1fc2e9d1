//! `[[login_fork]]`: the proxy-forked slow migration, for legacy systems that cannot host a
//! connector API. A sign-in posted to the fork's path goes to Portcullis' Login API first; only
//! when Portcullis answers 404 and has no user with that login id is the legacy system's own
//! login asked, and on its yes the user is created in Portcullis with the typed password
//! (Portcullis hashes it with the tenant's scheme) and signed in there. Portcullis' answers are
//! passed on as they are, so the caller sees the Login API. The password lives only for the
//! request: it is never logged, and only Portcullis and the legacy system receive it.

use crate::config::{duration, err, ConfigError};
use axum::body::Body;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

/// The largest sign-in body read; a login is a few hundred bytes.
const MAX_SIGN_IN_BYTES: usize = 64 * 1024;
/// The largest legacy answer read, for its success flag and the user's fields.
const MAX_LEGACY_BYTES: usize = 1024 * 1024;
/// How long one call to Portcullis may take.
const PORTCULLIS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoginFork {
    path: String,
    application_id: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
    tenant_id: Option<String>,
    legacy: RawLegacy,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawLegacy {
    url: String,
    method: Option<String>,
    body: Option<String>,
    content_type: Option<String>,
    escape: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    success_status: Option<Vec<u16>>,
    success_json_pointer: Option<String>,
    success_value: Option<toml::Value>,
    user_json_pointer: Option<String>,
    timeout: Option<toml::Value>,
}

/// One `[[login_fork]]` as the gateway runs it.
#[derive(Clone)]
pub struct LoginFork {
    /// The normalized path it answers (POST only).
    pub path: String,
    pub application_id: Uuid,
    pub api_key: String,
    /// Sent as `X-FusionAuth-TenantId`; the fork's own, else the top-level `tenant_id`.
    pub tenant_id: Option<Uuid>,
    pub legacy: Legacy,
}

impl std::fmt::Debug for LoginFork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFork")
            .field("path", &self.path)
            .field("application_id", &self.application_id)
            .field("api_key", &"***")
            .field("tenant_id", &self.tenant_id)
            .field("legacy", &self.legacy)
            .finish()
    }
}

/// How the legacy login is called and how its yes is recognized.
#[derive(Debug, Clone)]
pub struct Legacy {
    pub url: reqwest::Url,
    pub method: Method,
    pub body: Option<Template>,
    pub content_type: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub success_status: Vec<u16>,
    /// A JSON pointer into the answer and the value it must hold for a yes.
    pub success: Option<(String, Value)>,
    /// Where the answer holds the user's fields (email, username, names).
    pub user_pointer: Option<String>,
    pub timeout: Duration,
}

/// How substitutions are written into the legacy body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inside a JSON string: quotes, backslashes and control characters escaped.
    Json,
    /// Percent-encoded, for `application/x-www-form-urlencoded`.
    Form,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    LoginId,
    Password,
}

/// The legacy body with `{{loginId}}` and `{{password}}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    escape: Escape,
}

impl Template {
    fn parse(key: &str, text: &str, escape: Escape) -> Result<Template, ConfigError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("{{") {
            if at > 0 {
                pieces.push(Piece::Text(rest[..at].to_string()));
            }
            let after = &rest[at + 2..];
            let Some(end) = after.find("}}") else {
                return err(key, "has a {{ without its }}");
            };
            pieces.push(match after[..end].trim() {
                "loginId" => Piece::LoginId,
                "password" => Piece::Password,
                other => {
                    let known = "use {{loginId}} and {{password}}";
                    return err(key, format!("{{{{{other}}}}} is not known: {known}"));
                }
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces, escape })
    }

    pub fn render(&self, login_id: &str, password: &str) -> String {
        let put = |s: &str| match self.escape {
            Escape::Json => {
                let quoted = Value::from(s).to_string();
                quoted[1..quoted.len() - 1].to_string()
            }
            Escape::Form => {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            }
        };
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::LoginId => put(login_id),
                Piece::Password => put(password),
            })
            .collect()
    }
}

fn json_pointer(key: &str, p: Option<String>) -> Result<Option<String>, ConfigError> {
    match p {
        Some(p) if !p.is_empty() && !p.starts_with('/') => {
            err(key, format!("{p:?} is not a JSON pointer (\"/user\")"))
        }
        p => Ok(p),
    }
}

/// Checks the `[[login_fork]]` tables.
pub(crate) fn parse(
    raw: Vec<RawLoginFork>,
    tenant_id: Option<Uuid>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<LoginFork>, ConfigError> {
    let mut out: Vec<LoginFork> = Vec::new();
    for (i, f) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("login_fork[{i}].{k}");
        let path = match crate::path::normalize(&f.path) {
            Ok(p) if f.path.starts_with('/') && p.display() == f.path.trim_end_matches('/') => {
                p.display()
            }
            _ => return err(&key("path"), format!("{:?} must be a plain path", f.path)),
        };
        if out.iter().any(|o| o.path == path) {
            return err(&key("path"), format!("{path:?} is another fork's path"));
        }
        let application_id = Uuid::parse_str(f.application_id.trim())
            .or_else(|_| err(&key("application_id"), "is not a UUID"))?;
        let api_key = match (f.api_key, f.api_key_env) {
            (Some(_), Some(_)) => {
                return err(
                    &key("api_key_env"),
                    "give the key one way: api_key or api_key_env",
                )
            }
            (Some(k), None) => k,
            (None, Some(name)) => match env(&name).filter(|v| !v.trim().is_empty()) {
                Some(k) => k,
                None => {
                    return err(
                        &key("api_key_env"),
                        format!("names {name:?}, which is not set"),
                    )
                }
            },
            (None, None) => {
                return err(
                    &key("api_key"),
                    "is required (or api_key_env): a Portcullis API key that may create users",
                )
            }
        };
        let tenant_id = match f.tenant_id {
            None => tenant_id,
            Some(t) => Some(
                Uuid::parse_str(t.trim()).or_else(|_| err(&key("tenant_id"), "is not a UUID"))?,
            ),
        };
        let l = f.legacy;
        let lkey = |k: &str| key(&format!("legacy.{k}"));
        let url = match reqwest::Url::parse(l.url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => u,
            _ => return err(&lkey("url"), format!("{:?} is not an http(s) URL", l.url)),
        };
        let method = match l.method.as_deref().map(str::trim) {
            None => Method::POST,
            Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .or_else(|_| err(&lkey("method"), format!("{m:?} is not a method")))?,
        };
        let content_type = l.content_type.unwrap_or_else(|| "application/json".into());
        if HeaderValue::from_str(&content_type).is_err() {
            return err(&lkey("content_type"), "is not a header value");
        }
        let escape = match l.escape.as_deref() {
            Some("json") => Escape::Json,
            Some("form") => Escape::Form,
            Some(e) => return err(&lkey("escape"), format!("{e:?}: use \"json\" or \"form\"")),
            None if content_type.starts_with("application/x-www-form-urlencoded") => Escape::Form,
            None => Escape::Json,
        };
        let body = match l.body {
            None => None,
            Some(b) => Some(Template::parse(&lkey("body"), &b, escape)?),
        };
        let mut headers = Vec::new();
        for (name, value) in l.headers.unwrap_or_default() {
            let k = lkey(&format!("headers.{name}"));
            let name = HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
                .or_else(|_| err(&k, "is not a header name"))?;
            if [
                "host",
                "content-length",
                "transfer-encoding",
                "connection",
                "content-type",
            ]
            .contains(&name.as_str())
            {
                return err(
                    &k,
                    "is set by the gateway (content_type for the body's type)",
                );
            }
            let value =
                HeaderValue::from_str(&value).or_else(|_| err(&k, "is not a header value"))?;
            headers.push((name, value));
        }
        let success_status = l.success_status.unwrap_or_else(|| vec![200]);
        if success_status.is_empty() || success_status.iter().any(|s| !(100..600).contains(s)) {
            return err(&lkey("success_status"), "must list HTTP statuses");
        }
        let success = match json_pointer(&lkey("success_json_pointer"), l.success_json_pointer)? {
            None if l.success_value.is_some() => {
                return err(&lkey("success_value"), "needs success_json_pointer")
            }
            None => None,
            Some(p) => {
                let v = match l.success_value {
                    None => Value::Bool(true),
                    Some(v) => serde_json::to_value(v)
                        .or_else(|_| err(&lkey("success_value"), "is not a JSON value"))?,
                };
                Some((p, v))
            }
        };
        let user_pointer = json_pointer(&lkey("user_json_pointer"), l.user_json_pointer)?;
        let timeout = match &l.timeout {
            None => Duration::from_secs(5),
            Some(v) => duration(&lkey("timeout"), v)?,
        };
        if timeout.is_zero() {
            return err(&lkey("timeout"), "must be more than zero");
        }
        out.push(LoginFork {
            path,
            application_id,
            api_key,
            tenant_id,
            legacy: Legacy {
                url,
                method,
                body,
                content_type,
                headers,
                success_status,
                success,
                user_pointer,
                timeout,
            },
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------ the sign-in

/// What became of one sign-in, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Portcullis answered (any status but 404), or answered the sign-in after a migration's
    /// create lost a race.
    Portcullis,
    /// The legacy system said yes and the user now lives in Portcullis.
    Migrated,
    /// Neither Portcullis nor the legacy system knew the sign-in.
    Refused,
    /// The legacy system (or Portcullis) failed to answer.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Portcullis => "portcullis",
            Outcome::Migrated => "migrated",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// A buffered answer from Portcullis, passed on unchanged.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
}

impl Answer {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Body::from(self.body));
        *r.status_mut() = self.status;
        let mut h = self.headers;
        crate::headers::strip_hop_by_hop(&mut h);
        h.remove(http::header::CONTENT_LENGTH);
        *r.headers_mut() = h;
        r
    }

    fn has_duplicate(&self) -> bool {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("fieldErrors").cloned())
            .and_then(|f| {
                f.as_object().map(|o| {
                    o.values()
                        .flat_map(|e| e.as_array().into_iter().flatten())
                        .any(|e| {
                            e.get("code")
                                .and_then(Value::as_str)
                                .is_some_and(|c| c.starts_with("[duplicate]user."))
                        })
                })
            })
            .unwrap_or(false)
    }
}

/// FusionAuth's error body for a general error.
fn general_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "generalErrors": [{ "code": code, "message": message }] });
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn unavailable(what: &str) -> Response<Body> {
    general_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "[LegacySystemFailed]",
        &format!("{what} did not answer; nothing was changed. Try again later."),
    )
}

/// `loginId` and `password` of a JSON or form-encoded body; missing ones are empty.
fn sign_in(content_type: Option<&str>, body: &[u8]) -> Option<(String, String)> {
    let form = content_type.is_some_and(|c| {
        c.trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let (mut login_id, mut password) = (String::new(), String::new());
    if form {
        for pair in body.split(|b| *b == b'&') {
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let (k, v) = (kv.next()?, kv.next().unwrap_or_default());
            let decode = |s: &[u8]| -> Option<String> {
                let plus: Vec<u8> = s
                    .iter()
                    .map(|b| if *b == b'+' { b' ' } else { *b })
                    .collect();
                percent_encoding::percent_decode(&plus)
                    .decode_utf8()
                    .ok()
                    .map(|s| s.into_owned())
            };
            match decode(k)?.as_str() {
                "loginId" => login_id = decode(v)?,
                "password" => password = decode(v)?,
                _ => {}
            }
        }
    } else {
        let v: Value = serde_json::from_slice(body).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        (login_id, password) = (s("loginId"), s("password"));
    }
    Some((login_id, password))
}

/// Answers one POST to the fork's path.
pub async fn handle(
    http: &reqwest::Client,
    portcullis: &str,
    fork: &LoginFork,
    client: IpAddr,
    req: http::Request<Body>,
) -> (Response<Body>, Outcome) {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match axum::body::to_bytes(req.into_body(), MAX_SIGN_IN_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                general_error(
                    StatusCode::BAD_REQUEST,
                    "[InvalidJSON]",
                    "The sign-in could not be read.",
                ),
                Outcome::Refused,
            )
        }
    };
    let Some((login_id, password)) = sign_in(content_type.as_deref(), &body) else {
        return (
            general_error(
                StatusCode::BAD_REQUEST,
                "[InvalidJSON]",
                "The sign-in is neither a JSON object nor a form with loginId and password.",
            ),
            Outcome::Refused,
        );
    };
    let p = Portcullis {
        http,
        base: portcullis,
        fork,
    };

    let first = match p.login(&login_id, &password, client).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(fork = %fork.path, error = %e, "Portcullis did not answer a forked sign-in");
            return (unavailable("Portcullis"), Outcome::Unavailable);
        }
    };
    // Anything Portcullis decided, and a sign-in it refused as malformed, is its answer.
    if first.status != StatusCode::NOT_FOUND || login_id.trim().is_empty() || password.is_empty() {
        return (first.into_response(), Outcome::Portcullis);
    }

    // A 404 is also Portcullis' answer to a wrong password: a user it has is never asked about
    // elsewhere, so the legacy system sees only sign-ins of users still to migrate.
    match p.has_user(&login_id).await {
        Ok(false) => {}
        Ok(true) => return (first.into_response(), Outcome::Refused),
        Err(e) => {
            tracing::warn!(fork = %fork.path, error = %e, "Portcullis did not answer a user lookup");
            return (unavailable("Portcullis"), Outcome::Unavailable);
        }
    }

    let user = match legacy_login(http, &fork.legacy, &login_id, &password).await {
        Verdict::Yes(user) => user,
        // The same 404 as an unknown user: which of the two it was is not told.
        Verdict::No => return (first.into_response(), Outcome::Refused),
        Verdict::Failed(why) => {
            tracing::warn!(fork = %fork.path, error = %why, "the legacy login failed");
            return (unavailable("The legacy system"), Outcome::Unavailable);
        }
    };

    let created = match p.create(&login_id, &password, user.as_ref()).await {
        Ok(a) if a.status.is_success() => {
            let id = serde_json::from_slice::<Value>(&a.body)
                .ok()
                .and_then(|v| v["user"]["id"].as_str().map(str::to_string));
            tracing::info!(fork = %fork.path, user = id.as_deref().unwrap_or("?"), "a user was migrated from the legacy system");
            Created::Yes
        }
        // Another sign-in (here or on another gateway copy) created the user first.
        Ok(a) if a.has_duplicate() => Created::Already,
        Ok(a) if a.status.is_client_error() => {
            // The tenant's rules refuse what the legacy system accepted (a password too weak,
            // an email not allowed): Portcullis' reasons are the caller's answer.
            tracing::warn!(fork = %fork.path, status = %a.status, "Portcullis refused to create a migrating user");
            return (a.into_response(), Outcome::Refused);
        }
        Ok(a) => {
            tracing::warn!(fork = %fork.path, status = %a.status, "Portcullis failed to create a migrating user");
            Created::Failed
        }
        Err(e) => {
            tracing::warn!(fork = %fork.path, error = %e, "Portcullis did not answer the create of a migrating user");
            Created::Failed
        }
    };
    match p.login(&login_id, &password, client).await {
        // The create failed, and not because the user is there already.
        Ok(a) if created == Created::Failed && a.status == StatusCode::NOT_FOUND => {
            (unavailable("Portcullis"), Outcome::Unavailable)
        }
        Ok(a) => {
            let outcome = match created {
                Created::Yes => Outcome::Migrated,
                _ => Outcome::Portcullis,
            };
            (a.into_response(), outcome)
        }
        Err(e) => {
            tracing::warn!(fork = %fork.path, error = %e, "Portcullis did not answer a forked sign-in");
            (unavailable("Portcullis"), Outcome::Unavailable)
        }
    }
}

#[derive(PartialEq, Eq)]
enum Created {
    Yes,
    Already,
    Failed,
}

struct Portcullis<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    fork: &'a LoginFork,
}

impl Portcullis<'_> {
    async fn call(&self, path: &str, body: Value) -> Result<Answer, reqwest::Error> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(PORTCULLIS_TIMEOUT)
            .header(http::header::AUTHORIZATION, &self.fork.api_key)
            .json(&body);
        if let Some(t) = self.fork.tenant_id {
            req = req.header("X-FusionAuth-TenantId", t.to_string());
        }
        let r = req.send().await?;
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Whether Portcullis has a user with this email or username.
    async fn has_user(&self, login_id: &str) -> Result<bool, String> {
        let mut req = self
            .http
            .get(format!("{}/api/user", self.base))
            .query(&[("loginId", login_id)])
            .timeout(PORTCULLIS_TIMEOUT)
            .header(http::header::AUTHORIZATION, &self.fork.api_key);
        if let Some(t) = self.fork.tenant_id {
            req = req.header("X-FusionAuth-TenantId", t.to_string());
        }
        let r = req.send().await.map_err(without_url)?;
        match r.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(format!("it answered {s}")),
        }
    }

    async fn login(
        &self,
        login_id: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<Answer, reqwest::Error> {
        self.call(
            "/api/login",
            json!({
                "loginId": login_id,
                "password": password,
                "applicationId": self.fork.application_id,
                "ipAddress": client.to_string(),
            }),
        )
        .await
    }

    /// Creates the user with the typed password, registered to the fork's application. The
    /// login id is the user's email when it looks like one, else the username, so the same
    /// sign-in finds the user from now on; the legacy answer fills the other fields.
    async fn create(
        &self,
        login_id: &str,
        password: &str,
        legacy_user: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut user = serde_json::Map::new();
        if let Some(Value::Object(from)) = legacy_user {
            for k in [
                "email",
                "username",
                "firstName",
                "middleName",
                "lastName",
                "fullName",
                "mobilePhone",
            ] {
                if let Some(Value::String(v)) = from.get(k) {
                    if !v.trim().is_empty() {
                        user.insert(k.into(), Value::String(v.clone()));
                    }
                }
            }
        }
        let field = if login_id.contains('@') {
            "email"
        } else {
            "username"
        };
        user.insert(field.into(), Value::String(login_id.to_string()));
        user.insert("password".into(), Value::String(password.to_string()));
        self.call(
            "/api/user/registration",
            json!({
                "user": user,
                "registration": { "applicationId": self.fork.application_id },
            }),
        )
        .await
    }
}

enum Verdict {
    /// The legacy system knows the sign-in; the user's fields when it gave them.
    Yes(Option<Value>),
    No,
    /// Unreachable, too slow, a 5xx, or an answer that cannot be read.
    Failed(String),
}

async fn legacy_login(
    http: &reqwest::Client,
    l: &Legacy,
    login_id: &str,
    password: &str,
) -> Verdict {
    let mut req = http
        .request(l.method.clone(), l.url.clone())
        .timeout(l.timeout);
    for (k, v) in &l.headers {
        req = req.header(k, v);
    }
    if let Some(t) = &l.body {
        req = req
            .header(CONTENT_TYPE, &l.content_type)
            .body(t.render(login_id, password));
    }
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) => return Verdict::Failed(without_url(e)),
    };
    let status = r.status();
    if status.is_server_error() {
        return Verdict::Failed(format!("it answered {status}"));
    }
    if !l.success_status.contains(&status.as_u16()) {
        return Verdict::No;
    }
    if l.success.is_none() && l.user_pointer.is_none() {
        return Verdict::Yes(None);
    }
    let body = match read_capped(r, MAX_LEGACY_BYTES).await {
        Ok(b) => b,
        Err(e) => return Verdict::Failed(e),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return Verdict::Failed("its answer is not JSON".into()),
    };
    if let Some((pointer, want)) = &l.success {
        if v.pointer(pointer) != Some(want) {
            return Verdict::No;
        }
    }
    Verdict::Yes(l.user_pointer.as_ref().and_then(|p| v.pointer(p)).cloned())
}

/// A legacy error for the log: its kind, never the URL's query (which may hold the sign-in).
fn without_url(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "it did not answer in time".into()
    } else if e.is_connect() {
        "it could not be reached".into()
    } else {
        e.without_url().to_string()
    }
}

async fn read_capped(mut r: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(without_url)? {
        if out.len() + chunk.len() > cap {
            return Err(format!("its answer is over {cap} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_what_they_substitute() {
        let t = Template::parse(
            "k",
            r#"{"username": "{{loginId}}", "password": "{{ password }}"}"#,
            Escape::Json,
        )
        .unwrap();
        let out = t.render("a\"b", "p\\w\n\"}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["username"], "a\"b");
        assert_eq!(v["password"], "p\\w\n\"}");
        let f = Template::parse("k", "u={{loginId}}&p={{password}}", Escape::Form).unwrap();
        assert_eq!(
            f.render("a@b.c", "x&y=z +"),
            "u=a%40b%2Ec&p=x%26y%3Dz%20%2B"
        );
        assert!(Template::parse("k", "{{user}}", Escape::Json).is_err());
        assert!(Template::parse("k", "{{loginId", Escape::Json).is_err());
    }

    #[test]
    fn sign_ins_are_read_from_json_and_forms() {
        assert_eq!(
            sign_in(None, br#"{"loginId":"a@b.c","password":"p w"}"#),
            Some(("a@b.c".into(), "p w".into()))
        );
        assert_eq!(
            sign_in(
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                b"loginId=a%40b.c&password=p+w%26&x=1"
            ),
            Some(("a@b.c".into(), "p w&".into()))
        );
        assert_eq!(sign_in(Some("application/json"), b"nope"), None);
    }
}
