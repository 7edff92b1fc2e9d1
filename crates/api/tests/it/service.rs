//! Status, metrics and the OpenAPI document.

use crate::support::*;
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    status_reports_the_database,
    metrics_count_requests_by_route_template,
    openapi_document_matches_the_router,
    unknown_paths_are_404,
);

async fn status_reports_the_database(b: Backend) {
    let s = Server::start(b).await;
    let a = send(s.http.get(format!("{}/api/status", s.url))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["database"], "ok");
    s.db.store.close().await;
    let down = send(s.http.get(format!("{}/api/status", s.url))).await;
    assert_eq!(down.status, 503, "{down:?}");
}

async fn metrics_count_requests_by_route_template(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    s.get(&format!("/api/tenant/{t}")).await;
    let m = send(s.http.get(format!("{}/metrics", s.url))).await;
    assert!(
        m.text.contains(r#"portcullis_http_requests_total{method="GET",route="/api/tenant/{tenantId}",status="200"} 1"#),
        "{}",
        m.text
    );
    assert!(!m.text.contains(&t), "ids never become labels");
}

/// Every documented method on every documented path is routed (not 404-for-no-route, not 405),
/// and every routed path is documented.
async fn openapi_document_matches_the_router(b: Backend) {
    let s = Server::start(b).await;
    let doc = send(s.http.get(format!("{}/api/openapi.json", s.url))).await;
    assert_eq!(doc.json["openapi"], "3.0.3");
    let paths = doc.json["paths"].as_object().unwrap();
    let mut served = portcullis_api::served_paths();
    served.sort();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    assert_eq!(served, documented);
    let some_id = uuid::Uuid::new_v4().to_string();
    for (path, ops) in paths {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    some_id.as_str()
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().unwrap().keys() {
            let r = s
                .req(&method.to_uppercase(), &concrete)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_ne!(r.status(), 405, "{method} {path}");
            assert!(
                r.headers().get(portcullis_api::NO_ROUTE_HEADER).is_none(),
                "{method} {path} is not routed"
            );
        }
    }
}

async fn unknown_paths_are_404(b: Backend) {
    let s = Server::start(b).await;
    let r = s.req("GET", "/api/nothing-here").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get(portcullis_api::NO_ROUTE_HEADER).is_some());
}
