//! `POST /api/user/import`: FusionAuth's documented body works unchanged; every failure names
//! the user and writes nothing.

use crate::support::*;
use portcullis_domain::{Scope, Store};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use uuid::Uuid;

portcullis_store::on_both_backends!(
    fusionauths_documented_example_imports_unchanged,
    plaintext_passwords_are_hashed_and_hashes_are_kept,
    plaintext_passwords_meet_the_tenants_password_rules,
    empty_users_is_missing_users,
    each_bad_user_is_named_by_index_and_nothing_is_written,
    bad_identifiers_are_named_by_index_with_every_option_and_nothing_is_written,
    duplicate_email_at_index_73412_of_100k_is_named_and_nothing_is_written,
    users_already_stored_are_named_with_validate_db_constraints,
    users_already_stored_fail_cleanly_without_validate_db_constraints,
    import_body_over_the_limit_says_to_split_the_file,
    upsert_updates_users_matched_by_id_email_or_username_and_keeps_omitted_fields,
    upsert_replaces_the_password_and_the_new_one_logs_in,
    upsert_creates_and_updates_in_one_request_and_merges_registrations,
    upsert_still_refuses_duplicates_and_conflicts_and_writes_nothing,
    import_records_one_user_bulk_create_event_without_secrets,
    appended_events_read_back_newest_first_by_tenant_and_type,
    a_hash_costlier_than_the_tenant_allows_is_named_by_index_until_the_limit_is_raised,
    concurrent_imports_beyond_the_budget_are_told_to_retry_and_the_others_land,
    malformed_json_anywhere_in_a_request_is_named_and_nothing_is_written,
);

const APP: &str = "00000000-0000-0000-0000-000000000002";
const GROUP: &str = "2cb5c83f-53ff-4d16-88bd-c5e3802111a5";

/// The request body of FusionAuth's migration guide, byte for byte in substance.
fn documented_example() -> Value {
    json!({"users": [{
        "active": true, "birthDate": "1976-05-30",
        "data": {"displayName": "Johnny Boy", "favoriteColors": ["Red", "Blue"]},
        "email": "example@fusionauth.io", "encryptionScheme": "salted-sha256",
        "expiry": 1571786483322_i64, "factor": 24000, "firstName": "John", "fullName": "John Doe",
        "imageUrl": "http://65.media.tumblr.com/tumblr_l7dbl0MHbU1qz50x3o1_500.png",
        "insertInstant": 1331449200000_i64, "lastName": "Doe",
        "memberships": [{"data": {"externalId": "cc6714c6-286c-411c-a6bc-ee413cda1dbc"}, "groupId": GROUP}],
        "middleName": "William", "mobilePhone": "303-555-1234",
        "password": "5ac152b6f8bdb8bb12959548d542cb237c4a730064bf88bbb8dd6e204912baad",
        "passwordChangeRequired": false, "preferredLanguages": ["en", "fr"],
        "registrations": [{"applicationId": APP, "data": {"birthplace": "Bremen"},
            "insertInstant": 1331449200000_i64, "preferredLanguages": ["de"], "roles": ["moderator"],
            "username": "Mausebär", "verified": true}],
        "salt": "NDdiYWZkZDMtYjk5ZC00ZmZkLWE1YmUtZTQxNGM4MDkwNWYw", "timezone": "America/Denver",
        "twoFactor": {"methods": [
            {"authenticator": {"algorithm": "HmacSHA1", "codeLength": 6, "timeStep": 30},
             "secret": "aGVsbG8Kd29ybGQKaGVsbG8gaGVsbG8=", "method": "authenticator"},
            {"method": "sms", "mobilePhone": "555-555-5555"},
            {"method": "email", "email": "example@fusionauth.io"}]},
        "usernameStatus": "ACTIVE", "username": "johnny123", "verified": true
    }]})
}

async fn with_app_and_group(s: &Server) {
    let a = s
        .call(
            "POST",
            &format!("/api/application/{APP}"),
            json!({"application": {"name": "Forum", "roles": [{"name": "moderator"}]}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let g = s
        .call(
            "POST",
            &format!("/api/group/{GROUP}"),
            json!({"group": {"name": "Staff"}}),
        )
        .await;
    assert_eq!(g.status, 200, "{g:?}");
}

async fn fusionauths_documented_example_imports_unchanged(b: Backend) {
    let s = Server::start(b).await;
    with_app_and_group(&s).await;
    let a = s
        .call("POST", "/api/user/import", documented_example())
        .await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (200, ""),
        "FusionAuth's empty success body"
    );
    let u = s.get("/api/user?email=example@fusionauth.io").await;
    let user = &u.json["user"];
    assert_eq!(user["username"], "johnny123");
    assert_eq!(
        user["insertInstant"], 1331449200000_i64,
        "the legacy insertInstant is kept"
    );
    assert_eq!(user["data"]["favoriteColors"], json!(["Red", "Blue"]));
    assert_eq!(user["registrations"][0]["roles"], json!(["moderator"]));
    assert_eq!(user["registrations"][0]["username"], "Mausebär");
    assert_eq!(user["memberships"][0]["groupId"], GROUP);
    assert_eq!(user["twoFactor"]["methods"].as_array().unwrap().len(), 3);
    assert!(user["twoFactor"]["methods"][0].get("secret").is_none());
    assert!(
        !u.text.contains("5ac152b6"),
        "the hash never leaves the server"
    );
    let id = user["id"].as_str().unwrap().parse().unwrap();
    let stored = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    let c = stored.credential.unwrap();
    assert_eq!((c.scheme.as_str(), c.factor), ("salted-sha256", 24000));
}

/// A plaintext password in an import meets the tenant's `passwordValidationRules`, as on user
/// create; an imported hash is not a password and is not checked against them.
async fn plaintext_passwords_meet_the_tenants_password_rules(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let rules =
        json!({"tenant": {"passwordValidationRules": {"minLength": 12, "requireNumber": true}}});
    let a = s.call("PATCH", &format!("/api/tenant/{t}"), rules).await;
    assert_eq!(a.status, 200, "{a:?}");
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let import = |second: &str| {
        json!({"users": [
            {"email": "hashed@example.com", "password": bcrypt, "encryptionScheme": "bcrypt"},
            {"email": "plain@example.com", "password": second},
        ]})
    };
    let weak = s
        .call("POST", "/api/user/import", import("no digits at all"))
        .await;
    assert_eq!(weak.status, 400, "{weak:?}");
    assert_eq!(
        weak.field_code("users[1].password"),
        Some("[requireNumber]users[1].password"),
        "{weak:?}"
    );
    assert!(
        weak.json["fieldErrors"].get("users[0].password").is_none(),
        "{weak:?}"
    );
    let short = s.call("POST", "/api/user/import", import("short 1")).await;
    assert_eq!(
        short.field_code("users[1].password"),
        Some("[tooShort]users[1].password"),
        "{short:?}"
    );
    let tenant = t.parse().unwrap();
    assert!(
        s.db.store
            .user_by_email(tenant, "hashed@example.com")
            .await
            .unwrap()
            .is_none(),
        "a refused import writes no user"
    );
    let ok = s
        .call("POST", "/api/user/import", import("twelve chars 1"))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

async fn plaintext_passwords_are_hashed_and_hashes_are_kept(b: Backend) {
    let s = Server::start(b).await;
    // A PHP password_hash() vector from the hash catalog's fixtures.
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [
                {"email": "plain@example.com", "password": "plaintext-password"},
                {"email": "php@example.com", "password": bcrypt, "encryptionScheme": "bcrypt"},
                {"username": "nopassword"},
                // salted-sha256 with the digest in hex (PHP's hash()), factor 3, computed with
                // Python's hashlib: sha256(pw ‖ salt), then sha256 twice more.
                {"email": "hex@example.com", "encryptionScheme": "salted-sha256", "factor": 3,
                 "salt": "bGVnYWN5LXNhbHQtMTIzNA==",
                 "password": "5b2b9ac8e15afc6f8fb61d80fb6732a8d14ccda4d52fea9ee86ae718f69ddfa8"}
            ]}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let plain =
        s.db.store
            .user_by_email(
                s.default_tenant().await.parse().unwrap(),
                "plain@example.com",
            )
            .await
            .unwrap()
            .unwrap();
    let c = plain.credential.unwrap();
    assert_eq!(c.scheme, "argon2id");
    assert!(portcullis_hash::verify(&c, b"plaintext-password"));
    let php =
        s.db.store
            .user_by_email(s.default_tenant().await.parse().unwrap(), "php@example.com")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(php.credential.unwrap().hash, bcrypt);
    let hex =
        s.db.store
            .user_by_email(s.default_tenant().await.parse().unwrap(), "hex@example.com")
            .await
            .unwrap()
            .unwrap();
    let c = hex.credential.unwrap();
    assert!(portcullis_hash::verify(&c, b"hex-password"));
    assert!(!portcullis_hash::verify(&c, b"hex-passwore"));
}

async fn empty_users_is_missing_users(b: Backend) {
    let s = Server::start(b).await;
    let a = s
        .call("POST", "/api/user/import", json!({"users": []}))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("users"), Some("[missing]users"));
    let a = s.call("POST", "/api/user/import", json!({})).await;
    assert_eq!(a.field_code("users"), Some("[missing]users"));
}

async fn each_bad_user_is_named_by_index_and_nothing_is_written(b: Backend) {
    let s = Server::start(b).await;
    with_app_and_group(&s).await;
    let a = s
        .call("POST", "/api/user/import", json!({"users": [
            {"email": "fine@example.com"},
            {"firstName": "no email nor username"},
            {"email": "noapp@example.com", "registrations": [{"roles": ["moderator"]}]},
            {"email": "wrongprefix@example.com", "encryptionScheme": "bcrypt",
             "password": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
            {"email": "badsalt@example.com", "encryptionScheme": "salted-sha256", "factor": 1,
             "salt": "not base64!!", "password": "aGFzaA=="},
            {"email": "unknown@example.com", "encryptionScheme": "rot13", "password": "x"},
            {"email": "ghost@example.com", "memberships": [{"groupId": uuid::Uuid::new_v4()}]},
            {"email": "role@example.com", "registrations": [{"applicationId": APP, "roles": ["admin"]}]}
        ]}))
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.general_code(), Some("[ImportRequestFailed]"));
    assert_eq!(
        a.field_code("users[1].email"),
        Some("[blank]users[1].email")
    );
    assert_eq!(
        a.field_code("users[2].registrations[0].applicationId"),
        Some("[blank]users[2].registrations[0].applicationId")
    );
    for i in [3, 4, 5] {
        assert_eq!(
            a.field_code(&format!("users[{i}].password")),
            Some("[invalid]user.password"),
            "users[{i}]: {a:?}"
        );
    }
    assert_eq!(
        a.field_code("users[6].memberships[0].groupId"),
        Some("[invalid]membership.groupId")
    );
    assert_eq!(
        a.field_code("users[7].registrations[0].roles"),
        Some("[invalid]users[7].registrations[0].roles")
    );
    assert!(
        a.json["fieldErrors"].get("users[0].email").is_none(),
        "the good user is not blamed"
    );
    assert_eq!(
        s.get("/api/user?email=fine@example.com").await.status,
        404,
        "nothing was written"
    );
}

async fn bad_identifiers_are_named_by_index_with_every_option_and_nothing_is_written(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let stored = s.new_user(&t, "stored@example.com").await;
    let before = s.get(&format!("/api/user/{stored}")).await.json;
    let users = json!([
        {"email": "fine@example.com"},
        {"email": "a\u{0}b@example.com"},
        {"username": "ne\u{1}o"},
        {"email": format!("{}@example.com", "e".repeat(4000))},
        {"username": "n".repeat(256)},
        {"email": "text@example.com", "firstName": "A\u{0}"},
        {"email": "stored@example.com", "username": "ne\u{0}o"},
    ]);
    let expected = [
        ("users[1].email", "[invalid]users[1].email"),
        ("users[2].username", "[invalid]users[2].username"),
        ("users[3].email", "[tooLong]users[3].email"),
        ("users[4].username", "[tooLong]users[4].username"),
        ("users[5].firstName", "[invalid]users[5].firstName"),
        ("users[6].username", "[invalid]users[6].username"),
    ];
    // Whether or not the store is asked (validateDbConstraints, upsert's matching), a bad value
    // is named and never reaches a statement.
    for (validate_db, upsert) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = s
            .call(
                "POST",
                "/api/user/import",
                json!({"users": users, "validateDbConstraints": validate_db, "upsert": upsert}),
            )
            .await;
        let what = format!("validateDbConstraints {validate_db}, upsert {upsert}");
        assert_eq!(a.status, 400, "{what}: {:.400}", a.text);
        assert_eq!(a.general_code(), Some("[ImportRequestFailed]"), "{what}");
        for (field, code) in expected {
            assert_eq!(a.field_code(field), Some(code), "{what}: {:.400}", a.text);
        }
        assert!(
            a.json["fieldErrors"].get("users[0].email").is_none(),
            "{what}: the good user is not blamed"
        );
    }
    // A stored user updated by id is checked once merged.
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"upsert": true, "users": [{"id": stored, "email": "st\u{0}red@example.com"}]}),
        )
        .await;
    assert_eq!(
        (a.status, a.field_code("users[0].email")),
        (400, Some("[invalid]users[0].email")),
        "{:.400}",
        a.text
    );
    assert_eq!(s.get("/api/user?email=fine@example.com").await.status, 404);
    assert_eq!(s.get(&format!("/api/user/{stored}")).await.json, before);
}

async fn duplicate_email_at_index_73412_of_100k_is_named_and_nothing_is_written(b: Backend) {
    let s = Server::start(b).await;
    let mut users: Vec<Value> = (0..100_000)
        .map(|i| json!({"email": format!("user{i}@example.com")}))
        .collect();
    users[73_412] = json!({"email": "USER17@example.com"});
    users[90_000] = json!({"email": "user17@Example.com"});
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": users, "validateDbConstraints": true}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.field_code("users[73412].email"),
        Some("[duplicate]user.email")
    );
    let msg = a.json["fieldErrors"]["users[73412].email"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.contains("USER17@example.com") && msg.contains("users[17]"),
        "{msg}"
    );
    // A third user with the email is named against the first, not the second.
    let msg = a.json["fieldErrors"]["users[90000].email"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.contains("user17@Example.com") && msg.contains("users[17]"),
        "{msg}"
    );
    assert_eq!(
        a.json["fieldErrors"].as_object().unwrap().len(),
        2,
        "only the duplicates are blamed"
    );
    assert_eq!(s.get("/api/user?email=user0@example.com").await.status, 404);
}

async fn users_already_stored_are_named_with_validate_db_constraints(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    s.new_user(&t, "taken@example.com").await;
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"validateDbConstraints": true, "users": [
                {"email": "new@example.com"}, {"email": "Taken@Example.com"}
            ]}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.field_code("users[1].email"),
        Some("[duplicate]user.email")
    );
    assert!(a.json["fieldErrors"]["users[1].email"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Taken@Example.com"));
    assert_eq!(s.get("/api/user?email=new@example.com").await.status, 404);
}

async fn users_already_stored_fail_cleanly_without_validate_db_constraints(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let existing = s.new_user(&t, "taken@example.com").await;
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [
                {"email": "new@example.com"}, {"id": existing, "email": "other@example.com"}
            ]}),
        )
        .await;
    assert_eq!(a.status, 400, "a clear 400, never FusionAuth's 500: {a:?}");
    assert_eq!(a.general_code(), Some("[ImportRequestFailed]"));
    assert_eq!(a.field_code("users[1].id"), Some("[duplicate]user.id"));
    assert_eq!(s.get("/api/user?email=new@example.com").await.status, 404);
}

async fn import_body_over_the_limit_says_to_split_the_file(b: Backend) {
    let s = Server::start(b).await;
    let blob = "x".repeat(IMPORT_LIMIT);
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [{"email": "a@b.c", "data": {"blob": blob}}]}),
        )
        .await;
    assert_eq!(a.status, 413);
    let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("Split the file"), "{msg}");
    assert!(msg.contains("/api/user/import/job"), "{msg}");
    // An import body larger than the general limit but under the import limit is accepted.
    let users: Vec<Value> = (0..3000)
        .map(|i| json!({"email": format!("u{i}@example.com")}))
        .collect();
    let a = s
        .call("POST", "/api/user/import", json!({"users": users}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

async fn import(s: &Server, body: Value) -> Answer {
    s.call("POST", "/api/user/import", body).await
}

/// The stored user with this email, as the API shows it.
async fn user_by_email(s: &Server, email: &str) -> Value {
    let a = s.get(&format!("/api/user?email={email}")).await;
    assert_eq!(a.status, 200, "{email}: {a:?}");
    a.json["user"].clone()
}

async fn upsert_updates_users_matched_by_id_email_or_username_and_keeps_omitted_fields(b: Backend) {
    let s = Server::start(b).await;
    let id1 = Uuid::new_v4();
    let a = import(&s, json!({"users": [
        {"id": id1, "email": "one@example.com", "firstName": "One", "lastName": "Old", "data": {"a": 1, "b": 2}},
        {"email": "two@example.com", "firstName": "Two", "lastName": "Old", "data": {"a": 1, "b": 2}},
        {"username": "three", "email": "three@example.com", "firstName": "Three", "mobilePhone": "111"}
    ]})).await;
    assert_eq!(a.status, 200, "{a:?}");
    let id2 = user_by_email(&s, "two@example.com").await["id"].clone();
    let id3 = user_by_email(&s, "three@example.com").await["id"].clone();

    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"id": id1, "lastName": "ById"},
            {"email": "TWO@Example.com", "lastName": "ByEmail", "data": {"b": 3, "c": 4}},
            {"username": "THREE", "mobilePhone": "333", "firstName": null}
        ]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json, json!({"usersCreated": 0, "usersUpdated": 3}));

    let one = user_by_email(&s, "one@example.com").await;
    assert_eq!(one["id"], json!(id1));
    assert_eq!(
        (one["firstName"].as_str(), one["lastName"].as_str()),
        (Some("One"), Some("ById"))
    );
    assert_eq!(one["data"], json!({"a": 1, "b": 2}), "omitted data is kept");
    let two = user_by_email(&s, "two@example.com").await;
    assert_eq!(two["lastName"], "ByEmail");
    assert_eq!(two["id"], id2, "matched by email, not created again");
    assert_eq!(
        (two["firstName"].as_str(), two["lastName"].as_str()),
        (Some("Two"), Some("ByEmail"))
    );
    assert_eq!(
        two["data"],
        json!({"a": 1, "b": 3, "c": 4}),
        "data merges key by key"
    );
    assert_eq!(
        two["email"], "TWO@Example.com",
        "a given field replaces, even the matched email's spelling"
    );
    let three = user_by_email(&s, "three@example.com").await;
    assert_eq!(three["id"], id3);
    assert_eq!(three["mobilePhone"], "333");
    assert!(
        three.get("firstName").is_none(),
        "null removes a field: {three}"
    );
    assert_eq!(three["username"], "THREE", "the matched username as given");
}

async fn upsert_replaces_the_password_and_the_new_one_logs_in(b: Backend) {
    let s = Server::start(b).await;
    let a = import(&s, json!({"users": [{"email": "pw@example.com", "password": "old-password-1", "firstName": "Kept"}]})).await;
    assert_eq!(a.status, 200, "{a:?}");
    let login = |pw: &'static str| {
        let s = &s;
        async move {
            s.call(
                "POST",
                "/api/login",
                json!({"loginId": "pw@example.com", "password": pw}),
            )
            .await
            .status
        }
    };
    assert_eq!(login("old-password-1").await, 200);
    let a = import(&s, json!({"upsert": true, "users": [{"email": "pw@example.com", "password": "new-password-2"}]})).await;
    assert_eq!(
        a.json,
        json!({"usersCreated": 0, "usersUpdated": 1}),
        "{a:?}"
    );
    assert_eq!(
        login("new-password-2").await,
        200,
        "the new password logs in"
    );
    assert_eq!(
        login("old-password-1").await,
        404,
        "the old one no longer does"
    );
    assert_eq!(
        user_by_email(&s, "pw@example.com").await["firstName"],
        "Kept"
    );

    // A hash replaces it too; a user given without a password keeps the stored one.
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"email": "pw@example.com", "password": bcrypt, "encryptionScheme": "bcrypt"}
        ]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let t: Uuid = s.default_tenant().await.parse().unwrap();
    let stored =
        s.db.store
            .user_by_email(t, "pw@example.com")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.credential.as_ref().unwrap().hash, bcrypt);
    let a = import(
        &s,
        json!({"upsert": true, "users": [{"email": "pw@example.com", "lastName": "L"}]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let again =
        s.db.store
            .user_by_email(t, "pw@example.com")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        again.credential, stored.credential,
        "no password given: the hash is kept"
    );
}

async fn upsert_creates_and_updates_in_one_request_and_merges_registrations(b: Backend) {
    let s = Server::start(b).await;
    with_app_and_group(&s).await;
    let t = s.default_tenant().await;
    let app2 = s.new_app(&t, "Shop", &["buyer", "seller"]).await;
    let a = import(
        &s,
        json!({"users": [{"email": "old@example.com",
        "registrations": [{"applicationId": APP, "roles": ["moderator"], "data": {"x": 1}}],
        "memberships": [{"groupId": GROUP}]}]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let before = user_by_email(&s, "old@example.com").await;

    let a = import(&s, json!({"upsert": true, "users": [
        {"email": "new@example.com", "firstName": "New"},
        {"email": "old@example.com", "registrations": [{"applicationId": app2, "roles": ["buyer"]}]},
    ]})).await;
    assert_eq!(
        a.json,
        json!({"usersCreated": 1, "usersUpdated": 1}),
        "{a:?}"
    );
    assert_eq!(
        user_by_email(&s, "new@example.com").await["firstName"],
        "New"
    );
    let after = user_by_email(&s, "old@example.com").await;
    let regs = after["registrations"].as_array().unwrap();
    assert_eq!(
        regs.len(),
        2,
        "the given registration is added, the stored one kept: {after}"
    );
    assert!(regs
        .iter()
        .any(|r| r["applicationId"] == APP && r["roles"] == json!(["moderator"])));
    assert!(regs
        .iter()
        .any(|r| r["applicationId"] == json!(app2) && r["roles"] == json!(["buyer"])));
    assert_eq!(
        after["memberships"][0]["groupId"], GROUP,
        "memberships omitted are kept"
    );

    // A registration for the same application replaces the stored one (same id).
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"email": "old@example.com", "registrations": [{"applicationId": APP, "roles": []}]}
        ]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let last = user_by_email(&s, "old@example.com").await;
    let reg = last["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["applicationId"] == APP)
        .unwrap()
        .clone();
    let old_reg = before["registrations"][0].clone();
    assert_eq!(reg["id"], old_reg["id"]);
    assert_eq!(reg["roles"], json!([]));
    assert!(
        reg.get("data").is_none_or(|d| d == &json!({})),
        "replaced, not merged: {reg}"
    );
    assert_eq!(last["registrations"].as_array().unwrap().len(), 2);
}

async fn upsert_still_refuses_duplicates_and_conflicts_and_writes_nothing(b: Backend) {
    let s = Server::start(b).await;
    let a = import(
        &s,
        json!({"users": [
            {"email": "a@example.com", "username": "a", "firstName": "A"},
            {"email": "b@example.com", "username": "b", "firstName": "B"}
        ]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let id_a = user_by_email(&s, "a@example.com").await["id"].clone();

    // The same email twice in the request.
    let a = import(&s, json!({"upsert": true, "users": [
        {"email": "a@example.com", "firstName": "X"}, {"email": "A@example.com", "firstName": "Y"},
        {"email": "c@example.com"}
    ]})).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("users[1].email"),
        Some("[duplicate]user.email")
    );
    // Two users of the request on one stored user (by id, by username).
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"id": id_a, "firstName": "X"}, {"username": "A", "firstName": "Y"}
        ]}),
    )
    .await;
    assert_eq!(
        a.field_code("users[1].id"),
        Some("[duplicate]user.id"),
        "{a:?}"
    );
    // An id that is not the id of the user the email names.
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"id": Uuid::new_v4(), "email": "a@example.com", "firstName": "X"}
        ]}),
    )
    .await;
    assert_eq!(
        a.field_code("users[0].id"),
        Some("[mismatch]user.id"),
        "{a:?}"
    );
    // Taking another stored user's email.
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"id": id_a, "email": "b@example.com"}, {"email": "d@example.com"}
        ]}),
    )
    .await;
    assert_eq!(
        a.field_code("users[0].email"),
        Some("[duplicate]user.email"),
        "{a:?}"
    );
    // A merged user must still be valid.
    let a = import(
        &s,
        json!({"upsert": true, "users": [
            {"id": id_a, "email": null, "username": null}
        ]}),
    )
    .await;
    assert_eq!(
        a.field_code("users[0].email"),
        Some("[blank]users[0].email"),
        "{a:?}"
    );

    assert_eq!(
        user_by_email(&s, "a@example.com").await["firstName"],
        "A",
        "nothing was written"
    );
    for e in ["c@example.com", "d@example.com"] {
        assert_eq!(s.get(&format!("/api/user?email={e}")).await.status, 404);
    }
}

async fn import_records_one_user_bulk_create_event_without_secrets(b: Backend) {
    let s = Server::start(b).await;
    let t: Uuid = s.default_tenant().await.parse().unwrap();
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let a = import(
        &s,
        json!({"users": [
            {"email": "e1@example.com", "password": "plaintext-password"},
            {"username": "e2", "password": bcrypt, "encryptionScheme": "bcrypt"}
        ]}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let events =
        s.db.store
            .events(Some(t), Some("user.bulk.create"), 10)
            .await
            .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0].body["event"];
    assert_eq!(e["type"], "user.bulk.create");
    assert_eq!(e["tenantId"], json!(t));
    assert_eq!(e["id"], json!(events[0].id));
    assert!(e["createInstant"].as_i64().unwrap() > 0);
    let users = e["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let id1 = user_by_email(&s, "e1@example.com").await["id"].clone();
    assert!(users
        .iter()
        .any(|u| u["id"] == id1 && u["email"] == "e1@example.com"));
    assert!(users.iter().any(|u| u["username"] == "e2"));
    let text = events[0].body.to_string();
    for secret in ["plaintext-password", "$2y$", "argon2", "password"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // A failed import records nothing; an upsert that only updates records no creation.
    let a = import(
        &s,
        json!({"users": [{"email": "e1@example.com"}, {"email": "e3@example.com"}]}),
    )
    .await;
    assert_eq!(a.status, 400);
    let a = import(
        &s,
        json!({"upsert": true, "users": [{"email": "e1@example.com", "firstName": "F"}]}),
    )
    .await;
    assert_eq!(a.status, 200);
    let events = s.db.store.events(None, None, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
}

async fn appended_events_read_back_newest_first_by_tenant_and_type(b: Backend) {
    use portcullis_domain::{Event, Json};
    let s = Server::start(b).await;
    let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
    let mut fields = Json::new();
    fields.insert("loginId".into(), json!("a@example.com"));
    let first = Event::new("user.login.failed", Some(t1), fields.clone());
    let second = Event::new("user.login.success", Some(t1), fields.clone());
    let other = Event::new("user.login.failed", Some(t2), fields);
    s.db.store
        .append_events(&[first.clone(), second.clone()])
        .await
        .unwrap();
    s.db.store
        .append_events(std::slice::from_ref(&other))
        .await
        .unwrap();
    let all = s.db.store.events(None, None, 10).await.unwrap();
    assert_eq!(all, vec![other.clone(), second.clone(), first.clone()]);
    assert_eq!(
        s.db.store.events(Some(t1), None, 10).await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        s.db.store
            .events(None, Some("user.login.failed"), 10)
            .await
            .unwrap(),
        vec![other, first.clone()]
    );
    assert_eq!(
        s.db.store.events(Some(t1), None, 1).await.unwrap(),
        vec![second]
    );
    assert_eq!(first.body["event"]["type"], "user.login.failed");
    assert_eq!(first.body["event"]["loginId"], "a@example.com");
}

/// PBKDF2-SHA1 at the iteration limit with a 128-byte key: seven full iteration runs per
/// verify (seconds of CPU), though each parameter alone is within the limits.
fn pbkdf2_sha1_at_the_limits() -> String {
    format!(
        "$pbkdf2-sha1$i=10000000,l=128$c2FsdHNhbHRzYWx0${}",
        "A".repeat(171)
    )
}

async fn a_hash_costlier_than_the_tenant_allows_is_named_by_index_until_the_limit_is_raised(
    b: Backend,
) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let body = json!({"users": [
        {"email": "cheap@example.com", "encryptionScheme": "salted-sha256", "factor": 1,
         "salt": "c2FsdA==", "password": "WQmOLnSb7LdOUB4gdj7blLCUM+IMKv8OvJoGG7kkSOY="},
        {"email": "costly@example.com", "encryptionScheme": "pbkdf2",
         "password": pbkdf2_sha1_at_the_limits()}
    ]});
    let a = import(&s, body.clone()).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("users[1].password"),
        Some("[tooCostly]user.password"),
        "{a:?}"
    );
    let message = a.json["fieldErrors"]["users[1].password"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("maximumImportedHashCostFactor = 10"),
        "the error names the limit: {message}"
    );
    assert!(a.json["fieldErrors"].get("users[0].password").is_none());
    assert_eq!(
        s.get("/api/user?email=cheap@example.com").await.status,
        404,
        "nothing was written"
    );

    // Plaintext passwords to be hashed at a cost over the limit are refused the same way.
    let plain = import(
        &s,
        json!({"encryptionScheme": "bcrypt", "factor": 16,
               "users": [{"email": "plain@example.com", "password": "correct horse"}]}),
    )
    .await;
    assert_eq!(plain.status, 400, "{plain:?}");
    assert_eq!(plain.field_code("factor"), Some("[tooCostly]factor"));

    // The tenant may take on costlier hashes deliberately.
    let p = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"passwordEncryptionConfiguration": {"maximumImportedHashCostFactor": 1000}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let a = import(&s, body).await;
    assert_eq!(a.status, 200, "{a:?}");
    let stored = user_by_email(&s, "costly@example.com").await;
    let id = stored["id"].as_str().unwrap().parse().unwrap();
    let c =
        s.db.store
            .user(Scope::ALL, id)
            .await
            .unwrap()
            .unwrap()
            .credential
            .unwrap();
    assert_eq!((c.scheme.as_str(), c.factor), ("pbkdf2", 10_000_000));
}

/// Eight maximal imports at once on a node whose budget holds two: each answer is a success or
/// a 503 with `Retry-After` and a general error, the refused ones wrote nothing, and sent again
/// they all land.
async fn concurrent_imports_beyond_the_budget_are_told_to_retry_and_the_others_land(b: Backend) {
    let per = 2_000;
    let body = |k: usize| {
        let users: Vec<Value> = (0..per)
            .map(|i| {
                json!({"email": format!("c{k}-{i}@example.com"), "encryptionScheme": "bcrypt",
                       "password": "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
                       "data": {"legacyId": i, "plan": "gold"}})
            })
            .collect();
        serde_json::to_vec(&json!({ "users": users })).unwrap()
    };
    let bodies: Vec<Vec<u8>> = (0..8).map(body).collect();
    let largest = bodies.iter().map(Vec::len).max().unwrap();
    let s = Server::start_with(
        b,
        Setup {
            import_budget: Some(2 * largest),
            ..Setup::default()
        },
    )
    .await;
    let send = |k: usize| {
        s.req("POST", "/api/user/import")
            .header("Content-Type", "application/json")
            .body(bodies[k].clone())
            .send()
    };
    let answers = futures_util::future::join_all((0..8).map(send)).await;
    let mut refused = Vec::new();
    for (k, a) in answers.into_iter().enumerate() {
        let a = a.unwrap();
        match a.status().as_u16() {
            200 => {}
            503 => {
                let after: u64 = a.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(after >= 1);
                let json: Value = a.json().await.unwrap();
                assert_eq!(json["generalErrors"][0]["code"], "[Busy]", "{json}");
                refused.push(k);
            }
            other => panic!("import {k} answered {other}: {}", a.text().await.unwrap()),
        }
    }
    assert!(
        !refused.is_empty(),
        "eight imports at once fit a budget of two"
    );
    assert!(refused.len() < 8, "at least one import ran");
    for k in refused {
        // Nothing of a refused import was written: sent again, all of its users are new.
        let a = send(k).await.unwrap();
        assert_eq!(a.status().as_u16(), 200, "{}", a.text().await.unwrap());
    }
    let stored =
        s.db.store
            .find_users(
                Uuid::parse_str(&s.default_tenant().await).unwrap(),
                &[],
                &(0..8)
                    .flat_map(|k| (0..per).map(move |i| format!("c{k}-{i}@example.com")))
                    .collect::<Vec<_>>(),
                &[],
            )
            .await
            .unwrap();
    assert_eq!(stored.len(), 8 * per);
}

/// The import reads a request's users from memory once a first pass has read its structure:
/// JSON that is wrong inside a user, inside another field, in a key or in a number is still a
/// 400 naming the line and column, and no user of the request lands.
async fn malformed_json_anywhere_in_a_request_is_named_and_nothing_is_written(b: Backend) {
    let s = Server::start(b).await;
    let first = r#"{"email": "first@x.io"}"#;
    for (body, at) in [
        (
            format!(r#"{{"users": [{first}, {{"email": "b@x.io" "x": 1}}]}}"#),
            "line 1 column 56",
        ),
        (
            format!("{{\"users\": [{first}],\n \"extra\": [1,]}}"),
            "line 2 column 14",
        ),
        (
            format!("{{\"users\": [{first}], \"ex\u{1}tra\": 1}}"),
            "line 1 column 41",
        ),
        (
            format!(r#"{{"users": [{first}], "n": -1.5e}}"#),
            "line 1 column 48",
        ),
    ] {
        let a = send(
            s.req("POST", "/api/user/import")
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {a:?}");
        assert_eq!(a.general_code(), Some("[invalidJSON]"), "{body}: {a:?}");
        let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(at), "{body}: {msg}");
        assert_eq!(
            s.get("/api/user?email=first@x.io").await.status,
            404,
            "{body}"
        );
    }
}
