//! Prometheus metrics of the gateway: requests by route and status class, their latency to the
//! answer's headers, upstream failures, and what became of `[[login_fork]]` sign-ins. Routes are
//! labelled by their configured pattern (never the raw path, which would put ids in labels);
//! the gateway's own endpoints are `_gateway`, requests no route took `_none`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The label of requests the gateway answers itself (`/healthz`, the JWKS, sign-in, metrics).
pub const OWN: &str = "_gateway";
/// The label of requests no route matched (400, 404, 405).
pub const NONE: &str = "_none";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    upstream_errors: IntCounterVec,
    forks: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "portcullis_gateway_requests_total",
                "Requests answered, by route and status class (2xx, 4xx, ...)",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_gateway_request_duration_seconds",
                "Time to the answer's headers, by route (bodies stream after)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                30.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "portcullis_gateway_upstream_errors_total",
                "Upstreams that failed (unavailable) or did not answer in time (timeout), by route",
            ),
            &["route", "kind"],
        )
        .expect("valid metric");
        let forks = IntCounterVec::new(
            Opts::new(
                "portcullis_gateway_login_fork_total",
                "login_fork sign-ins by outcome: portcullis (answered by Portcullis), migrated, \
                 refused (unknown to both), unavailable (legacy system or Portcullis failed)",
            ),
            &["path", "outcome"],
        )
        .expect("valid metric");
        for m in [&requests, &upstream_errors, &forks] {
            registry.register(Box::new(m.clone())).expect("unique");
        }
        registry
            .register(Box::new(latency.clone()))
            .expect("unique");
        Metrics {
            registry,
            requests,
            latency,
            upstream_errors,
            forks,
        }
    }

    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.requests.with_label_values(&[route, class]).inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    pub fn upstream_error(&self, route: &str, kind: &str) {
        self.upstream_errors.with_label_values(&[route, kind]).inc();
    }

    pub fn fork(&self, path: &str, outcome: crate::fork::Outcome) {
        self.forks
            .with_label_values(&[path, outcome.as_str()])
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The `/metrics` answer.
pub fn response(m: &Metrics) -> http::Response<axum::body::Body> {
    let mut r = http::Response::new(axum::body::Body::from(m.render()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_by_route_and_class() {
        let m = Metrics::new();
        m.request("/a/{id}", 200, 0.01);
        m.request("/a/{id}", 204, 0.01);
        m.request(NONE, 404, 0.0);
        m.upstream_error("/a/{id}", "timeout");
        let text = m.render();
        assert!(
            text.contains(r#"portcullis_gateway_requests_total{route="/a/{id}",status="2xx"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"portcullis_gateway_requests_total{route="_none",status="4xx"} 1"#));
        assert!(text.contains(
            r#"portcullis_gateway_upstream_errors_total{kind="timeout",route="/a/{id}"} 1"#
        ));
        assert!(text
            .contains(r#"portcullis_gateway_request_duration_seconds_count{route="/a/{id}"} 2"#));
    }
}
