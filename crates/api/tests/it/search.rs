//! `/api/user/search` and `/api/user/export`: the query language over every field and operator
//! (expected users computed here from the users as `GET /api/user/{id}` answers them), paging
//! with `startRow` and with `nextResults` over more than 10,000 users, 400s naming the bad
//! term, tenant isolation, and the export's NDJSON and `includeCredentials` rule.

use crate::support::*;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

portcullis_store::on_both_backends!(
    query_language_selects_the_users_each_query_describes,
    paging_returns_every_user_once_with_start_row_and_next_results,
    bad_searches_are_400s_naming_what_is_wrong,
    search_and_export_stay_in_the_callers_tenant,
    export_streams_ndjson_and_credentials_only_to_superusers,
);

async fn import_into(s: &Server, tenant: &str, users: &[Value]) {
    let a = send(
        s.req("POST", "/api/user/import")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({ "users": users })),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn search_in(s: &Server, tenant: &str, search: Value) -> Answer {
    send(
        s.req("POST", "/api/user/search")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({ "search": search })),
    )
    .await
}

fn ids_of(a: &Answer) -> BTreeSet<String> {
    a.json["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users: {a:?}"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn has_reg(u: &Value, app: &str, role: Option<&str>) -> bool {
    u["registrations"].as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            s(&r["applicationId"]) == app
                && role.is_none_or(|role| {
                    r["roles"]
                        .as_array()
                        .is_some_and(|roles| roles.iter().any(|x| s(x) == role))
                })
        })
    })
}

fn has_role(u: &Value, role: &str) -> bool {
    u["registrations"].as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            r["roles"]
                .as_array()
                .is_some_and(|roles| roles.iter().any(|x| s(x) == role))
        })
    })
}

type Expect = Box<dyn Fn(&Value) -> bool>;

async fn query_language_selects_the_users_each_query_describes(b: Backend) {
    let srv = Server::start(b).await;
    let t = srv.default_tenant().await;
    let other = srv.new_tenant("Other").await;
    let app_a = srv.new_app(&t, "A", &["admin", "buyer", "viewer"]).await;
    let app_b = srv.new_app(&t, "B", &["admin", "buyer"]).await;
    let g = send(
        srv.req("POST", "/api/group")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"group": {"name": "Staff"}})),
    )
    .await;
    assert_eq!(g.status, 200, "{g:?}");
    let g = g.json["group"]["id"].as_str().unwrap().to_string();
    let c = Uuid::new_v4().to_string();
    let users = vec![
        json!({"id": Uuid::new_v4(), "email": "ann@legacy.example", "username": "ann",
            "firstName": "Ann", "lastName": "Lee", "fullName": "Ann Lee", "mobilePhone": "555-0101",
            "verified": true, "connectorId": c, "insertInstant": 1000, "lastLoginInstant": 5000,
            "data": {"source": {"system": "legacy"}, "n": 1},
            "registrations": [{"applicationId": app_a, "roles": ["admin", "buyer"]}],
            "memberships": [{"groupId": g}]}),
        json!({"id": Uuid::new_v4(), "email": "bob@legacy.example", "username": "bob",
            "firstName": "Bob", "lastName": "Lee", "fullName": "Bob Lee",
            "connectorId": c, "insertInstant": 2000,
            "data": {"source": {"system": "legacy"}, "n": 2},
            "registrations": [{"applicationId": app_a, "roles": ["buyer"]}]}),
        json!({"id": Uuid::new_v4(), "email": "cat@other.example", "username": "cat",
            "firstName": "Cat", "fullName": "Cat Stevens", "active": false,
            "insertInstant": 3000, "lastLoginInstant": 7000,
            "data": {"source": {"system": "crm"}, "flag": true},
            "registrations": [{"applicationId": app_b, "roles": ["admin"]}]}),
        json!({"id": Uuid::new_v4(), "email": "dan@other.example",
            "firstName": "Dan", "mobilePhone": "555-0199", "verified": true, "insertInstant": 4000,
            "registrations": [{"applicationId": app_a, "roles": ["viewer"]},
                              {"applicationId": app_b, "roles": ["admin"]}],
            "memberships": [{"groupId": g}]}),
        json!({"id": Uuid::new_v4(), "email": "eve@other.example", "username": "eve",
            "firstName": "Eve", "lastName": "O'Hara", "fullName": "Eve O'Hara",
            "insertInstant": 5000, "lastLoginInstant": 9000, "data": {"n": "2"}}),
    ];
    import_into(&srv, &t, &users).await;
    // The same email in another tenant: never found from this one.
    import_into(
        &srv,
        &other,
        &[json!({"email": "ann@legacy.example", "connectorId": c})],
    )
    .await;

    let mut stored: Vec<Value> = Vec::new();
    for u in &users {
        let a = srv.get(&format!("/api/user/{}", s(&u["id"]))).await;
        assert_eq!(a.status, 200, "{a:?}");
        stored.push(a.json["user"].clone());
    }
    let lower = |v: &Value| s(v).to_lowercase();
    let email_ends = |u: &Value, end: &str| s(&u["email"]).ends_with(end);
    let (a, bb, gg, cc) = (app_a.clone(), app_b.clone(), g.clone(), c.clone());
    let t2 = t.clone();
    let cases: Vec<(String, Expect)> = vec![
        ("*".into(), Box::new(|_| true)),
        (
            "email:ann@legacy.example".into(),
            Box::new(|u| s(&u["email"]) == "ann@legacy.example"),
        ),
        (
            "email:ANN@Legacy.example".into(),
            Box::new(|u| s(&u["email"]) == "ann@legacy.example"),
        ),
        (
            "email:*@legacy.example".into(),
            Box::new(move |u| email_ends(u, "@legacy.example")),
        ),
        (
            "username:b*".into(),
            Box::new(|u| s(&u["username"]).starts_with('b')),
        ),
        (
            "email:AN*".into(),
            Box::new(|u| s(&u["email"]).starts_with("an")),
        ),
        (
            "email:c*@other.example OR username:e*".into(),
            Box::new(|u| {
                (s(&u["email"]).starts_with('c') && s(&u["email"]).ends_with("@other.example"))
                    || s(&u["username"]).starts_with('e')
            }),
        ),
        (
            "NOT email:d*".into(),
            Box::new(|u| !s(&u["email"]).starts_with('d')),
        ),
        (
            "firstName:ann".into(),
            Box::new(move |u| lower(&u["firstName"]) == "ann"),
        ),
        (
            "lastName:Lee".into(),
            Box::new(|u| s(&u["lastName"]) == "Lee"),
        ),
        (
            "fullName:\"Ann Lee\"".into(),
            Box::new(|u| s(&u["fullName"]) == "Ann Lee"),
        ),
        (
            "fullName:\"eve o'hara\"".into(),
            Box::new(|u| s(&u["fullName"]) == "Eve O'Hara"),
        ),
        (
            "mobilePhone:555-01*".into(),
            Box::new(|u| s(&u["mobilePhone"]).starts_with("555-01")),
        ),
        (
            format!("tenantId:{t}"),
            Box::new(move |u| s(&u["tenantId"]) == t2),
        ),
        ("active:false".into(), Box::new(|u| u["active"] == false)),
        ("verified:true".into(), Box::new(|u| u["verified"] == true)),
        (
            format!("connectorId:{c}"),
            Box::new({
                let c = cc.clone();
                move |u| s(&u["connectorId"]) == c
            }),
        ),
        (
            format!("NOT connectorId:{c}"),
            Box::new({
                let c = cc.clone();
                move |u| s(&u["connectorId"]) != c
            }),
        ),
        (
            "connectorId:*".into(),
            Box::new(|u| u.get("connectorId").is_some()),
        ),
        (
            "-connectorId:*".into(),
            Box::new(|u| u.get("connectorId").is_none()),
        ),
        (
            format!("registrations.applicationId:{app_a}"),
            Box::new({
                let a = a.clone();
                move |u| has_reg(u, &a, None)
            }),
        ),
        (
            "registrations.roles:admin".into(),
            Box::new(|u| has_role(u, "admin")),
        ),
        (
            "registrations.roles:adm*".into(),
            Box::new(|u| has_role(u, "admin")),
        ),
        (
            format!("registrations.applicationId:{app_a} AND registrations.roles:admin"),
            Box::new({
                let a = a.clone();
                move |u| has_reg(u, &a, None) && has_role(u, "admin")
            }),
        ),
        (
            format!("memberships.groupId:{g}"),
            Box::new(move |u| {
                u["memberships"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| s(&m["groupId"]) == gg))
            }),
        ),
        (
            "data.source.system:legacy".into(),
            Box::new(|u| u["data"]["source"]["system"] == "legacy"),
        ),
        (
            "data.source.system:l*".into(),
            Box::new(|u| s(&u["data"]["source"]["system"]).starts_with('l')),
        ),
        (
            "data.n:2".into(),
            Box::new(|u| u["data"]["n"] == 2 || u["data"]["n"] == "2"),
        ),
        (
            "data.flag:true".into(),
            Box::new(|u| u["data"]["flag"] == true),
        ),
        (
            "insertInstant:[2000 TO 4000]".into(),
            Box::new(|u| (2000..=4000).contains(&u["insertInstant"].as_i64().unwrap())),
        ),
        (
            "insertInstant:{2000 TO 4000}".into(),
            Box::new(|u| (2001..4000).contains(&u["insertInstant"].as_i64().unwrap())),
        ),
        (
            "insertInstant:>=4000".into(),
            Box::new(|u| u["insertInstant"].as_i64().unwrap() >= 4000),
        ),
        (
            "lastLoginInstant:>5000".into(),
            Box::new(|u| u["lastLoginInstant"].as_i64().is_some_and(|i| i > 5000)),
        ),
        (
            "lastLoginInstant:<6000".into(),
            Box::new(|u| u["lastLoginInstant"].as_i64().is_some_and(|i| i < 6000)),
        ),
        (
            "lastLoginInstant:[1970-01-01T00:00:06Z TO *]".into(),
            Box::new(|u| u["lastLoginInstant"].as_i64().is_some_and(|i| i >= 6000)),
        ),
        (
            "email:*@legacy.example OR active:false AND verified:false".into(),
            Box::new(move |u| {
                email_ends(u, "@legacy.example") || (u["active"] == false && u["verified"] == false)
            }),
        ),
        (
            "(email:*@legacy.example OR active:false) AND verified:false".into(),
            Box::new(move |u| {
                (email_ends(u, "@legacy.example") || u["active"] == false) && u["verified"] == false
            }),
        ),
        (
            "email:*@other.example NOT firstName:cat".into(),
            Box::new(move |u| email_ends(u, "@other.example") && s(&u["firstName"]) != "Cat"),
        ),
        (
            "email:*@other.example AND NOT (firstName:cat OR firstName:dan)".into(),
            Box::new(move |u| {
                email_ends(u, "@other.example") && !["Cat", "Dan"].contains(&s(&u["firstName"]))
            }),
        ),
    ];
    for (q, expect) in &cases {
        let want: BTreeSet<String> = stored
            .iter()
            .filter(|u| expect(u))
            .map(|u| s(&u["id"]).to_string())
            .collect();
        let a = search_in(&srv, &t, json!({"queryString": q, "numberOfResults": 100})).await;
        assert_eq!(a.status, 200, "{q}: {a:?}");
        assert_eq!(ids_of(&a), want, "{q}");
        assert_eq!(a.json["total"].as_u64(), Some(want.len() as u64), "{q}");
    }

    // Elasticsearch queries: the same tree.
    let es: Vec<(Value, Expect)> = vec![
        (
            json!({"bool": {"must": [{"nested": {"path": "registrations", "query": {"bool": {"must": [
                {"match": {"registrations.applicationId": app_a}},
                {"match": {"registrations.roles": "admin"}}]}}}}]}}),
            Box::new({
                let a = a.clone();
                move |u| has_reg(u, &a, Some("admin"))
            }),
        ),
        (
            json!({"bool": {"should": [{"term": {"email": "cat@other.example"}},
                                       {"range": {"insertInstant": {"gte": 5000}}}]}}),
            Box::new(|u| {
                s(&u["email"]) == "cat@other.example"
                    || u["insertInstant"].as_i64().unwrap() >= 5000
            }),
        ),
        (
            Value::String(
                json!({"bool": {"must": {"wildcard": {"email": "*@legacy.example"}},
                                          "must_not": {"exists": {"field": "lastLoginInstant"}}}})
                .to_string(),
            ),
            Box::new(move |u| {
                email_ends(u, "@legacy.example") && u.get("lastLoginInstant").is_none()
            }),
        ),
        (
            json!({"terms": {"username": ["ann", "cat"]}}),
            Box::new(|u| ["ann", "cat"].contains(&s(&u["username"]))),
        ),
        (
            json!({"nested": {"path": "registrations", "query": {"term": {"applicationId": app_b}}}}),
            Box::new(move |u| has_reg(u, &bb, None)),
        ),
    ];
    for (q, expect) in &es {
        let want: BTreeSet<String> = stored
            .iter()
            .filter(|u| expect(u))
            .map(|u| s(&u["id"]).to_string())
            .collect();
        let a = search_in(&srv, &t, json!({"query": q})).await;
        assert_eq!(a.status, 200, "{q}: {a:?}");
        assert_eq!(ids_of(&a), want, "{q}");
    }

    // ids, and the users as GET /api/user/{id} answers them.
    let ann = s(&stored[0]["id"]).to_string();
    let a = search_in(&srv, &t, json!({"ids": [ann]})).await;
    assert_eq!(a.json["users"], json!([stored[0]]), "{a:?}");
    let a = send(
        srv.req(
            "GET",
            &format!("/api/user/search?ids={ann}&ids={}", s(&stored[1]["id"])),
        )
        .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(a.json["total"], 2, "{a:?}");

    // Who changed since: only the user updated after T.
    let since = stored
        .iter()
        .map(|u| u["lastUpdateInstant"].as_i64().unwrap())
        .max()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let p = srv
        .call(
            "PATCH",
            &format!("/api/user/{}", s(&stored[2]["id"])),
            json!({"user": {"lastName": "Stevens"}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let a = search_in(
        &srv,
        &t,
        json!({"queryString": format!("lastUpdateInstant:>{since}")}),
    )
    .await;
    assert_eq!(
        ids_of(&a),
        BTreeSet::from([s(&stored[2]["id"]).to_string()]),
        "{a:?}"
    );

    // GET with sortFields: by insertInstant descending.
    let a = send(
        srv.req("GET", "/api/user/search?queryString=*&sortFields[0].name=insertInstant&sortFields[0].order=desc&numberOfResults=2")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    let order: Vec<i64> = a.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["insertInstant"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![5000, 4000], "{a:?}");
    assert_eq!(a.json["total"], 5);
    assert!(a.json["nextResults"].is_string(), "{a:?}");
}

async fn paging_returns_every_user_once_with_start_row_and_next_results(b: Backend) {
    let srv = Server::start(b).await;
    let t = srv.new_tenant("Load").await;
    const N: usize = 10_050;
    let users: Vec<Value> = (0..N)
        .map(|i| {
            let mut u = json!({"email": format!("u{i:05}@example.com"), "insertInstant": 1_000_000 + (i as i64 % 13)});
            if i % 3 != 0 {
                u["lastLoginInstant"] = json!(2_000_000 + (i as i64 % 7));
            }
            u
        })
        .collect();
    import_into(&srv, &t, &users).await;

    // startRow pages.
    let mut seen = BTreeSet::new();
    let mut row = 0;
    loop {
        let a = search_in(
            &srv,
            &t,
            json!({"queryString": "*", "startRow": row, "numberOfResults": 2000}),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["total"], N);
        let page = ids_of(&a);
        if page.is_empty() {
            break;
        }
        let n = a.json["users"].as_array().unwrap().len();
        assert_eq!(page.len(), n);
        for id in page {
            assert!(seen.insert(id), "a user twice at startRow {row}");
        }
        row += n;
    }
    assert_eq!(seen.len(), N);

    // nextResults pages, sorted by lastLoginInstant (missing first) then email descending.
    let mut seen = BTreeSet::new();
    let mut keys: Vec<(Option<i64>, String)> = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let search = match &next {
            None => json!({"queryString": "email:u*", "numberOfResults": 3000, "sortFields": [
                {"name": "lastLoginInstant", "missing": "_first"},
                {"name": "email", "order": "desc"}]}),
            Some(c) => json!({"nextResults": c, "numberOfResults": 3000}),
        };
        let a = search_in(&srv, &t, search).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["total"], N);
        pages += 1;
        for u in a.json["users"].as_array().unwrap() {
            assert!(
                seen.insert(s(&u["id"]).to_string()),
                "a user twice on page {pages}"
            );
            keys.push((u["lastLoginInstant"].as_i64(), s(&u["email"]).to_string()));
        }
        match a.json["nextResults"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), N);
    assert_eq!(pages, 4);
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert!(keys == sorted, "the pages follow the sort");

    // The export pages through every user too.
    let a = send(
        srv.req("GET", "/api/user/export?queryString=*")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(a.status, 200);
    let ids: BTreeSet<String> = a
        .text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!((a.text.lines().count(), ids.len()), (N, N));
}

async fn bad_searches_are_400s_naming_what_is_wrong(b: Backend) {
    let srv = Server::start(b).await;
    let t = srv.default_tenant().await;
    srv.new_user(&t, "stay@example.com").await;
    for (search, field, mentions) in [
        (
            json!({"queryString": "firstNam:x"}),
            "search.queryString",
            "firstNam:x",
        ),
        (json!({"queryString": "ann"}), "search.queryString", "ann"),
        (
            json!({"queryString": "email:a AND (active:true"}),
            "search.queryString",
            "(active:true",
        ),
        (
            json!({"queryString": "email:\"open"}),
            "search.queryString",
            "email:\"open",
        ),
        (
            json!({"queryString": "insertInstant:[1 TO yesterday]"}),
            "search.queryString",
            "insertInstant:[1 TO yesterday]",
        ),
        (
            json!({"queryString": "tenantId:nope"}),
            "search.queryString",
            "tenantId:nope",
        ),
        (
            json!({"queryString": "active:maybe"}),
            "search.queryString",
            "active:maybe",
        ),
        (
            json!({"queryString": "email:a OR"}),
            "search.queryString",
            "OR",
        ),
        (json!({"queryString": "  "}), "search.queryString", "empty"),
        (
            json!({"query": {"fuzzy": {"email": "x"}}}),
            "search.query",
            "fuzzy",
        ),
        (json!({"query": "{not json"}), "search.query", "not JSON"),
        (
            json!({"query": {"match": {"password": "x"}}}),
            "search.query",
            "password",
        ),
        (
            json!({"queryString": "*", "numberOfResults": 10_001}),
            "search.numberOfResults",
            "10001",
        ),
        (
            json!({"queryString": "*", "startRow": -1}),
            "search.startRow",
            "-1",
        ),
        (
            json!({"queryString": "*", "sortFields": [{"name": "password"}]}),
            "search.sortFields",
            "password",
        ),
        (
            json!({"queryString": "*", "sortFields": [{"name": "email", "order": "up"}]}),
            "search.sortFields",
            "up",
        ),
        (
            json!({"nextResults": "garbage"}),
            "search.nextResults",
            "nextResults",
        ),
        (json!({}), "search", "queryString"),
        (
            json!({"queryString": "email:a\0b"}),
            "search.queryString",
            "NUL",
        ),
        (
            json!({"queryString": vec!["email:a"; 300].join(" OR ")}),
            "search.queryString",
            "300 terms",
        ),
    ] {
        let a = search_in(&srv, &t, search.clone()).await;
        assert_eq!(a.status, 400, "{search}: {a:?}");
        let msg = a.json["fieldErrors"][field][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{search}: {a:?}"));
        assert!(msg.contains(mentions), "{search}: {msg}");
    }
    for q in [
        "queryString=*&numberOfResults=many",
        "queryString=*&startRow=x",
        "queryString=*&sortFields[x].name=email",
        "ids=nope",
        "queryString=*&accurateTotal=maybe",
    ] {
        let a = send(
            srv.req("GET", &format!("/api/user/search?{q}"))
                .header("X-FusionAuth-TenantId", &t),
        )
        .await;
        assert_eq!(a.status, 400, "{q}: {a:?}");
        assert!(
            a.json["fieldErrors"]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "{q}: {a:?}"
        );
    }
    let a = send(
        srv.req("POST", "/api/user/search")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"search": {"numberOfResults": "ten"}})),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    let a = send(
        srv.req("GET", "/api/user/export?queryString=nope:x")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(
        a.json["fieldErrors"]["search.queryString"].is_array(),
        "{a:?}"
    );
}

async fn search_and_export_stay_in_the_callers_tenant(b: Backend) {
    let srv = Server::start(b).await;
    let ta = srv.new_tenant("A").await;
    let tb = srv.new_tenant("B").await;
    import_into(
        &srv,
        &ta,
        &[
            json!({"email": "a1@example.com"}),
            json!({"email": "same@example.com"}),
        ],
    )
    .await;
    import_into(
        &srv,
        &tb,
        &[
            json!({"email": "b1@example.com"}),
            json!({"email": "same@example.com"}),
        ],
    )
    .await;
    let key_a = srv.key_with(json!({"tenantId": ta})).await;
    let emails = |a: &Answer| -> BTreeSet<String> {
        a.json["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| s(&u["email"]).to_string())
            .collect()
    };
    let all = send(
        srv.req_as(&key_a, "POST", "/api/user/search")
            .json(&json!({"search": {"queryString": "*"}})),
    )
    .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(
        emails(&all),
        BTreeSet::from(["a1@example.com".into(), "same@example.com".into()])
    );
    assert!(all.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| s(&u["tenantId"]) == ta));
    // Naming B's tenant, or B's user by id, finds nothing.
    let b_ids: Vec<String> = {
        let a = search_in(&srv, &tb, json!({"queryString": "*"})).await;
        ids_of(&a).into_iter().collect()
    };
    let a = send(
        srv.req_as(&key_a, "POST", "/api/user/search")
            .json(&json!({"search": {"queryString": format!("tenantId:{tb}")}})),
    )
    .await;
    assert_eq!(
        (a.status, a.json["total"].as_u64()),
        (200, Some(0)),
        "{a:?}"
    );
    let a = send(
        srv.req_as(&key_a, "POST", "/api/user/search")
            .json(&json!({"search": {"ids": b_ids}})),
    )
    .await;
    assert_eq!(
        (a.status, a.json["total"].as_u64()),
        (200, Some(0)),
        "{a:?}"
    );
    // A's key with B's header is refused.
    let a = send(
        srv.req_as(&key_a, "POST", "/api/user/search")
            .header("X-FusionAuth-TenantId", &tb)
            .json(&json!({"search": {"queryString": "*"}})),
    )
    .await;
    assert_eq!(a.status, 401, "{a:?}");
    // The export too.
    let a = send(srv.req_as(&key_a, "GET", "/api/user/export?queryString=*")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.text.lines().count(), 2, "{}", a.text);
    assert!(!a.text.contains("b1@example.com"));
    // An unscoped key with a tenant header sees that tenant only; without one, every tenant.
    let a = search_in(&srv, &tb, json!({"queryString": "email:same@example.com"})).await;
    assert_eq!(a.json["total"], 1);
    let a = srv
        .call(
            "POST",
            "/api/user/search",
            json!({"search": {"queryString": "email:same@example.com"}}),
        )
        .await;
    assert_eq!(a.json["total"], 2, "{a:?}");
}

async fn export_streams_ndjson_and_credentials_only_to_superusers(b: Backend) {
    let srv = Server::start(b).await;
    let t = srv.default_tenant().await;
    let mut ids = HashMap::new();
    for e in ["x1@example.com", "x2@example.com", "y@example.com"] {
        ids.insert(srv.new_user(&t, e).await, e);
    }
    let a = send(
        srv.req("GET", "/api/user/export?queryString=email:x*")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let lines: Vec<Value> = a
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", a.text);
    for l in &lines {
        let id = s(&l["id"]).to_string();
        assert!(ids[&id].starts_with('x'));
        let user = srv.get(&format!("/api/user/{id}")).await;
        assert_eq!(
            l, &user.json["user"],
            "a line is the user as GET answers it"
        );
        assert!(l.get("password").is_none() && l.get("salt").is_none());
    }
    // The POST form, with credentials for the superuser key.
    let a = send(
        srv.req("POST", "/api/user/export?includeCredentials=true")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"search": {"queryString": "email:y@example.com"}})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let line: Value = serde_json::from_str(a.text.lines().next().unwrap()).unwrap();
    assert!(
        line["password"]
            .as_str()
            .is_some_and(|p| !p.is_empty() && p != "correct horse"),
        "{line}"
    );
    assert!(line["encryptionScheme"].is_string(), "{line}");
    // Any other key: 403.
    let scoped = srv.key_with(json!({"tenantId": t})).await;
    let limited = srv
        .key_with(json!({"permissions": {"endpoints": {"/api/user/export": ["GET"]}}}))
        .await;
    for key in [&scoped, &limited] {
        let a = send(
            srv.req_as(
                key,
                "GET",
                "/api/user/export?queryString=*&includeCredentials=true",
            )
            .header("X-FusionAuth-TenantId", &t),
        )
        .await;
        assert_eq!(a.status, 403, "{a:?}");
        let a = send(
            srv.req_as(key, "GET", "/api/user/export?queryString=*")
                .header("X-FusionAuth-TenantId", &t),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.text.lines().count(), 3);
        assert!(!a.text.contains("\"password\""));
    }
}
