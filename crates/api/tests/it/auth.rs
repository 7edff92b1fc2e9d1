//! API keys: authentication, endpoint permissions, and tenant isolation for every resource.

use crate::support::*;
use portcullis_domain::Store;
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    missing_or_wrong_key_is_401_with_an_empty_body,
    key_without_permission_for_the_endpoint_or_method_is_401,
    keys_are_stored_hashed_and_shown_only_on_create,
    tenant_locked_key_sees_nothing_of_another_tenant,
    tenant_locked_key_cannot_switch_tenant_by_header,
    tenant_locked_key_cannot_manage_tenants_or_keys,
    deleted_key_stops_working,
    key_changes_apply_at_once_here_and_within_the_cache_ttl_elsewhere,
    tenant_locked_key_gets_401_on_every_connector_route,
    only_a_key_that_manages_connectors_sets_connector_policies,
);

async fn missing_or_wrong_key_is_401_with_an_empty_body(b: Backend) {
    let s = Server::start(b).await;
    let none = send(s.http.get(format!("{}/api/tenant", s.url))).await;
    assert_eq!((none.status, none.text.as_str()), (401, ""));
    let wrong = send(s.req_as("not-a-key-at-all-000000", "GET", "/api/tenant")).await;
    assert_eq!((wrong.status, wrong.text.as_str()), (401, ""));
    let ok = send(s.req("GET", "/api/tenant")).await;
    assert_eq!(ok.status, 200);
}

async fn key_without_permission_for_the_endpoint_or_method_is_401(b: Backend) {
    let s = Server::start(b).await;
    let key = s
        .key_with(json!({"permissions": {"endpoints": {"/api/user": ["GET"]}}}))
        .await;
    let t = s.default_tenant().await;
    let u = s.new_user(&t, "perm@example.com").await;
    let get = send(s.req_as(&key, "GET", &format!("/api/user/{u}"))).await;
    assert_eq!(get.status, 200, "GET /api/user is allowed");
    let del = send(s.req_as(&key, "DELETE", &format!("/api/user/{u}"))).await;
    assert_eq!((del.status, del.text.as_str()), (401, ""), "DELETE is not");
    let other = send(s.req_as(&key, "GET", "/api/application")).await;
    assert_eq!(other.status, 401, "another endpoint is not");
    let reg = send(s.req_as(&key, "GET", &format!("/api/user/registration/{u}/{u}"))).await;
    assert_eq!(
        reg.status, 401,
        "/api/user/registration is its own endpoint"
    );
    assert_eq!(
        s.get(&format!("/api/user/{u}")).await.status,
        200,
        "nothing was deleted"
    );
}

async fn keys_are_stored_hashed_and_shown_only_on_create(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call(
            "POST",
            "/api/api-key",
            json!({"apiKey": {"key": "my-chosen-key-0123456789"}}),
        )
        .await;
    assert_eq!(a.json["apiKey"]["key"], "my-chosen-key-0123456789");
    let id = a.json["apiKey"]["id"].as_str().unwrap();
    let again = s.get(&format!("/api/api-key/{id}")).await;
    assert_eq!(again.status, 200);
    assert!(again.json["apiKey"].get("key").is_none(), "{again:?}");
    let stored = s.db.store.api_keys().await.unwrap();
    assert!(stored.iter().all(|k| k.key.is_none()));
    let works = send(s.req_as("my-chosen-key-0123456789", "GET", "/api/tenant")).await;
    assert_eq!(works.status, 200);
    let short = s
        .call("POST", "/api/api-key", json!({"apiKey": {"key": "short"}}))
        .await;
    assert_eq!(short.field_code("apiKey.key"), Some("[tooShort]apiKey.key"));
}

/// FerrisKey's rule: for every resource, tenant A's key asking for tenant B's data gets nothing.
async fn tenant_locked_key_sees_nothing_of_another_tenant(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let bt = s.new_tenant("B").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let app_b = s.new_app(&bt, "b-app", &["admin"]).await;
    let user_b = s.new_user(&bt, "b@example.com").await;
    let group_b = send(
        s.req("POST", "/api/group")
            .header("X-FusionAuth-TenantId", &bt)
            .json(&json!({"group": {"name": "b-group"}})),
    )
    .await
    .json["group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reg = s
        .call(
            "POST",
            &format!("/api/user/registration/{user_b}"),
            json!({"registration": {"applicationId": app_b}}),
        )
        .await;
    assert_eq!(reg.status, 200, "{reg:?}");

    let as_a = |m: &str, p: String| send(s.req_as(&key_a, m, &p));
    for (m, p) in [
        ("GET", format!("/api/tenant/{bt}")),
        ("GET", format!("/api/application/{app_b}")),
        ("GET", format!("/api/group/{group_b}")),
        ("GET", format!("/api/user/{user_b}")),
        ("GET", "/api/user?email=b@example.com".to_string()),
        ("GET", format!("/api/user/registration/{user_b}/{app_b}")),
        ("DELETE", format!("/api/user/{user_b}")),
        ("DELETE", format!("/api/user/{user_b}?hardDelete=true")),
        ("DELETE", format!("/api/application/{app_b}")),
        (
            "DELETE",
            format!("/api/application/{app_b}?hardDelete=true"),
        ),
        ("DELETE", format!("/api/group/{group_b}")),
        ("DELETE", format!("/api/user/registration/{user_b}/{app_b}")),
    ] {
        let r = as_a(m, p.clone()).await;
        assert_eq!((r.status, r.text.as_str()), (404, ""), "{m} {p}");
    }
    for (m, p, body) in [
        (
            "PUT",
            format!("/api/user/{user_b}"),
            json!({"user": {"email": "hijack@example.com"}}),
        ),
        (
            "PATCH",
            format!("/api/application/{app_b}"),
            json!({"application": {"name": "x"}}),
        ),
        (
            "PATCH",
            format!("/api/group/{group_b}"),
            json!({"group": {"name": "x"}}),
        ),
        (
            "POST",
            format!("/api/application/{app_b}/role"),
            json!({"role": {"name": "x"}}),
        ),
        (
            "POST",
            format!("/api/user/registration/{user_b}"),
            json!({"registration": {"applicationId": app_b}}),
        ),
    ] {
        let r = send(s.req_as(&key_a, m, &p).json(&body)).await;
        assert_eq!(r.status, 404, "{m} {p}: {r:?}");
    }
    let members = send(
        s.req_as(&key_a, "POST", "/api/group/member")
            .json(&json!({"members": {group_b.clone(): [{"userId": user_b}]}})),
    )
    .await;
    assert_eq!(members.status, 400, "{members:?}");
    let lists = [
        ("/api/tenant", "tenants"),
        ("/api/application", "applications"),
        ("/api/group", "groups"),
    ];
    for (p, root) in lists {
        let r = send(s.req_as(&key_a, "GET", p)).await;
        let ids: Vec<_> = r.json[root]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["tenantId"].clone())
            .collect();
        assert!(
            r.json[root]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["id"] == a.as_str() || x["tenantId"] == a.as_str()),
            "{p} leaks other tenants: {ids:?}"
        );
    }
    // B's data is intact.
    let u = s.get(&format!("/api/user/{user_b}")).await;
    assert_eq!(u.json["user"]["email"], "b@example.com");
    assert_eq!(u.json["user"]["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(&format!("/api/application/{app_b}")).await.json["application"]["name"],
        "b-app"
    );
}

async fn tenant_locked_key_cannot_switch_tenant_by_header(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let bt = s.new_tenant("B").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let r = send(
        s.req_as(&key_a, "GET", "/api/application")
            .header("X-FusionAuth-TenantId", &bt),
    )
    .await;
    assert_eq!(r.status, 401);
    // Creating in its own tenant needs no header.
    let r = send(
        s.req_as(&key_a, "POST", "/api/user")
            .json(&json!({"user": {"email": "mine@example.com"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["user"]["tenantId"], a.as_str());
}

async fn tenant_locked_key_cannot_manage_tenants_or_keys(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let r = send(
        s.req_as(&key_a, "POST", "/api/tenant")
            .json(&json!({"tenant": {"name": "evil"}})),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(s.req_as(&key_a, "DELETE", &format!("/api/tenant/{a}"))).await;
    assert_eq!(r.status, 401);
    let r = send(s.req_as(&key_a, "GET", "/api/api-key")).await;
    assert_eq!(r.status, 401);
    let r = send(
        s.req_as(&key_a, "POST", "/api/api-key")
            .json(&json!({"apiKey": {}})),
    )
    .await;
    assert_eq!(r.status, 401);
}

async fn deleted_key_stops_working(b: Backend) {
    let s = Server::start(b).await;
    let a = s.call("POST", "/api/api-key", json!({"apiKey": {}})).await;
    let (id, key) = (
        a.json["apiKey"]["id"].as_str().unwrap().to_string(),
        a.json["apiKey"]["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(send(s.req_as(&key, "GET", "/api/tenant")).await.status, 200);
    let self_delete = send(s.req_as(&key, "DELETE", &format!("/api/api-key/{id}"))).await;
    assert_eq!(self_delete.status, 400, "a key cannot delete itself");
    assert_eq!(
        send(s.req("DELETE", &format!("/api/api-key/{id}")))
            .await
            .status,
        200
    );
    assert_eq!(send(s.req_as(&key, "GET", "/api/tenant")).await.status, 401);
}

/// Connectors are global configuration: a key locked to a tenant neither reads nor writes them.
async fn tenant_locked_key_gets_401_on_every_connector_route(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let made = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "global",
                   "authenticationURL": "https://legacy.example/auth",
                   "headers": {"Authorization": "Bearer hdr-secret-161803"}}}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    let c = made.json["connector"]["id"].as_str().unwrap().to_string();
    let body = json!({"connector": {"type": "Generic", "name": "evil",
                      "authenticationURL": "https://evil.example/auth"}});
    let path = format!("/api/connector/{c}");
    for (m, p, b) in [
        ("GET", "/api/connector", None),
        ("GET", path.as_str(), None),
        ("POST", "/api/connector", Some(&body)),
        (
            "POST",
            &format!("/api/connector/{}", uuid::Uuid::new_v4()),
            Some(&body),
        ),
        ("PUT", path.as_str(), Some(&body)),
        (
            "PATCH",
            path.as_str(),
            Some(&json!({"connector": {"name": "evil"}})),
        ),
        ("DELETE", path.as_str(), None),
    ] {
        let mut rb = s.req_as(&key_a, m, p);
        if let Some(b) = b {
            rb = rb.json(b);
        }
        let r = send(rb).await;
        assert_eq!((r.status, r.text.as_str()), (401, ""), "{m} {p}");
    }
    // Nothing changed, nothing was added.
    let list = s.get("/api/connector").await;
    assert_eq!(
        list.json["connectors"].as_array().unwrap().len(),
        1,
        "{list:?}"
    );
    assert_eq!(list.json["connectors"][0]["name"], "global");
}

/// Pointing a tenant at a connector sends its logins (typed passwords included) to that legacy
/// system: only a key that may manage connectors sets or changes `connectorPolicies`.
async fn only_a_key_that_manages_connectors_sets_connector_policies(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    // Global, but without permission to write connectors.
    let tenants_only = s
        .key_with(
            json!({"permissions": {"endpoints": {"/api/tenant": ["GET", "POST", "PUT", "PATCH"],
                                                        "/api/connector": ["GET"]}}}),
        )
        .await;
    let made = s
        .call(
            "POST",
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "other tenant's legacy",
                   "authenticationURL": "https://legacy.example/auth"}}),
        )
        .await;
    let c = made.json["connector"]["id"].as_str().unwrap().to_string();
    let policies = json!([{"connectorId": c, "domains": ["*"], "migrate": true}]);
    let refused = |r: &Answer| {
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(
            r.field_code("tenant.connectorPolicies"),
            Some("[notAllowed]tenant.connectorPolicies"),
            "{r:?}"
        );
    };
    let tenant_path = format!("/api/tenant/{a}");
    for key in [&key_a, &tenants_only] {
        let r = send(
            s.req_as(key, "PATCH", &tenant_path)
                .json(&json!({"tenant": {"connectorPolicies": policies}})),
        )
        .await;
        refused(&r);
        let mut t = s.get(&tenant_path).await.json["tenant"].clone();
        t["connectorPolicies"] = policies.clone();
        let r = send(
            s.req_as(key, "PUT", &tenant_path)
                .json(&json!({ "tenant": t })),
        )
        .await;
        refused(&r);
    }
    let r = send(
        s.req_as(&tenants_only, "POST", "/api/tenant")
            .json(&json!({"tenant": {"name": "new", "connectorPolicies": policies}})),
    )
    .await;
    refused(&r);
    assert!(
        s.get(&tenant_path).await.json["tenant"]
            .get("connectorPolicies")
            .is_none(),
        "nothing was written"
    );
    assert_eq!(
        s.get("/api/tenant").await.json["tenants"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "no tenant was created"
    );

    // The all-powerful key sets them; the others still save the tenant with them unchanged,
    // or without them (kept), but cannot change or remove them.
    let set = s
        .call(
            "PATCH",
            &tenant_path,
            json!({"tenant": {"connectorPolicies": policies}}),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    for key in [&key_a, &tenants_only] {
        let r = send(
            s.req_as(key, "PATCH", &tenant_path)
                .json(&json!({"tenant": {"data": {"by": key}}})),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let t = s.get(&tenant_path).await.json["tenant"].clone();
        let r = send(
            s.req_as(key, "PUT", &tenant_path)
                .json(&json!({ "tenant": t })),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let mut without = t.clone();
        without.as_object_mut().unwrap().remove("connectorPolicies");
        let r = send(
            s.req_as(key, "PUT", &tenant_path)
                .json(&json!({ "tenant": without })),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json["tenant"]["connectorPolicies"], policies, "kept");
        let r = send(
            s.req_as(key, "PATCH", &tenant_path)
                .json(&json!({"tenant": {"connectorPolicies": []}})),
        )
        .await;
        refused(&r);
    }
    let t = s.get(&tenant_path).await.json["tenant"].clone();
    assert_eq!(t["connectorPolicies"], policies);
    assert_eq!(t["data"]["by"], tenants_only.as_str());
}

/// API keys are cached per node. A change made through this node applies to the next request
/// here; another node on the same database sees it once its entry is older than the cache's
/// TTL (and serves its cached key until then, which proves the cache is in use).
async fn key_changes_apply_at_once_here_and_within_the_cache_ttl_elsewhere(b: Backend) {
    let s = Server::start(b).await;
    let a = s.call("POST", "/api/api-key", json!({"apiKey": {}})).await;
    let (id, key) = (
        a.json["apiKey"]["id"].as_str().unwrap().to_string(),
        a.json["apiKey"]["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(send(s.req_as(&key, "GET", "/api/tenant")).await.status, 200);

    // Narrowed here: refused here at once.
    let narrowed = s
        .call(
            "PUT",
            &format!("/api/api-key/{id}"),
            json!({"apiKey": {"permissions": {"endpoints": {"/api/user": ["GET"]}}}}),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    assert_eq!(send(s.req_as(&key, "GET", "/api/tenant")).await.status, 401);

    // Another node with its own cache, which has read the key.
    let other = portcullis_store::SqlStore::connect_in_schema(&s.db.url, s.db.schema())
        .await
        .unwrap();
    let other = portcullis_domain::Identity::new(
        std::sync::Arc::new(other),
        portcullis_hash::HashPool::new(1, 4),
    );
    assert!(other.authenticate(&key).await.unwrap().is_some());
    let deleted = send(s.req("DELETE", &format!("/api/api-key/{id}"))).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(send(s.req_as(&key, "GET", "/api/tenant")).await.status, 401);
    assert!(
        other.authenticate(&key).await.unwrap().is_some(),
        "the other node answers from its cache"
    );
    tokio::time::sleep(portcullis_store::cache::TTL + std::time::Duration::from_millis(200)).await;
    assert!(
        other.authenticate(&key).await.unwrap().is_none(),
        "after the TTL the other node sees the deletion"
    );
}
