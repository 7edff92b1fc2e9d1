//! Create (with a chosen id), retrieve, replace, merge-patch and delete for every resource.

use crate::support::*;
use portcullis_domain::{Scope, Store};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};

portcullis_store::on_both_backends!(
    fresh_store_has_a_default_tenant_and_application,
    tenants_support_every_verb,
    applications_and_roles_support_every_verb,
    a_deleted_role_leaves_registrations_and_groups,
    users_support_every_verb_and_every_lookup,
    delete_without_hard_delete_deactivates_and_reactivate_restores,
    passwords_are_hashed_never_returned_and_kept_across_updates,
    register_creates_the_user_and_the_registration_together,
    registrations_support_every_verb,
    groups_grant_roles_and_hold_members,
    deleting_a_tenant_deletes_its_users,
    a_chosen_id_of_another_tenant_answers_as_one_of_the_own_tenant,
    tenant_settings_out_of_range_are_field_errors_on_create_replace_and_patch,
    application_settings_out_of_range_are_field_errors_on_create_replace_and_patch,
);

async fn fresh_store_has_a_default_tenant_and_application(b: Backend) {
    let s = Server::start(b).await;
    let t = s.get("/api/tenant").await;
    assert_eq!(t.json["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(t.json["tenants"][0]["name"], "Default");
    let a = s.get("/api/application").await;
    assert_eq!(
        a.json["applications"].as_array().unwrap().len(),
        1,
        "one application, the admin application, as FusionAuth's fresh instance"
    );
    assert_eq!(a.json["applications"][0]["name"], "Portcullis");
    let roles = &a.json["applications"][0]["roles"];
    assert_eq!(roles.as_array().unwrap().len(), 1, "{roles}");
    assert_eq!(roles[0]["name"], "admin");
    assert_eq!(roles[0]["isSuperRole"], true);
    assert_eq!(
        a.json["applications"][0]["tenantId"],
        t.json["tenants"][0]["id"]
    );
}

async fn tenants_support_every_verb(b: Backend) {
    let s = Server::start(b).await;
    let id = uuid::Uuid::new_v4();
    let c = s
        .call(
            "POST",
            &format!("/api/tenant/{id}"),
            json!({"tenant": {"name": "Acme", "data": {"a": 1}, "issuer": "acme.example"}}),
        )
        .await;
    assert_eq!(c.status, 200, "{c:?}");
    assert_eq!(c.json["tenant"]["id"], id.to_string());
    assert_eq!(
        c.json["tenant"]["issuer"], "acme.example",
        "unknown settings round-trip"
    );
    let p = s
        .call(
            "PATCH",
            &format!("/api/tenant/{id}"),
            json!({"tenant": {"data": {"b": 2}}}),
        )
        .await;
    assert_eq!(p.json["tenant"]["data"], json!({"a": 1, "b": 2}));
    assert_eq!(p.json["tenant"]["name"], "Acme");
    let r = s
        .call(
            "PUT",
            &format!("/api/tenant/{id}"),
            json!({"tenant": {"name": "Acme 2"}}),
        )
        .await;
    assert_eq!(r.json["tenant"]["name"], "Acme 2");
    assert_eq!(r.json["tenant"]["data"], json!({}), "PUT replaces");
    assert_eq!(
        r.json["tenant"]["insertInstant"],
        c.json["tenant"]["insertInstant"]
    );
    let dup = s
        .call("POST", "/api/tenant", json!({"tenant": {"name": "acme 2"}}))
        .await;
    assert_eq!(
        dup.field_code("tenant.name"),
        Some("[duplicate]tenant.name")
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/tenant/{id}"), json!(null))
            .await
            .status,
        200
    );
    assert_eq!(s.get(&format!("/api/tenant/{id}")).await.status, 404);
}

async fn applications_and_roles_support_every_verb(b: Backend) {
    let s = Server::start(b).await;
    let id = uuid::Uuid::new_v4();
    let c = s
        .call("POST", &format!("/api/application/{id}"), json!({"application": {"name": "Shop", "roles": [{"name": "admin", "isSuperRole": true}, {"name": "user", "isDefault": true}]}}))
        .await;
    assert_eq!(c.status, 200, "{c:?}");
    let roles = c.json["application"]["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    assert!(roles.iter().all(|r| r["id"].is_string()));
    let dup_roles = s
        .call(
            "POST",
            "/api/application",
            json!({"application": {"name": "X", "roles": [{"name": "a"}, {"name": "a"}]}}),
        )
        .await;
    assert_eq!(
        dup_roles.field_code("role.name"),
        Some("[duplicate]role.name")
    );

    let role_id = uuid::Uuid::new_v4();
    let r = s
        .call(
            "POST",
            &format!("/api/application/{id}/role/{role_id}"),
            json!({"role": {"name": "editor", "description": "edits"}}),
        )
        .await;
    assert_eq!(r.json["role"]["id"], role_id.to_string());
    let r = s
        .call(
            "PATCH",
            &format!("/api/application/{id}/role/{role_id}"),
            json!({"role": {"description": "edits all"}}),
        )
        .await;
    assert_eq!(
        (
            r.json["role"]["name"].as_str(),
            r.json["role"]["description"].as_str()
        ),
        (Some("editor"), Some("edits all"))
    );
    let clash = s
        .call(
            "PUT",
            &format!("/api/application/{id}/role/{role_id}"),
            json!({"role": {"name": "admin"}}),
        )
        .await;
    assert_eq!(clash.status, 400, "two roles named admin: {clash:?}");
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/application/{id}/role/{role_id}"),
            json!(null)
        )
        .await
        .status,
        200
    );
    let app = s.get(&format!("/api/application/{id}")).await;
    assert_eq!(
        app.json["application"]["roles"].as_array().unwrap().len(),
        2
    );

    let p = s
        .call(
            "PATCH",
            &format!("/api/application/{id}"),
            json!({"application": {"name": "Shop 2"}}),
        )
        .await;
    assert_eq!(p.json["application"]["name"], "Shop 2");
    assert_eq!(
        p.json["application"]["roles"].as_array().unwrap().len(),
        2,
        "PATCH keeps roles"
    );
    let put = s
        .call(
            "PUT",
            &format!("/api/application/{id}"),
            json!({"application": {"name": "Shop 3", "active": false}}),
        )
        .await;
    assert_eq!(put.json["application"]["active"], false);
    assert_eq!(put.json["application"]["roles"], json!([]));
    let hard = format!("/api/application/{id}?hardDelete=true");
    assert_eq!(s.call("DELETE", &hard, json!(null)).await.status, 200);
    assert_eq!(s.get(&format!("/api/application/{id}")).await.status, 404);
}

/// FusionAuth's DELETE without `hardDelete` deactivates: a script that "deactivates" an
/// application or a user must never lose it.
async fn delete_without_hard_delete_deactivates_and_reactivate_restores(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "soft", &["admin"]).await;
    let u = s.new_user(&t, "soft@example.com").await;
    for (path, root) in [
        (format!("/api/application/{app}"), "application"),
        (format!("/api/user/{u}"), "user"),
    ] {
        assert_eq!(s.call("DELETE", &path, json!(null)).await.status, 200);
        let kept = s.get(&path).await;
        assert_eq!(kept.status, 200, "{path} is kept");
        assert_eq!(kept.json[root]["active"], false);
        let back = send(s.req("PUT", &format!("{path}?reactivate=true"))).await;
        assert_eq!(back.status, 200, "{back:?}");
        assert_eq!(back.json[root]["active"], true);
    }
    let regs = s.get(&format!("/api/user/{u}")).await;
    assert_eq!(regs.json["user"]["email"], "soft@example.com");
    s.call("DELETE", &format!("/api/application/{app}"), json!(null))
        .await;
    let active = s.get("/api/application").await;
    assert!(active.json["applications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"] != app.as_str()));
    let inactive = s.get("/api/application?inactive=true").await;
    assert_eq!(inactive.json["applications"][0]["id"], app.as_str());
}

async fn users_support_every_verb_and_every_lookup(b: Backend) {
    let s = Server::start(b).await;
    let id = uuid::Uuid::new_v4();
    let c = s
        .call("POST", &format!("/api/user/{id}"), json!({"user": {
            "email": "Jane@Example.com", "username": "jane", "firstName": "Jane", "lastName": "Doe",
            "birthDate": "1990-04-23", "mobilePhone": "+15555550100", "timezone": "Europe/Paris",
            "preferredLanguages": ["fr", "en"], "data": {"original_user_id": 42}, "imageUrl": "https://x/y.png",
            "twoFactor": {"methods": [{"id": "m1", "method": "authenticator", "secret": "UzNDUjNUUzNDUjNUUzNDUjNU"}], "recoveryCodes": ["abc"]}
        }}))
        .await;
    assert_eq!(c.status, 200, "{c:?}");
    let u = &c.json["user"];
    assert_eq!(u["id"], id.to_string());
    assert_eq!(u["birthDate"], "1990-04-23");
    assert_eq!(u["data"]["original_user_id"], 42);
    assert!(
        u["twoFactor"]["methods"][0].get("secret").is_none(),
        "secrets stay inside"
    );
    assert!(u["twoFactor"].get("recoveryCodes").is_none());
    for q in [
        "email=jane@example.COM",
        "username=JANE",
        "loginId=jane",
        "loginId=jane@example.com",
    ] {
        let f = s.get(&format!("/api/user?{q}")).await;
        assert_eq!(f.json["user"]["id"], id.to_string(), "{q}");
    }
    assert_eq!(
        s.get("/api/user?email=nobody@example.com").await.status,
        404
    );
    assert_eq!(s.get("/api/user").await.status, 400);

    let p = s
        .call(
            "PATCH",
            &format!("/api/user/{id}"),
            json!({"user": {"data": {"plan": "pro"}, "middleName": "Q"}}),
        )
        .await;
    assert_eq!(
        p.json["user"]["data"],
        json!({"original_user_id": 42, "plan": "pro"})
    );
    assert_eq!(p.json["user"]["middleName"], "Q");
    assert_eq!(p.json["user"]["lastName"], "Doe");
    let put = s
        .call(
            "PUT",
            &format!("/api/user/{id}"),
            json!({"user": {"email": "jane@new.example"}}),
        )
        .await;
    assert_eq!(put.json["user"]["email"], "jane@new.example");
    assert!(
        put.json["user"].get("lastName").is_none(),
        "PUT replaces the profile"
    );
    assert_eq!(
        put.json["user"]["insertInstant"],
        c.json["user"]["insertInstant"]
    );
    let hard = format!("/api/user/{id}?hardDelete=true");
    assert_eq!(s.call("DELETE", &hard, json!(null)).await.status, 200);
    assert_eq!(s.get(&format!("/api/user/{id}")).await.status, 404);
    assert_eq!(s.call("DELETE", &hard, json!(null)).await.status, 404);
}

async fn passwords_are_hashed_never_returned_and_kept_across_updates(b: Backend) {
    let s = Server::start(b).await;
    let c = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "pw@example.com", "password": "hunter2hunter2"}}),
        )
        .await;
    assert!(!c.text.contains("hunter2"), "{}", c.text);
    assert!(c.json["user"]["passwordLastUpdateInstant"].is_i64());
    let id: uuid::Uuid = c.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let stored = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    let cred = stored.credential.clone().expect("a credential is stored");
    assert!(!format!("{cred:?}").contains("hunter2"));
    assert!(portcullis_hash::verify(&cred, b"hunter2hunter2"));
    assert!(!portcullis_hash::verify(&cred, b"hunter3hunter3"));

    s.call(
        "PATCH",
        &format!("/api/user/{id}"),
        json!({"user": {"firstName": "P"}}),
    )
    .await;
    let after = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    assert_eq!(
        after.credential,
        Some(cred.clone()),
        "a profile update keeps the password"
    );
    s.call(
        "PATCH",
        &format!("/api/user/{id}"),
        json!({"user": {"password": "another-password"}}),
    )
    .await;
    let changed = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    assert!(portcullis_hash::verify(
        changed.credential.as_ref().unwrap(),
        b"another-password"
    ));
}

async fn register_creates_the_user_and_the_registration_together(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "shop", &["admin", "buyer"]).await;
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({
                "user": {"email": "reg@example.com", "password": "password123"},
                "registration": {"applicationId": app, "roles": ["buyer"], "data": {"tier": 1}}
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["registration"]["roles"], json!(["buyer"]));
    let u = s.get("/api/user?email=reg@example.com").await;
    let regs = u.json["user"]["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["applicationId"], app.as_str());
    assert_eq!(regs[0]["data"]["tier"], 1);
    // A second registration for the same application is refused and changes nothing.
    let id = u.json["user"]["id"].as_str().unwrap();
    let again = s
        .call(
            "POST",
            &format!("/api/user/registration/{id}"),
            json!({"registration": {"applicationId": app}}),
        )
        .await;
    assert_eq!(
        again.field_code("registration.applicationId"),
        Some("[duplicate]registration.applicationId")
    );
    // A duplicate email in register writes neither the user nor the registration.
    let dup = s
        .call(
            "POST",
            "/api/user/registration",
            json!({
                "user": {"email": "REG@example.com"}, "registration": {"applicationId": app}
            }),
        )
        .await;
    assert_eq!(dup.field_code("user.email"), Some("[duplicate]user.email"));
}

async fn registrations_support_every_verb(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "shop", &["admin", "buyer"]).await;
    let u = s.new_user(&t, "r@example.com").await;
    // Registering an existing user by id; the application's default roles are not forced.
    let a = s
        .call(
            "POST",
            &format!("/api/user/registration/{u}"),
            json!({"registration": {"applicationId": app, "roles": ["admin"]}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let path = format!("/api/user/registration/{u}/{app}");
    assert_eq!(
        s.get(&path).await.json["registration"]["roles"],
        json!(["admin"])
    );
    let p = s
        .call("PATCH", &path, json!({"registration": {"data": {"x": 1}}}))
        .await;
    assert_eq!(
        (
            p.json["registration"]["roles"].clone(),
            p.json["registration"]["data"]["x"].clone()
        ),
        (json!(["admin"]), json!(1))
    );
    let r = s
        .call("PUT", &path, json!({"registration": {"roles": ["buyer"]}}))
        .await;
    assert_eq!(r.json["registration"]["roles"], json!(["buyer"]));
    assert_eq!(r.json["registration"]["data"], json!({}));
    let bad = s
        .call("PUT", &path, json!({"registration": {"roles": ["nope"]}}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(s.call("DELETE", &path, json!(null)).await.status, 200);
    assert_eq!(s.get(&path).await.status, 404);
    assert_eq!(
        s.get(&format!("/api/user/{u}")).await.status,
        200,
        "the user stays"
    );
    // POST /api/user/registration/{userId} with a user creates that user with that id.
    let new_id = uuid::Uuid::new_v4();
    let c = s
        .call(
            "POST",
            &format!("/api/user/registration/{new_id}"),
            json!({"user": {"email": "byid@example.com"}, "registration": {"applicationId": app}}),
        )
        .await;
    assert_eq!(c.json["user"]["id"], new_id.to_string(), "{c:?}");
}

async fn groups_grant_roles_and_hold_members(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "shop", &["admin"]).await;
    let admin_role = s.get(&format!("/api/application/{app}")).await.json["application"]["roles"]
        [0]["id"]
        .clone();
    let g = s
        .call(
            "POST",
            "/api/group",
            json!({"group": {"name": "Admins"}, "roleIds": [admin_role]}),
        )
        .await;
    assert_eq!(g.status, 200, "{g:?}");
    assert_eq!(g.json["group"]["roles"][&app][0]["name"], "admin");
    let gid = g.json["group"]["id"].as_str().unwrap().to_string();
    let bad_role = s
        .call(
            "POST",
            "/api/group",
            json!({"group": {"name": "X"}, "roleIds": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(bad_role.field_code("roleIds"), Some("[invalid]roleIds"));
    let dup_name = s
        .call("POST", "/api/group", json!({"group": {"name": "admins"}}))
        .await;
    assert_eq!(
        dup_name.field_code("group.name"),
        Some("[duplicate]group.name")
    );

    let u = s.new_user(&t, "m@example.com").await;
    let m = s
        .call(
            "POST",
            "/api/group/member",
            json!({"members": {gid.clone(): [{"userId": u, "data": {"since": 2020}}]}}),
        )
        .await;
    assert_eq!(m.status, 200, "{m:?}");
    let member_id = m.json["members"][&gid][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let user = s.get(&format!("/api/user/{u}")).await;
    assert_eq!(user.json["user"]["memberships"][0]["groupId"], gid.as_str());
    let twice = s
        .call(
            "POST",
            "/api/group/member",
            json!({"members": {gid.clone(): [{"userId": u}]}}),
        )
        .await;
    assert_eq!(twice.status, 400, "already a member: {twice:?}");
    let ghost = s
        .call(
            "POST",
            "/api/group/member",
            json!({"members": {gid.clone(): [{"userId": uuid::Uuid::new_v4()}]}}),
        )
        .await;
    assert_eq!(ghost.status, 400);
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/group/member?memberId={member_id}"),
            json!(null)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.get(&format!("/api/user/{u}")).await.json["user"]["memberships"],
        json!([])
    );
    s.call(
        "POST",
        "/api/group/member",
        json!({"members": {gid.clone(): [{"userId": u}]}}),
    )
    .await;
    let by_body = send(
        s.req("DELETE", "/api/group/member")
            .json(&json!({"members": {gid.clone(): [u]}})),
    )
    .await;
    assert_eq!(by_body.status, 200, "{by_body:?}");
    s.call(
        "POST",
        "/api/group/member",
        json!({"members": {gid.clone(): [{"userId": u}]}}),
    )
    .await;
    assert_eq!(
        s.call("DELETE", &format!("/api/group/{gid}"), json!(null))
            .await
            .status,
        200
    );
    assert_eq!(
        s.get(&format!("/api/user/{u}")).await.json["user"]["memberships"],
        json!([]),
        "group delete drops memberships"
    );
}

async fn deleting_a_tenant_deletes_its_users(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Gone").await;
    let app = s.new_app(&t, "a", &[]).await;
    let u = s.new_user(&t, "gone@example.com").await;
    s.call(
        "POST",
        &format!("/api/user/registration/{u}"),
        json!({"registration": {"applicationId": app}}),
    )
    .await;
    assert_eq!(
        s.call("DELETE", &format!("/api/tenant/{t}"), json!(null))
            .await
            .status,
        200
    );
    assert_eq!(s.get(&format!("/api/user/{u}")).await.status, 404);
    assert_eq!(s.get(&format!("/api/application/{app}")).await.status, 404);
}

/// Ids are global, so a chosen id that another tenant's entity has cannot be created; the answer
/// is the one a duplicate in the caller's own tenant gets, byte for byte, and says nothing of
/// other tenants.
async fn a_chosen_id_of_another_tenant_answers_as_one_of_the_own_tenant(b: Backend) {
    let s = Server::start(b).await;
    let a = s.new_tenant("A").await;
    let other = s.new_tenant("B").await;
    let key_a = s.key_with(json!({"tenantId": a})).await;
    let as_a = |method: &'static str, path: String, body: serde_json::Value| {
        let s = &s;
        let key_a = key_a.clone();
        async move { send(s.req_as(&key_a, method, &path).json(&body)).await }
    };
    let in_tenant = |t: &str, path: &str, body: serde_json::Value| {
        s.req("POST", path)
            .header("X-FusionAuth-TenantId", t.to_string())
            .json(&body)
    };
    let mut ids = Vec::new();
    for t in [&a, &other] {
        let user = s.new_user(t, &format!("u@{t}.example.com")).await;
        let app = s.new_app(t, "app", &[]).await;
        let group = send(in_tenant(t, "/api/group", json!({"group": {"name": "g"}}))).await;
        let group = group.json["group"]["id"].as_str().unwrap().to_string();
        ids.push((user, app, group));
    }
    let (own, theirs) = (&ids[0], &ids[1]);
    for (label, own_id, their_id, path, body) in [
        (
            "user",
            &own.0,
            &theirs.0,
            "/api/user",
            json!({"user": {"email": "new@example.com"}}),
        ),
        (
            "application",
            &own.1,
            &theirs.1,
            "/api/application",
            json!({"application": {"name": "new"}}),
        ),
        (
            "group",
            &own.2,
            &theirs.2,
            "/api/group",
            json!({"group": {"name": "new"}}),
        ),
    ] {
        let mine = as_a("POST", format!("{path}/{own_id}"), body.clone()).await;
        let elsewhere = as_a("POST", format!("{path}/{their_id}"), body.clone()).await;
        assert_eq!(mine.status, 400, "{label}: {mine:?}");
        assert_eq!(
            (elsewhere.status, &elsewhere.text),
            (mine.status, &mine.text),
            "{label}: another tenant's id answers as one of the caller's own"
        );
        assert!(
            !elsewhere.text.to_lowercase().contains("tenant"),
            "{label}: {elsewhere:?}"
        );
        // The other tenant's entity is untouched and still invisible to the caller.
        assert_eq!(
            as_a("GET", format!("{path}/{their_id}"), json!({}))
                .await
                .status,
            404,
            "{label}"
        );
    }
    // The import names a taken id the same way, wherever the user is.
    let import = |id: &String| json!({"validateDbConstraints": true, "users": [{"id": id, "email": "imp@example.com"}]});
    let mine = as_a("POST", "/api/user/import".into(), import(&own.0)).await;
    let elsewhere = as_a("POST", "/api/user/import".into(), import(&theirs.0)).await;
    assert_eq!(mine.status, 400, "{mine:?}");
    assert_eq!(
        (elsewhere.status, elsewhere.text.replace(&theirs.0, "ID")),
        (mine.status, mine.text.replace(&own.0, "ID"))
    );
    // A tenant-locked key creates no tenant, API key or connector at all: the same 401 for a
    // taken id and a free one.
    let free = uuid::Uuid::new_v4().to_string();
    for (path, body) in [
        ("/api/tenant", json!({"tenant": {"name": "C"}})),
        ("/api/api-key", json!({"apiKey": {}})),
        (
            "/api/connector",
            json!({"connector": {"type": "Generic", "name": "c",
                   "authenticationURL": "http://127.0.0.1:9/"}}),
        ),
    ] {
        for id in [&other, &free] {
            let x = as_a("POST", format!("{path}/{id}"), body.clone()).await;
            assert_eq!((x.status, x.text.as_str()), (401, ""), "{path}/{id}");
        }
    }
    // Nothing was written in either tenant.
    for t in [&a, &other] {
        let users = send(
            s.req("GET", "/api/user?email=new@example.com")
                .header("X-FusionAuth-TenantId", t.to_string()),
        )
        .await;
        assert_eq!(users.status, 404);
        let apps = send(
            s.req("GET", "/api/application")
                .header("X-FusionAuth-TenantId", t.to_string()),
        )
        .await;
        assert_eq!(apps.json["applications"].as_array().unwrap().len(), 1);
    }
    assert_eq!(
        s.get("/api/tenant").await.json["tenants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// `{block: {field: value}}`.
fn setting(block: &str, field: &str, value: Value) -> Value {
    json!({ block: { field: value } })
}

/// Sends `settings` as a create, a replace and a patch of the entity `kind`
/// (`tenant` or `application`) at `path` and returns the three answers.
async fn save_three_ways(s: &Server, kind: &str, path: &str, settings: &Value) -> [Answer; 3] {
    // Tenant names are unique: each create gets a name of its own, the replace keeps the name.
    let mut body = json!({"name": format!("Checked {}", uuid::Uuid::new_v4())});
    for (k, v) in settings.as_object().unwrap() {
        body[k] = v.clone();
    }
    let create = s
        .call("POST", &format!("/api/{kind}"), json!({ kind: body }))
        .await;
    body["name"] = json!("Target");
    let replace = s.call("PUT", path, json!({ kind: body })).await;
    let patch = s.call("PATCH", path, json!({ kind: settings })).await;
    [create, replace, patch]
}

async fn tenant_settings_out_of_range_are_field_errors_on_create_replace_and_patch(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Target").await;
    let path = format!("/api/tenant/{t}");
    let fa = "failedAuthenticationConfiguration";
    let bad: Vec<(Value, &str)> = vec![
        (
            setting(fa, "tooManyAttempts", json!(0)),
            "failedAuthenticationConfiguration.tooManyAttempts",
        ),
        (
            setting(fa, "tooManyAttempts", json!(1001)),
            "failedAuthenticationConfiguration.tooManyAttempts",
        ),
        (
            setting(fa, "resetCountInSeconds", json!(0)),
            "failedAuthenticationConfiguration.resetCountInSeconds",
        ),
        (
            setting(fa, "resetCountInSeconds", json!(31_536_001)),
            "failedAuthenticationConfiguration.resetCountInSeconds",
        ),
        (
            json!({fa: {"actionDuration": i64::MAX, "actionDurationUnit": "WEEKS"}}),
            "failedAuthenticationConfiguration.actionDuration",
        ),
        (
            json!({fa: {"actionDuration": 522, "actionDurationUnit": "WEEKS"}}),
            "failedAuthenticationConfiguration.actionDuration",
        ),
        (
            json!({fa: {"actionDuration": 0, "actionDurationUnit": "MINUTES"}}),
            "failedAuthenticationConfiguration.actionDuration",
        ),
        (
            json!({fa: {"actionDuration": -3}}),
            "failedAuthenticationConfiguration.actionDuration",
        ),
        (
            setting(fa, "actionDuration", json!("3")),
            "failedAuthenticationConfiguration.actionDuration",
        ),
        (
            setting(fa, "actionDurationUnit", json!("FORTNIGHTS")),
            "failedAuthenticationConfiguration.actionDurationUnit",
        ),
        (
            setting("jwtConfiguration", "timeToLiveInSeconds", json!(i64::MAX)),
            "jwtConfiguration.timeToLiveInSeconds",
        ),
        (
            setting("jwtConfiguration", "timeToLiveInSeconds", json!(0)),
            "jwtConfiguration.timeToLiveInSeconds",
        ),
        (
            setting(
                "jwtConfiguration",
                "refreshTokenTimeToLiveInMinutes",
                json!(5_256_001),
            ),
            "jwtConfiguration.refreshTokenTimeToLiveInMinutes",
        ),
        (
            setting(
                "jwtConfiguration",
                "refreshTokenTimeToLiveInMinutes",
                json!(-1),
            ),
            "jwtConfiguration.refreshTokenTimeToLiveInMinutes",
        ),
        (
            setting(
                "jwtConfiguration",
                "refreshTokenUsagePolicy",
                json!("Forever"),
            ),
            "jwtConfiguration.refreshTokenUsagePolicy",
        ),
        (
            setting("passwordValidationRules", "minLength", json!(0)),
            "passwordValidationRules.minLength",
        ),
        (
            setting("passwordValidationRules", "maxLength", json!(1025)),
            "passwordValidationRules.maxLength",
        ),
        (
            json!({"passwordValidationRules": {"minLength": 12, "maxLength": 10}}),
            "passwordValidationRules.maxLength",
        ),
        (
            setting("passwordValidationRules", "requireNumber", json!("yes")),
            "passwordValidationRules.requireNumber",
        ),
        (
            setting(
                "passwordEncryptionConfiguration",
                "encryptionScheme",
                json!("rot13"),
            ),
            "passwordEncryptionConfiguration.encryptionScheme",
        ),
        (
            setting(
                "passwordEncryptionConfiguration",
                "encryptionScheme",
                json!("phpass"),
            ),
            "passwordEncryptionConfiguration.encryptionScheme",
        ),
        (
            json!({"passwordEncryptionConfiguration": {"encryptionScheme": "bcrypt", "encryptionSchemeFactor": 17}}),
            "passwordEncryptionConfiguration.encryptionSchemeFactor",
        ),
        (
            setting(
                "passwordEncryptionConfiguration",
                "encryptionSchemeFactor",
                json!(0),
            ),
            "passwordEncryptionConfiguration.encryptionSchemeFactor",
        ),
        (
            setting(
                "passwordEncryptionConfiguration",
                "maximumImportedHashCostFactor",
                json!(0),
            ),
            "passwordEncryptionConfiguration.maximumImportedHashCostFactor",
        ),
        (
            setting(
                "externalIdentifierConfiguration",
                "changePasswordIdTimeToLiveInSeconds",
                json!(604_801),
            ),
            "externalIdentifierConfiguration.changePasswordIdTimeToLiveInSeconds",
        ),
        (
            setting(
                "externalIdentifierConfiguration",
                "changePasswordIdTimeToLiveInSeconds",
                json!(0),
            ),
            "externalIdentifierConfiguration.changePasswordIdTimeToLiveInSeconds",
        ),
        (
            setting("emailConfiguration", "port", json!(70_000)),
            "emailConfiguration.port",
        ),
        (json!({fa: 5}), "failedAuthenticationConfiguration"),
    ];
    for (settings, field) in &bad {
        let field = format!("tenant.{field}");
        for (verb, a) in ["create", "replace", "patch"]
            .iter()
            .zip(save_three_ways(&s, "tenant", &path, settings).await)
        {
            assert_eq!(a.status, 400, "{verb} {settings}: {a:?}");
            assert_eq!(
                a.field_code(&field),
                Some(format!("[invalid]{field}").as_str()),
                "{verb} {settings}: {a:?}"
            );
        }
    }
    let stored = s.get(&path).await;
    assert_eq!(
        stored.json["tenant"]["name"], "Target",
        "nothing was written"
    );
    assert!(stored.json["tenant"].get(fa).is_none(), "{stored:?}");

    let good: Vec<Value> = vec![
        json!({fa: {"tooManyAttempts": 1, "resetCountInSeconds": 1, "actionDuration": 1, "actionDurationUnit": "SECONDS"}}),
        json!({fa: {"tooManyAttempts": 1000, "resetCountInSeconds": 31_536_000, "actionDuration": 521, "actionDurationUnit": "WEEKS"}}),
        json!({fa: {"actionDuration": 3650, "actionDurationUnit": "DAYS"}}),
        json!({fa: {"actionDuration": 10, "actionDurationUnit": "years"}}),
        json!({"jwtConfiguration": {"timeToLiveInSeconds": 31_536_000, "refreshTokenTimeToLiveInMinutes": 5_256_000, "refreshTokenUsagePolicy": "Reusable"}}),
        json!({"jwtConfiguration": {"timeToLiveInSeconds": 1, "refreshTokenTimeToLiveInMinutes": 1}}),
        json!({"passwordValidationRules": {"minLength": 256, "maxLength": 256}}),
        json!({"passwordValidationRules": {"minLength": 1, "maxLength": 1024, "requireNumber": true}}),
        json!({"passwordEncryptionConfiguration": {"encryptionScheme": "bcrypt", "encryptionSchemeFactor": 16, "maximumImportedHashCostFactor": 100_000}}),
        json!({"passwordEncryptionConfiguration": {"encryptionScheme": "salted-pbkdf2-hmac-sha256", "encryptionSchemeFactor": 10_000_000, "maximumImportedHashCostFactor": 1}}),
        json!({"externalIdentifierConfiguration": {"changePasswordIdTimeToLiveInSeconds": 604_800}}),
        json!({"emailConfiguration": {"port": 65_535, "security": "TLS", "verifyEmail": true}}),
    ];
    for settings in &good {
        for (verb, a) in ["create", "replace", "patch"]
            .iter()
            .zip(save_three_ways(&s, "tenant", &path, settings).await)
        {
            assert_eq!(a.status, 200, "{verb} {settings}: {a:?}");
        }
    }
}

async fn application_settings_out_of_range_are_field_errors_on_create_replace_and_patch(
    b: Backend,
) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Target", &[]).await;
    let path = format!("/api/application/{app}");
    let jwt = "jwtConfiguration";
    let bad: Vec<(Value, &str)> = vec![
        (
            json!({jwt: {"enabled": true, "timeToLiveInSeconds": i64::MAX}}),
            "jwtConfiguration.timeToLiveInSeconds",
        ),
        (
            json!({jwt: {"enabled": true, "timeToLiveInSeconds": 0}}),
            "jwtConfiguration.timeToLiveInSeconds",
        ),
        (
            json!({jwt: {"enabled": true, "refreshTokenTimeToLiveInMinutes": i64::MAX}}),
            "jwtConfiguration.refreshTokenTimeToLiveInMinutes",
        ),
        (json!({jwt: {"enabled": "yes"}}), "jwtConfiguration.enabled"),
        (
            json!({jwt: {"refreshTokenUsagePolicy": 3}}),
            "jwtConfiguration.refreshTokenUsagePolicy",
        ),
        (
            json!({"loginConfiguration": {"generateRefreshTokens": 1}}),
            "loginConfiguration.generateRefreshTokens",
        ),
    ];
    for (settings, field) in &bad {
        let field = format!("application.{field}");
        for (verb, a) in ["create", "replace", "patch"]
            .iter()
            .zip(save_three_ways(&s, "application", &path, settings).await)
        {
            assert_eq!(a.status, 400, "{verb} {settings}: {a:?}");
            assert_eq!(
                a.field_code(&field),
                Some(format!("[invalid]{field}").as_str()),
                "{verb} {settings}: {a:?}"
            );
        }
    }
    let stored = s.get(&path).await;
    assert!(stored.json["application"].get(jwt).is_none(), "{stored:?}");
    let good = [
        json!({jwt: {"enabled": true, "timeToLiveInSeconds": 31_536_000, "refreshTokenTimeToLiveInMinutes": 5_256_000}}),
        json!({jwt: {"enabled": false, "timeToLiveInSeconds": 1, "refreshTokenUsagePolicy": "OneTimeUse"}, "loginConfiguration": {"generateRefreshTokens": true}}),
    ];
    for settings in &good {
        for (verb, a) in ["create", "replace", "patch"]
            .iter()
            .zip(save_three_ways(&s, "application", &path, settings).await)
        {
            assert_eq!(a.status, 200, "{verb} {settings}: {a:?}");
        }
    }
}

/// A role deleted from an application (by the role API or by replacing the application without
/// it) leaves every registration of that application and every group that held it; the same
/// role name on another application stays.
async fn a_deleted_role_leaves_registrations_and_groups(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "crm", &["admin", "viewer", "editor"]).await;
    let other = s.new_app(&t, "wiki", &["admin"]).await;
    let roles =
        s.get(&format!("/api/application/{app}")).await.json["application"]["roles"].clone();
    let role = |name: &str| {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (admin, viewer, editor) = (role("admin"), role("viewer"), role("editor"));
    let group = s
        .call(
            "POST",
            "/api/group",
            json!({"group": {"name": "staff"}, "roleIds": [admin, viewer]}),
        )
        .await;
    assert_eq!(group.status, 200, "{group:?}");
    let group = group.json["group"]["id"].as_str().unwrap().to_string();
    let user = s.new_user(&t, "roles@example.com").await;
    for (application, names) in [
        (&app, json!(["admin", "viewer", "editor"])),
        (&other, json!(["admin"])),
    ] {
        let r = s
            .call(
                "POST",
                &format!("/api/user/registration/{user}"),
                json!({"registration": {"applicationId": application, "roles": names}}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }

    let gone = s
        .call(
            "DELETE",
            &format!("/api/application/{app}/role/{admin}"),
            json!(null),
        )
        .await;
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(roles_of(&s, &user, &app).await, json!(["viewer", "editor"]));
    assert_eq!(
        roles_of(&s, &user, &other).await,
        json!(["admin"]),
        "another application's role of the same name stays"
    );
    let g = s.get(&format!("/api/group/{group}")).await;
    assert_eq!(g.json["group"]["roleIds"], json!([viewer]), "{g:?}");

    // Replacing the application without a role removes it the same way.
    let mut a = s.get(&format!("/api/application/{app}")).await.json["application"].clone();
    a["roles"] = json!([{"id": editor, "name": "editor"}]);
    let put = s
        .call(
            "PUT",
            &format!("/api/application/{app}"),
            json!({"application": a}),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(roles_of(&s, &user, &app).await, json!(["editor"]));
    let g = s.get(&format!("/api/group/{group}")).await;
    assert_eq!(g.json["group"]["roleIds"], json!([]), "{g:?}");
}

async fn roles_of(s: &Server, user: &str, application: &str) -> Value {
    let path = format!("/api/user/registration/{user}/{application}");
    s.get(&path).await.json["registration"]["roles"].clone()
}
