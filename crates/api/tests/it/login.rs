//! The Login API and JWTs: every status code, claims checked by PyJWT against our JWKS, key
//! storage, rehash on login, refresh-token rotation and brute-force locks.

use crate::support::*;
use portcullis_domain::{Identity, Scope, SessionStore, Sessions, Store};
use portcullis_hash::HashPool;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

portcullis_store::on_both_backends!(
    login_by_email_or_username_answers_a_jwt_with_fusionauth_claims,
    unknown_user_and_wrong_password_get_the_same_404,
    login_answers_202_203_212_409_410_and_400_as_fusionauth,
    a_user_of_tenant_a_cannot_log_in_through_tenant_b,
    validate_accepts_our_tokens_and_rejects_forged_or_missing_ones,
    token_lifetime_comes_from_the_tenant_and_the_application,
    signing_keys_are_stored_and_only_public_halves_are_published,
    refresh_tokens_rotate_and_a_reused_one_revokes_its_family,
    concurrent_grants_with_one_token_let_exactly_one_win,
    refresh_tokens_are_revoked_by_token_user_or_application,
    login_rehashes_a_salted_md5_user_to_the_tenant_scheme,
    failed_logins_lock_the_account_until_the_lock_ends,
    failed_logins_from_one_ip_lock_that_ip,
    concurrent_wrong_passwords_are_verified_at_most_too_many_attempts_times,
    a_right_password_resets_the_count_and_successes_never_lock_their_address,
    a_wrong_password_costs_as_much_for_a_cheap_imported_hash_as_for_an_unknown_user,
    an_ip_lock_holds_however_the_address_is_written,
    bad_login_ids_and_ip_addresses_are_field_errors_before_anything_is_read_or_written,
    change_password_checks_the_current_password_and_the_rules_and_revokes_refresh_tokens,
    a_203_login_gives_an_id_that_changes_the_password_once,
    new_passwords_get_the_tenant_scheme,
    a_rotated_key_signs_while_the_old_one_stays_published_until_its_tokens_expire,
    imported_refresh_tokens_keep_old_sessions_alive,
    a_full_hashing_pool_answers_busy_instead_of_queueing,
    tenant_password_rules_apply_when_users_are_created_and_replaced,
    a_huge_lock_duration_in_the_stored_settings_still_locks,
    a_huge_token_lifetime_in_the_stored_settings_still_issues_tokens_that_validate,
    costly_verifies_leave_the_main_lane_to_logins_with_the_tenant_scheme,
);

const PASSWORD: &str = "correct horse";

/// Default tenant, an application with roles `admin` and `user`, and a user registered with
/// `admin`. Returns (tenant, app, user id).
async fn fixture(s: &Server) -> (String, String, String) {
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["admin", "user"]).await;
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({"user": {"email": "Jane@Example.com", "username": "jane", "password": PASSWORD},
                   "registration": {"applicationId": app, "roles": ["admin"]}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    (t, app, a.json["user"]["id"].as_str().unwrap().to_string())
}

async fn login(s: &Server, body: Value) -> Answer {
    s.call("POST", "/api/login", body).await
}

async fn patch_tenant(s: &Server, t: &str, tenant: Value) {
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({ "tenant": tenant }),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// Verifies `token` with PyJWT against our `/.well-known/jwks.json` and returns its claims.
pub(crate) async fn pyjwt_claims(s: &Server, token: &str, audience: Option<&str>) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/jwt/verify.py");
    let mut args = vec![
        script.to_string(),
        format!("{}/.well-known/jwks.json", s.url),
        token.to_string(),
    ];
    args.extend(audience.map(str::to_string));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .expect("python3 runs (the token tests need it: scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "PyJWT is missing: run `pip install -r tests/jwt/requirements.txt` (scripts/test does it). {stderr}"
    );
    assert!(out.status.success(), "PyJWT rejected the token: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn login_by_email_or_username_answers_a_jwt_with_fusionauth_claims(b: Backend) {
    let s = Server::start(b).await;
    let (t, app, uid) = fixture(&s).await;
    let before = portcullis_domain::now_millis();
    let a = login(
        &s,
        json!({"loginId": "JANE@example.COM", "password": PASSWORD, "applicationId": app}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["user"]["id"], uid);
    assert!(a.json["user"].get("password").is_none());
    assert!(
        a.json.get("refreshToken").is_none(),
        "the app does not issue them"
    );
    let token = a.json["token"].as_str().unwrap();
    let c = pyjwt_claims(&s, token, Some(&app)).await;
    assert_eq!(c["sub"], uid);
    assert_eq!(c["aud"], app);
    assert_eq!(c["applicationId"], app);
    assert_eq!(c["tid"], t);
    assert_eq!(c["roles"], json!(["admin"]));
    assert_eq!(c["email"], "Jane@Example.com");
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["preferred_username"], "jane");
    assert_eq!(c["authenticationType"], "PASSWORD");
    assert_eq!(c["iss"], "portcullis");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert!(c["auth_time"].as_i64().unwrap() >= before / 1000);
    assert!(c["sid"].is_string() && c["jti"].is_string());
    assert_eq!(
        a.json["tokenExpirationInstant"].as_i64().unwrap(),
        c["exp"].as_i64().unwrap() * 1000
    );

    let u = s.get(&format!("/api/user/{uid}")).await;
    let last = u.json["user"]["lastLoginInstant"].as_i64().unwrap();
    assert!(last >= before);
    assert_eq!(
        u.json["user"]["registrations"][0]["lastLoginInstant"].as_i64(),
        Some(last)
    );

    let by_name = login(&s, json!({"loginId": "Jane", "password": PASSWORD})).await;
    assert_eq!(by_name.status, 200, "{by_name:?}");
    let c = pyjwt_claims(&s, by_name.json["token"].as_str().unwrap(), None).await;
    assert!(c.get("aud").is_none() && c.get("roles").is_none());

    let no_jwt = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "noJWT": true}),
    )
    .await;
    assert_eq!(no_jwt.status, 200);
    assert!(no_jwt.json.get("token").is_none());
}

async fn unknown_user_and_wrong_password_get_the_same_404(b: Backend) {
    let s = Server::start(b).await;
    fixture(&s).await;
    // Warm up: the first unknown-user login makes the dummy hash.
    login(
        &s,
        json!({"loginId": "nobody@example.com", "password": "x"}),
    )
    .await;
    let (mut unknown, mut wrong) = (Duration::ZERO, Duration::ZERO);
    for i in 0..4 {
        let t0 = Instant::now();
        let a = login(
            &s,
            json!({"loginId": format!("nobody{i}@example.com"), "password": PASSWORD}),
        )
        .await;
        unknown += t0.elapsed();
        let t0 = Instant::now();
        let w = login(
            &s,
            json!({"loginId": "jane@example.com", "password": format!("wrong {i}")}),
        )
        .await;
        wrong += t0.elapsed();
        assert_eq!((a.status, w.status), (404, 404));
        assert_eq!(a.text, "");
        assert_eq!(w.text, "");
    }
    println!(
        "unknown user {unknown:?} vs wrong password {wrong:?} over 4 logins: ratio {:.2}",
        unknown.as_secs_f64() / wrong.as_secs_f64()
    );
}

async fn login_answers_202_203_212_409_410_and_400_as_fusionauth(b: Backend) {
    let s = Server::start(b).await;
    let (t, app, uid) = fixture(&s).await;
    let other_app = s.new_app(&t, "Blog", &[]).await;
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": other_app}),
    )
    .await;
    assert_eq!(a.status, 202, "not registered: {a:?}");
    assert!(a.json["token"].is_string());
    assert_eq!(a.json["user"]["id"], uid);

    let p = s
        .call(
            "PATCH",
            &format!("/api/user/{uid}"),
            json!({"user": {"passwordChangeRequired": true}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(a.status, 203, "{a:?}");
    assert!(a.json["changePasswordId"].as_str().unwrap().len() >= 32);
    assert!(a.json.get("token").is_none());
    let wrong = login(&s, json!({"loginId": "jane", "password": "nope"})).await;
    assert_eq!(wrong.status, 404, "the password is checked first");

    patch_tenant(&s, &t, json!({"emailConfiguration": {"verifyEmail": true}})).await;
    let other = s.new_user(&t, "unverified@example.com").await;
    let a = login(
        &s,
        json!({"loginId": "unverified@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 212, "email not verified: {a:?}");
    assert!(a.json["token"].is_string());
    s.call(
        "PATCH",
        &format!("/api/user/{other}"),
        json!({"user": {"verified": true}}),
    )
    .await;
    let a = login(
        &s,
        json!({"loginId": "unverified@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 200, "verified now: {a:?}");
    patch_tenant(
        &s,
        &t,
        json!({"emailConfiguration": {"verifyEmail": false}}),
    )
    .await;

    let other = s.new_user(&t, "old@example.com").await;
    s.call(
        "PATCH",
        &format!("/api/user/{other}"),
        json!({"user": {"expiry": 1000}}),
    )
    .await;
    let a = login(
        &s,
        json!({"loginId": "old@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 410, "{a:?}");

    let d = s
        .call("DELETE", &format!("/api/user/{other}"), json!(null))
        .await;
    assert_eq!(d.status, 200, "{d:?}");
    let a = login(
        &s,
        json!({"loginId": "old@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 409, "inactive: {a:?}");

    let a = login(&s, json!({"password": PASSWORD})).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.field_code("loginId"), Some("[blank]loginId"));
    let a = login(&s, json!({"loginId": "jane"})).await;
    assert_eq!(a.field_code("password"), Some("[blank]password"));
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(
        a.field_code("applicationId"),
        Some("[invalid]applicationId")
    );
    let _ = app;
}

async fn a_user_of_tenant_a_cannot_log_in_through_tenant_b(b: Backend) {
    let s = Server::start(b).await;
    let a = s.default_tenant().await;
    let tb = s.new_tenant("B").await;
    s.new_user(&a, "jane@example.com").await;
    let key_b = s.key_with(json!({"tenantId": tb})).await;
    let through_b = send(
        s.req_as(&key_b, "POST", "/api/login")
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(through_b.status, 404);
    let header_b = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &tb)
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(header_b.status, 404);
    let through_a = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &a)
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(through_a.status, 200);
    let no_key = send(
        s.req_as("", "POST", "/api/login")
            .json(&json!({"loginId": "jane@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(no_key.status, 401);
}

async fn validate_accepts_our_tokens_and_rejects_forged_or_missing_ones(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, uid) = fixture(&s).await;
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
    )
    .await;
    let token = a.json["token"].as_str().unwrap().to_string();
    let validate = |auth: String| {
        send(
            s.http
                .get(format!("{}/api/jwt/validate", s.url))
                .header("Authorization", auth),
        )
    };
    let v = validate(format!("Bearer {token}")).await;
    assert_eq!(v.status, 200, "{v:?}");
    assert_eq!(v.json["jwt"]["sub"], uid);
    assert_eq!(v.json["jwt"]["roles"], json!(["admin"]));

    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    use base64::Engine as _;
    let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": uid, "roles": ["superuser"], "exp": 4_000_000_000i64}).to_string());
    let forged = format!("{head}.{forged_claims}.{sig}");
    assert_eq!(validate(format!("Bearer {forged}")).await.status, 401);
    assert_eq!(validate("Bearer not.a.jwt".into()).await.status, 401);
    assert_eq!(
        validate(s.key.clone()).await.status,
        401,
        "an API key is no JWT"
    );
    let none = send(s.http.get(format!("{}/api/jwt/validate", s.url))).await;
    assert_eq!(none.status, 401);
}

async fn token_lifetime_comes_from_the_tenant_and_the_application(b: Backend) {
    let s = Server::start(b).await;
    let (t, app, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"issuer": "acme.example", "jwtConfiguration": {"timeToLiveInSeconds": 600}}),
    )
    .await;
    let ttl = |a: &Answer| {
        let claims = a.json["token"].as_str().unwrap().split('.').nth(1).unwrap();
        use base64::Engine as _;
        let c: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        (
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            c["iss"].clone(),
        )
    };
    let body = json!({"loginId": "jane", "password": PASSWORD, "applicationId": app});
    assert_eq!(
        ttl(&login(&s, body.clone()).await),
        (600, json!("acme.example"))
    );
    s.call(
        "PATCH",
        &format!("/api/application/{app}"),
        json!({"application": {"jwtConfiguration": {"enabled": true, "timeToLiveInSeconds": 60}}}),
    )
    .await;
    assert_eq!(ttl(&login(&s, body.clone()).await).0, 60);
    s.call(
        "PATCH",
        &format!("/api/application/{app}"),
        json!({"application": {"jwtConfiguration": {"enabled": false}}}),
    )
    .await;
    assert_eq!(
        ttl(&login(&s, body).await).0,
        600,
        "a disabled override is ignored"
    );
}

async fn signing_keys_are_stored_and_only_public_halves_are_published(b: Backend) {
    let s = Server::start(b).await;
    let (t, app, _) = fixture(&s).await;
    let tb = s.new_tenant("B").await;
    s.new_user(&tb, "bob@example.com").await;
    let a = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"loginId": "jane", "password": PASSWORD, "applicationId": app})),
    )
    .await;
    let token = a.json["token"].as_str().unwrap().to_string();
    let b_login = send(
        s.req("POST", "/api/login")
            .header("X-FusionAuth-TenantId", &tb)
            .json(&json!({"loginId": "bob@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(b_login.status, 200);
    pyjwt_claims(&s, b_login.json["token"].as_str().unwrap(), None).await;

    let jwks = send(s.http.get(format!("{}/.well-known/jwks.json", s.url))).await;
    let keys = jwks.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "one key per tenant: {jwks:?}");
    for k in keys {
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["kty"], "EC");
        assert!(k.get("d").is_none(), "no private part: {k}");
    }
    let pk = send(
        s.http
            .get(format!("{}/api/jwt/public-key?applicationId={app}", s.url)),
    )
    .await;
    assert_eq!(pk.status, 200, "{pk:?}");
    assert!(pk.json["publicKey"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let kid = portcullis_jwt::key_id(&token).unwrap();
    for q in ["keyId", "kid"] {
        let one = send(
            s.http
                .get(format!("{}/api/jwt/public-key?{q}={kid}", s.url)),
        )
        .await;
        assert_eq!(one.status, 200, "{one:?}");
        assert_eq!(one.json["publicKey"], pk.json["publicKey"]);
    }
    let none = send(s.http.get(format!("{}/api/jwt/public-key?kid=nope", s.url))).await;
    assert_eq!(none.status, 404);
    let all = send(s.http.get(format!("{}/api/jwt/public-key", s.url))).await;
    assert_eq!(all.json["publicKeys"].as_object().unwrap().len(), 2);

    // Another node on the same database (an empty key cache) verifies the token and signs with
    // the same key.
    let other = Sessions::new(Identity::new(
        Arc::new(s.db.store.clone()),
        HashPool::new(1, 4),
    ));
    let claims = other
        .tokens()
        .verify(&token, &Default::default())
        .await
        .unwrap()
        .claims;
    assert_eq!(claims["tid"], t);
    let tid = uuid::Uuid::parse_str(&t).unwrap();
    assert_eq!(other.tokens().signing_key(tid).await.unwrap().kid(), kid);
    let stored = s.db.store.signing_keys(Some(tid)).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!jwks.text.contains(&stored[0].secret));
}

async fn enable_refresh_tokens(s: &Server, app: &str) {
    let a = s
        .call(
            "PATCH",
            &format!("/api/application/{app}"),
            json!({"application": {"loginConfiguration": {"generateRefreshTokens": true}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn refresh(s: &Server, token: &str) -> Answer {
    send(
        s.http
            .post(format!("{}/api/jwt/refresh", s.url))
            .json(&json!({ "refreshToken": token })),
    )
    .await
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, uid) = fixture(&s).await;
    enable_refresh_tokens(&s, &app).await;
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
    )
    .await;
    assert_eq!(a.status, 200);
    let r0 = a.json["refreshToken"].as_str().unwrap().to_string();
    assert!(a.json["refreshTokenId"].is_string());
    let first = pyjwt_claims(&s, a.json["token"].as_str().unwrap(), Some(&app)).await;

    // Only the SHA-256 is stored.
    assert!(s
        .db
        .store
        .refresh_token(&portcullis_domain::secrets::stored_hash(&r0))
        .await
        .unwrap()
        .is_some());
    assert!(s.db.store.refresh_token(&r0).await.unwrap().is_none());

    let n1 = refresh(&s, &r0).await;
    assert_eq!(n1.status, 200, "{n1:?}");
    let r1 = n1.json["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(r1, r0, "rotated");
    let c = pyjwt_claims(&s, n1.json["token"].as_str().unwrap(), Some(&app)).await;
    assert_eq!(c["sub"], uid);
    assert_eq!(c["sid"], first["sid"], "same session");
    assert_eq!(c["auth_time"], first["auth_time"]);
    assert_eq!(c["roles"], json!(["admin"]));

    let n2 = refresh(&s, &r1).await;
    assert_eq!(n2.status, 200);
    let r2 = n2.json["refreshToken"].as_str().unwrap().to_string();

    // r0 was already used: someone holds a copy. The whole family goes.
    assert_eq!(refresh(&s, &r0).await.status, 404);
    assert_eq!(refresh(&s, &r2).await.status, 404, "family revoked");
    assert_eq!(refresh(&s, "made-up").await.status, 404);
    let blank = refresh(&s, "").await;
    assert_eq!(
        blank.field_code("refreshToken"),
        Some("[blank]refreshToken")
    );
}

/// Two grants presenting one token at the same moment (a stolen copy used in parallel): exactly
/// one wins, and the loser revokes the family, the winner's new token with it.
async fn concurrent_grants_with_one_token_let_exactly_one_win(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, _) = fixture(&s).await;
    enable_refresh_tokens(&s, &app).await;
    for _ in 0..3 {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
        )
        .await;
        let r0 = a.json["refreshToken"].as_str().unwrap().to_string();
        let (a1, a2, a3, a4) = tokio::join!(
            refresh(&s, &r0),
            refresh(&s, &r0),
            refresh(&s, &r0),
            refresh(&s, &r0)
        );
        let answers = [a1, a2, a3, a4];
        let won: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(won.len(), 1, "{answers:?}");
        assert!(answers.iter().all(|a| a.status == 200 || a.status == 404));
        let next = won[0].json["refreshToken"].as_str().unwrap();
        assert_eq!(refresh(&s, next).await.status, 404, "family revoked");
    }
}

async fn refresh_tokens_are_revoked_by_token_user_or_application(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, uid) = fixture(&s).await;
    enable_refresh_tokens(&s, &app).await;
    let new_token = || async {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
        )
        .await;
        a.json["refreshToken"].as_str().unwrap().to_string()
    };
    let server = &s;
    let revoke = |q: String| async move {
        send(server.req("DELETE", &format!("/api/jwt/refresh?{q}"))).await
    };
    let t1 = new_token().await;
    let t2 = new_token().await;
    assert_eq!(revoke(format!("token={t1}")).await.status, 200);
    assert_eq!(refresh(&s, &t1).await.status, 404);
    assert_eq!(refresh(&s, &t2).await.status, 200, "only that token");

    let t3 = new_token().await;
    assert_eq!(revoke(format!("userId={uid}")).await.status, 200);
    assert_eq!(refresh(&s, &t3).await.status, 404);

    let t4 = new_token().await;
    assert_eq!(revoke(format!("applicationId={app}")).await.status, 200);
    assert_eq!(refresh(&s, &t4).await.status, 404);

    let t5 = new_token().await;
    let no_key = send(s.req_as("", "DELETE", &format!("/api/jwt/refresh?userId={uid}"))).await;
    assert_eq!(no_key.status, 401, "revoking needs an API key");
    assert_eq!(revoke(String::new()).await.status, 400);
    assert_eq!(refresh(&s, &t5).await.status, 200);

    // Deactivating the user makes their refresh tokens useless.
    let t6 = new_token().await;
    s.call("DELETE", &format!("/api/user/{uid}"), json!(null))
        .await;
    assert_eq!(refresh(&s, &t6).await.status, 404);
}

async fn login_rehashes_a_salted_md5_user_to_the_tenant_scheme(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let tid = uuid::Uuid::parse_str(&t).unwrap();
    let a = s
        .call(
            "POST",
            "/api/user",
            json!({"user": {"email": "old@example.com"}}),
        )
        .await;
    let uid = uuid::Uuid::parse_str(a.json["user"]["id"].as_str().unwrap()).unwrap();
    let md5 = portcullis_hash::hash_password("salted-md5", Some(1), b"legacy pw").unwrap();
    let imported =
        portcullis_hash::parse_import("salted-md5", Some(1), Some(&md5.salt), &md5.hash).unwrap();
    let mut stored = s.db.store.user(Scope::ALL, uid).await.unwrap().unwrap();
    stored.credential = Some(imported);
    s.db.store.update_user(&stored).await.unwrap();

    // Without modifyEncryptionSchemeOnLogin the credential stays as it is.
    let body = json!({"loginId": "old@example.com", "password": "legacy pw"});
    assert_eq!(login(&s, body.clone()).await.status, 200);
    let cred = |s: &Server| {
        let store = s.db.store.clone();
        async move {
            store
                .user(Scope::tenant(tid), uid)
                .await
                .unwrap()
                .unwrap()
                .credential
                .unwrap()
        }
    };
    assert_eq!(cred(&s).await.scheme, "salted-md5");

    patch_tenant(
        &s,
        &t,
        json!({"passwordEncryptionConfiguration": {"encryptionScheme": "argon2id",
               "encryptionSchemeFactor": 1, "modifyEncryptionSchemeOnLogin": true}}),
    )
    .await;
    assert_eq!(
        login(
            &s,
            json!({"loginId": "old@example.com", "password": "wrong"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        cred(&s).await.scheme,
        "salted-md5",
        "no rehash on a failure"
    );
    assert_eq!(login(&s, body.clone()).await.status, 200);
    let after = cred(&s).await;
    assert!(after.hash.starts_with("$argon2id$"), "{after:?}");
    assert!(!portcullis_hash::needs_rehash(&after, "argon2id", 1));
    assert_eq!(
        login(&s, body).await.status,
        200,
        "the next login still works"
    );
    assert_eq!(cred(&s).await, after, "and changes nothing");
}

async fn failed_logins_lock_the_account_until_the_lock_ends(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 3,
               "resetCountInSeconds": 60, "actionDuration": 2, "actionDurationUnit": "SECONDS"}}),
    )
    .await;
    for _ in 0..3 {
        let a = login(&s, json!({"loginId": "jane", "password": "guess"})).await;
        assert_eq!(a.status, 404);
    }
    let locked = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(locked.status, 423, "even the right password: {locked:?}");
    assert_eq!(locked.general_code(), Some("[LoginLocked]"));
    let until = locked.json["lockExpirationInstant"].as_i64().unwrap();
    let now = portcullis_domain::now_millis();
    assert!(until > now && until <= now + 2_000, "{until} vs {now}");

    // A login id that does not exist locks the same way: a lock tells nothing about accounts.
    for _ in 0..3 {
        login(&s, json!({"loginId": "ghost", "password": "guess"})).await;
    }
    assert_eq!(
        login(&s, json!({"loginId": "ghost", "password": "guess"}))
            .await
            .status,
        423
    );

    tokio::time::sleep(Duration::from_millis((until - now + 100) as u64)).await;
    let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(a.status, 200, "the lock has ended: {a:?}");
    // A success resets the count: two more failures do not lock.
    for _ in 0..2 {
        login(&s, json!({"loginId": "jane", "password": "guess"})).await;
    }
    assert_eq!(
        login(&s, json!({"loginId": "jane", "password": PASSWORD}))
            .await
            .status,
        200
    );
}

async fn failed_logins_from_one_ip_lock_that_ip(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 2,
               "actionDuration": 1, "actionDurationUnit": "MINUTES"}}),
    )
    .await;
    for who in ["a@example.com", "b@example.com"] {
        let a = login(
            &s,
            json!({"loginId": who, "password": "guess", "ipAddress": "203.0.113.9"}),
        )
        .await;
        assert_eq!(a.status, 404);
    }
    let from_ip = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "ipAddress": "203.0.113.9"}),
    )
    .await;
    assert_eq!(from_ip.status, 423);
    let elsewhere = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "ipAddress": "198.51.100.1"}),
    )
    .await;
    assert_eq!(elsewhere.status, 200);
}

async fn an_ip_lock_holds_however_the_address_is_written(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 2,
               "actionDuration": 1, "actionDurationUnit": "MINUTES"}}),
    )
    .await;
    // Two failures from one address, each for a login id of its own (so only the IP locks).
    let fail_from = |ip: &'static str, who: [&'static str; 2]| {
        let s = &s;
        async move {
            for who in who {
                let a = login(
                    s,
                    json!({"loginId": who, "password": "guess", "ipAddress": ip}),
                )
                .await;
                assert_eq!(a.status, 404, "{ip}: {a:?}");
            }
        }
    };
    fail_from("203.0.113.7", ["a@example.com", "b@example.com"]).await;
    for ip in [
        "203.0.113.7",
        " 203.0.113.7 ",
        "::ffff:203.0.113.7",
        "::FFFF:CB00:7107",
        "0:0:0:0:0:ffff:203.0.113.7",
        "203.0.113.7:4444",
        "[::ffff:203.0.113.7]:443",
    ] {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": PASSWORD, "ipAddress": ip}),
        )
        .await;
        assert_eq!(a.status, 423, "{ip} is 203.0.113.7: {a:?}");
        let a = s
            .call(
                "POST",
                "/api/user/change-password",
                json!({"loginId": "jane", "currentPassword": PASSWORD,
                       "password": "a new password", "ipAddress": ip}),
            )
            .await;
        assert_eq!(a.status, 423, "change password from {ip}: {a:?}");
    }
    // IPv6 has one text too, whatever the case and zero compression.
    fail_from("2001:DB8:0:0:0:0:0:1", ["c@example.com", "d@example.com"]).await;
    for ip in ["2001:db8::1", "[2001:db8::1]:80", "2001:0db8::0001"] {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": PASSWORD, "ipAddress": ip}),
        )
        .await;
        assert_eq!(a.status, 423, "{ip} is 2001:db8::1: {a:?}");
    }
    // Anything that is not one IP address is refused, and counts nothing.
    let junk = [
        "203.0.113.007",
        "0203.0.113.7",
        "203.0.113",
        "203.0.113.7.1",
        "203.0.113.256",
        "203.0.113.7:99999",
        "203.0.113.7/32",
        "2001:db8::g",
        "not an address",
        "203.0.113.7\u{0}",
        "203.0.\u{1}113.7",
    ];
    for ip in junk {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": PASSWORD, "ipAddress": ip}),
        )
        .await;
        assert_eq!(
            (a.status, a.field_code("ipAddress")),
            (400, Some("[invalid]ipAddress")),
            "{ip:?}: {a:?}"
        );
    }
    // Other addresses are not locked, and the events name the canonical address.
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "ipAddress": "::ffff:198.51.100.1"}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let events =
        s.db.store
            .events(None, Some("user.login.success"), 1)
            .await
            .unwrap();
    assert_eq!(events[0].body["event"]["ipAddress"], "198.51.100.1");
    let failed =
        s.db.store
            .events(None, Some("user.login.failed"), 100)
            .await
            .unwrap();
    assert_eq!(failed.len(), 4, "only the four real failures count");
    assert!(failed.iter().all(|e| ["203.0.113.7", "2001:db8::1"]
        .contains(&e.body["event"]["ipAddress"].as_str().unwrap())));
}

async fn bad_login_ids_and_ip_addresses_are_field_errors_before_anything_is_read_or_written(
    b: Backend,
) {
    let s = Server::start(b).await;
    fixture(&s).await;
    // Far over the bound, and over what a PostgreSQL index row holds (~2.7 KB).
    let long = format!("{}@example.com", "j".repeat(60_000));
    let just_over = format!("{}@example.com", "j".repeat(321 - 12));
    let cases: [(&str, &str); 6] = [
        ("jane\u{0}", "[invalid]loginId"),
        ("ja\u{0}ne@example.com", "[invalid]loginId"),
        ("ja\u{7}ne", "[invalid]loginId"),
        ("jane\u{7f}", "[invalid]loginId"),
        (&long, "[tooLong]loginId"),
        (&just_over, "[tooLong]loginId"),
    ];
    for (id, code) in cases {
        let what = &id[..id.len().min(16)];
        let a = login(&s, json!({"loginId": id, "password": PASSWORD})).await;
        assert_eq!(
            (a.status, a.field_code("loginId")),
            (400, Some(code)),
            "login {what:?}: {}",
            &a.text[..a.text.len().min(300)]
        );
        let a = s
            .call(
                "POST",
                "/api/user/change-password",
                json!({"loginId": id, "currentPassword": PASSWORD, "password": "a new password"}),
            )
            .await;
        assert_eq!(
            (a.status, a.field_code("loginId")),
            (400, Some(code)),
            "change password {what:?}: {}",
            &a.text[..a.text.len().min(300)]
        );
        for email in [true, false] {
            let a = s
                .call(
                    "POST",
                    "/api/user/forgot-password",
                    json!({"loginId": id, "sendForgotPasswordEmail": email}),
                )
                .await;
            assert_eq!(
                (a.status, a.field_code("loginId")),
                (400, Some(code)),
                "forgot password {what:?} (email {email}): {}",
                &a.text[..a.text.len().min(300)]
            );
        }
    }
    // The bound is inclusive: a 320-byte login id is looked up (and is nobody).
    let at_bound = format!("{}@example.com", "j".repeat(320 - 12));
    let a = login(&s, json!({"loginId": at_bound, "password": "guess"})).await;
    assert_eq!(a.status, 404, "{a:?}");
    for ip in ["203.0.113.9\u{0}", "\u{0}"] {
        let a = login(
            &s,
            json!({"loginId": "jane", "password": "guess", "ipAddress": ip}),
        )
        .await;
        assert_eq!(
            (a.status, a.field_code("ipAddress")),
            (400, Some("[invalid]ipAddress")),
            "{a:?}"
        );
        let a = s
            .call(
                "POST",
                "/api/user/change-password",
                json!({"loginId": "jane", "currentPassword": PASSWORD,
                       "password": "a new password", "ipAddress": ip}),
            )
            .await;
        assert_eq!(
            (a.status, a.field_code("ipAddress")),
            (400, Some("[invalid]ipAddress")),
            "{a:?}"
        );
    }
    // Nothing was counted or changed: one failed login (the 320-byte id) is the only event, and
    // the password is the old one.
    let failed =
        s.db.store
            .events(None, Some("user.login.failed"), 100)
            .await
            .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// Sends `n` logins at once; answers their statuses.
async fn logins_at_once(s: &Server, n: usize, body: Value) -> Vec<u16> {
    let sent: Vec<_> = (0..n)
        .map(|_| tokio::spawn(send(s.req("POST", "/api/login").json(&body))))
        .collect();
    let mut statuses = Vec::new();
    for h in sent {
        statuses.push(h.await.unwrap().status);
    }
    statuses
}

async fn concurrent_wrong_passwords_are_verified_at_most_too_many_attempts_times(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 5,
               "resetCountInSeconds": 60, "actionDuration": 1, "actionDurationUnit": "MINUTES"}}),
    )
    .await;
    let statuses = logins_at_once(&s, 100, json!({"loginId": "jane", "password": "guess"})).await;
    let verified = statuses.iter().filter(|&&c| c == 404).count();
    let locked = statuses.iter().filter(|&&c| c == 423).count();
    assert_eq!(verified + locked, 100, "only 404 and 423: {statuses:?}");
    // A 404 is a verified wrong password; every attempt beyond the limit is refused unverified.
    assert!(
        (1..=5).contains(&verified),
        "{verified} wrong passwords verified: {statuses:?}"
    );
    let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(a.status, 423, "locked after five failures: {a:?}");
}

async fn a_right_password_resets_the_count_and_successes_never_lock_their_address(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 3,
               "resetCountInSeconds": 60, "actionDuration": 1, "actionDurationUnit": "MINUTES"}}),
    )
    .await;
    for _ in 0..3 {
        for _ in 0..2 {
            let a = login(&s, json!({"loginId": "jane", "password": "guess"})).await;
            assert_eq!(a.status, 404, "{a:?}");
        }
        let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
        assert_eq!(
            a.status, 200,
            "the right password after two failures: {a:?}"
        );
    }
    // Many users behind one address, each logging in rightly, one after another.
    let ip = "203.0.113.77";
    for i in 0..8 {
        let email = format!("nat{i}@example.com");
        let a = s
            .call(
                "POST",
                "/api/user",
                json!({"user": {"email": email, "password": PASSWORD}}),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        let a = login(
            &s,
            json!({"loginId": email, "password": PASSWORD, "ipAddress": ip}),
        )
        .await;
        assert_eq!(a.status, 200, "success {i} from one address: {a:?}");
    }
    // The address still has its whole allowance for failures.
    for i in 0..2 {
        let a = login(
            &s,
            json!({"loginId": format!("nat{i}@example.com"), "password": "guess", "ipAddress": ip}),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");
    }
    let a = login(
        &s,
        json!({"loginId": "nat7@example.com", "password": PASSWORD, "ipAddress": ip}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
}

/// A failed login costs at least one verify at the tenant's scheme and factor whatever the
/// user's stored hash, so a cheap imported hash answers no faster than an unknown user. Counted,
/// not timed: the tenant's scheme is wrapped in a hasher that counts its verifies.
async fn a_wrong_password_costs_as_much_for_a_cheap_imported_hash_as_for_an_unknown_user(
    b: Backend,
) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    // A brute-force limit above the attempts, so that every attempt is verified.
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 1000}}),
    )
    .await;
    let sha = portcullis_hash::hash_password("salted-sha256", Some(1), b"legacy pw").unwrap();
    let bcrypt = portcullis_hash::hash_password("bcrypt", Some(4), b"legacy pw").unwrap();
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [
                {"email": "sha@example.com", "encryptionScheme": "salted-sha256", "factor": 1,
                 "salt": sha.salt, "password": sha.hash},
                {"email": "bcrypt@example.com", "encryptionScheme": "bcrypt",
                 "password": bcrypt.hash},
            ]}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    // A node whose tenant scheme (argon2id, the default) counts its verifies.
    let counted = CountingVerifies::of(portcullis_hash::DEFAULT_SCHEME);
    let verifies = counted.verifies.clone();
    let mut registry = portcullis_hash::Registry::with_builtin();
    registry.register(Box::new(counted));
    let count = || verifies.load(std::sync::atomic::Ordering::SeqCst);
    let sessions = Sessions::new(Identity::new(
        Arc::new(s.db.store.clone()),
        HashPool::new(2, 64).with_registry(Arc::new(registry)),
    ));
    let login = |who: &str, password: &str| {
        sessions.login(
            Scope::ALL,
            portcullis_domain::LoginRequest {
                login_id: Some(who.into()),
                password: Some(portcullis_domain::Password(password.into())),
                ..Default::default()
            },
        )
    };
    for who in ["sha@example.com", "bcrypt@example.com"] {
        let right = login(who, "legacy pw").await;
        assert!(
            matches!(right, Ok(portcullis_domain::LoginOutcome::Success(_))),
            "the imported credential works: {right:?}"
        );
    }
    for who in [
        "nobody@example.com",
        "sha@example.com",
        "bcrypt@example.com",
    ] {
        for _ in 0..3 {
            let before = count();
            let wrong = login(who, "wrong guess").await;
            assert!(
                matches!(wrong, Err(portcullis_domain::Error::NotFound)),
                "{wrong:?}"
            );
            assert_eq!(
                count() - before,
                1,
                "{who}: a wrong password costs one verify at the tenant's scheme"
            );
        }
    }
}

/// A built-in scheme that counts the verifies it runs.
struct CountingVerifies {
    inner: Arc<dyn portcullis_hash::Hasher>,
    verifies: Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingVerifies {
    fn of(scheme: &str) -> Self {
        let builtin = portcullis_hash::Registry::with_builtin();
        CountingVerifies {
            inner: builtin.get(scheme).expect("a built-in scheme").clone(),
            verifies: Default::default(),
        }
    }
}

impl portcullis_hash::Hasher for CountingVerifies {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<portcullis_hash::Credential, portcullis_hash::HashError> {
        self.inner.parse_import(factor, salt, password)
    }
    fn verify(&self, credential: &portcullis_hash::Credential, password: &[u8]) -> bool {
        self.verifies
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.verify(credential, password)
    }
    fn hash(
        &self,
        factor: Option<u32>,
        password: &[u8],
    ) -> Result<portcullis_hash::Credential, portcullis_hash::HashError> {
        self.inner.hash(factor, password)
    }
    fn detects(&self, encoded: &str) -> bool {
        self.inner.detects(encoded)
    }
    fn needs_rehash(&self, credential: &portcullis_hash::Credential, target_factor: u32) -> bool {
        self.inner.needs_rehash(credential, target_factor)
    }
    fn cost(&self, credential: &portcullis_hash::Credential) -> Option<portcullis_hash::Cost> {
        self.inner.cost(credential)
    }
    fn new_hash_cost(
        &self,
        factor: Option<u32>,
    ) -> Result<portcullis_hash::Cost, portcullis_hash::HashError> {
        self.inner.new_hash_cost(factor)
    }
}

async fn change_password_checks_the_current_password_and_the_rules_and_revokes_refresh_tokens(
    b: Backend,
) {
    let s = Server::start(b).await;
    let (t, app, _) = fixture(&s).await;
    enable_refresh_tokens(&s, &app).await;
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
    )
    .await;
    let r0 = a.json["refreshToken"].as_str().unwrap().to_string();
    let change = |current: &str, new: &str| {
        s.call(
            "POST",
            "/api/user/change-password",
            json!({"loginId": "jane@example.com", "currentPassword": current, "password": new}),
        )
    };
    assert_eq!(change("wrong", "new password 1").await.status, 404);
    let short = change(PASSWORD, "short").await;
    assert_eq!(short.field_code("password"), Some("[tooShort]password"));
    patch_tenant(
        &s,
        &t,
        json!({"passwordValidationRules": {"requireNumber": true, "requireMixedCase": true}}),
    )
    .await;
    let weak = change(PASSWORD, "no numbers here").await;
    assert_eq!(weak.status, 400);
    let codes: Vec<&str> = weak.json["fieldErrors"]["password"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["[singleCase]password", "[requireNumber]password"]);
    let ok = change(PASSWORD, "New password 1").await;
    assert_eq!(ok.status, 200, "{ok:?}");

    assert_eq!(
        login(&s, json!({"loginId": "jane", "password": PASSWORD}))
            .await
            .status,
        404
    );
    assert_eq!(
        login(&s, json!({"loginId": "jane", "password": "New password 1"}))
            .await
            .status,
        200
    );
    assert_eq!(refresh(&s, &r0).await.status, 404, "refresh tokens revoked");
    let blank = s.call("POST", "/api/user/change-password", json!({})).await;
    assert_eq!(blank.field_code("loginId"), Some("[blank]loginId"));
    assert_eq!(
        blank.field_code("currentPassword"),
        Some("[blank]currentPassword")
    );
}

async fn a_203_login_gives_an_id_that_changes_the_password_once(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, uid) = fixture(&s).await;
    s.call(
        "PATCH",
        &format!("/api/user/{uid}"),
        json!({"user": {"passwordChangeRequired": true}}),
    )
    .await;
    let a = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(a.status, 203);
    let id = a.json["changePasswordId"].as_str().unwrap().to_string();
    let by_id = |pw: &str| {
        send(
            s.http
                .post(format!("{}/api/user/change-password/{id}", s.url))
                .json(&json!({ "password": pw })),
        )
    };
    let short = by_id("short").await;
    assert_eq!(short.status, 400, "the id survives a rejected password");
    assert_eq!(by_id("a brand new password").await.status, 200);
    assert_eq!(by_id("another new password").await.status, 404, "used up");
    let a = login(
        &s,
        json!({"loginId": "jane", "password": "a brand new password"}),
    )
    .await;
    assert_eq!(a.status, 200, "no change required any more: {a:?}");
    assert_eq!(a.json["user"]["passwordChangeRequired"], false);
}

async fn new_passwords_get_the_tenant_scheme(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    patch_tenant(
        &s,
        &t,
        json!({"passwordEncryptionConfiguration": {"encryptionScheme": "salted-pbkdf2-hmac-sha256",
               "encryptionSchemeFactor": 1000}}),
    )
    .await;
    let uid = s.new_user(&t, "jane@example.com").await;
    let uid = uuid::Uuid::parse_str(&uid).unwrap();
    let stored = s.db.store.user(Scope::ALL, uid).await.unwrap().unwrap();
    let cred = stored.credential.unwrap();
    assert_eq!(
        (cred.scheme.as_str(), cred.factor),
        ("salted-pbkdf2-hmac-sha256", 1000)
    );
    let a = login(
        &s,
        json!({"loginId": "jane@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(a.status, 200);
}

async fn a_rotated_key_signs_while_the_old_one_stays_published_until_its_tokens_expire(b: Backend) {
    let s = Server::start(b).await;
    let (t, app, _) = fixture(&s).await;
    let tid = uuid::Uuid::parse_str(&t).unwrap();
    let body = json!({"loginId": "jane", "password": PASSWORD, "applicationId": app});
    let old_token = login(&s, body.clone()).await.json["token"]
        .as_str()
        .unwrap()
        .to_string();
    let old_kid = portcullis_jwt::key_id(&old_token).unwrap();

    // Another node rotates to EdDSA and signs with the new key at once.
    let other = Sessions::new(Identity::new(
        Arc::new(s.db.store.clone()),
        HashPool::new(1, 4),
    ));
    let new_kid = other
        .tokens()
        .rotate_key(tid, Some(portcullis_jwt::Algorithm::EdDSA))
        .await
        .unwrap()
        .kid()
        .to_string();
    assert_ne!(new_kid, old_kid);
    let req: portcullis_domain::LoginRequest = serde_json::from_value(body).unwrap();
    let new_token = match other.login(Scope::tenant(tid), req).await.unwrap() {
        portcullis_domain::LoginOutcome::Success(t) => t.token.unwrap(),
        o => panic!("{o:?}"),
    };
    assert_eq!(portcullis_jwt::key_id(&new_token).unwrap(), new_kid);

    let jwks = send(s.http.get(format!("{}/.well-known/jwks.json", s.url))).await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);
    assert_eq!(jwks.json["keys"][1]["kty"], "OKP");
    pyjwt_claims(&s, &old_token, Some(&app)).await;
    let c = pyjwt_claims(&s, &new_token, Some(&app)).await;
    assert_eq!(c["tid"], t);
    let v = send(
        s.http
            .get(format!("{}/api/jwt/validate", s.url))
            .header("Authorization", format!("Bearer {new_token}")),
    )
    .await;
    assert_eq!(
        v.status, 200,
        "the server finds the new key in the database"
    );

    let keys = s.db.store.signing_keys(Some(tid)).await.unwrap();
    let retiring = keys.iter().find(|k| k.kid == old_kid).unwrap();
    assert_eq!(retiring.status, "retiring");
    let until = retiring.expires_instant.unwrap();
    let expected = portcullis_domain::now_millis() + (3600 + 30) * 1000;
    assert!((until - expected).abs() < 5_000, "{until} vs {expected}");

    // Once its tokens have expired the old key is no longer published, and the next rotation
    // drops it.
    s.db.store
        .retire_signing_key(&old_kid, portcullis_domain::now_millis() - 1)
        .await
        .unwrap();
    let jwks = send(s.http.get(format!("{}/.well-known/jwks.json", s.url))).await;
    assert_eq!(jwks.json["keys"].as_array().unwrap().len(), 1);
    other.tokens().rotate_key(tid, None).await.unwrap();
    let keys = s.db.store.signing_keys(Some(tid)).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.kid != old_kid));
    assert!(
        keys.iter().all(|k| k.algorithm == "EdDSA"),
        "keeps the algorithm"
    );
}

async fn imported_refresh_tokens_keep_old_sessions_alive(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, uid) = fixture(&s).await;
    let long_ago = portcullis_domain::now_millis() - 86_400_000;
    let import = |tokens: Value| {
        s.call(
            "POST",
            "/api/user/refresh-token/import",
            json!({ "refreshTokens": tokens }),
        )
    };
    let a = import(json!([
        {"token": "legacy-token-1", "userId": uid, "applicationId": app,
         "startInstant": long_ago, "insertInstant": long_ago},
        {"token": "legacy-token-2", "userId": uid, "applicationId": app}
    ]))
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(s
        .db
        .store
        .refresh_token("legacy-token-1")
        .await
        .unwrap()
        .is_none());

    let r = refresh(&s, "legacy-token-1").await;
    assert_eq!(r.status, 200, "{r:?}");
    let c = pyjwt_claims(&s, r.json["token"].as_str().unwrap(), Some(&app)).await;
    assert_eq!(c["sub"], uid);
    assert_eq!(c["roles"], json!(["admin"]));
    assert_eq!(
        c["auth_time"],
        long_ago / 1000,
        "the old session's login time"
    );

    let bad = import(json!([
        {"token": "legacy-token-2", "userId": uid, "applicationId": app},
        {"token": "fresh", "userId": uuid::Uuid::new_v4(), "applicationId": app},
        {"token": "fresh-2", "userId": uid, "applicationId": uuid::Uuid::new_v4()},
        {"userId": uid, "applicationId": app}
    ]))
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.field_code("refreshTokens[0].token"),
        Some("[duplicate]refreshTokens[0].token")
    );
    assert_eq!(
        bad.field_code("refreshTokens[1].userId"),
        Some("[invalid]refreshTokens[1].userId")
    );
    assert_eq!(
        bad.field_code("refreshTokens[2].applicationId"),
        Some("[invalid]refreshTokens[2].applicationId")
    );
    assert_eq!(
        bad.field_code("refreshTokens[3].token"),
        Some("[blank]refreshTokens[3].token")
    );
    assert_eq!(refresh(&s, "fresh-2").await.status, 404, "all or nothing");

    // A token of another tenant's user is out of reach of a key locked to this tenant.
    let tb = s.new_tenant("B").await;
    let key_b = s.key_with(json!({"tenantId": tb})).await;
    let other = send(
        s.req_as(&key_b, "POST", "/api/user/refresh-token/import")
            .json(&json!({"refreshTokens": [{"token": "x", "userId": uid, "applicationId": app}]})),
    )
    .await;
    assert_eq!(
        other.field_code("refreshTokens[0].userId"),
        Some("[invalid]refreshTokens[0].userId")
    );
}

async fn a_full_hashing_pool_answers_busy_instead_of_queueing(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    let tid = uuid::Uuid::parse_str(&t).unwrap();
    // A brute-force limit above the burst: logins of one user beyond `tooManyAttempts` at once
    // are refused before they reach the pool.
    patch_tenant(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 1000}}),
    )
    .await;
    // One worker and one queued job: a burst of logins must not wait in an unbounded queue.
    let node = Sessions::new(Identity::new(
        Arc::new(s.db.store.clone()),
        HashPool::new(1, 1),
    ));
    let burst: Vec<_> = (0..12)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                let req = serde_json::from_value(json!({"loginId": "jane", "password": PASSWORD}))
                    .unwrap();
                node.login(Scope::tenant(tid), req).await
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for h in burst {
        match h.await.unwrap() {
            Ok(portcullis_domain::LoginOutcome::Success(_)) => ok += 1,
            Err(portcullis_domain::Error::Busy(_)) => busy += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} succeeded, {busy} busy");
    let api = portcullis_api::error::ApiError::from(portcullis_domain::Error::Busy("x".into()));
    assert_eq!(api.status, 503);
}

async fn tenant_password_rules_apply_when_users_are_created_and_replaced(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let create = |pw: &str| {
        s.call(
            "POST",
            "/api/user",
            json!({"user": {"email": format!("{}@example.com", pw.replace(' ', "")), "password": pw}}),
        )
    };
    assert_eq!(
        create("short").await.field_code("user.password"),
        Some("[tooShort]user.password"),
        "FusionAuth's default minimum of 8"
    );
    patch_tenant(
        &s,
        &t,
        json!({"passwordValidationRules": {"minLength": 4, "requireNumber": true}}),
    )
    .await;
    assert_eq!(
        create("abcdefgh").await.field_code("user.password"),
        Some("[requireNumber]user.password")
    );
    let ok = create("abc1").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let uid = ok.json["user"]["id"].as_str().unwrap();
    let put = s
        .call(
            "PUT",
            &format!("/api/user/{uid}"),
            json!({"user": {"email": "abc1@example.com", "password": "no digits"}}),
        )
        .await;
    assert_eq!(
        put.field_code("user.password"),
        Some("[requireNumber]user.password")
    );
}

/// Writes `settings` into the tenant's stored row directly, past the checks a save through the
/// API makes (as an old row or another tool could have).
async fn store_tenant_settings(s: &Server, t: &str, settings: Value) {
    let id = uuid::Uuid::parse_str(t).unwrap();
    let mut tenant = s.db.store.tenant(id).await.unwrap().unwrap();
    for (k, v) in settings.as_object().unwrap() {
        tenant.settings.insert(k.clone(), v.clone());
    }
    s.db.store.update_tenant(&tenant).await.unwrap();
}

async fn a_huge_lock_duration_in_the_stored_settings_still_locks(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    store_tenant_settings(
        &s,
        &t,
        json!({"failedAuthenticationConfiguration": {"tooManyAttempts": 2,
               "resetCountInSeconds": i64::MAX, "actionDuration": i64::MAX,
               "actionDurationUnit": "WEEKS"}}),
    )
    .await;
    for _ in 0..2 {
        let a = login(&s, json!({"loginId": "jane", "password": "guess"})).await;
        assert_eq!(a.status, 404, "{a:?}");
    }
    let locked = login(&s, json!({"loginId": "jane", "password": PASSWORD})).await;
    assert_eq!(locked.status, 423, "{locked:?}");
    let until = locked.json["lockExpirationInstant"].as_i64().unwrap();
    let now = portcullis_domain::now_millis();
    let ten_years = 3_650 * 86_400_000_i64;
    assert!(
        until > now + ten_years - 60_000 && until <= now + ten_years,
        "the lock is the longest one allowed: {until} vs {now}"
    );
}

async fn a_huge_token_lifetime_in_the_stored_settings_still_issues_tokens_that_validate(
    b: Backend,
) {
    let s = Server::start(b).await;
    let (t, app, _) = fixture(&s).await;
    enable_refresh_tokens(&s, &app).await;
    store_tenant_settings(
        &s,
        &t,
        json!({"jwtConfiguration": {"timeToLiveInSeconds": i64::MAX,
               "refreshTokenTimeToLiveInMinutes": i64::MAX}}),
    )
    .await;
    let a = login(
        &s,
        json!({"loginId": "jane", "password": PASSWORD, "applicationId": app}),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let token = a.json["token"].as_str().unwrap();
    let v = send(
        s.http
            .get(format!("{}/api/jwt/validate", s.url))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(v.status, 200, "{v:?}");
    let exp = v.json["jwt"]["exp"].as_i64().unwrap();
    let now = portcullis_domain::now_millis() / 1000;
    assert!(
        exp > now && exp <= now + 31_536_000,
        "the lifetime is the longest one allowed: {exp} vs {now}"
    );
    // The refresh token is good too, and so is the token it grants.
    let refresh_token = a.json["refreshToken"].as_str().unwrap().to_string();
    let r = refresh(&s, &refresh_token).await;
    assert_eq!(r.status, 200, "{r:?}");
}

async fn costly_verifies_leave_the_main_lane_to_logins_with_the_tenant_scheme(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, _) = fixture(&s).await;
    // bcrypt cost 13 beside the tenant's argon2id (about 14 times its cost): within a raised
    // import limit, and on the costly lane.
    patch_tenant(
        &s,
        &t,
        json!({"passwordEncryptionConfiguration": {"maximumImportedHashCostFactor": 100}}),
    )
    .await;
    let costly = portcullis_hash::hash_password("bcrypt", Some(13), b"legacy").unwrap();
    let users: Vec<Value> = (0..4)
        .map(|i| {
            json!({"email": format!("legacy{i}@example.com"), "encryptionScheme": "bcrypt",
                   "password": costly.hash})
        })
        .collect();
    let a = s
        .call("POST", "/api/user/import", json!({ "users": users }))
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    let timed = |body: Value| {
        let s = &s;
        async move {
            let t0 = Instant::now();
            let a = login(s, body).await;
            (a.status, t0.elapsed())
        }
    };
    let jane = json!({"loginId": "jane", "password": PASSWORD});
    timed(jane.clone()).await;
    let mut idle = Duration::MAX;
    for _ in 0..3 {
        let (status, took) = timed(jane.clone()).await;
        assert_eq!(status, 200);
        idle = idle.min(took);
    }
    let (status, one_costly) =
        timed(json!({"loginId": "legacy0@example.com", "password": "guess"})).await;
    assert_eq!(status, 404);

    // Several wrong guesses against the costly hashes at once...
    let guesses: Vec<_> = (0..4)
        .map(|i| {
            let (url, key, http) = (s.url.clone(), s.key.clone(), s.http.clone());
            tokio::spawn(async move {
                let rb = http
                    .post(format!("{url}/api/login"))
                    .header("Authorization", key)
                    .json(
                        &json!({"loginId": format!("legacy{i}@example.com"), "password": "guess"}),
                    );
                send(rb).await.status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...leave a login with the tenant's own scheme about as fast as when idle.
    let (status, busy) = timed(jane.clone()).await;
    assert_eq!(status, 200);
    for g in guesses {
        assert_eq!(g.await.unwrap(), 404);
    }
    assert!(
        busy < idle * 3 + one_costly / 4,
        "a normal login took {busy:?} beside costly verifies ({idle:?} idle; one costly \
         verify takes {one_costly:?})"
    );
}
