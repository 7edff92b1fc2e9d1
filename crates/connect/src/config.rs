//! Reading a connector's JSON: the settings every type shares, and field errors keyed
//! `connector.<field>` for the ones that are wrong.

use crate::guard::Limits;
use portcullis_domain::Errors;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// The range of `maxResponseBytes`: an answer smaller than 1 KiB cannot hold a user, and one of
/// 64 MiB per login already costs a server its memory under a few hundred concurrent logins.
const MIN_RESPONSE_BYTES: i64 = 1 << 10;
const MAX_RESPONSE_BYTES: i64 = 64 << 20;

/// A connector's JSON with error collection: each getter records a field error instead of
/// failing, so one save reports every problem.
pub struct Reader<'a> {
    json: &'a Value,
    pub errors: Errors,
}

impl<'a> Reader<'a> {
    pub fn new(json: &'a Value) -> Self {
        Self {
            json,
            errors: Errors::default(),
        }
    }

    pub fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add_field(
            &format!("connector.{field}"),
            &format!("[invalid]connector.{field}"),
            message.into(),
        );
    }

    pub fn missing(&mut self, field: &str) {
        self.errors.add_field(
            &format!("connector.{field}"),
            &format!("[blank]connector.{field}"),
            format!("You must specify the [connector.{field}]."),
        );
    }

    /// An optional field of type `T`; a present value of the wrong type is a field error.
    pub fn opt<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        match self.json.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => match serde_json::from_value(v.clone()) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.invalid(
                        field,
                        format!("[connector.{field}] has the wrong type: {e}"),
                    );
                    None
                }
            },
        }
    }

    /// A required non-empty string.
    pub fn string(&mut self, field: &str) -> String {
        let present = self.json.get(field).is_some_and(|v| !v.is_null());
        match self.opt::<String>(field) {
            Some(s) if !s.trim().is_empty() => s.trim().to_string(),
            // A value of the wrong type has its error already.
            None if present => String::new(),
            _ => {
                self.missing(field);
                String::new()
            }
        }
    }

    /// An `http`/`https` URL (`ldap`/`ldaps` for LDAP: pass the schemes).
    pub fn url(&mut self, field: &str, schemes: &[&str]) -> Option<reqwest::Url> {
        let s = self.string(field);
        if s.is_empty() {
            return None;
        }
        match reqwest::Url::parse(&s) {
            Ok(u) if schemes.contains(&u.scheme()) => Some(u),
            Ok(u) => {
                self.invalid(
                    field,
                    format!(
                        "[connector.{field}] must be a {} URL, not {}.",
                        schemes.join(" or "),
                        u.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                self.invalid(field, format!("[connector.{field}] is not a URL: {e}"));
                None
            }
        }
    }

    fn millis(&mut self, field: &str, default: Duration) -> Duration {
        match self.opt::<i64>(field) {
            None => default,
            Some(ms) if (1..=600_000).contains(&ms) => Duration::from_millis(ms as u64),
            Some(_) => {
                self.invalid(
                    field,
                    format!("[connector.{field}] must be between 1 and 600000 milliseconds."),
                );
                default
            }
        }
    }

    /// `connectTimeout`, `readTimeout` (FusionAuth's names, milliseconds), and ours:
    /// `maxConcurrency`, `circuitBreaker {failureThreshold, openSeconds}` and `maxResponseBytes`
    /// (1 KiB to 64 MiB, default 1 MiB).
    pub fn limits(&mut self) -> Limits {
        let d = Limits::default();
        let connect_timeout = self.millis("connectTimeout", d.connect_timeout);
        let read_timeout = self.millis("readTimeout", d.read_timeout);
        let max_concurrency = match self.opt::<i64>("maxConcurrency") {
            None => d.max_concurrency,
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(_) => {
                self.invalid(
                    "maxConcurrency",
                    "[connector.maxConcurrency] must be between 1 and 10000.",
                );
                d.max_concurrency
            }
        };
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Breaker {
            failure_threshold: Option<u32>,
            open_seconds: Option<u64>,
        }
        let max_response_bytes = match self.opt::<i64>("maxResponseBytes") {
            None => d.max_response_bytes,
            Some(n) if (MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&n) => n as usize,
            Some(_) => {
                self.invalid(
                    "maxResponseBytes",
                    format!("[connector.maxResponseBytes] must be between {MIN_RESPONSE_BYTES} and {MAX_RESPONSE_BYTES}."),
                );
                d.max_response_bytes
            }
        };
        let b: Breaker = self.opt("circuitBreaker").unwrap_or_default();
        Limits {
            connect_timeout,
            read_timeout,
            max_concurrency,
            failure_threshold: b.failure_threshold.unwrap_or(d.failure_threshold).max(1),
            open_for: b.open_seconds.map_or(d.open_for, Duration::from_secs),
            max_response_bytes,
        }
    }

    pub fn finish(self) -> Result<(), portcullis_domain::Error> {
        self.errors.into_result()
    }
}
