//! The Key API for signing keys: public halves only, rotation through `generate`, deletion of
//! retiring keys only, and tenant isolation.

use crate::support::*;
use portcullis_domain::SessionStore;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};

portcullis_store::on_both_backends!(
    key_answers_never_carry_private_key_material,
    generate_rotates_the_key_and_tokens_of_the_old_key_still_validate,
    the_active_key_cannot_be_deleted_but_a_retiring_one_can,
    a_tenant_locked_api_key_sees_and_rotates_only_its_tenants_keys,
    generate_refuses_an_unknown_algorithm,
);

const PASSWORD: &str = "correct horse";

/// A user in the default tenant; returns (tenant id, login body).
async fn fixture(s: &Server) -> (String, Value) {
    let t = s.default_tenant().await;
    s.new_user(&t, "jane@example.com").await;
    (
        t,
        json!({"loginId": "jane@example.com", "password": PASSWORD}),
    )
}

async fn token(s: &Server, body: &Value) -> String {
    let a = s.call("POST", "/api/login", body.clone()).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["token"].as_str().unwrap().to_string()
}

async fn validate(s: &Server, token: &str) -> u16 {
    send(
        s.http
            .get(format!("{}/api/jwt/validate", s.url))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
    .status
}

async fn generate(s: &Server, key: Value) -> Answer {
    s.call("POST", "/api/key/generate", json!({ "key": key }))
        .await
}

/// Every stored secret of every key, and the marker of a PEM private key.
async fn secrets(s: &Server) -> Vec<String> {
    let mut out: Vec<String> =
        s.db.store
            .signing_keys(None)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.secret)
            .collect();
    out.push("PRIVATE KEY".into());
    out
}

async fn key_answers_never_carry_private_key_material(backend: Backend) {
    let s = Server::start(backend).await;
    let (t, body) = fixture(&s).await;
    token(&s, &body).await;
    let mut answers = Vec::new();
    for alg in ["HS256", "RS256", "EdDSA", "ES256"] {
        let a = generate(&s, json!({"algorithm": alg})).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["key"]["algorithm"], alg);
        answers.push(a);
    }
    let list = s.get("/api/key").await;
    assert_eq!(list.status, 200, "{list:?}");
    let keys = list.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5, "the first key and four generated: {list:?}");
    for k in keys {
        assert_eq!(k["tenantId"], t);
        assert_eq!(k["id"], k["kid"]);
        let ty = k["type"].as_str().unwrap();
        match k["algorithm"].as_str().unwrap() {
            "HS256" => {
                assert_eq!(ty, "HMAC");
                assert!(
                    k.get("publicKey").is_none(),
                    "an HMAC key has no public half"
                );
            }
            alg => {
                let expected = match alg {
                    "ES256" => "EC",
                    "EdDSA" => "OKP",
                    _ => "RSA",
                };
                assert_eq!(ty, expected);
                let pem = k["publicKey"].as_str().unwrap();
                assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
            }
        }
        let one = s
            .get(&format!("/api/key/{}", k["id"].as_str().unwrap()))
            .await;
        assert_eq!(one.status, 200, "{one:?}");
        assert_eq!(&one.json["key"], k);
        answers.push(one);
    }
    answers.push(list);
    let secrets = secrets(&s).await;
    assert_eq!(secrets.len(), 6);
    for a in &answers {
        for secret in &secrets {
            assert!(
                !a.text.contains(secret.as_str()),
                "a secret leaked: {}",
                a.text
            );
        }
    }
}

async fn generate_rotates_the_key_and_tokens_of_the_old_key_still_validate(backend: Backend) {
    let s = Server::start(backend).await;
    let (_, body) = fixture(&s).await;
    let old_token = token(&s, &body).await;
    let old_kid = portcullis_jwt::key_id(&old_token).unwrap();

    let a = generate(&s, json!({"algorithm": "EdDSA"})).await;
    assert_eq!(a.status, 200, "{a:?}");
    let new_kid = a.json["key"]["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(a.json["key"]["status"], "active");
    assert_eq!(a.json["key"]["type"], "OKP");

    let new_token = token(&s, &body).await;
    assert_eq!(portcullis_jwt::key_id(&new_token).unwrap(), new_kid);
    assert_eq!(validate(&s, &new_token).await, 200);
    assert_eq!(validate(&s, &old_token).await, 200, "the old key verifies");

    let old = s.get(&format!("/api/key/{old_kid}")).await;
    assert_eq!(old.json["key"]["status"], "retiring", "{old:?}");
    assert!(
        old.json["key"]["expirationInstant"].as_i64().unwrap() > portcullis_domain::now_millis()
    );
    let jwks = send(s.http.get(format!("{}/.well-known/jwks.json", s.url))).await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);

    // Without an algorithm the new key keeps the current one's.
    let a = generate(&s, json!({})).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["key"]["algorithm"], "EdDSA");
}

async fn the_active_key_cannot_be_deleted_but_a_retiring_one_can(backend: Backend) {
    let s = Server::start(backend).await;
    let (_, body) = fixture(&s).await;
    let old_token = token(&s, &body).await;
    let old_kid = portcullis_jwt::key_id(&old_token).unwrap();

    let a = s
        .call("DELETE", &format!("/api/key/{old_kid}"), json!({}))
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.general_code(), Some("[KeyInUse]"));
    assert_eq!(validate(&s, &old_token).await, 200, "still there");

    let a = generate(&s, json!({"algorithm": "ES256"})).await;
    assert_eq!(a.status, 200, "{a:?}");
    let new_kid = a.json["key"]["kid"].as_str().unwrap().to_string();
    let a = s
        .call("DELETE", &format!("/api/key/{new_kid}"), json!({}))
        .await;
    assert_eq!(a.status, 400, "the new key is the active one now: {a:?}");

    let a = s
        .call("DELETE", &format!("/api/key/{old_kid}"), json!({}))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(s.get(&format!("/api/key/{old_kid}")).await.status, 404);
    assert_eq!(
        validate(&s, &old_token).await,
        401,
        "tokens of a deleted key no longer validate"
    );
    let a = s
        .call("DELETE", &format!("/api/key/{old_kid}"), json!({}))
        .await;
    assert_eq!(a.status, 404, "{a:?}");
    assert_eq!(validate(&s, &token(&s, &body).await).await, 200);
}

async fn a_tenant_locked_api_key_sees_and_rotates_only_its_tenants_keys(backend: Backend) {
    let s = Server::start(backend).await;
    let (a_tenant, body) = fixture(&s).await;
    let a_kid = portcullis_jwt::key_id(&token(&s, &body).await).unwrap();
    let b_tenant = s.new_tenant("B").await;
    let b_key = s.key_with(json!({"tenantId": b_tenant})).await;

    let list = send(s.req_as(&b_key, "GET", "/api/key")).await;
    assert_eq!(list.status, 200, "{list:?}");
    let keys = list.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "B's own key, made on first need: {list:?}");
    assert_eq!(keys[0]["tenantId"], b_tenant);
    let b_kid = keys[0]["kid"].as_str().unwrap().to_string();
    assert!(!list.text.contains(&a_kid));

    let get = send(s.req_as(&b_key, "GET", &format!("/api/key/{a_kid}"))).await;
    assert_eq!(get.status, 404, "{get:?}");
    let del = send(s.req_as(&b_key, "DELETE", &format!("/api/key/{a_kid}"))).await;
    assert_eq!(del.status, 404, "{del:?}");

    let gen = send(
        s.req_as(&b_key, "POST", "/api/key/generate")
            .json(&json!({"key": {"algorithm": "EdDSA", "tenantId": a_tenant}})),
    )
    .await;
    assert_eq!(gen.status, 400, "{gen:?}");
    assert_eq!(gen.field_code("tenantId"), Some("[invalid]tenantId"));

    let gen = send(
        s.req_as(&b_key, "POST", "/api/key/generate")
            .json(&json!({"key": {"algorithm": "EdDSA"}})),
    )
    .await;
    assert_eq!(gen.status, 200, "{gen:?}");
    assert_eq!(gen.json["key"]["tenantId"], b_tenant);
    let all = s.get("/api/key").await;
    let status = |kid: &str| {
        all.json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status(&a_kid).as_deref(), Some("active"), "A untouched");
    assert_eq!(status(&b_kid).as_deref(), Some("retiring"));

    // The global key rotates A's when it names A.
    let gen = generate(&s, json!({"tenantId": a_tenant})).await;
    assert_eq!(gen.status, 200, "{gen:?}");
    assert_eq!(gen.json["key"]["tenantId"], a_tenant);
}

async fn generate_refuses_an_unknown_algorithm(backend: Backend) {
    let s = Server::start(backend).await;
    fixture(&s).await;
    let a = generate(&s, json!({"algorithm": "none"})).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("key.algorithm"),
        Some("[invalid]key.algorithm")
    );
    let list = s.get("/api/key").await;
    assert!(list.json["keys"].as_array().unwrap().is_empty(), "{list:?}");
}
