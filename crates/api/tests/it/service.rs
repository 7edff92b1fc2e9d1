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

/// The served document lists every path and method of the route table,
/// every schema it refers to is in it, every body-taking operation has a request schema, and
/// every documented method on every documented path is routed (not 404-for-no-route, not 405).
async fn openapi_document_matches_the_router(b: Backend) {
    let s = Server::start(b).await;
    let doc = send(s.http.get(format!("{}/api/openapi.json", s.url))).await;
    assert_eq!(doc.json["openapi"], "3.1.0");
    let paths = doc.json["paths"].as_object().unwrap();
    let table = portcullis_api::routes::table(&portcullis_api::ApiConfig::default());
    let mut routed: Vec<(String, Vec<String>)> = table
        .iter()
        .filter(|r| r.documented)
        .map(|r| {
            let mut m: Vec<String> = r
                .ops
                .iter()
                .map(|o| o.method.as_str().to_lowercase())
                .collect();
            m.sort();
            (r.path.to_string(), m)
        })
        .collect();
    routed.sort();
    let mut documented: Vec<(String, Vec<String>)> = paths
        .iter()
        .map(|(p, ops)| {
            (
                p.clone(),
                ops.as_object().unwrap().keys().cloned().collect(),
            )
        })
        .collect();
    documented.sort();
    assert_eq!(routed, documented);
    assert!(routed.iter().any(|(p, _)| p == "/api/user/{userId}"));
    // Every reference resolves.
    let text = doc.text.clone();
    let schemas = doc.json["components"]["schemas"].as_object().unwrap();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "{name} is referred to but not defined"
        );
    }
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if matches!(method.as_str(), "post" | "put" | "patch") {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(),
                    "{method} {path} has no request schema"
                );
            }
            assert!(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|c| c.starts_with('2')),
                "{method} {path}"
            );
        }
    }
    // The entities' schemas come from the Rust types: ids are UUIDs, `data` is an object,
    // optional fields are not required.
    let user = &schemas["User"];
    assert_eq!(user["properties"]["id"]["format"], "uuid");
    assert_eq!(user["properties"]["data"]["type"], "object");
    assert!(
        user["required"].as_array().is_none_or(|r| r.is_empty()),
        "{user}"
    );
    assert_eq!(user["properties"]["password"]["writeOnly"], true);
    assert_eq!(
        doc.json["paths"]["/api/user/{userId}"]["put"]["requestBody"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/UserBody"
    );
    assert_eq!(schemas["UserBody"]["required"], json!(["user"]));
    assert!(schemas["Errors"]["properties"]["fieldErrors"].is_object());
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
