//! Slow migration: connector resources, the tenant's connector policies, and the
//! interface through which the login path asks a legacy system about a user.
//!
//! This crate decides *when* a legacy system is asked and *what is written* afterwards; how a
//! legacy system is spoken to (HTTP contracts, LDAP, timeouts, circuit breakers) belongs to the
//! `portcullis-connect` crate, which implements [`LegacySystems`]. A server without it runs with
//! [`NoLegacySystems`], and every connector call then fails as unavailable.

use crate::model::*;
use crate::{Errors, StoreResult};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A connector resource (`/api/connector`), in FusionAuth's JSON shape. Type-specific settings
/// (`authenticationURL`, `baseURL`, `baseStructure`...) stay in `settings` and are interpreted by
/// the implementation of [`LegacySystems`], which also checks them on save. Its `Debug` shows
/// the wire form, so a connector in a log line carries no secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub name: String,
    /// `Generic`, `RESTMigration` or `LDAP`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "crate::model::null_default"
    )]
    pub kind: String,
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub debug: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "crate::model::null_default")]
    pub data: Json,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
    #[cfg_attr(feature = "openapi", schema(value_type = HashMap<String, serde_json::Value>))]
    #[serde(flatten)]
    pub settings: Json,
}

/// Settings that are secrets: kept in the store, never in an API answer. A save that leaves
/// one out keeps the stored value; a save that sends one replaces it.
pub const SECRET_SETTINGS: [&str; 4] = [
    "httpAuthenticationPassword",
    "bearerToken",
    "systemAccountPassword",
    "clientKey",
];

/// `headers` is a map of header name → value, and every value is a secret (`Authorization`,
/// API keys, cookies): answers keep the names and show each value as this mask. A save that sends
/// the mask as a header's value keeps the stored value of that header; a header left out of a
/// `headers` that is sent is removed; a save without `headers` keeps the stored ones.
pub const HEADERS: &str = "headers";
pub const MASK: &str = "********";

impl Connector {
    /// The connector as the API shows it: secret settings are left out and header values are
    /// masked (a save that leaves them out, or sends the mask, keeps the stored ones, so a
    /// GET-modify-PUT round trip loses nothing).
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = self.to_json();
        if let Some(m) = v.as_object_mut() {
            for k in SECRET_SETTINGS {
                m.remove(k);
            }
            if let Some(serde_json::Value::Object(h)) = m.get_mut(HEADERS) {
                for value in h.values_mut() {
                    *value = serde_json::Value::String(MASK.into());
                }
            }
        }
        v
    }

    /// The connector's settings as one JSON object, the form implementations parse.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("connectors serialize")
    }

    /// Puts the stored secrets of `old` into a save that left them out or sent the mask.
    /// Returns the names of masked headers that have no stored value (a save cannot invent one).
    pub fn keep_secrets(&mut self, old: &Connector) -> Vec<String> {
        for k in SECRET_SETTINGS {
            if !self.settings.contains_key(k) {
                if let Some(v) = old.settings.get(k) {
                    self.settings.insert(k.to_string(), v.clone());
                }
            }
        }
        let mut unknown = Vec::new();
        match self.settings.get_mut(HEADERS) {
            None => {
                if let Some(h) = old.settings.get(HEADERS) {
                    self.settings.insert(HEADERS.into(), h.clone());
                }
            }
            Some(serde_json::Value::Object(h)) => {
                let stored = old.settings.get(HEADERS).and_then(|v| v.as_object());
                for (name, value) in h.iter_mut() {
                    if value.as_str() == Some(MASK) {
                        match stored.and_then(|s| s.get(name)) {
                            Some(v) => *value = v.clone(),
                            None => unknown.push(name.clone()),
                        }
                    }
                }
            }
            Some(_) => {}
        }
        unknown
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({})", self.redacted())
    }
}

/// One entry of `tenant.connectorPolicies`: which connector to ask, for which login-id domains,
/// and whether the user is copied in (`migrate: true`) or asked for on every login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorPolicy {
    pub connector_id: Uuid,
    #[serde(default = "every_domain")]
    pub domains: Vec<String>,
    #[serde(default)]
    pub migrate: bool,
}

fn every_domain() -> Vec<String> {
    vec!["*".into()]
}

impl ConnectorPolicy {
    /// Whether the policy applies to a login id: `*` matches everything; `example.com` matches
    /// emails at that domain (case-insensitively). A login id without `@` (a username) matches
    /// only `*`.
    pub fn applies_to(&self, login_id: &str) -> bool {
        let domain = login_id.rsplit_once('@').map(|(_, d)| d.trim());
        self.domains.iter().any(|d| {
            let d = d.trim();
            d == "*" || domain.is_some_and(|x| x.eq_ignore_ascii_case(d))
        })
    }
}

/// What the login path tells a connector.
#[derive(Clone)]
pub struct LegacyLogin<'a> {
    pub login_id: &'a str,
    pub password: &'a Password,
    pub application_id: Option<Uuid>,
    pub ip_address: Option<&'a str>,
}

impl fmt::Debug for LegacyLogin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyLogin")
            .field("login_id", &self.login_id)
            .field("password", &"***")
            .field("application_id", &self.application_id)
            .finish()
    }
}

/// A user as a legacy system describes them, already mapped to our model: profile fields,
/// registrations carrying role *names* (on the connector's target application), and the names of
/// groups to join, which the login path resolves within the tenant.
#[derive(Debug, Clone, Default)]
pub struct LegacyUser {
    pub user: User,
    pub groups: Vec<String>,
    /// The legacy system asked for a password change (Keycloak's `UPDATE_PASSWORD`).
    pub password_change_required: bool,
    /// The legacy system asked for two-factor enrolment (`CONFIGURE_TOTP`).
    pub two_factor_enrolment_required: bool,
}

/// Why a legacy system gave no usable answer. Every kind is a 503 to the caller, never a 404:
/// "the legacy system failed" must not read as "wrong password".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// Connection refused, DNS, TLS handshake.
    Unreachable,
    /// No answer within the connector's timeout.
    Timeout,
    /// An answer we cannot use: a 5xx, or a body that is not what the contract says.
    BadAnswer,
    /// The circuit breaker is open after repeated failures; the legacy system was not asked.
    CircuitOpen,
    /// The connector's concurrency limit is reached; the legacy system was not asked.
    Busy,
    /// The connector cannot do this (a Generic connector cannot look a user up).
    Unsupported,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::BadAnswer => "badAnswer",
            FailureKind::CircuitOpen => "circuitOpen",
            FailureKind::Busy => "busy",
            FailureKind::Unsupported => "unsupported",
        }
    }
}

/// A failed connector call. `message` is for logs and the 503's general error; it never holds
/// the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyError {
    pub kind: FailureKind,
    pub message: String,
}

impl LegacyError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

pub type LegacyResult<T> = Result<T, LegacyError>;

/// How Portcullis talks to legacy systems. Implemented by `portcullis-connect`.
#[async_trait::async_trait]
pub trait LegacySystems: Send + Sync + 'static {
    /// Checks a connector's type-specific settings before it is saved. Field errors are keyed
    /// `connector.<field>`.
    fn check(&self, connector: &Connector) -> Result<(), crate::Error>;

    /// Asks the legacy system whether `login` is right. `Ok(None)`: unknown user or wrong
    /// password (the contracts do not tell them apart).
    async fn authenticate(
        &self,
        connector: &Connector,
        login: &LegacyLogin<'_>,
    ) -> LegacyResult<Option<LegacyUser>>;

    /// Looks a user up without a password (forgot-password, registration checks). `Ok(None)`:
    /// no such user. Connectors that cannot (Generic) fail with [`FailureKind::Unsupported`].
    async fn lookup(
        &self,
        connector: &Connector,
        login_id: &str,
    ) -> LegacyResult<Option<LegacyUser>>;

    /// Whether [`LegacySystems::lookup`] can work for this connector.
    fn can_lookup(&self, connector: &Connector) -> bool;
}

/// The stand-in when no connector implementation is configured: every call is unavailable.
pub struct NoLegacySystems;

#[async_trait::async_trait]
impl LegacySystems for NoLegacySystems {
    fn check(&self, connector: &Connector) -> Result<(), crate::Error> {
        let mut e = Errors::default();
        e.add_field(
            "connector.type",
            "[invalid]connector.type",
            format!(
                "This server cannot use [{}] connectors (no connector support is configured).",
                connector.kind
            ),
        );
        e.into_result()
    }

    async fn authenticate(
        &self,
        _: &Connector,
        _: &LegacyLogin<'_>,
    ) -> LegacyResult<Option<LegacyUser>> {
        Err(LegacyError::new(
            FailureKind::Unsupported,
            "no connector support is configured",
        ))
    }

    async fn lookup(&self, _: &Connector, _: &str) -> LegacyResult<Option<LegacyUser>> {
        Err(LegacyError::new(
            FailureKind::Unsupported,
            "no connector support is configured",
        ))
    }

    fn can_lookup(&self, _: &Connector) -> bool {
        false
    }
}

/// One daily counter: what `connector` did for `tenant` on `day` (days since 1970-01-01, UTC).
/// Outcomes: `migrated` (a user copied in), `login` (a login the connector authenticated),
/// `notFound` (unknown user or wrong password), and the [`FailureKind`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorCount {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub day: i64,
    pub outcome: String,
    pub count: i64,
}

/// The day number of an instant.
pub fn day_of(instant: Millis) -> i64 {
    instant.div_euclid(86_400_000)
}

/// Connector resources and the migration counters, as a store keeps them.
#[async_trait::async_trait]
pub trait ConnectorStore: Send + Sync + 'static {
    async fn insert_connector(&self, c: &Connector) -> StoreResult<()>;
    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>>;
    async fn connectors(&self) -> StoreResult<Vec<Connector>>;
    async fn update_connector(&self, c: &Connector) -> StoreResult<()>;
    async fn delete_connector(&self, id: Uuid) -> StoreResult<bool>;
    /// Inserts a user a connector migrated (with registrations and memberships) and counts them
    /// as `migrated` and as a `login` on `day`, in one transaction: the count is exact because it cannot drift
    /// from the users written.
    /// `events` (`user.migrated`, and the login's own) are recorded in the same transaction.
    async fn insert_migrated_user(
        &self,
        user: &StoredUser,
        day: i64,
        events: &[crate::Event],
    ) -> StoreResult<()>;
    /// Adds one to a daily counter.
    async fn count_connector(
        &self,
        tenant: Uuid,
        connector: Uuid,
        day: i64,
        outcome: &str,
    ) -> StoreResult<()>;
    /// Every counter of `tenant` (or of every tenant), ordered by day.
    async fn connector_counts(&self, tenant: Option<Uuid>) -> StoreResult<Vec<ConnectorCount>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_email_domains_and_star() {
        let p = |d: &[&str]| ConnectorPolicy {
            connector_id: Uuid::nil(),
            domains: d.iter().map(|s| s.to_string()).collect(),
            migrate: true,
        };
        assert!(p(&["*"]).applies_to("bob"));
        assert!(p(&["example.com"]).applies_to("a@Example.COM"));
        assert!(!p(&["example.com"]).applies_to("a@example.org"));
        assert!(!p(&["example.com"]).applies_to("example.com"));
        assert!(!p(&["example.com"]).applies_to("a@sub.example.com"));
    }

    fn connector(v: serde_json::Value) -> Connector {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn answers_and_debug_hide_secrets_and_a_save_keeps_them() {
        let stored = connector(serde_json::json!({
            "type": "Generic", "name": "x", "bearerToken": "tok-1",
            "headers": {"Authorization": "Bearer hdr-1", "X-Trace": "on"}
        }));
        let wire = stored.redacted();
        assert!(wire.get("bearerToken").is_none());
        assert_eq!(
            wire["headers"],
            serde_json::json!({"Authorization": MASK, "X-Trace": MASK})
        );
        let debug = format!("{stored:?}");
        assert!(
            !debug.contains("tok-1") && !debug.contains("hdr-1"),
            "{debug}"
        );

        // The answer saved back: everything kept.
        let mut back: Connector = serde_json::from_value(wire.clone()).unwrap();
        assert!(back.keep_secrets(&stored).is_empty());
        assert_eq!(back.settings, stored.settings);
        // A new value replaces, a header left out goes, an unknown masked header is named.
        let mut changed = connector(serde_json::json!({
            "type": "Generic", "name": "x",
            "headers": {"Authorization": "Bearer hdr-2", "X-New": MASK}
        }));
        assert_eq!(changed.keep_secrets(&stored), vec!["X-New".to_string()]);
        assert_eq!(changed.settings["headers"]["Authorization"], "Bearer hdr-2");
        assert!(changed.settings["headers"].get("X-Trace").is_none());
        assert_eq!(changed.settings["bearerToken"], "tok-1");
    }

    #[test]
    fn legacy_login_debug_hides_the_password() {
        let pw = Password("hunter2".into());
        let l = LegacyLogin {
            login_id: "a@b.c",
            password: &pw,
            application_id: None,
            ip_address: None,
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
