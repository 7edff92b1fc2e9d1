//! `gateway.toml`: its shape (unknown keys are errors), the `PORTCULLIS_GATEWAY_*` environment
//! overrides, and its validation into the [`Config`] the gateway runs with. Every error names the
//! key it is about (`route[2].allow.any[0]`), so a broken file says where.

use crate::path::Pattern;
use crate::rules::Rule;
use http::Method;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// A configuration that cannot run, with the key it is about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn err<T>(key: &str, msg: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("[{key}] {msg}")))
}

/// The environment variables read, strongest over the file. Secrets can stay out of files.
pub const ENV_BIND: &str = "PORTCULLIS_GATEWAY_BIND";
pub const ENV_PORTCULLIS: &str = "PORTCULLIS_GATEWAY_PORTCULLIS";
pub const ENV_TENANT_ID: &str = "PORTCULLIS_GATEWAY_TENANT_ID";
pub const ENV_ISSUER: &str = "PORTCULLIS_GATEWAY_ISSUER";
pub const ENV_CLIENT_ID: &str = "PORTCULLIS_GATEWAY_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "PORTCULLIS_GATEWAY_CLIENT_SECRET";
pub const ENV_METRICS_BIND: &str = "PORTCULLIS_GATEWAY_METRICS_BIND";

/// The file as written.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    bind: Option<String>,
    portcullis: Option<String>,
    tenant_id: Option<String>,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    clock_skew: Option<toml::Value>,
    jwks_refetch_interval: Option<toml::Value>,
    shutdown_grace: Option<toml::Value>,
    oauth: Option<RawOAuth>,
    identity: Option<RawIdentity>,
    metrics: Option<bool>,
    metrics_bind: Option<String>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    login_fork: Vec<crate::fork::RawLoginFork>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawOAuth {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    redirect_path: Option<String>,
    public_url: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    headers: Option<BTreeMap<String, String>>,
    assertion_header: Option<String>,
    assertion_key_file: Option<PathBuf>,
    assertion_algorithm: Option<String>,
    assertion_issuer: Option<String>,
    assertion_ttl: Option<toml::Value>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: String,
    methods: Option<Vec<String>>,
    upstream: String,
    allow: toml::Value,
    strip_prefix: Option<String>,
    timeout: Option<toml::Value>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    requests: u32,
    per: toml::Value,
}

/// What the gateway runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    /// Portcullis' base URL, no trailing slash: the issuer's discovery and JWKS come from it.
    pub portcullis: String,
    /// The tenant whose tokens are accepted (`tid`); its discovery names the issuer.
    pub tenant_id: Option<Uuid>,
    /// The `iss` tokens must carry; read from Portcullis' discovery when not set.
    pub issuer: Option<String>,
    /// The `aud` values accepted: `audiences`, the OAuth client and every route's
    /// `application_id`.
    pub audiences: Vec<String>,
    pub trusted_proxies: Vec<Cidr>,
    pub clock_skew: Duration,
    pub jwks_refetch_interval: Duration,
    pub shutdown_grace: Duration,
    pub oauth: Option<OAuth>,
    pub identity: Identity,
    pub routes: Vec<Route>,
    pub login_forks: Vec<crate::fork::LoginFork>,
    pub metrics: Metrics,
}

/// Where `/metrics` is served. Off unless asked for: route names and traffic are not for
/// everyone who reaches the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metrics {
    Off,
    /// On the gateway's own address, answered before any route.
    MainBind,
    /// On an address of its own (e.g. loopback or an internal interface).
    Bind(String),
}

#[derive(Clone)]
pub struct OAuth {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_path: String,
    /// The gateway's URL as browsers reach it (the redirect URI's base); else `http://` and the
    /// request's `Host`.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("redirect_path", &self.redirect_path)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// What upstreams receive about the person.
#[derive(Debug, Clone)]
pub struct Identity {
    /// (header name, lower case; claim).
    pub headers: Vec<(String, String)>,
    /// Lower case.
    pub assertion_header: Option<String>,
    pub assertion_key_file: Option<PathBuf>,
    pub assertion_algorithm: portcullis_jwt::Algorithm,
    pub assertion_issuer: String,
    pub assertion_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub path: Pattern,
    /// `None`: every method.
    pub methods: Option<Vec<Method>>,
    pub upstream: Upstream,
    pub allow: Rule,
    /// Segments removed from the front of the path before it is forwarded.
    pub strip_prefix: Vec<String>,
    pub timeout: Duration,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    /// As configured, without a trailing slash: the assertion's `aud`.
    pub url: String,
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The upstream's own base path, no trailing slash (often empty).
    pub base_path: String,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

/// An address range (`10.0.0.0/8`, `::1`) of proxies whose forwarding headers are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `5`, `0.5` (seconds), `"250ms"`, `"5s"`, `"2m"`.
pub(crate) fn duration(key: &str, v: &toml::Value) -> Result<Duration, ConfigError> {
    let secs = match v {
        toml::Value::Integer(i) if *i >= 0 => *i as f64,
        toml::Value::Float(f) if *f >= 0.0 && f.is_finite() => *f,
        toml::Value::String(s) => {
            let s = s.trim();
            let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
                Some(i) => s.split_at(i),
                None => (s, "s"),
            };
            let n: f64 = match num.trim().parse() {
                Ok(n) if n >= 0.0 && f64::is_finite(n) => n,
                _ => {
                    return err(
                        key,
                        format!("is not a duration: {s:?} (e.g. \"5s\", \"250ms\")"),
                    )
                }
            };
            match unit {
                "ms" => n / 1000.0,
                "s" => n,
                "m" => n * 60.0,
                _ => return err(key, format!("has an unknown unit {unit:?}: use ms, s or m")),
            }
        }
        _ => {
            return err(
                key,
                "must be a number of seconds or a string such as \"5s\"",
            )
        }
    };
    if secs > 86_400.0 {
        return err(key, "is longer than a day");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn header_name(key: &str, name: &str) -> Result<String, ConfigError> {
    let lower = name.trim().to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() || lower.is_empty() {
        return err(key, format!("{name:?} is not a header name"));
    }
    const RESERVED: [&str; 8] = [
        "host",
        "authorization",
        "cookie",
        "content-length",
        "transfer-encoding",
        "connection",
        "x-forwarded-for",
        "forwarded",
    ];
    if RESERVED.contains(&crate::headers::canonical(&lower).as_str()) {
        return err(
            key,
            format!("{name:?} is a header the gateway does not let a claim set"),
        );
    }
    Ok(lower)
}

fn upstream(key: &str, url: &str) -> Result<Upstream, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/');
    let uri: http::Uri = match trimmed.parse() {
        Ok(u) => u,
        Err(e) => return err(key, format!("{url:?} is not a URL: {e}")),
    };
    if uri.scheme_str() != Some("http") {
        return err(key, format!("{url:?} must be an http:// URL"));
    }
    let Some(authority) = uri.authority().cloned() else {
        return err(key, format!("{url:?} has no host"));
    };
    if uri.query().is_some() || authority.as_str().contains('@') {
        return err(
            key,
            format!("{url:?} must not carry a query or credentials"),
        );
    }
    Ok(Upstream {
        url: trimmed.to_string(),
        scheme: http::uri::Scheme::HTTP,
        authority,
        base_path: uri.path().trim_end_matches('/').to_string(),
    })
}

impl Config {
    /// Reads and checks the file at `path`, with the process' environment over it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        Config::parse(&text, &|name| std::env::var(name).ok()).map_err(|ConfigError(e)| {
            ConfigError(format!(
                "the config file {} is invalid: {e}",
                path.display()
            ))
        })
    }

    /// Checks `text` with `env` (a variable's value by name) over it.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let bind = env(ENV_BIND)
            .or(raw.bind)
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let Some(portcullis) = env(ENV_PORTCULLIS).or(raw.portcullis) else {
            return err(
                "portcullis",
                "is required: the Portcullis URL tokens come from",
            );
        };
        let portcullis = portcullis.trim().trim_end_matches('/').to_string();
        if !(portcullis.starts_with("http://") || portcullis.starts_with("https://"))
            || reqwest::Url::parse(&portcullis).is_err()
        {
            return err(
                "portcullis",
                format!("{portcullis:?} is not an http(s) URL"),
            );
        }
        let tenant_id = match env(ENV_TENANT_ID).or(raw.tenant_id) {
            None => None,
            Some(t) => match Uuid::parse_str(t.trim()) {
                Ok(t) => Some(t),
                Err(_) => return err("tenant_id", format!("{t:?} is not a UUID")),
            },
        };
        let issuer = env(ENV_ISSUER).or(raw.issuer);

        let oauth =
            match raw.oauth {
                None if env(ENV_CLIENT_ID).is_none() => None,
                o => {
                    let o = o.unwrap_or_default();
                    let Some(client_id) = env(ENV_CLIENT_ID).or(o.client_id) else {
                        return err("oauth.client_id", "is required in [oauth]");
                    };
                    let client_secret =
                        match (env(ENV_CLIENT_SECRET), o.client_secret, o.client_secret_env) {
                            (Some(s), _, _) => s,
                            (None, Some(_), Some(_)) => {
                                return err(
                                    "oauth.client_secret_env",
                                    "give the secret one way: client_secret or client_secret_env",
                                )
                            }
                            (None, Some(s), None) => s,
                            (None, None, Some(name)) => match env(&name) {
                                Some(s) => s,
                                None => {
                                    return err(
                                        "oauth.client_secret_env",
                                        format!("names {name:?}, which is not set"),
                                    )
                                }
                            },
                            (None, None, None) => return err(
                                "oauth.client_secret",
                                "is required in [oauth] (or client_secret_env): it authenticates \
                                 the gateway and keys its session cookie",
                            ),
                        };
                    let redirect_path = o.redirect_path.unwrap_or_else(|| "/oauth-redirect".into());
                    if !redirect_path.starts_with('/') || redirect_path.starts_with("//") {
                        return err("oauth.redirect_path", "must be a path starting with one /");
                    }
                    let public_url = match o.public_url {
                        None => None,
                        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                            Some(u.trim_end_matches('/').to_string())
                        }
                        Some(u) => {
                            return err("oauth.public_url", format!("{u:?} is not an http(s) URL"))
                        }
                    };
                    Some(OAuth {
                        client_id,
                        client_secret,
                        redirect_path,
                        public_url,
                    })
                }
            };

        let id = raw.identity.unwrap_or_default();
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, claim) in id.headers.unwrap_or_default() {
            let key = format!("identity.headers.{name}");
            let name = header_name(&key, &name)?;
            if claim.trim().is_empty() {
                return err(&key, "names no claim");
            }
            if headers
                .iter()
                .any(|(h, _)| crate::headers::canonical(h) == crate::headers::canonical(&name))
            {
                return err(
                    &key,
                    "is given twice (headers compare without case, _ as -)",
                );
            }
            headers.push((name, claim));
        }
        let assertion_header = match id.assertion_header {
            None => None,
            Some(h) => {
                let h = header_name("identity.assertion_header", &h)?;
                if headers
                    .iter()
                    .any(|(n, _)| crate::headers::canonical(n) == crate::headers::canonical(&h))
                {
                    return err("identity.assertion_header", "is also an identity header");
                }
                Some(h)
            }
        };
        let assertion_algorithm = match id.assertion_algorithm.as_deref() {
            None | Some("EdDSA") => portcullis_jwt::Algorithm::EdDSA,
            Some("ES256") => portcullis_jwt::Algorithm::ES256,
            Some(a) => {
                return err(
                    "identity.assertion_algorithm",
                    format!("{a:?}: use EdDSA or ES256"),
                )
            }
        };
        let assertion_ttl = match &id.assertion_ttl {
            None => Duration::from_secs(30),
            Some(v) => duration("identity.assertion_ttl", v)?,
        };
        if assertion_ttl > Duration::from_secs(60) || assertion_ttl < Duration::from_secs(1) {
            return err("identity.assertion_ttl", "must be between 1 and 60 seconds");
        }
        let identity = Identity {
            headers,
            assertion_header,
            assertion_key_file: id.assertion_key_file,
            assertion_algorithm,
            assertion_issuer: id
                .assertion_issuer
                .unwrap_or_else(|| "portcullis-gateway".into()),
            assertion_ttl,
        };

        let mut routes = Vec::new();
        for (i, r) in raw.route.into_iter().enumerate() {
            let key = |k: &str| format!("route[{i}].{k}");
            let path = Pattern::parse(&r.path)
                .map_err(|e| ConfigError(format!("[{}] {e}", key("path"))))?;
            let methods = match r.methods {
                None => None,
                Some(ms) if ms.is_empty() => {
                    return err(&key("methods"), "is empty: leave it out for every method")
                }
                Some(ms) => {
                    let mut out = Vec::new();
                    for m in ms {
                        match Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()) {
                            Ok(m) => out.push(m),
                            Err(_) => {
                                return err(&key("methods"), format!("{m:?} is not a method"))
                            }
                        }
                    }
                    Some(out)
                }
            };
            let upstream = upstream(&key("upstream"), &r.upstream)?;
            let allow = Rule::parse(&key("allow"), &r.allow)?;
            let strip_prefix = match r.strip_prefix {
                None => Vec::new(),
                Some(p) => {
                    let segs: Vec<String> = p
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    if !p.starts_with('/') || segs.iter().any(|s| s == "." || s == "..") {
                        return err(&key("strip_prefix"), "must be a path such as \"/api\"");
                    }
                    if !path.starts_with(&segs) {
                        return err(
                            &key("strip_prefix"),
                            format!("{p:?} is not a prefix of the route's path"),
                        );
                    }
                    segs
                }
            };
            let timeout = match &r.timeout {
                None => Duration::from_secs(30),
                Some(v) => duration(&key("timeout"), v)?,
            };
            if timeout.is_zero() {
                return err(&key("timeout"), "must be more than zero");
            }
            let rate_limit = match r.rate_limit {
                None => None,
                Some(rl) => {
                    let per = duration(&key("rate_limit.per"), &rl.per)?;
                    if rl.requests == 0 || per.is_zero() {
                        return err(&key("rate_limit"), "needs requests > 0 and per > 0");
                    }
                    Some(RateLimit {
                        requests: rl.requests,
                        per,
                    })
                }
            };
            routes.push(Route {
                path,
                methods,
                upstream,
                allow,
                strip_prefix,
                timeout,
                rate_limit,
            });
        }

        let login_forks = crate::fork::parse(raw.login_fork, tenant_id, &env)?;
        for (i, f) in login_forks.iter().enumerate() {
            let mut own = vec!["/healthz", "/metrics", "/.well-known/gateway/jwks.json"];
            if let Some(o) = &oauth {
                own.extend(["/login", "/logout", o.redirect_path.as_str()]);
            }
            if own.contains(&f.path.as_str()) {
                return err(
                    &format!("login_fork[{i}].path"),
                    format!("{:?} is one of the gateway's own paths", f.path),
                );
            }
        }
        let metrics = match (raw.metrics, env(ENV_METRICS_BIND).or(raw.metrics_bind)) {
            (Some(false), Some(_)) => {
                return err(
                    "metrics",
                    "is false while metrics_bind is set: leave one out",
                )
            }
            (_, Some(b)) if b.trim().is_empty() => return err("metrics_bind", "is empty"),
            (_, Some(b)) => Metrics::Bind(b.trim().to_string()),
            (Some(true), None) => Metrics::MainBind,
            (_, None) => Metrics::Off,
        };

        let mut audiences = raw.audiences.unwrap_or_default();
        if let Some(o) = &oauth {
            audiences.push(o.client_id.clone());
        }
        for r in &routes {
            r.allow.application_ids(&mut audiences);
        }
        audiences.sort();
        audiences.dedup();
        if audiences.is_empty() && routes.iter().any(|r| !r.allow.allows(None)) {
            return err(
                "audiences",
                "is needed: a route needs a signed-in user, and no application id (audiences, \
                 [oauth] client_id or a rule's application_id) says which tokens are for us",
            );
        }

        let mut trusted_proxies = Vec::new();
        for (i, p) in raw.trusted_proxies.unwrap_or_default().iter().enumerate() {
            match Cidr::parse(p) {
                Some(c) => trusted_proxies.push(c),
                None => {
                    return err(
                        &format!("trusted_proxies[{i}]"),
                        format!("{p:?} is not an address or CIDR range"),
                    )
                }
            }
        }
        let dur = |k: &str, v: &Option<toml::Value>, default: u64| match v {
            None => Ok(Duration::from_secs(default)),
            Some(v) => duration(k, v),
        };
        Ok(Config {
            bind,
            portcullis,
            tenant_id,
            issuer,
            audiences,
            trusted_proxies,
            clock_skew: dur("clock_skew", &raw.clock_skew, 30)?,
            jwks_refetch_interval: match dur("jwks_refetch_interval", &raw.jwks_refetch_interval, 5)? {
                // The interval is what keeps tokens with made-up key ids from each costing a
                // JWKS fetch.
                d if d < Duration::from_millis(100) => {
                    return err(
                        "jwks_refetch_interval",
                        "must be at least 100ms: it bounds the key fetches that tokens with unknown key ids cause",
                    )
                }
                d => d,
            },
            shutdown_grace: dur("shutdown_grace", &raw.shutdown_grace, 30)?,
            oauth,
            identity,
            routes,
            login_forks,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
bind = "127.0.0.1:3000"
portcullis = "http://127.0.0.1:9011"       # issuer and JWKS source
tenant_id = "1b8d7c1e-7a0e-4b9f-9a53-7b1f1e7c0a11"
[oauth]                                     # browser sessions (optional)
client_id = "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e"
client_secret = "s3cret"                    # or client_secret_env = "NAME"
redirect_path = "/oauth-redirect"
[identity]                                  # what upstreams receive
headers = { "x-user-id" = "sub", "x-user-email" = "email", "roles" = "roles" }
assertion_header = "x-portcullis-assertion" # signed JWT; JWKS at /.well-known/gateway/jwks.json
[[route]]
path = "/products"                          # also "/products/{id}" and "/static/*"
methods = ["GET"]
upstream = "http://127.0.0.1:3001"
allow = "public"                            # or "authenticated", or { roles = ["admin"], application_id = "..." }
[[route]]
path = "/branches/{id}/products"
upstream = "http://127.0.0.1:3002/inventory/"
allow = { any = [{ roles = ["admin"], application_id = "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e" }, { not = "authenticated" }] }
strip_prefix = "/branches"
timeout = "250ms"
rate_limit = { requests = 10, per = "1s" }
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_issues_example_parses() {
        let c = Config::parse(ISSUE_EXAMPLE, &no_env).unwrap();
        assert_eq!(c.bind, "127.0.0.1:3000");
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].methods, Some(vec![Method::GET]));
        assert_eq!(c.routes[1].upstream.base_path, "/inventory");
        assert_eq!(c.routes[1].upstream.url, "http://127.0.0.1:3002/inventory");
        assert_eq!(c.routes[1].timeout, Duration::from_millis(250));
        assert_eq!(c.routes[1].strip_prefix, ["branches"]);
        assert_eq!(c.audiences, ["e9fdb985-9173-4e01-9d73-ac2d60d1dc8e"]);
        assert_eq!(
            c.identity.headers,
            [
                ("roles".to_string(), "roles".to_string()),
                ("x-user-email".into(), "email".into()),
                ("x-user-id".into(), "sub".into())
            ]
        );
        assert!(!format!("{:?}", c.oauth).contains("s3cret"));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let env = |n: &str| match n {
            ENV_BIND => Some("127.0.0.1:4000".to_string()),
            ENV_CLIENT_SECRET => Some("from-env".into()),
            ENV_TENANT_ID => Some("0190a0a0-0000-7000-8000-000000000000".into()),
            _ => None,
        };
        let c = Config::parse(ISSUE_EXAMPLE, &env).unwrap();
        assert_eq!(c.bind, "127.0.0.1:4000");
        assert_eq!(c.oauth.unwrap().client_secret, "from-env");
        assert_eq!(
            c.tenant_id.unwrap().to_string(),
            "0190a0a0-0000-7000-8000-000000000000"
        );
    }

    fn error_of(text: &str) -> String {
        Config::parse(text, &no_env).unwrap_err().0
    }

    #[test]
    fn errors_name_the_key() {
        let base = "portcullis = \"http://127.0.0.1:9011\"\naudiences = [\"a\"]\n";
        let e = error_of(&format!("{base}bnid = \"x\"\n"));
        assert!(e.contains("bnid"), "{e}");
        let e = error_of(&format!("{base}[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = \"public\"\nstrip = \"/a\"\n"));
        assert!(e.contains("strip"), "{e}");
        let e = error_of(&format!("{base}[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = {{ any = [\"public\", {{ role = [\"x\"] }}] }}\n"));
        assert!(
            e.contains("route[0].allow.any[1]") && e.contains("role"),
            "{e}"
        );
        let e = error_of(&format!(
            "{base}[[route]]\npath = \"/a/../b\"\nupstream = \"http://u\"\nallow = \"public\"\n"
        ));
        assert!(e.contains("route[0].path"), "{e}");
        let e = error_of(&format!(
            "{base}[[route]]\npath = \"/a\"\nupstream = \"ftp://u\"\nallow = \"public\"\n"
        ));
        assert!(e.contains("route[0].upstream"), "{e}");
        let e = error_of(&format!(
            "{base}[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = \"everyone\"\n"
        ));
        assert!(
            e.contains("route[0].allow") && e.contains("everyone"),
            "{e}"
        );
        let e = error_of(&format!("{base}[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = \"public\"\ntimeout = \"5h\"\n"));
        assert!(e.contains("route[0].timeout"), "{e}");
        let e = error_of(&format!(
            "{base}[identity]\nheaders = {{ \"X-User\" = \"sub\", \"x_user\" = \"email\" }}\n"
        ));
        assert!(e.contains("identity.headers"), "{e}");
        let e = error_of(&format!(
            "{base}[identity]\nheaders = {{ \"host\" = \"sub\" }}\n"
        ));
        assert!(e.contains("identity.headers.host"), "{e}");
        let e = error_of("[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = \"public\"\n");
        assert!(e.contains("[portcullis]"), "{e}");
        let e = error_of("portcullis = \"http://p\"\n[[route]]\npath = \"/a\"\nupstream = \"http://u\"\nallow = \"authenticated\"\n");
        assert!(e.contains("[audiences]"), "{e}");
        let e = error_of(&format!("{base}[oauth]\nclient_id = \"c\"\nclient_secret_env = \"PORTCULLIS_GATEWAY_TEST_UNSET\"\n"));
        assert!(e.contains("oauth.client_secret_env"), "{e}");
    }

    const FORK: &str = r#"
portcullis = "http://127.0.0.1:9011"
metrics_bind = "127.0.0.1:9102"
[[login_fork]]
path = "/login-fork"
application_id = "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e"
api_key_env = "FORK_KEY"
[login_fork.legacy]
url = "http://127.0.0.1:4000/login"
body = '{"username": "{{loginId}}", "password": "{{password}}"}'
success_status = [200, 302]
success_json_pointer = "/ok"
user_json_pointer = "/user"
timeout = "2s"
"#;

    #[test]
    fn login_forks_and_metrics_parse() {
        let env = |n: &str| (n == "FORK_KEY").then(|| "the-key".to_string());
        let c = Config::parse(FORK, &env).unwrap();
        assert_eq!(c.metrics, Metrics::Bind("127.0.0.1:9102".into()));
        let f = &c.login_forks[0];
        assert_eq!(f.path, "/login-fork");
        assert_eq!(f.api_key, "the-key");
        assert!(!format!("{f:?}").contains("the-key"));
        assert_eq!(f.legacy.method, Method::POST);
        assert_eq!(f.legacy.success_status, [200, 302]);
        assert_eq!(
            f.legacy.success,
            Some(("/ok".to_string(), serde_json::Value::Bool(true)))
        );
        assert_eq!(f.legacy.timeout, Duration::from_secs(2));

        let e = Config::parse(FORK, &no_env).unwrap_err().0;
        assert!(e.contains("login_fork[0].api_key_env"), "{e}");
        let e = error_of(&FORK.replace("timeout = \"2s\"", "timeout_ms = 5"));
        assert!(e.contains("timeout_ms"), "{e}");
        let e = Config::parse(&FORK.replace("{{password}}", "{{pass}}"), &env)
            .unwrap_err()
            .0;
        assert!(e.contains("login_fork[0].legacy.body"), "{e}");
        let e = Config::parse(&FORK.replace("/login-fork", "/healthz"), &env)
            .unwrap_err()
            .0;
        assert!(e.contains("login_fork[0].path"), "{e}");
        let e = error_of(
            "portcullis = \"http://p\"\nmetrics = false\nmetrics_bind = \"127.0.0.1:1\"\n",
        );
        assert!(e.contains("[metrics]"), "{e}");
        let c = Config::parse("portcullis = \"http://p\"\nmetrics = true\n", &no_env).unwrap();
        assert_eq!(c.metrics, Metrics::MainBind);
        let c = Config::parse("portcullis = \"http://p\"\n", &no_env).unwrap();
        assert_eq!(c.metrics, Metrics::Off);
    }

    #[test]
    fn cidr_ranges_hold_their_addresses() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn durations_take_seconds_or_units() {
        let d = |v: toml::Value| duration("k", &v);
        assert_eq!(d(toml::Value::Integer(5)).unwrap(), Duration::from_secs(5));
        assert_eq!(
            d(toml::Value::Float(0.5)).unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(d("250ms".into()).unwrap(), Duration::from_millis(250));
        assert_eq!(d("2m".into()).unwrap(), Duration::from_secs(120));
        assert!(d("5 parsecs".into()).is_err());
        assert!(d(toml::Value::Integer(-1)).is_err());
    }
}
