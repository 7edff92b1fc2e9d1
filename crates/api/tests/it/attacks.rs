//! What an attacker tries against protections that hold: forged tokens of every classic kind,
//! identity claimed through proxy headers, and parser bombs. Each must be refused.

use crate::support::*;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

portcullis_store::on_both_backends!(
    forged_tokens_of_every_classic_kind_are_refused,
    x_forwarded_for_never_names_the_ip_a_lock_counts,
    deeply_nested_json_is_refused_quickly,
);

const PASSWORD: &str = "correct horse";

/// A user registered to an application in `tenant` who logs in; answers their access token.
async fn token_of(s: &Server, tenant: &str, email: &str) -> String {
    let app = s.new_app(tenant, &format!("App {email}"), &["user"]).await;
    let a = send(
        s.req("POST", "/api/user/registration")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({"user": {"email": email, "password": PASSWORD},
                          "registration": {"applicationId": app, "roles": ["user"]}})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({"loginId": email, "password": PASSWORD, "applicationId": app})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["token"].as_str().unwrap().to_string()
}

async fn validate(s: &Server, token: &str) -> Answer {
    send(
        s.http
            .get(format!("{}/api/jwt/validate", s.url))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

/// A loopback listener standing for the attacker's JWKS host; counts the connections it gets.
fn attacker_host() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = (&conn).read(&mut buf);
        }
    });
    (url, hits)
}

async fn forged_tokens_of_every_classic_kind_are_refused(b: Backend) {
    let s = Server::start(b).await;
    let a_tenant = s.default_tenant().await;
    let b_tenant = s.new_tenant("Other").await;
    let token = token_of(&s, &a_tenant, "alice@example.com").await;
    let other = token_of(&s, &b_tenant, "bob@example.com").await;
    assert_eq!(validate(&s, &token).await.status, 200, "the genuine token");
    assert_eq!(validate(&s, &other).await.status, 200, "tenant B's token");
    let kid = portcullis_jwt::key_id(&token).unwrap();
    let other_kid = portcullis_jwt::key_id(&other).unwrap();
    assert_ne!(kid, other_kid, "each tenant signs with its own key");
    let pk = send(
        s.http
            .get(format!("{}/api/jwt/public-key?kid={kid}", s.url)),
    )
    .await;
    let pem = pk.json["publicKey"].as_str().unwrap().to_string();
    let (jku, hits) = attacker_host();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/jwt/forge.py");
    let args = [script.to_string(), token, pem, other_kid, jku];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .expect("python3 runs (scripts/test installs PyJWT)");
    assert!(
        out.status.success(),
        "forge.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let forged = forged.as_object().unwrap();
    assert!(forged.len() >= 15, "every attack was made: {forged:?}");
    for (attack, t) in forged {
        let a = validate(&s, t.as_str().unwrap()).await;
        assert_eq!(a.status, 401, "{attack} must be refused: {a:?}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a token's jku is never fetched"
    );
}

async fn x_forwarded_for_never_names_the_ip_a_lock_counts(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    s.new_user(&t, "jane@example.com").await;
    // Wrong passwords for many login ids, each claiming through proxy headers to come from one
    // address: were the header trusted, that address would now be locked.
    for i in 0..8 {
        let a = send(
            s.req("POST", "/api/login")
                .header("X-Forwarded-For", "198.51.100.9")
                .header("X-Real-IP", "198.51.100.9")
                .header("Forwarded", "for=198.51.100.9")
                .json(&json!({"loginId": format!("nobody{i}@example.com"), "password": "wrong"})),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");
    }
    let a = send(
        s.req("POST", "/api/login")
            .header("X-Forwarded-For", "198.51.100.9")
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD,
                          "ipAddress": "198.51.100.9"})),
    )
    .await;
    assert_eq!(a.status, 200, "no lock came from the headers: {a:?}");

    // And a header naming another address does not lift a lock on the address the login names.
    for i in 0..5 {
        let a = s
            .call(
                "POST",
                "/api/login",
                json!({"loginId": format!("nobody{i}@example.com"), "password": "wrong",
                       "ipAddress": "203.0.113.50"}),
            )
            .await;
        assert_eq!(a.status, 404, "{a:?}");
    }
    let a = send(
        s.req("POST", "/api/login")
            .header("X-Forwarded-For", "192.0.2.1")
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD,
                          "ipAddress": "203.0.113.50"})),
    )
    .await;
    assert_eq!(a.status, 423, "the address's lock holds: {a:?}");
}

async fn deeply_nested_json_is_refused_quickly(b: Backend) {
    let s = Server::start(b).await;
    // Inside the body limit of an ordinary request, and a million levels on the import, whose
    // limit is larger: both are refused by the parser's depth limit, without a deep recursion.
    let cases = [
        ("/api/user", "{\"user\": ", "}", 30_000usize),
        ("/api/user/import", "{\"users\": [", "]}", 1_000_000usize),
    ];
    for (path, open, close, depth) in cases {
        let body = format!(
            "{open}{{\"email\": \"a@b.c\", \"data\": {{\"x\": {}{}}}}}{close}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let started = Instant::now();
        let a = send(
            s.req("POST", path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(a.status, 400, "{path} at depth {depth}: {a:?}");
        assert_eq!(a.general_code(), Some("[invalidJSON]"), "{a:?}");
        // Typically a few milliseconds; the bound leaves room for a loaded test machine.
        assert!(took < Duration::from_secs(2), "{path}: {took:?}");
    }
    assert_eq!(s.get("/api/user?email=a@b.c").await.status, 404);
}
