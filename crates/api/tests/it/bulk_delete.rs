//! `DELETE /api/user/bulk`: the users a queryString or userId parameters select, in one tenant,
//! hard-deleted with everything hanging off them; `dryRun` counts without deleting.

use crate::support::*;
use portcullis_domain::Store;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};

portcullis_store::on_both_backends!(
    bulk_delete_selects_by_email_data_and_ids_and_removes_everything_of_those_users,
    bulk_delete_of_a_tenant_counts_exactly_and_lists_at_most_1000_ids,
    bulk_delete_refuses_what_it_cannot_do_safely,
    bulk_delete_never_reaches_another_tenant,
);

async fn import_into(s: &Server, tenant: &str, users: Vec<Value>) {
    let a = send(
        s.req("POST", "/api/user/import")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({ "users": users })),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn bulk(s: &Server, query: &str) -> Answer {
    send(s.req("DELETE", &format!("/api/user/bulk?{query}"))).await
}

async fn exists(s: &Server, email: &str) -> bool {
    s.get(&format!("/api/user?email={email}")).await.status == 200
}

async fn bulk_delete_selects_by_email_data_and_ids_and_removes_everything_of_those_users(
    b: Backend,
) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["buyer"]).await;
    import_into(&s, &t, vec![
        json!({"email": "ann@legacy.example", "data": {"source": {"system": "legacy"}, "n": 1},
               "registrations": [{"applicationId": app, "roles": ["buyer"]}]}),
        json!({"email": "bob@legacy.example", "data": {"source": {"system": "legacy"}, "n": 2}}),
        json!({"email": "cat@other.example", "data": {"source": {"system": "crm"}, "flag": true}}),
        json!({"email": "dan@other.example", "data": {"n": 2}}),
        json!({"email": "eve@other.example"}),
    ]).await;

    let a = bulk(&s, "queryString=email:*@legacy.example&dryRun=true").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        (
            a.json["dryRun"].as_bool(),
            a.json["hardDelete"].as_bool(),
            a.json["total"].as_u64()
        ),
        (Some(true), Some(true), Some(2))
    );
    assert!(
        exists(&s, "ann@legacy.example").await,
        "a dry run deletes nothing"
    );

    let a = bulk(
        &s,
        "queryString=email:*@legacy.example%20AND%20data.n:1&hardDelete=true",
    )
    .await;
    assert_eq!(a.json["total"], 1, "{a:?}");
    assert!(!exists(&s, "ann@legacy.example").await);
    assert!(exists(&s, "bob@legacy.example").await);
    let left =
        s.db.store
            .find_users(t.parse().unwrap(), &[], &["ann@legacy.example".into()], &[])
            .await
            .unwrap();
    assert!(left.is_empty());

    let a = bulk(&s, "queryString=data.source.system:crm&hardDelete=true").await;
    assert_eq!(a.json["total"], 1, "{a:?}");
    assert!(!exists(&s, "cat@other.example").await);
    let a = bulk(&s, "queryString=data.n:2&hardDelete=true&dryRun=true").await;
    assert_eq!(a.json["total"], 2, "numbers compare as text: {a:?}");

    let dan = s.get("/api/user?email=dan@other.example").await.json["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let eve = s.get("/api/user?email=eve@other.example").await.json["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = bulk(&s, &format!("userId={dan}&userId={eve}&hardDelete=true")).await;
    assert_eq!(a.json["total"], 2, "{a:?}");
    let mut ids: Vec<String> = a.json["userIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![dan, eve];
    want.sort();
    assert_eq!(ids, want);
    assert!(
        exists(&s, "bob@legacy.example").await,
        "only the selected users are gone"
    );
}

async fn bulk_delete_of_a_tenant_counts_exactly_and_lists_at_most_1000_ids(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Load test").await;
    let users: Vec<Value> = (0..1203)
        .map(|i| json!({"email": format!("u{i}@example.com")}))
        .collect();
    import_into(&s, &t, users).await;
    let a = bulk(&s, &format!("queryString=tenantId:{t}&hardDelete=true")).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["total"], 1203);
    assert_eq!(a.json["userIds"].as_array().unwrap().len(), 1000);
    let again = bulk(&s, &format!("queryString=tenantId:{t}&dryRun=true")).await;
    assert_eq!(again.json["total"], 0);
    // The other tenant is untouched.
    let d = s.default_tenant().await;
    import_into(&s, &d, vec![json!({"email": "keep@example.com"})]).await;
    let a = bulk(&s, &format!("queryString=tenantId:{t}&hardDelete=true")).await;
    assert_eq!(a.json["total"], 0);
    let kept = send(
        s.req("GET", "/api/user?email=keep@example.com")
            .header("X-FusionAuth-TenantId", &d),
    )
    .await;
    assert_eq!(kept.status, 200);
}

async fn bulk_delete_refuses_what_it_cannot_do_safely(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    s.new_user(&t, "stay@example.com").await;
    let cases = [
        (
            "queryString=email:stay@example.com",
            "hardDelete",
            "[missing]hardDelete",
        ),
        ("hardDelete=true", "queryString", "[missing]queryString"),
        (
            "queryString=firstNam:x&hardDelete=true",
            "queryString",
            "[invalid]queryString",
        ),
        (
            "queryString=data.a%27b:1&hardDelete=true",
            "queryString",
            "[invalid]queryString",
        ),
        (
            "queryString=tenantId:nope&hardDelete=true",
            "queryString",
            "[invalid]queryString",
        ),
        ("userId=nope&hardDelete=true", "userId", "[invalid]userId"),
        (
            "queryString=email:x&hardDelete=maybe",
            "hardDelete",
            "[invalid]hardDelete",
        ),
    ];
    for (q, field, code) in cases {
        let a = bulk(&s, q).await;
        assert_eq!(
            (a.status, a.field_code(field)),
            (400, Some(code)),
            "{q}: {a:?}"
        );
    }
    assert!(exists(&s, "stay@example.com").await);
}

async fn bulk_delete_never_reaches_another_tenant(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let bt = s.new_tenant("B").await;
    import_into(&s, &a, vec![json!({"email": "same@example.com"})]).await;
    import_into(&s, &bt, vec![json!({"email": "same@example.com"})]).await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let b_user = send(
        s.req("GET", "/api/user?email=same@example.com")
            .header("X-FusionAuth-TenantId", &bt),
    )
    .await
    .json["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A's key names B's user by id and by tenant: nothing of B is touched.
    let r = send(s.req_as(
        &key_a,
        "DELETE",
        &format!("/api/user/bulk?userId={b_user}&hardDelete=true"),
    ))
    .await;
    assert_eq!(r.json["total"], 0, "{r:?}");
    let r = send(s.req_as(
        &key_a,
        "DELETE",
        &format!("/api/user/bulk?queryString=tenantId:{bt}&hardDelete=true"),
    ))
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = send(s.req_as(
        &key_a,
        "DELETE",
        "/api/user/bulk?queryString=email:same@example.com&hardDelete=true",
    ))
    .await;
    assert_eq!(r.json["total"], 1);
    let still = send(
        s.req("GET", "/api/user?email=same@example.com")
            .header("X-FusionAuth-TenantId", &bt),
    )
    .await;
    assert_eq!(still.status, 200, "B's user is still there");
}
