//! Connectors to legacy user stores for the slow migration (`docs/migration/slow.md`).
//!
//! This crate owns *how* a legacy system is asked: FusionAuth's Generic contract
//! ([`generic`]), the Keycloak REST-migration contract ([`rest`]) and LDAP ([`ldap`]), each
//! behind a [`guard::Guard`] (deadline, concurrency limit, circuit breaker) and counted in
//! Prometheus metrics. *When* a legacy system is asked and what is stored afterwards belongs to
//! `portcullis-domain` (`Sessions::login`), which sees this crate only as
//! [`portcullis_domain::LegacySystems`].
//!
//! Clients are built from the connector's JSON on first use and rebuilt when the connector
//! changes, so an update through the API takes effect on the next login without a restart.

pub mod config;
pub mod generic;
pub mod guard;
pub mod http;
pub mod ldap;
pub mod mapping;
mod plain_http;
pub mod rest;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhooks;

use config::Reader;
use guard::Guard;
use portcullis_domain::migration::connectors::{
    Connector, FailureKind, LegacyError, LegacyLogin, LegacyResult, LegacySystems, LegacyUser,
};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use uuid::Uuid;

enum Kind {
    Generic(generic::Generic),
    Rest(rest::Rest),
    Ldap(ldap::Ldap),
}

/// A connector ready to call: its client and its guard, built from one version of its JSON.
struct Client {
    json: serde_json::Value,
    guard: Guard,
    kind: Kind,
}

/// The connector types this crate speaks, by their JSON `type`.
pub const TYPES: [&str; 3] = ["Generic", "RESTMigration", "LDAP"];

fn build(c: &Connector) -> Result<Client, portcullis_domain::Error> {
    let json = c.to_json();
    let mut r = Reader::new(&json);
    let id = c.id.unwrap_or_else(Uuid::nil);
    let limits = r.limits();
    let kind = match c.kind.as_str() {
        "Generic" => generic::Generic::read(&mut r, id, &limits).map(Kind::Generic),
        "RESTMigration" => rest::Rest::read(&mut r, id, &limits).map(Kind::Rest),
        "LDAP" => ldap::Ldap::read(&mut r, id, &limits).map(Kind::Ldap),
        other => {
            r.invalid(
                "type",
                format!(
                    "[{other}] is not a connector type; use one of {}.",
                    TYPES.join(", ")
                ),
            );
            None
        }
    };
    let kind = kind.filter(|_| r.errors.is_empty());
    r.finish()?;
    Ok(Client {
        json,
        guard: Guard::new(limits),
        kind: kind.expect("no errors means every part was read"),
    })
}

/// Counters and latencies per connector and outcome.
struct Metrics {
    calls: IntCounterVec,
    latency: HistogramVec,
}

impl Metrics {
    fn new(registry: Option<&Registry>) -> Self {
        let calls = IntCounterVec::new(
            Opts::new(
                "portcullis_connector_calls_total",
                "Calls to legacy systems by connector, operation and outcome",
            ),
            &["connector", "operation", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_connector_call_duration_seconds",
                "Latency of calls to legacy systems",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["connector", "operation"],
        )
        .expect("valid metric");
        if let Some(r) = registry {
            // A second registration (two servers in one test process) is harmless.
            let _ = r.register(Box::new(calls.clone()));
            let _ = r.register(Box::new(latency.clone()));
        }
        Self { calls, latency }
    }
}

/// Every connector of this server, as [`LegacySystems`].
pub struct Connectors {
    clients: RwLock<HashMap<Uuid, Arc<Client>>>,
    metrics: Metrics,
}

impl Default for Connectors {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Connectors {
    /// Connectors whose metrics are registered in `registry` (the server's `/metrics`).
    pub fn new(registry: Option<&Registry>) -> Self {
        Self {
            clients: RwLock::default(),
            metrics: Metrics::new(registry),
        }
    }

    fn client(&self, c: &Connector) -> LegacyResult<Arc<Client>> {
        let id = c.id.unwrap_or_else(Uuid::nil);
        let json = c.to_json();
        if let Some(cl) = self.clients.read().expect("not poisoned").get(&id) {
            if cl.json == json {
                return Ok(cl.clone());
            }
        }
        let built = Arc::new(build(c).map_err(|e| {
            LegacyError::new(
                FailureKind::BadAnswer,
                format!("the connector's settings cannot be used: {e}"),
            )
        })?);
        self.clients
            .write()
            .expect("not poisoned")
            .insert(id, built.clone());
        Ok(built)
    }

    /// Calls of `operation` (`authenticate`, `lookup`) to a connector so far and their summed
    /// seconds, as the latency metric has them: `portcullis-bench migrate` takes the legacy
    /// system's share of a login from here, timed where the login makes the call.
    pub fn call_seconds(&self, connector: Uuid, operation: &str) -> (u64, f64) {
        let h = self
            .metrics
            .latency
            .with_label_values(&[&connector.to_string(), operation]);
        (h.get_sample_count(), h.get_sample_sum())
    }

    /// Whether a connector's circuit breaker is open now.
    pub fn is_open(&self, id: Uuid) -> bool {
        self.clients
            .read()
            .expect("not poisoned")
            .get(&id)
            .is_some_and(|c| c.guard.is_open())
    }

    fn observe<T>(
        &self,
        c: &Connector,
        operation: &str,
        start: Instant,
        r: &LegacyResult<Option<T>>,
    ) {
        let name = c.id.map(|i| i.to_string()).unwrap_or_default();
        let outcome = match r {
            Ok(Some(_)) => "found",
            Ok(None) => "notFound",
            Err(e) => e.kind.as_str(),
        };
        self.metrics
            .calls
            .with_label_values(&[&name, operation, outcome])
            .inc();
        self.metrics
            .latency
            .with_label_values(&[&name, operation])
            .observe(start.elapsed().as_secs_f64());
    }
}

#[async_trait::async_trait]
impl LegacySystems for Connectors {
    fn check(&self, connector: &Connector) -> Result<(), portcullis_domain::Error> {
        build(connector).map(|_| ())
    }

    async fn authenticate(
        &self,
        connector: &Connector,
        login: &LegacyLogin<'_>,
    ) -> LegacyResult<Option<LegacyUser>> {
        let start = Instant::now();
        let r = match self.client(connector) {
            Err(e) => Err(e),
            Ok(cl) => {
                cl.guard
                    .call(async {
                        match &cl.kind {
                            Kind::Generic(g) => g.authenticate(login).await,
                            Kind::Rest(r) => r.authenticate(login).await,
                            Kind::Ldap(l) => l.authenticate(login).await,
                        }
                    })
                    .await
            }
        };
        self.observe(connector, "authenticate", start, &r);
        r
    }

    async fn lookup(
        &self,
        connector: &Connector,
        login_id: &str,
    ) -> LegacyResult<Option<LegacyUser>> {
        let start = Instant::now();
        let r = match self.client(connector) {
            Err(e) => Err(e),
            Ok(cl) => match &cl.kind {
                Kind::Generic(_) => Err(LegacyError::new(
                    FailureKind::Unsupported,
                    "a Generic connector cannot look a user up without a password",
                )),
                Kind::Rest(r) => cl.guard.call(r.lookup(login_id)).await,
                Kind::Ldap(l) => cl.guard.call(l.lookup(login_id)).await,
            },
        };
        self.observe(connector, "lookup", start, &r);
        r
    }

    fn can_lookup(&self, connector: &Connector) -> bool {
        matches!(connector.kind.as_str(), "RESTMigration" | "LDAP")
    }
}
