//! Every malformed request gets a precise status and a JSON error, and writes nothing.

use crate::support::*;
use portcullis_domain::Store;
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    malformed_json_is_400_naming_the_position,
    json_of_the_wrong_shape_is_400,
    body_over_the_limit_is_413_with_a_json_error,
    unknown_application_in_a_registration_is_a_field_error_and_creates_no_user,
    unknown_role_in_a_registration_is_a_field_error,
    duplicate_email_is_rejected_case_insensitively,
    duplicate_username_is_rejected,
    user_needs_an_email_or_a_username,
    invalid_email_and_birth_date_are_field_errors,
    short_password_is_a_field_error_and_creates_no_user,
    invalid_uuid_in_a_path_is_400,
    a_malformed_id_gets_the_same_body_on_every_route_and_method,
    user_search_is_not_read_as_a_user_id,
    a_query_value_of_the_wrong_type_is_a_json_400,
    creating_an_existing_id_is_a_duplicate,
    ambiguous_tenant_is_tenant_id_required,
    patch_without_its_root_object_is_400,
    bad_identifiers_in_users_are_field_errors_on_every_path_and_write_nothing,
    bad_names_keys_and_path_ids_are_field_errors_and_write_nothing,
);

async fn malformed_json_is_400_naming_the_position(b: Backend) {
    let s = Server::start(b).await;
    let a = send(
        s.req("POST", "/api/user")
            .header("content-type", "application/json")
            .body("{\"user\": {\"email\": \"a@b.c\",, }}"),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.general_code(), Some("[invalidJSON]"));
    let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("line 1 column 28"), "{msg}");
}

async fn json_of_the_wrong_shape_is_400(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call("POST", "/api/user", json!({"user": {"email": 42}}))
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.general_code(), Some("[invalidJSON]"));
    let a = s.call("POST", "/api/user", json!([1, 2])).await;
    assert_eq!(a.status, 400);
}

async fn body_over_the_limit_is_413_with_a_json_error(b: Backend) {
    let s = Server::start(b).await;
    let big = "x".repeat(BODY_LIMIT + 1);
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "a@b.c", "data": {"blob": big}}}),
        )
        .await;
    assert_eq!(a.status, 413);
    assert_eq!(a.general_code(), Some("[RequestTooLarge]"));
    assert_eq!(s.get("/api/user?email=a@b.c").await.status, 404);
}

async fn unknown_application_in_a_registration_is_a_field_error_and_creates_no_user(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({"user": {"email": "new@example.com", "password": "password1"},
                   "registration": {"applicationId": uuid::Uuid::new_v4()}}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("registration.applicationId"),
        Some("[invalid]registration.applicationId")
    );
    assert_eq!(s.get("/api/user?email=new@example.com").await.status, 404);
}

async fn unknown_role_in_a_registration_is_a_field_error(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "shop", &["admin"]).await;
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({"user": {"email": "r@example.com"},
                   "registration": {"applicationId": app, "roles": ["admin", "root"]}}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("registration.roles"),
        Some("[invalid]registration.roles")
    );
    assert_eq!(s.get("/api/user?email=r@example.com").await.status, 404);
}

async fn duplicate_email_is_rejected_case_insensitively(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    s.new_user(&t, "Dup@Example.com").await;
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "dup@EXAMPLE.com"}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("user.email"), Some("[duplicate]user.email"));
    // Through an update too: a second user cannot take the first one's email.
    let other = s.new_user(&t, "other@example.com").await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/user/{other}"),
            json!({"user": {"email": "DUP@example.com"}}),
        )
        .await;
    assert_eq!(a.field_code("user.email"), Some("[duplicate]user.email"));
    let kept = s.get(&format!("/api/user/{other}")).await;
    assert_eq!(kept.json["user"]["email"], "other@example.com");
}

async fn duplicate_username_is_rejected(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call("POST", "/api/user", json!({"user": {"username": "Neo"}}))
        .await;
    assert_eq!(a.status, 200);
    let a = s
        .call("POST", "/api/user", json!({"user": {"username": "neo"}}))
        .await;
    assert_eq!(
        a.field_code("user.username"),
        Some("[duplicate]user.username")
    );
}

async fn user_needs_an_email_or_a_username(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call("POST", "/api/user", json!({"user": {"firstName": "Ann"}}))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("user.email"), Some("[blank]user.email"));
    assert_eq!(a.field_code("user.username"), Some("[blank]user.username"));
}

async fn invalid_email_and_birth_date_are_field_errors(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "not-an-email", "birthDate": "1990-02-30"}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("user.email"), Some("[notEmail]user.email"));
    assert_eq!(
        a.field_code("user.birthDate"),
        Some("[invalid]user.birthDate")
    );
}

async fn short_password_is_a_field_error_and_creates_no_user(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "p@example.com", "password": "short"}}),
        )
        .await;
    assert_eq!(
        a.field_code("user.password"),
        Some("[tooShort]user.password")
    );
    assert_eq!(s.get("/api/user?email=p@example.com").await.status, 404);
}

async fn invalid_uuid_in_a_path_is_400(b: Backend) {
    let s = Server::start(b).await;
    for path in [
        "/api/user/not-a-uuid",
        "/api/tenant/123",
        "/api/application/x",
        "/api/group/x",
        "/api/user/registration/x/y",
        "/api/api-key/x",
    ] {
        let a = s.get(path).await;
        assert_eq!(a.status, 400, "{path}: {a:?}");
        assert!(
            a.json["fieldErrors"]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
}

/// One body for a malformed path id, whatever the route, the method and the id's position:
/// `fieldErrors` keyed by the parameter's name in the route, code `[invalid]<name>`, the id quoted.
async fn a_malformed_id_gets_the_same_body_on_every_route_and_method(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &[]).await;
    let some = uuid::Uuid::new_v4();
    let cases = [
        ("GET", "/api/tenant/nope".to_string(), "tenantId"),
        ("PUT", "/api/application/nope".to_string(), "applicationId"),
        ("PATCH", "/api/group/nope".to_string(), "groupId"),
        ("DELETE", "/api/user/nope".to_string(), "userId"),
        ("POST", "/api/user/nope".to_string(), "userId"),
        ("POST", "/api/api-key/nope".to_string(), "keyId"),
        ("GET", "/api/connector/nope".to_string(), "connectorId"),
        ("GET", "/api/user/import/job/nope".to_string(), "jobId"),
        ("POST", "/api/user/registration/nope".to_string(), "userId"),
        (
            "GET",
            format!("/api/user/registration/{some}/nope"),
            "applicationId",
        ),
        (
            "DELETE",
            format!("/api/application/{app}/role/nope"),
            "roleId",
        ),
        (
            "POST",
            "/api/application/nope/role".to_string(),
            "applicationId",
        ),
    ];
    for (method, path, name) in cases {
        let a = s.call(method, &path, json!({})).await;
        assert_eq!(a.status, 400, "{method} {path}: {}", short(&a));
        assert_eq!(
            a.json,
            json!({"fieldErrors": {name: [{
                "code": format!("[invalid]{name}"),
                "message": "[nope] is not a valid UUID."
            }]}, "generalErrors": []}),
            "{method} {path}"
        );
    }
}

/// `/api/user/search` is FusionAuth's user search: a body that is not a search is a 400, a
/// method it does not take is refused, and nothing is ever created or looked up with the id
/// `search`.
async fn user_search_is_not_read_as_a_user_id(b: Backend) {
    let s = Server::start(b).await;
    for (method, body, code) in [
        (
            "POST",
            json!({"user": {"email": "search@example.com"}}),
            "[missing]search",
        ),
        ("GET", json!({}), "[missing]search"),
    ] {
        let a = s.call(method, "/api/user/search", body).await;
        assert_eq!(a.status, 400, "{method}: {}", short(&a));
        assert_eq!(
            a.field_code("search"),
            Some(code),
            "{method}: {}",
            short(&a)
        );
    }
    let a = s
        .call(
            "PUT",
            "/api/user/search",
            json!({"user": {"email": "search@example.com"}}),
        )
        .await;
    assert_eq!(a.status, 405, "PUT: {}", short(&a));
    let a = s
        .call(
            "POST",
            "/api/user/search",
            json!({"search": {"queryString": "*"}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", short(&a));
    assert_eq!(
        s.get("/api/user?email=search@example.com").await.status,
        404
    );
}

/// A query value that does not parse is FusionAuth's JSON 400, as a bad body is.
async fn a_query_value_of_the_wrong_type_is_a_json_400(b: Backend) {
    let s = Server::start(b).await;
    for path in [
        "/api/application?inactive=maybe",
        "/api/migration/status?legacyCount=many",
    ] {
        let a = s.get(path).await;
        assert_eq!(
            (a.status, a.general_code()),
            (400, Some("[invalid]query")),
            "{path}: {}",
            short(&a)
        );
    }
}

async fn creating_an_existing_id_is_a_duplicate(b: Backend) {
    let s = Server::start(b).await;
    let id = uuid::Uuid::new_v4();
    let body = json!({"user": {"email": "id@example.com"}});
    assert_eq!(
        s.call("POST", &format!("/api/user/{id}"), body)
            .await
            .status,
        200
    );
    let a = s
        .call(
            "POST",
            &format!("/api/user/{id}"),
            json!({"user": {"email": "id2@example.com"}}),
        )
        .await;
    assert_eq!(a.field_code("user.id"), Some("[duplicate]user.id"));
    let t = s.default_tenant().await;
    let a = s
        .call(
            "POST",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"name": "again"}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("tenant.id"), Some("[duplicate]tenant.id"));
}

async fn ambiguous_tenant_is_tenant_id_required(b: Backend) {
    let s = Server::start(b).await;
    s.new_tenant("second").await;
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "x@example.com"}}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.general_code(), Some("[TenantIdRequired]"));
    let a = send(
        s.req("GET", "/api/user")
            .header("X-FusionAuth-TenantId", "nope"),
    )
    .await;
    assert_eq!(a.status, 400);
    let a = send(
        s.req("GET", "/api/user?email=x@example.com")
            .header("X-FusionAuth-TenantId", uuid::Uuid::new_v4().to_string()),
    )
    .await;
    assert_eq!(
        a.status, 400,
        "an unknown tenant id in the header is refused: {a:?}"
    );
}

async fn patch_without_its_root_object_is_400(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let u = s.new_user(&t, "patch@example.com").await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/user/{u}"),
            json!({"email": "x@y.z"}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("user"), Some("[missing]user"));
}

/// Truncates a long answer for an assertion message.
fn short(a: &Answer) -> &str {
    &a.text[..a.text.len().min(300)]
}

async fn bad_identifiers_in_users_are_field_errors_on_every_path_and_write_nothing(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "shop", &[]).await;
    let kept = s.new_user(&t, "kept@example.com").await;
    let before = s.get(&format!("/api/user/{kept}")).await.json;
    // Just over each bound, and far over (more than a PostgreSQL index row holds).
    let email_321 = format!("{}@example.com", "e".repeat(321 - 12));
    let email_4k = format!("{}@example.com", "e".repeat(4000));
    let cases = [
        (
            json!({"email": "a\u{0}b@example.com"}),
            "user.email",
            "[invalid]user.email",
        ),
        (
            json!({"email": "a\u{1b}b@example.com"}),
            "user.email",
            "[invalid]user.email",
        ),
        (
            json!({"email": "ab@example.com\u{85}"}),
            "user.email",
            "[invalid]user.email",
        ),
        (
            json!({"email": email_321}),
            "user.email",
            "[tooLong]user.email",
        ),
        (
            json!({"email": email_4k}),
            "user.email",
            "[tooLong]user.email",
        ),
        (
            json!({"username": "neo\u{0}"}),
            "user.username",
            "[invalid]user.username",
        ),
        (
            json!({"username": "ne\u{8}o"}),
            "user.username",
            "[invalid]user.username",
        ),
        (
            json!({"username": "n".repeat(256)}),
            "user.username",
            "[tooLong]user.username",
        ),
        (
            json!({"username": "n".repeat(4000)}),
            "user.username",
            "[tooLong]user.username",
        ),
        // Free text may hold a newline, never a NUL (PostgreSQL cannot read it as jsonb).
        (
            json!({"email": "new@example.com", "firstName": "A\u{0}"}),
            "user.firstName",
            "[invalid]user.firstName",
        ),
        (
            json!({"email": "new@example.com", "data": {"k": ["x", "y\u{0}"]}}),
            "user.data",
            "[invalid]user.data",
        ),
        (
            json!({"email": "new@example.com", "data": {"k\u{0}": 1}}),
            "user.data",
            "[invalid]user.data",
        ),
    ];
    for (user, field, code) in &cases {
        let what = format!("{:.60}", user.to_string());
        let id = uuid::Uuid::new_v4();
        for (method, path, body) in [
            ("POST", "/api/user".to_string(), json!({"user": user})),
            ("POST", format!("/api/user/{id}"), json!({"user": user})),
            ("PUT", format!("/api/user/{kept}"), json!({"user": user})),
            ("PATCH", format!("/api/user/{kept}"), json!({"user": user})),
            (
                "POST",
                "/api/user/registration".to_string(),
                json!({"user": user, "registration": {"applicationId": app}}),
            ),
            (
                "POST",
                format!("/api/user/registration/{id}"),
                json!({"user": user, "registration": {"applicationId": app}}),
            ),
        ] {
            let a = s.call(method, &path, body).await;
            assert_eq!(
                (a.status, a.field_code(field)),
                (400, Some(*code)),
                "{method} {path} {what}: {}",
                short(&a)
            );
        }
        assert_eq!(
            s.get(&format!("/api/user/{id}")).await.status,
            404,
            "{what}"
        );
    }
    // Look-ups refuse what no user can have, before the store sees it.
    for (param, value, code) in [
        ("email", "a\u{0}b@example.com", "[invalid]email"),
        ("email", email_321.as_str(), "[tooLong]email"),
        ("username", "neo\u{0}", "[invalid]username"),
        ("username", &"n".repeat(256), "[tooLong]username"),
        ("loginId", "ne\u{1}o", "[invalid]loginId"),
        ("loginId", email_321.as_str(), "[tooLong]loginId"),
    ] {
        let a = send(s.req("GET", "/api/user").query(&[(param, value)])).await;
        assert_eq!(
            (a.status, a.field_code(param)),
            (400, Some(code)),
            "?{param}: {}",
            short(&a)
        );
    }
    // Nothing was written: the one user is as it was, and no other exists.
    assert_eq!(s.get(&format!("/api/user/{kept}")).await.json, before);
    assert_eq!(s.get("/api/user?email=new@example.com").await.status, 404);
    let all =
        s.db.store
            .find_users(
                t.parse().unwrap(),
                &[],
                &["kept@example.com".into(), "new@example.com".into()],
                &[],
            )
            .await
            .unwrap();
    assert_eq!(all.len(), 1);
    // The bounds are inclusive.
    let email_320 = format!("{}@example.com", "e".repeat(320 - 12));
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": email_320, "username": "n".repeat(255)}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", short(&a));
    assert_eq!(
        send(s.req("GET", "/api/user").query(&[("loginId", &email_320)]))
            .await
            .status,
        200
    );
}

async fn bad_names_keys_and_path_ids_are_field_errors_and_write_nothing(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let long = "x".repeat(4000);
    let cases = [
        (
            "POST",
            "/api/tenant",
            json!({"tenant": {"name": "T\u{0}"}}),
            "tenant.name",
            "[invalid]tenant.name",
        ),
        (
            "POST",
            "/api/tenant",
            json!({"tenant": {"name": "T\u{7}"}}),
            "tenant.name",
            "[invalid]tenant.name",
        ),
        (
            "POST",
            "/api/tenant",
            json!({"tenant": {"name": long}}),
            "tenant.name",
            "[tooLong]tenant.name",
        ),
        (
            "POST",
            "/api/tenant",
            json!({"tenant": {"name": "x".repeat(256)}}),
            "tenant.name",
            "[tooLong]tenant.name",
        ),
        (
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"name": "T\u{0}"}}),
            "tenant.name",
            "[invalid]tenant.name",
        ),
        (
            "POST",
            "/api/application",
            json!({"application": {"name": "A\u{0}"}}),
            "application.name",
            "[invalid]application.name",
        ),
        (
            "POST",
            "/api/application",
            json!({"application": {"name": long}}),
            "application.name",
            "[tooLong]application.name",
        ),
        (
            "POST",
            "/api/application",
            json!({"application": {"name": "A", "roles": [{"name": "r\u{0}"}]}}),
            "role.name",
            "[invalid]role.name",
        ),
        (
            "POST",
            "/api/group",
            json!({"group": {"name": "G\u{0}"}}),
            "group.name",
            "[invalid]group.name",
        ),
        (
            "POST",
            "/api/group",
            json!({"group": {"name": long}}),
            "group.name",
            "[tooLong]group.name",
        ),
        (
            "POST",
            "/api/api-key",
            json!({"apiKey": {"key": "0123456789abcdef\u{0}"}}),
            "apiKey.key",
            "[invalid]apiKey.key",
        ),
        (
            "POST",
            "/api/api-key",
            json!({"apiKey": {"key": "0123456789abcdef\u{1}"}}),
            "apiKey.key",
            "[invalid]apiKey.key",
        ),
    ];
    for (method, path, body, field, code) in cases {
        let a = s.call(method, path, body).await;
        assert_eq!(
            (a.status, a.field_code(field)),
            (400, Some(code)),
            "{method} {path} {code}: {}",
            short(&a)
        );
    }
    // A signing key's id is the one id in a path that is not a UUID.
    for method in ["GET", "DELETE"] {
        let a = send(s.req(method, "/api/key/a%00b")).await;
        assert_eq!(
            (a.status, a.field_code("keyId")),
            (400, Some("[invalid]keyId")),
            "{method}: {}",
            short(&a)
        );
    }
    let a = send(s.req("GET", &format!("/api/key/{long}"))).await;
    assert_eq!(
        a.field_code("keyId"),
        Some("[tooLong]keyId"),
        "{}",
        short(&a)
    );
    // Nothing was written.
    assert_eq!(
        s.get("/api/tenant").await.json["tenants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let tenant = s.get(&format!("/api/tenant/{t}")).await;
    assert_eq!(tenant.json["tenant"]["name"], "Default");
    let apps = s.get("/api/application").await;
    assert_eq!(apps.json["applications"].as_array().unwrap().len(), 1);
    let groups = s.get("/api/group").await;
    assert_eq!(groups.json["groups"].as_array().map_or(0, Vec::len), 0);
    assert_eq!(s.db.store.api_keys().await.unwrap().len(), 1);
}
