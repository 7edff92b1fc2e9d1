//! `POST /api/user/import`: FusionAuth's documented body works unchanged; every failure names
//! the user and writes nothing.

use crate::support::*;
use portcullis_domain::{Scope, Store};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};

portcullis_store::on_both_backends!(
    fusionauths_documented_example_imports_unchanged,
    plaintext_passwords_are_hashed_and_hashes_are_kept,
    empty_users_is_missing_users,
    each_bad_user_is_named_by_index_and_nothing_is_written,
    duplicate_email_at_index_73412_of_100k_is_named_and_nothing_is_written,
    users_already_stored_are_named_with_validate_db_constraints,
    users_already_stored_fail_cleanly_without_validate_db_constraints,
    import_body_over_the_limit_says_to_split_the_file,
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

async fn duplicate_email_at_index_73412_of_100k_is_named_and_nothing_is_written(b: Backend) {
    let s = Server::start(b).await;
    let mut users: Vec<Value> = (0..100_000)
        .map(|i| json!({"email": format!("user{i}@example.com")}))
        .collect();
    users[73_412] = json!({"email": "USER17@example.com"});
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
    assert_eq!(
        a.json["fieldErrors"].as_object().unwrap().len(),
        1,
        "only the duplicate is blamed"
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
    // An import body larger than the general limit but under the import limit is accepted.
    let users: Vec<Value> = (0..3000)
        .map(|i| json!({"email": format!("u{i}@example.com")}))
        .collect();
    let a = s
        .call("POST", "/api/user/import", json!({"users": users}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}
