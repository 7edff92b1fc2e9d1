//! Webhooks (`/api/webhook`, `/api/webhook-attempt`) delivered from the events outbox to real
//! receivers on loopback: the events' JSON, both signatures checked by independent libraries
//! (`standardwebhooks` and PyJWT), retries with growing intervals, dead letters and their
//! replay, tenant isolation, and the 400s of malformed bodies.

use crate::support::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use portcullis_domain::{SessionStore, Store as _, WebhookStore};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

portcullis_store::on_both_backends!(
    webhook_crud_hides_secrets_and_malformed_bodies_are_400,
    tenant_keys_see_only_their_tenants_webhooks,
    every_emitted_event_arrives_signed_both_ways,
    the_test_request_is_signed_with_an_hmac_key,
    a_tenants_webhook_never_gets_another_tenants_events,
    a_failing_receiver_gets_the_event_with_growing_intervals,
    a_dead_receiver_is_dead_lettered_then_replayed,
    three_nodes_deliver_each_event_once,
    a_transaction_level_not_met_rolls_the_change_back,
    a_simple_majority_commits_and_each_receiver_gets_the_event_once,
    a_dead_receiver_bounds_a_transactional_request,
    email_verified_and_refresh_token_revoke_arrive_with_their_info,
    a_global_logout_of_the_users_one_refresh_token_writes_its_revoke_event,
    a_deleted_webhook_gets_no_request_it_had_not_started,
);

const PASSWORD: &str = "correct horse";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    at: Instant,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn event_type(&self) -> String {
        self.json()["event"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Ok,
    /// 500 for this many more requests, then 200.
    Fail(usize),
    /// Never answers.
    Hang,
    /// Records the request at once, answers 200 after this long.
    Slow(Duration),
}

/// A receiver on loopback that records every request.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    mode: Arc<Mutex<Mode>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mode = *r.mode.lock().unwrap();
    if let Mode::Hang = mode {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return StatusCode::OK;
    }
    r.got.lock().unwrap().push(Got {
        at: Instant::now(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body,
    });
    if let Mode::Slow(d) = mode {
        tokio::time::sleep(d).await;
    }
    match mode {
        Mode::Fail(n) if n > 0 => {
            *r.mode.lock().unwrap() = Mode::Fail(n - 1);
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    }
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            got: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until `done` holds for the requests received.
    async fn until(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not received in 20 s; got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn create_webhook(s: &Server, webhook: Value) -> (String, String) {
    let a = s
        .call("POST", "/api/webhook", json!({ "webhook": webhook }))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    (
        a.json["webhook"]["id"].as_str().unwrap().to_string(),
        a.json["secret"].as_str().unwrap().to_string(),
    )
}

fn enabled(types: &[&str]) -> Value {
    Value::Object(types.iter().map(|t| (t.to_string(), json!(true))).collect())
}

/// Checks both signatures of a received request with the Python libraries; answers the JWT's
/// claims when it had one.
async fn verify(got: &Got, secret: &str, jwks_url: Option<String>, hmac: Option<String>) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/webhooks/verify.py"
    );
    let headers: serde_json::Map<String, Value> = got
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let input = json!({
        "body": got.body, "headers": headers, "secret": secret,
        "jwks_url": jwks_url, "hmac_secret_b64": hmac, "expect_jwt": true,
    })
    .to_string();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test installs the webhook verifiers)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "run `pip install -r tests/webhooks/requirements.txt` (scripts/test does it). {stderr}"
    );
    assert!(out.status.success(), "a signature did not verify: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["standard"], true);
    v["jwt"].clone()
}

async fn new_key(s: &Server, tenant: &str, algorithm: &str) -> String {
    let a = s
        .call(
            "POST",
            "/api/key/generate",
            json!({"key": {"algorithm": algorithm, "tenantId": tenant}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["key"]["kid"].as_str().unwrap().to_string()
}

async fn login(s: &Server, tenant: &str, login_id: &str, password: &str) -> u16 {
    send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({"loginId": login_id, "password": password})),
    )
    .await
    .status
}

async fn webhook_crud_hides_secrets_and_malformed_bodies_are_400(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let (id, secret) = create_webhook(
        &s,
        json!({"url": "http://127.0.0.1:9/x", "tenantIds": [t],
               "eventsEnabled": {"user.login.success": true},
               "headers": {"Authorization": "Bearer hdr-secret"},
               "httpAuthenticationUsername": "u", "httpAuthenticationPassword": "pw-secret"}),
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let got = s.get(&format!("/api/webhook/{id}")).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert!(
        !got.text.contains("pw-secret") && !got.text.contains("hdr-secret"),
        "{}",
        got.text
    );
    assert!(!got.text.contains(&secret));
    assert_eq!(got.json["webhook"]["headers"]["Authorization"], "********");
    assert_eq!(got.json["webhook"]["connectTimeout"], 1000);
    // The answer saved back keeps the stored secrets.
    let put = s
        .call(
            "PUT",
            &format!("/api/webhook/{id}"),
            json!({"webhook": got.json["webhook"]}),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let stored =
        s.db.store
            .webhook(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        stored.http_authentication_password.as_deref(),
        Some("pw-secret")
    );
    assert_eq!(stored.headers["Authorization"], "Bearer hdr-secret");
    let listed = s.get("/api/webhook").await;
    assert_eq!(listed.json["webhooks"].as_array().unwrap().len(), 1);
    let patched = s
        .call(
            "PATCH",
            &format!("/api/webhook/{id}"),
            json!({"webhook": {"readTimeout": 5000}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json["webhook"]["readTimeout"], 5000);

    for (body, field) in [
        (json!({"webhook": {"global": true}}), "webhook.url"),
        (
            json!({"webhook": {"url": "ftp://x", "global": true}}),
            "webhook.url",
        ),
        (
            json!({"webhook": {"url": "http://x", "global": true, "connectTimeout": 0}}),
            "webhook.connectTimeout",
        ),
        (
            json!({"webhook": {"url": "http://x", "global": true, "eventsEnabled": {"no.such": true}}}),
            "webhook.eventsEnabled",
        ),
        (json!({"webhook": {"url": "http://x"}}), "webhook.tenantIds"),
        (
            json!({"webhook": {"url": "http://x", "tenantIds": [uuid::Uuid::new_v4()]}}),
            "webhook.tenantIds[0]",
        ),
        (
            json!({"webhook": {"url": "http://x", "global": true, "signatureConfiguration": {"enabled": true}}}),
            "webhook.signatureConfiguration.signingKeyId",
        ),
        (
            json!({"webhook": {"url": "http://x", "global": true, "sslCertificate": "not a pem"}}),
            "webhook.sslCertificate",
        ),
    ] {
        let a = s.call("POST", "/api/webhook", body.clone()).await;
        assert_eq!(a.status, 400, "{body}: {a:?}");
        assert!(a.json["fieldErrors"][field].is_array(), "{body}: {a:?}");
    }
    for body in [
        json!({"webhook": {"url": "http://x", "global": true, "connectTimeout": "soon"}}),
        json!({"webhook": "x"}),
        json!([]),
    ] {
        let a = s.call("POST", "/api/webhook", body.clone()).await;
        assert_eq!(a.status, 400, "{body}: {a:?}");
        assert!(
            a.json["fieldErrors"].is_object() || a.json["generalErrors"].is_array(),
            "{a:?}"
        );
    }
    let test = s
        .call(
            "POST",
            &format!("/api/webhook/{id}/test"),
            json!({"event": "no.such"}),
        )
        .await;
    assert_eq!(test.status, 400, "{test:?}");
    assert_eq!(
        s.call("DELETE", &format!("/api/webhook/{id}"), Value::Null)
            .await
            .status,
        200
    );
    assert_eq!(s.get(&format!("/api/webhook/{id}")).await.status, 404);
}

async fn tenant_keys_see_only_their_tenants_webhooks(b: Backend) {
    let s = Server::start(b).await;
    let ta = s.new_tenant("A").await;
    let tb = s.new_tenant("B").await;
    let (a_hook, _) = create_webhook(
        &s,
        json!({"url": "http://127.0.0.1:9/a", "tenantIds": [ta]}),
    )
    .await;
    let (global, _) =
        create_webhook(&s, json!({"url": "http://127.0.0.1:9/g", "global": true})).await;
    let key_a = s.key_with(json!({"tenantId": ta})).await;
    let key_b = s.key_with(json!({"tenantId": tb})).await;

    let list_b = send(s.req_as(&key_b, "GET", "/api/webhook")).await;
    assert_eq!(list_b.status, 200, "{list_b:?}");
    assert_eq!(list_b.json["webhooks"], json!([]));
    for id in [&a_hook, &global] {
        let a = send(s.req_as(&key_b, "GET", &format!("/api/webhook/{id}"))).await;
        assert_eq!(a.status, 404, "{a:?}");
        let a = send(s.req_as(&key_b, "DELETE", &format!("/api/webhook/{id}"))).await;
        assert_eq!(a.status, 404, "{a:?}");
    }
    let list_a = send(s.req_as(&key_a, "GET", "/api/webhook")).await;
    let ids: Vec<&str> = list_a.json["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a_hook.as_str()]);
    // A tenant's key makes webhooks of its tenant only.
    let refused = send(
        s.req_as(&key_b, "POST", "/api/webhook")
            .json(&json!({"webhook": {"url": "http://127.0.0.1:9/b", "global": true}})),
    )
    .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let made = send(
        s.req_as(&key_b, "POST", "/api/webhook")
            .json(&json!({"webhook": {"url": "http://127.0.0.1:9/b"}})),
    )
    .await;
    assert_eq!(made.status, 200, "{made:?}");
    assert_eq!(made.json["webhook"]["tenantIds"], json!([tb]));
    let log = send(s.req_as(
        &key_b,
        "GET",
        &format!("/api/webhook-attempt?webhookId={a_hook}"),
    ))
    .await;
    assert_eq!(log.status, 404, "{log:?}");
}

async fn every_emitted_event_arrives_signed_both_ways(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let kid = new_key(&s, &t, "ES256").await;
    let r = Receiver::start(Mode::Ok).await;
    let types = [
        "user.migrated",
        "user.create",
        "user.login.success",
        "user.login.failed",
        "user.bulk.create",
        "user.update",
        "user.password.update",
        "user.registration.create",
        "user.registration.update",
        "user.registration.delete",
        "user.deactivate",
        "user.reactivate",
        "user.delete",
    ];
    let (hook, secret) = create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t], "eventsEnabled": enabled(&types),
               "headers": {"X-Custom": "yes"},
               "signatureConfiguration": {"enabled": true, "signingKeyId": kid}}),
    )
    .await;
    // A connector's user migrates on first login: `user.migrated` and that login's success.
    let legacy = crate::migration::Legacy::start().await;
    legacy.add(
        "ann@legacy.example",
        "old secret",
        json!({"id": "5f3c8a1e-9c7d-4c1b-8a53-2f6f1d0e7a11", "email": "ann@legacy.example"}),
    );
    let connector = crate::migration::generic_connector(&s, &legacy, "/generic").await;
    crate::migration::migrate_all_through(&s, &t, &connector).await;
    assert_eq!(login(&s, &t, "ann@legacy.example", "old secret").await, 200);
    let ann = "5f3c8a1e-9c7d-4c1b-8a53-2f6f1d0e7a11";
    let migrated = r
        .until("user.migrated", |g| {
            g.iter().any(|x| x.event_type() == "user.migrated")
                && g.iter().any(|x| x.event_type() == "user.login.success")
        })
        .await;
    for g in &migrated {
        let e = &g.json()["event"];
        assert_eq!(e["user"]["id"], ann, "{e}");
        assert_eq!(e["connectorId"], json!(connector), "{e}");
        assert!(!g.body.contains("old secret"));
        verify(
            g,
            &secret,
            Some(format!("{}/.well-known/jwks.json", s.url)),
            None,
        )
        .await;
    }
    r.got.lock().unwrap().clear();
    let user = s.new_user(&t, "jane@example.com").await;
    assert_eq!(login(&s, &t, "jane@example.com", PASSWORD).await, 200);
    assert_eq!(
        login(&s, &t, "jane@example.com", "wrong password").await,
        404
    );
    let import = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [{"email": "bulk@example.com", "password": "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "encryptionScheme": "bcrypt"}]}),
        )
        .await;
    assert_eq!(import.status, 200, "{import:?}");
    let path = format!("/api/user/{user}");
    let a = s
        .call("PATCH", &path, json!({"user": {"firstName": "Jane"}}))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call(
            "PATCH",
            &path,
            json!({"user": {"password": "another horse 2"}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let app = s.new_app(&t, "Hooked", &["r"]).await;
    let a = s
        .call(
            "POST",
            &format!("/api/user/registration/{user}"),
            json!({"registration": {"applicationId": app, "roles": ["r"]}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call(
            "PATCH",
            &format!("/api/user/registration/{user}/{app}"),
            json!({"registration": {"data": {"plan": "gold"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call(
            "DELETE",
            &format!("/api/user/registration/{user}/{app}"),
            Value::Null,
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(s.call("DELETE", &path, Value::Null).await.status, 200);
    let a = send(s.req("PUT", &format!("{path}?reactivate=true"))).await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call("DELETE", &format!("{path}?hardDelete=true"), Value::Null)
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    let got = r
        .until("every event", |g| {
            g.len() >= types.len()
                && types[1..]
                    .iter()
                    .all(|t| g.iter().any(|x| x.event_type() == *t))
        })
        .await;
    let jwks = format!("{}/.well-known/jwks.json", s.url);
    for g in &got {
        let e = &g.json()["event"];
        assert_eq!(e["tenantId"], json!(t), "{e}");
        assert!(e["createInstant"].as_i64().unwrap() > 0);
        assert_eq!(
            g.header("webhook-id"),
            e["id"].as_str(),
            "the stable event id"
        );
        assert_eq!(g.header("x-custom"), Some("yes"));
        assert!(
            !g.body.contains(PASSWORD)
                && !g.body.contains("wrong password")
                && !g.body.contains("another horse"),
            "no password in an event: {}",
            g.body
        );
        assert!(
            !g.body.contains("$2y$"),
            "no credential in an event: {}",
            g.body
        );
        let claims = verify(g, &secret, Some(jwks.clone()), None).await;
        assert!(claims["request_body_sha256"].is_string(), "{claims}");
        match e["type"].as_str().unwrap() {
            "user.login.success" => {
                assert_eq!(e["user"]["id"], json!(user));
                assert_eq!(e["user"]["email"], "jane@example.com");
            }
            "user.login.failed" => assert_eq!(e["user"]["id"], json!(user)),
            "user.bulk.create" => assert_eq!(e["users"][0]["email"], "bulk@example.com"),
            "user.registration.create"
            | "user.registration.update"
            | "user.registration.delete" => {
                assert_eq!(e["user"]["id"], json!(user));
                assert_eq!(e["registration"]["applicationId"], json!(app));
                assert_eq!(e["registration"]["roles"], json!(["r"]));
            }
            _ => assert_eq!(e["user"]["id"], json!(user), "{e}"),
        }
    }
    // One of each, and the second patch is both a user and a password update.
    let count = |t: &str| got.iter().filter(|g| g.event_type() == t).count();
    assert_eq!(count("user.update"), 2);
    assert_eq!(count("user.password.update"), 1);
    // The types after `user.migrated`, and `user.update` twice.
    assert_eq!(got.len(), types.len(), "{got:?}");
    // The delivery log has each, delivered once.
    let log = s
        .get(&format!(
            "/api/webhook-attempt?webhookId={hook}&status=succeeded"
        ))
        .await;
    assert_eq!(log.status, 200, "{log:?}");
    let total = got.len() + migrated.len();
    assert_eq!(
        log.json["attempts"].as_array().unwrap().len(),
        total,
        "{log:?}"
    );
    let metrics = send(s.req("GET", "/metrics")).await;
    let delivered = format!("portcullis_webhook_deliveries_total{{outcome=\"delivered\"}} {total}");
    assert!(metrics.text.contains(&delivered), "{}", metrics.text);
    assert!(metrics
        .text
        .contains("portcullis_webhook_oldest_pending_seconds 0"));
}

async fn the_test_request_is_signed_with_an_hmac_key(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("H").await;
    let kid = new_key(&s, &t, "HS256").await;
    let r = Receiver::start(Mode::Ok).await;
    let (hook, secret) = create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t],
               "signatureConfiguration": {"enabled": true, "signingKeyId": kid}}),
    )
    .await;
    let a = s
        .call(
            "POST",
            &format!("/api/webhook/{hook}/test"),
            json!({"event": "user.migrated"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["status"], 200);
    let got = r.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event_type(), "user.migrated");
    let key = s.db.store.signing_key(&kid).await.unwrap().unwrap();
    verify(&got[0], &secret, None, Some(key.secret)).await;
    // A receiver that gives no answer is said so.
    let dead = create_webhook(
        &s,
        json!({"url": "http://127.0.0.1:9/none", "tenantIds": [t]}),
    )
    .await
    .0;
    let a = s
        .call(
            "POST",
            &format!("/api/webhook/{dead}/test"),
            json!({"event": "user.create"}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.general_code(), Some("[WebhookFailed]"));
}

async fn a_tenants_webhook_never_gets_another_tenants_events(b: Backend) {
    let s = Server::start(b).await;
    let ta = s.new_tenant("A").await;
    let tb = s.new_tenant("B").await;
    let r = Receiver::start(Mode::Ok).await;
    let (hook, _) = create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [ta], "eventsEnabled": enabled(&["user.login.failed"])}),
    )
    .await;
    assert_eq!(login(&s, &tb, "nobody@b.example", "x").await, 404);
    assert_eq!(login(&s, &ta, "nobody@a.example", "x").await, 404);
    let got = r.until("tenant A's event", |g| !g.is_empty()).await;
    // Events are fanned out in order: B's, older, had its chance already.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = if r.got().len() > got.len() {
        r.got()
    } else {
        got
    };
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["event"]["tenantId"], json!(ta));
    let log = s
        .get(&format!("/api/webhook-attempt?webhookId={hook}"))
        .await;
    assert_eq!(log.json["attempts"].as_array().unwrap().len(), 1, "{log:?}");
}

async fn a_failing_receiver_gets_the_event_with_growing_intervals(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let r = Receiver::start(Mode::Fail(3)).await;
    let (hook, _) = create_webhook(
        &s,
        json!({"url": r.url, "global": true, "eventsEnabled": enabled(&["user.login.failed"])}),
    )
    .await;
    assert_eq!(login(&s, &t, "nobody@example.com", "x").await, 404);
    let got = r.until("four requests", |g| g.len() >= 4).await;
    let ids: Vec<_> = got
        .iter()
        .map(|g| g.header("webhook-id").unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event id on every attempt: {ids:?}"
    );
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    // 50 ms, 100 ms, 200 ms, less up to half as jitter.
    assert!(gaps[0] >= Duration::from_millis(20), "{gaps:?}");
    assert!(gaps[2] > gaps[0], "the intervals grow: {gaps:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = s
            .get(&format!("/api/webhook-attempt?webhookId={hook}"))
            .await;
        let a = &log.json["attempts"][0];
        if a["status"] == "succeeded" {
            assert_eq!(a["attempts"], 4, "{a}");
            assert_eq!(a["lastStatus"], 200);
            break;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_dead_receiver_is_dead_lettered_then_replayed(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let r = Receiver::start(Mode::Hang).await;
    let (hook, _) = create_webhook(
        &s,
        json!({"url": r.url, "global": true, "connectTimeout": 200, "readTimeout": 200,
               "eventsEnabled": enabled(&["user.login.failed"])}),
    )
    .await;
    assert_eq!(login(&s, &t, "one@example.com", "x").await, 404);
    assert_eq!(login(&s, &t, "two@example.com", "x").await, 404);
    // Dead-lettered after the test servers' maximum age (3 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let log = s
            .get(&format!(
                "/api/webhook-attempt?webhookId={hook}&status=failed"
            ))
            .await;
        let list = log.json["attempts"].as_array().unwrap().clone();
        if list.len() == 2 {
            break list;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(dead[0]["attempts"].as_i64().unwrap() >= 2, "{dead:?}");
    assert!(
        dead[0]["lastError"].as_str().unwrap().contains("timed out"),
        "{dead:?}"
    );
    assert!(r.got().is_empty());
    // Each dead letter is an Error of the Event Log, which a tenant's key may not read.
    let log = s.get("/api/system/event-log?type=Error").await;
    assert_eq!(log.status, 200, "{log:?}");
    assert_eq!(log.json["total"], 2, "{log:?}");
    let entry = &log.json["eventLogs"][0];
    assert!(
        entry["message"].as_str().unwrap().contains(&hook),
        "{entry}"
    );
    assert_eq!(entry["type"], "Error");
    let one = s
        .get(&format!(
            "/api/system/event-log/{}",
            entry["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(one.json["eventLog"], *entry);
    let t_key = s.key_with(json!({"tenantId": t})).await;
    let refused = send(s.req_as(&t_key, "GET", "/api/system/event-log")).await;
    assert_eq!(refused.status, 401, "{refused:?}");

    *r.mode.lock().unwrap() = Mode::Ok;
    let one = dead[0]["id"].as_str().unwrap();
    let a = s
        .call(
            "POST",
            &format!("/api/webhook-attempt/{one}/retry"),
            Value::Null,
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["attempt"]["status"], "pending");
    let got = r.until("the replayed event", |g| !g.is_empty()).await;
    assert_eq!(got[0].header("webhook-id"), dead[0]["eventId"].as_str());
    // Retrying one that is not dead-lettered is refused; all the rest are retried at once.
    let again = s
        .call(
            "POST",
            &format!("/api/webhook-attempt/{one}/retry"),
            Value::Null,
        )
        .await;
    assert_eq!(again.status, 400, "{again:?}");
    let all = s
        .call("POST", &format!("/api/webhook/{hook}/retry"), Value::Null)
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.json["retried"], 1);
    r.until("both events", |g| g.len() >= 2).await;
}

/// Three nodes (this server's worker and two more, each on its own connection to the database)
/// deliver one outbox: every event arrives, none twice, since each attempt is claimed by one.
async fn three_nodes_deliver_each_event_once(b: Backend) {
    use portcullis_domain::{Identity, Sessions};
    use portcullis_workers::{Webhooks, Workers};
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let r = Receiver::start(Mode::Ok).await;
    create_webhook(
        &s,
        json!({"url": r.url, "global": true, "eventsEnabled": enabled(&["user.create"])}),
    )
    .await;
    let mut others = Workers::new(Duration::from_secs(2));
    for node in ["node-b", "node-c"] {
        let store = portcullis_store::SqlStore::connect_in_schema(&s.db.url, s.db.schema())
            .await
            .unwrap();
        let identity = Identity::new(Arc::new(store), portcullis_hash::HashPool::new(1, 8))
            .with_webhook_sender(portcullis_connect::webhooks::sender());
        others.spawn(Webhooks::new(
            Sessions::new(identity),
            node,
            test_webhook_settings(),
        ));
    }
    const N: usize = 150;
    for i in 0..N {
        let a = send(
            s.req("POST", "/api/user")
                .header("X-FusionAuth-TenantId", &t)
                .json(&json!({"user": {"email": format!("n{i}@example.com")}})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    let got = r.until("every event", |g| g.len() >= N).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = r.got().len().max(got.len());
    assert_eq!(got, N, "each event exactly once");
    others.stop().await;
}

/// Sets the tenant's transaction level of `kind`.
async fn set_level(s: &Server, tenant: &str, kind: &str, level: &str) {
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{tenant}"),
            json!({"tenant": {"eventConfiguration": {"events": {kind: {"enabled": true, "transactionType": level}}}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn create_user(s: &Server, tenant: &str, email: &str) -> Answer {
    send(
        s.req("POST", "/api/user")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({"user": {"email": email, "password": PASSWORD}})),
    )
    .await
}

async fn a_transaction_level_not_met_rolls_the_change_back(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Tx").await;
    let tid: uuid::Uuid = t.parse().unwrap();
    // An unknown level is refused.
    let bad = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"eventConfiguration": {"events": {"user.create": {"transactionType": "Most"}}}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(
        bad.json["fieldErrors"]["tenant.eventConfiguration.events[user.create].transactionType"]
            .is_array(),
        "{bad:?}"
    );
    // Event types Portcullis does not write are kept, as a FusionAuth export carries them.
    let kept = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"eventConfiguration": {"events": {"user.action": {"enabled": false, "transactionType": "None"}}}}}),
        )
        .await;
    assert_eq!(kept.status, 200, "{kept:?}");
    let r = Receiver::start(Mode::Fail(usize::MAX)).await;
    let (hook, _) = create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t], "eventsEnabled": enabled(&["user.create"])}),
    )
    .await;
    set_level(&s, &t, "user.create", "Any").await;
    let a = create_user(&s, &t, "refused@example.com").await;
    assert_eq!(a.status, 504, "{a:?}");
    assert_eq!(a.general_code(), Some("[WebhookTransactionException]"));
    let found = send(
        s.req("GET", "/api/user?email=refused@example.com")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(found.status, 404, "no user: {found:?}");
    let events =
        s.db.store
            .events(Some(tid), Some("user.create"), 10)
            .await
            .unwrap();
    assert!(events.is_empty(), "no event in the outbox: {events:?}");
    // The receiver was asked once, synchronously; nothing follows from the outbox.
    assert_eq!(r.got().len(), 1);
    assert_eq!(r.got()[0].event_type(), "user.create");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.got().len(), 1, "nothing delivered later");
    let log = s
        .get(&format!("/api/webhook-attempt?webhookId={hook}"))
        .await;
    assert_eq!(log.json["attempts"], json!([]), "{log:?}");

    // An import is one `user.bulk.create`, held for its level the same way.
    let a = s
        .call(
            "PATCH",
            &format!("/api/webhook/{hook}"),
            json!({"webhook": {"eventsEnabled": enabled(&["user.create", "user.bulk.create"])}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    set_level(&s, &t, "user.bulk.create", "AbsoluteMajority").await;
    let a = send(
        s.req("POST", "/api/user/import")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"users": [{"email": "imported@example.com"}]})),
    )
    .await;
    assert_eq!(a.status, 504, "{a:?}");
    assert_eq!(a.general_code(), Some("[WebhookTransactionException]"));
    let found = send(
        s.req("GET", "/api/user?email=imported@example.com")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(found.status, 404, "nothing imported: {found:?}");
    assert_eq!(r.got().len(), 2);
    assert_eq!(r.got()[1].event_type(), "user.bulk.create");

    // At `None` the change commits and the event is delivered afterwards, through the outbox.
    set_level(&s, &t, "user.create", "None").await;
    let a = create_user(&s, &t, "later@example.com").await;
    assert_eq!(a.status, 200, "{a:?}");
    *r.mode.lock().unwrap() = Mode::Ok;
    let got = r
        .until("the event through the outbox", |g| {
            g.iter()
                .any(|x| x.json()["event"]["user"]["email"] == "later@example.com")
        })
        .await;
    assert!(got.len() >= 2, "{got:?}");
}

async fn a_simple_majority_commits_and_each_receiver_gets_the_event_once(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Majority").await;
    let ok1 = Receiver::start(Mode::Ok).await;
    let ok2 = Receiver::start(Mode::Ok).await;
    let failing = Receiver::start(Mode::Fail(1)).await;
    let mut hooks = Vec::new();
    for r in [&ok1, &ok2, &failing] {
        hooks.push(
            create_webhook(
                &s,
                json!({"url": r.url, "tenantIds": [t], "eventsEnabled": enabled(&["user.create"])}),
            )
            .await
            .0,
        );
    }
    set_level(&s, &t, "user.create", "SimpleMajority").await;
    let a = create_user(&s, &t, "majority@example.com").await;
    assert_eq!(a.status, 200, "{a:?}");
    let user = a.json["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(ok1.got().len(), 1, "called before the answer");
    assert_eq!(ok2.got().len(), 1);
    // The one that refused gets it from the outbox, with the same event id.
    let got = failing.until("the retried event", |g| g.len() >= 2).await;
    let id = ok1.got()[0].header("webhook-id").unwrap().to_string();
    assert!(got
        .iter()
        .all(|g| g.header("webhook-id") == Some(id.as_str())));
    assert_eq!(got[1].json()["event"]["user"]["id"], json!(user));
    // The two that answered are recorded as delivered and are not sent it again.
    for hook in &hooks[..2] {
        let log = s
            .get(&format!("/api/webhook-attempt?webhookId={hook}"))
            .await;
        let attempts = log.json["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{log:?}");
        assert_eq!(attempts[0]["status"], "succeeded");
        assert_eq!(attempts[0]["eventId"], json!(id));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ok1.got().len(), 1);
    assert_eq!(ok2.got().len(), 1);

    set_level(&s, &t, "user.update", "AbsoluteMajority").await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/user/{user}"),
            json!({"user": {"firstName": "Maj"}}),
        )
        .await;
    // No webhook enables `user.update`: nothing to ask, so every level is met.
    assert_eq!(a.status, 200, "{a:?}");
}

async fn a_dead_receiver_bounds_a_transactional_request(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Dead").await;
    let r = Receiver::start(Mode::Hang).await;
    create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t], "connectTimeout": 200, "readTimeout": 300,
               "eventsEnabled": enabled(&["user.create"])}),
    )
    .await;
    set_level(&s, &t, "user.create", "AbsoluteMajority").await;
    let started = Instant::now();
    let a = create_user(&s, &t, "slow@example.com").await;
    let took = started.elapsed();
    assert_eq!(a.status, 504, "{a:?}");
    // The webhook's timeouts (500 ms together) bound the wait; the receiver would take 60 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let found = send(
        s.req("GET", "/api/user?email=slow@example.com")
            .header("X-FusionAuth-TenantId", &t),
    )
    .await;
    assert_eq!(found.status, 404, "{found:?}");
}

async fn email_verified_and_refresh_token_revoke_arrive_with_their_info(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Ev").await;
    let kid = new_key(&s, &t, "RS256").await;
    let r = Receiver::start(Mode::Ok).await;
    let (_, secret) = create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t],
               "eventsEnabled": enabled(&["user.email.verified", "jwt.refresh-token.revoke"]),
               "signatureConfiguration": {"enabled": true, "signingKeyId": kid}}),
    )
    .await;
    let app = s.new_app(&t, "Revoking", &[]).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/application/{app}"),
            json!({"application": {"loginConfiguration": {"generateRefreshTokens": true},
                   "jwtConfiguration": {"enabled": true, "timeToLiveInSeconds": 600}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let user = s.new_user(&t, "verify@example.com").await;
    let a = s
        .call(
            "POST",
            &format!("/api/user/registration/{user}"),
            json!({"registration": {"applicationId": app}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = send(
        s.req("PATCH", &format!("/api/user/{user}"))
            .header("User-Agent", "verifier/1.0")
            .json(&json!({"user": {"verified": true}})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"loginId": "verify@example.com", "password": PASSWORD, "applicationId": app})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let refresh_token = a.json["refreshToken"].as_str().unwrap().to_string();
    let a = send(
        s.req("DELETE", &format!("/api/jwt/refresh?userId={user}"))
            .header("User-Agent", "revoker/2.0"),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let got = r
        .until("both events", |g| {
            g.iter().any(|x| x.event_type() == "user.email.verified")
                && g.iter()
                    .any(|x| x.event_type() == "jwt.refresh-token.revoke")
        })
        .await;
    let jwks = format!("{}/.well-known/jwks.json", s.url);
    for g in &got {
        verify(g, &secret, Some(jwks.clone()), None).await;
        assert!(!g.body.contains(&refresh_token), "no token in an event");
        assert!(!g.body.contains(PASSWORD));
        let e = &g.json()["event"];
        assert_eq!(e["tenantId"], json!(t), "{e}");
        assert_eq!(e["info"]["ipAddress"], "127.0.0.1", "{e}");
        match e["type"].as_str().unwrap() {
            "user.email.verified" => {
                assert_eq!(e["user"]["id"], json!(user), "{e}");
                assert_eq!(e["user"]["email"], "verify@example.com");
                assert_eq!(e["info"]["userAgent"], "verifier/1.0", "{e}");
            }
            "jwt.refresh-token.revoke" => {
                assert_eq!(e["userId"], json!(user), "{e}");
                assert_eq!(e["user"]["id"], json!(user), "{e}");
                assert_eq!(
                    e["applicationTimeToLiveInSeconds"],
                    json!({ &app: 600 }),
                    "{e}"
                );
                assert_eq!(e["info"]["userAgent"], "revoker/2.0", "{e}");
            }
            other => panic!("unexpected event {other}"),
        }
    }
}

async fn a_global_logout_of_the_users_one_refresh_token_writes_its_revoke_event(b: Backend) {
    let s = Server::start(b).await;
    let t = s.new_tenant("Logout").await;
    let r = Receiver::start(Mode::Ok).await;
    create_webhook(
        &s,
        json!({"url": r.url, "tenantIds": [t],
               "eventsEnabled": enabled(&["jwt.refresh-token.revoke"])}),
    )
    .await;
    let app = s.new_app(&t, "Signing out", &[]).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/application/{app}"),
            json!({"application": {"loginConfiguration": {"generateRefreshTokens": true}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let user = s.new_user(&t, "leaving@example.com").await;
    let a = s
        .call(
            "POST",
            &format!("/api/user/registration/{user}"),
            json!({"registration": {"applicationId": app}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"loginId": "leaving@example.com", "password": PASSWORD, "applicationId": app})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let refresh_token = a.json["refreshToken"].as_str().unwrap().to_string();
    let a = s
        .call(
            "POST",
            "/api/logout",
            json!({"global": true, "refreshToken": refresh_token}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let got = r
        .until("the revoke event", |g| {
            g.iter()
                .any(|x| x.event_type() == "jwt.refresh-token.revoke")
        })
        .await;
    let revokes: Vec<Value> = got
        .iter()
        .filter(|g| g.event_type() == "jwt.refresh-token.revoke")
        .map(|g| g.json()["event"].clone())
        .collect();
    assert_eq!(revokes[0]["userId"], json!(user), "{revokes:?}");
    assert!(!got.iter().any(|g| g.body.contains(&refresh_token)));
    // The token is gone: presenting it again is refused.
    let a = send(
        s.req("POST", "/api/jwt/refresh")
            .json(&json!({"refreshToken": refresh_token})),
    )
    .await;
    assert_ne!(a.status, 200, "{a:?}");
}

/// Attempts claimed ahead for a webhook that is then deleted are not made: its slots finish the
/// requests they started and take no other.
async fn a_deleted_webhook_gets_no_request_it_had_not_started(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let r = Receiver::start(Mode::Slow(Duration::from_secs(1))).await;
    let (hook, _) = create_webhook(
        &s,
        json!({"url": r.url, "global": true, "eventsEnabled": enabled(&["user.create"])}),
    )
    .await;
    for i in 0..20 {
        let a = create_user(&s, &t, &format!("deleted-hook-{i}@example.com")).await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    // Every slot (4 in tests) holds a request; the other events wait, claimed ahead.
    r.until("a request in every slot", |g| g.len() >= 4).await;
    let a = s
        .call("DELETE", &format!("/api/webhook/{hook}"), Value::Null)
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let started = r.got().len();
    assert!(
        started < 20,
        "the receiver is slow, so most events still wait"
    );
    // Past the slow answers of the requests in flight, and then some.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        r.got().len(),
        started,
        "no request starts for a deleted webhook"
    );
}
