//! Prometheus metrics: request counts and latencies by route template (never by raw path, which
//! would leak ids and emails into labels), and the webhooks' outbox: events not yet fanned out,
//! attempts pending and dead-lettered, the oldest pending event's age (read from the store when
//! scraped), deliveries by outcome and their latency (counted by this node's `webhooks` worker).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portcullis_domain::webhooks::DeliveryStats;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    webhook_stats: Arc<DeliveryStats>,
    webhook_outbox: IntGaugeVec,
    webhook_deliveries: IntCounterVec,
    webhook_seconds: GaugeVec,
    webhook_oldest: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("portcullis_http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique");
        let webhook_outbox = IntGaugeVec::new(
            Opts::new(
                "portcullis_webhook_outbox",
                "Webhook outbox: events not yet fanned out (events), attempts pending and failed (dead-lettered)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "portcullis_webhook_deliveries_total",
                "Webhook attempts made by this node, by outcome (delivered, retried, dead_lettered)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_seconds = GaugeVec::new(
            Opts::new(
                "portcullis_webhook_seconds_total",
                "Summed seconds of this node's webhook requests (request) and from event to delivery (delivery); divide by the deliveries for the mean",
            ),
            &["what"],
        )
        .expect("valid metric");
        let webhook_oldest = Gauge::new(
            "portcullis_webhook_oldest_pending_seconds",
            "Age of the oldest event with a pending webhook attempt (0 when none)",
        )
        .expect("valid metric");
        for c in [
            Box::new(webhook_outbox.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(webhook_deliveries.clone()),
            Box::new(webhook_seconds.clone()),
            Box::new(webhook_oldest.clone()),
        ] {
            registry.register(c).expect("unique");
        }
        Self {
            registry,
            requests,
            latency,
            webhook_stats: Arc::default(),
            webhook_outbox,
            webhook_deliveries,
            webhook_seconds,
            webhook_oldest,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What the node's `webhooks` worker counts into (the composition root hands it over).
    pub fn webhook_stats(&self) -> Arc<DeliveryStats> {
        self.webhook_stats.clone()
    }

    /// Brings the webhook figures up to date before a scrape.
    async fn refresh_webhooks(&self, state: &AppState) {
        let s = &self.webhook_stats;
        for (outcome, n) in [
            ("delivered", &s.delivered),
            ("retried", &s.retried),
            ("dead_lettered", &s.dead_lettered),
        ] {
            let c = self.webhook_deliveries.with_label_values(&[outcome]);
            let now = n.load(Ordering::Relaxed);
            c.inc_by(now.saturating_sub(c.get()));
        }
        self.webhook_seconds
            .with_label_values(&["request"])
            .set(s.request_micros.load(Ordering::Relaxed) as f64 / 1e6);
        self.webhook_seconds
            .with_label_values(&["delivery"])
            .set(s.delivery_lag_millis.load(Ordering::Relaxed) as f64 / 1e3);
        if let Ok(o) = state.identity.store().outbox_stats().await {
            self.webhook_outbox
                .with_label_values(&["events"])
                .set(o.events_pending);
            self.webhook_outbox
                .with_label_values(&["pending"])
                .set(o.attempts_pending);
            self.webhook_outbox
                .with_label_values(&["failed"])
                .set(o.attempts_failed);
            let age = o.oldest_pending.map_or(0.0, |t| {
                (portcullis_domain::now_millis() - t).max(0) as f64 / 1e3
            });
            self.webhook_oldest.set(age);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .with_label_values(&[&method, &route])
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&method, &route, res.status().as_str()])
        .inc();
    res
}

pub async fn render(State(state): State<AppState>) -> Response {
    state.metrics.refresh_webhooks(&state).await;
    let mut buf = Vec::new();
    let families = state.metrics.registry.gather();
    if TextEncoder::new().encode(&families, &mut buf).is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        buf,
    )
        .into_response()
}
