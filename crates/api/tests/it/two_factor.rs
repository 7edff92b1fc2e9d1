//! Two-factor login and FusionAuth's Two-Factor API, the codes made by pyotp (an independent
//! RFC 6238 implementation, `tests/two-factor/requirements.txt`): enabling, the 242 step, replay,
//! wrong codes, recovery codes, expiry, the brute-force lock, trusted computers, disabling,
//! imported and migrated second factors, enrolment, email codes through a real SMTP server, and
//! secrets that never leave the server or sit in the database in the clear.

use crate::migration::{connector, generic_connector, migrate_all_through, Legacy};
use crate::support::*;
use portcullis_domain::{Scope, Store};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};

portcullis_store::on_both_backends!(
    enable_then_login_answers_242_and_the_code_gives_tokens,
    a_replayed_or_wrong_code_is_421_and_a_recovery_code_works_once,
    an_unknown_or_expired_two_factor_id_is_404,
    wrong_codes_hit_the_brute_force_lock,
    a_trusted_computer_skips_the_step_until_the_trust_id_expires,
    a_method_is_disabled_with_a_code_and_the_login_needs_none_after,
    an_imported_authenticator_with_sha256_8_digits_60_s_works_on_the_first_login,
    a_keycloak_legacy_user_with_totps_needs_the_code_on_the_first_login,
    a_generic_connector_user_with_two_factor_needs_the_code_on_the_first_login,
    configure_totp_and_a_required_policy_give_no_tokens_until_enrolment,
    the_email_method_sends_its_codes_through_the_tenant_smtp,
    secrets_never_leave_the_server_nor_sit_in_the_database_in_the_clear,
    an_altered_stored_secret_is_a_clear_error,
    bad_input_is_a_400_with_field_errors,
);

const PASSWORD: &str = "correct horse";

/// A TOTP code by pyotp for a base32 `secret`, `offset` seconds from now.
fn pyotp(secret: &str, digest: &str, digits: u32, interval: u64, offset: i64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, hashlib, sys, time; \
             t = pyotp.TOTP(sys.argv[1], digest=getattr(hashlib, sys.argv[2]), \
                            digits=int(sys.argv[3]), interval=int(sys.argv[4])); \
             print(t.at(int(time.time()) + int(sys.argv[5])))",
            secret,
            digest,
            &digits.to_string(),
            &interval.to_string(),
            &offset.to_string(),
        ])
        .output()
        .expect("python3 runs pyotp (scripts/test installs tests/two-factor/requirements.txt)");
    assert!(
        out.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub(crate) fn code(secret: &str, offset: i64) -> String {
    pyotp(secret, "sha1", 6, 30, offset)
}

/// A base32 secret by pyotp, and its base64 form.
fn pyotp_secret() -> (String, String) {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, base64; s = pyotp.random_base32(); \
             print(s, base64.b64encode(base64.b32decode(s)).decode())",
        ])
        .output()
        .expect("python3 runs pyotp");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
    )
}

/// A six-digit code that is none of the three a window accepts now.
fn wrong_code(secret: &str) -> String {
    let right = [code(secret, -30), code(secret, 0), code(secret, 30)];
    (0..)
        .map(|n| format!("{:06}", (123_456 + n * 7919) % 1_000_000))
        .find(|c| !right.contains(c))
        .unwrap()
}

/// An application with refresh tokens and a user registered to it; (tenant, app, user id).
async fn fixture(s: &Server) -> (String, String, String) {
    let t = s.default_tenant().await;
    let app = s.new_app(&t, "Shop", &["user"]).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/application/{app}"),
            json!({"application": {"loginConfiguration": {"generateRefreshTokens": true}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s
        .call(
            "POST",
            "/api/user/registration",
            json!({"user": {"email": "jane@example.com", "password": PASSWORD},
                   "registration": {"applicationId": app, "roles": ["user"]}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    (t, app, a.json["user"]["id"].as_str().unwrap().to_string())
}

async fn login(s: &Server, login_id: &str, app: Option<&str>) -> Answer {
    let mut body = json!({"loginId": login_id, "password": PASSWORD});
    if let Some(a) = app {
        body["applicationId"] = json!(a);
    }
    s.call("POST", "/api/login", body).await
}

async fn code_login(s: &Server, id: &str, code: &str) -> Answer {
    s.call(
        "POST",
        "/api/two-factor/login",
        json!({"twoFactorId": id, "code": code}),
    )
    .await
}

/// Enables an authenticator made by GET /api/two-factor/secret; (base32 secret, method id,
/// recovery codes, the code used to enable).
pub(crate) async fn enable_authenticator(
    s: &Server,
    user: &str,
) -> (String, String, Vec<String>, String) {
    let secret = s.get("/api/two-factor/secret").await;
    assert_eq!(secret.status, 200, "{secret:?}");
    let b32 = secret.json["secretBase32Encoded"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = secret.json["secret"].as_str().unwrap().to_string();
    let c = code(&b32, 0);
    let a = s
        .call(
            "POST",
            &format!("/api/user/two-factor/{user}"),
            json!({"method": "authenticator", "secret": b64, "code": c}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let codes: Vec<String> = a.json["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let u = s.get(&format!("/api/user/{user}")).await;
    let method = u.json["user"]["twoFactor"]["methods"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (b32, method, codes, c)
}

/// A login that must stop at 242; its twoFactorId.
async fn pending(s: &Server, login_id: &str, app: Option<&str>) -> String {
    let a = login(s, login_id, app).await;
    assert_eq!(a.status, 242, "{a:?}");
    assert!(a.json.get("token").is_none(), "no tokens before the code");
    a.json["twoFactorId"].as_str().unwrap().to_string()
}

async fn enable_then_login_answers_242_and_the_code_gives_tokens(b: Backend) {
    let s = Server::start(b).await;
    let (_, app, user) = fixture(&s).await;
    let (b32, method, _, _) = enable_authenticator(&s, &user).await;
    let a = login(&s, "jane@example.com", Some(&app)).await;
    assert_eq!(a.status, 242, "{a:?}");
    assert_eq!(a.json["methods"][0]["id"], method.as_str());
    assert_eq!(a.json["methods"][0]["method"], "authenticator");
    assert!(a.json["methods"][0].get("secret").is_none());
    let id = a.json["twoFactorId"].as_str().unwrap();
    let ok = code_login(&s, id, &code(&b32, 30)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.json["token"].is_string());
    assert!(ok.json["refreshToken"].is_string(), "{ok:?}");
    assert_eq!(ok.json["user"]["id"], user.as_str());
    // The token is ours: it validates.
    let v = send(
        s.http
            .get(format!("{}/api/jwt/validate", s.url))
            .bearer_auth(ok.json["token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(v.status, 200, "{v:?}");
    // A twoFactorId is used once.
    assert_eq!(code_login(&s, id, &code(&b32, -30)).await.status, 404);
}

async fn a_replayed_or_wrong_code_is_421_and_a_recovery_code_works_once(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, user) = fixture(&s).await;
    let (b32, _, recovery, enrol_code) = enable_authenticator(&s, &user).await;
    let id = pending(&s, "jane@example.com", None).await;
    assert_eq!(
        code_login(&s, &id, &enrol_code).await.status,
        421,
        "the code that enabled the method was used"
    );
    assert_eq!(code_login(&s, &id, &wrong_code(&b32)).await.status, 421);
    let c = code(&b32, 30);
    assert_eq!(code_login(&s, &id, &c).await.status, 200);
    let again = pending(&s, "jane@example.com", None).await;
    assert_eq!(code_login(&s, &again, &c).await.status, 421, "replayed");
    // A recovery code, as typed (lower case, spaces), works once.
    let typed = format!(" {} ", recovery[3].to_lowercase());
    assert_eq!(code_login(&s, &again, &typed).await.status, 200);
    let third = pending(&s, "jane@example.com", None).await;
    assert_eq!(code_login(&s, &third, &recovery[3]).await.status, 421);
    assert_eq!(code_login(&s, &third, &recovery[4]).await.status, 200);
    // New codes replace the old ones.
    let n = s
        .call(
            "POST",
            &format!("/api/user/two-factor/recovery-code/{user}"),
            json!({}),
        )
        .await;
    assert_eq!(n.status, 200, "{n:?}");
    let fresh = n.json["recoveryCodes"][0].as_str().unwrap().to_string();
    let fourth = pending(&s, "jane@example.com", None).await;
    assert_eq!(code_login(&s, &fourth, &recovery[5]).await.status, 421);
    assert_eq!(code_login(&s, &fourth, &fresh).await.status, 200);
}

async fn an_unknown_or_expired_two_factor_id_is_404(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, user) = fixture(&s).await;
    let (b32, ..) = enable_authenticator(&s, &user).await;
    let unknown = code_login(&s, "no-such-id", &code(&b32, 30)).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"externalIdentifierConfiguration": {"twoFactorIdTimeToLiveInSeconds": 1}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let id = pending(&s, "jane@example.com", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = code_login(&s, &id, &code(&b32, 30)).await;
    assert_eq!(expired.status, 404, "{expired:?}");
    assert_eq!(
        (expired.status, &expired.text),
        (unknown.status, &unknown.text),
        "expired and unknown look the same"
    );
}

async fn wrong_codes_hit_the_brute_force_lock(b: Backend) {
    let s = Server::start(b).await;
    let (t, _, user) = fixture(&s).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"failedAuthenticationConfiguration": {"tooManyAttempts": 3,
                   "resetCountInSeconds": 60, "actionDuration": 1, "actionDurationUnit": "MINUTES"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let (b32, ..) = enable_authenticator(&s, &user).await;
    let id = pending(&s, "jane@example.com", None).await;
    let wrong = wrong_code(&b32);
    for _ in 0..3 {
        assert_eq!(code_login(&s, &id, &wrong).await.status, 421);
    }
    let locked = code_login(&s, &id, &code(&b32, 30)).await;
    assert_eq!(locked.status, 423, "{locked:?}");
    assert!(locked.json["lockExpirationInstant"].is_i64());
    // The lock is the account's: the password login is locked too.
    assert_eq!(login(&s, "jane@example.com", None).await.status, 423);
}

/// Waits until at least 20 seconds of the current 30-second TOTP step remain, so a test that
/// uses the codes of the previous, current and next steps (each once) stays within one step.
async fn start_of_a_step() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_secs_f64() % 30.0;
    if into > 10.0 {
        tokio::time::sleep(std::time::Duration::from_secs_f64(30.0 - into + 0.2)).await;
    }
}

async fn a_trusted_computer_skips_the_step_until_the_trust_id_expires(b: Backend) {
    start_of_a_step().await;
    let s = Server::start(b).await;
    let (t, _, user) = fixture(&s).await;
    let (b32, ..) = enable_authenticator(&s, &user).await;
    let id = pending(&s, "jane@example.com", None).await;
    let ok = s
        .call(
            "POST",
            "/api/two-factor/login",
            json!({"twoFactorId": id, "code": code(&b32, 30), "trustComputer": true}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let trust = ok.json["twoFactorTrustId"].as_str().unwrap().to_string();
    let with = |trust: &str| {
        s.call(
            "POST",
            "/api/login",
            json!({"loginId": "jane@example.com", "password": PASSWORD, "twoFactorTrustId": trust}),
        )
    };
    let skipped = with(&trust).await;
    assert_eq!(skipped.status, 200, "{skipped:?}");
    assert!(skipped.json["token"].is_string());
    assert_eq!(with("made-up").await.status, 242);
    // Expired: the tenant's trust lifetime is short now, for a new trust id.
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"externalIdentifierConfiguration": {"twoFactorTrustIdTimeToLiveInSeconds": 1}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let id = pending(&s, "jane@example.com", None).await;
    let ok = s
        .call(
            "POST",
            "/api/two-factor/login",
            json!({"twoFactorId": id, "code": code(&b32, -30), "trustComputer": true}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let short = ok.json["twoFactorTrustId"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(with(&short).await.status, 242);
}

async fn a_method_is_disabled_with_a_code_and_the_login_needs_none_after(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, user) = fixture(&s).await;
    let (b32, method, ..) = enable_authenticator(&s, &user).await;
    let wrong = s
        .call(
            "DELETE",
            &format!(
                "/api/user/two-factor/{user}?methodId={method}&code={}",
                wrong_code(&b32)
            ),
            Value::Null,
        )
        .await;
    assert_eq!(wrong.status, 421, "{wrong:?}");
    let gone = s
        .call(
            "DELETE",
            &format!(
                "/api/user/two-factor/{user}?methodId={method}&code={}",
                code(&b32, 30)
            ),
            Value::Null,
        )
        .await;
    assert_eq!(gone.status, 200, "{gone:?}");
    let a = login(&s, "jane@example.com", None).await;
    assert_eq!(a.status, 200, "{a:?}");
    let u = s.get(&format!("/api/user/{user}")).await;
    assert_eq!(u.json["user"]["twoFactor"]["methods"], json!([]));
}

async fn an_imported_authenticator_with_sha256_8_digits_60_s_works_on_the_first_login(b: Backend) {
    let s = Server::start(b).await;
    let (b32, b64) = pyotp_secret();
    let prehashed = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(b"LEGACYCODE1");
        format!(
            "sha256:{}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [{"email": "imp@example.com", "password": PASSWORD,
                "twoFactor": {
                    "methods": [{"method": "authenticator", "secret": b64,
                                 "authenticator": {"algorithm": "HmacSHA256", "codeLength": 8, "timeStep": 60}}],
                    "recoveryCodes": ["plain-code-9", prehashed]}}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let id = pending(&s, "imp@example.com", None).await;
    let six = pyotp(&b32, "sha1", 6, 30, 0);
    assert_eq!(code_login(&s, &id, &six).await.status, 421);
    let eight = pyotp(&b32, "sha256", 8, 60, 0);
    assert_eq!(eight.len(), 8);
    let ok = code_login(&s, &id, &eight).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    // Plain and already-hashed recovery codes both work.
    let id = pending(&s, "imp@example.com", None).await;
    assert_eq!(code_login(&s, &id, "PLAIN-CODE-9").await.status, 200);
    let id = pending(&s, "imp@example.com", None).await;
    assert_eq!(code_login(&s, &id, "legacycode1").await.status, 200);
}

async fn a_keycloak_legacy_user_with_totps_needs_the_code_on_the_first_login(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let (b32, _) = pyotp_secret();
    let profile = json!({"id": 5, "username": "kim", "email": "kim@legacy.example", "enabled": true,
        "emailVerified": true,
        "totps": [{"name": "phone", "secret": b32, "digits": 6, "period": 30,
                   "algorithm": "HmacSHA1", "encoding": "BASE32"}]});
    legacy.add("kim", PASSWORD, profile.clone());
    legacy.add("kim@legacy.example", PASSWORD, profile);
    let c = connector(
        &s,
        json!({"type": "RESTMigration", "name": "keycloak", "baseURL": format!("{}/users", legacy.url)}),
    )
    .await;
    migrate_all_through(&s, &t, &c).await;
    let a = login(&s, "kim@legacy.example", None).await;
    assert_eq!(
        a.status, 242,
        "the very first login asks for the code: {a:?}"
    );
    let id = a.json["twoFactorId"].as_str().unwrap();
    let ok = code_login(&s, id, &code(&b32, 0)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json["user"]["data"]["migrated"], true);
    // The secret was sealed on the way in.
    let uid = ok.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let stored = s.db.store.user(Scope::ALL, uid).await.unwrap().unwrap();
    let body = serde_json::to_string(&stored.user).unwrap();
    assert!(!body.contains(&b32), "{body}");
    assert!(body.contains("\"secret\":\"tf1."), "{body}");
    // Later logins stay local and still ask.
    assert_eq!(login(&s, "kim@legacy.example", None).await.status, 242);
}

async fn a_generic_connector_user_with_two_factor_needs_the_code_on_the_first_login(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let (b32, _) = pyotp_secret();
    legacy.add(
        "gen@legacy.example",
        PASSWORD,
        json!({"email": "gen@legacy.example", "twoFactor": {
            "methods": [{"method": "authenticator", "secretBase32Encoded": b32}],
            "recoveryCodes": ["GEN-RECOVERY-1"]}}),
    );
    let c = generic_connector(&s, &legacy, "/generic").await;
    migrate_all_through(&s, &t, &c).await;
    let id = pending(&s, "gen@legacy.example", None).await;
    assert_eq!(code_login(&s, &id, &wrong_code(&b32)).await.status, 421);
    assert_eq!(code_login(&s, &id, &code(&b32, 0)).await.status, 200);
    let id = pending(&s, "gen@legacy.example", None).await;
    assert_eq!(code_login(&s, &id, "gen-recovery-1").await.status, 200);
    let u = s.get("/api/user?email=gen@legacy.example").await;
    assert!(!u.text.contains(&b32));
}

async fn configure_totp_and_a_required_policy_give_no_tokens_until_enrolment(b: Backend) {
    let s = Server::start(b).await;
    let legacy = Legacy::start().await;
    let t = s.default_tenant().await;
    let profile = json!({"username": "lou", "email": "lou@legacy.example",
                         "requiredActions": ["CONFIGURE_TOTP"]});
    legacy.add("lou", PASSWORD, profile.clone());
    legacy.add("lou@legacy.example", PASSWORD, profile);
    let c = connector(
        &s,
        json!({"type": "RESTMigration", "name": "keycloak", "baseURL": format!("{}/users", legacy.url)}),
    )
    .await;
    migrate_all_through(&s, &t, &c).await;
    let a = login(&s, "lou@legacy.example", None).await;
    assert_eq!(a.status, 242, "{a:?}");
    assert_eq!(a.json["twoFactorEnrolmentRequired"], true);
    assert_eq!(a.json["methods"], json!([]));
    let id = a.json["twoFactorId"].as_str().unwrap().to_string();
    assert_eq!(code_login(&s, &id, "123456").await.status, 421);
    // Enrolling (with an API key) clears the flag; the same twoFactorId completes the login.
    let u = s.get("/api/user?email=lou@legacy.example").await;
    let uid = u.json["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(u.json["user"]["data"]["twoFactorEnrolmentRequired"], true);
    let (b32, ..) = enable_authenticator(&s, &uid).await;
    let ok = code_login(&s, &id, &code(&b32, 30)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let u = s.get(&format!("/api/user/{uid}")).await;
    assert!(u.json["user"]["data"]
        .get("twoFactorEnrolmentRequired")
        .is_none());
    let a = login(&s, "lou@legacy.example", None).await;
    assert_eq!(a.status, 242);
    assert!(a.json.get("twoFactorEnrolmentRequired").is_none());

    // A tenant that requires two-factor: a user without a method must enrol first.
    let (_, _, _) = fixture(&s).await;
    let p = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"multiFactorConfiguration": {"loginPolicy": "Required"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let a = login(&s, "jane@example.com", None).await;
    assert_eq!(a.status, 242, "{a:?}");
    assert_eq!(a.json["twoFactorEnrolmentRequired"], true);
    let bad = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"multiFactorConfiguration": {"loginPolicy": "Sometimes"}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let p = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"multiFactorConfiguration": {"loginPolicy": "Disabled"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(login(&s, "jane@example.com", None).await.status, 200);
}

/// The six-digit codes in the sink's messages.
fn mailed_codes(smtp: &SmtpSink) -> Vec<String> {
    smtp.messages()
        .iter()
        .filter_map(|m| {
            m.split("verification code is ")
                .nth(1)
                .map(|r| r.chars().take(6).collect())
        })
        .collect()
}

/// The code of the message that arrives after `before` (the codes seen so far).
async fn new_code(smtp: &SmtpSink, before: &[String]) -> String {
    for _ in 0..200 {
        let mut now = mailed_codes(smtp);
        if now.len() > before.len() {
            for c in before {
                if let Some(i) = now.iter().position(|x| x == c) {
                    now.remove(i);
                }
            }
            return now.pop().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no code arrived: {:?}", smtp.messages());
}

async fn the_email_method_sends_its_codes_through_the_tenant_smtp(b: Backend) {
    let s = Server::start(b).await;
    let smtp = SmtpSink::start();
    let (t, _, user) = fixture(&s).await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": smtp.port,
                   "security": "NONE", "defaultFromEmail": "accounts@shop.example"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let sent = s
        .call(
            "POST",
            "/api/two-factor/send",
            json!({"userId": user, "method": "email", "email": "jane.codes@example.com"}),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let mail = smtp.wait_for("jane.codes@example.com").await;
    let enrol = mail
        .split("verification code is ")
        .nth(1)
        .unwrap()
        .chars()
        .take(6)
        .collect::<String>();
    let wrong_address = s
        .call(
            "POST",
            &format!("/api/user/two-factor/{user}"),
            json!({"method": "email", "email": "other@example.com", "code": enrol}),
        )
        .await;
    assert_eq!(wrong_address.status, 421, "{wrong_address:?}");
    // The code was taken by the failed try: send another.
    let seen = mailed_codes(&smtp);
    let sent = s
        .call(
            "POST",
            "/api/two-factor/send",
            json!({"userId": user, "method": "email", "email": "jane.codes@example.com"}),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let enrol = new_code(&smtp, &seen).await;
    let on = s
        .call(
            "POST",
            &format!("/api/user/two-factor/{user}"),
            json!({"method": "email", "email": "jane.codes@example.com", "code": enrol}),
        )
        .await;
    assert_eq!(on.status, 200, "{on:?}");
    assert_eq!(on.json["recoveryCodes"].as_array().unwrap().len(), 10);

    let a = login(&s, "jane@example.com", None).await;
    assert_eq!(a.status, 242, "{a:?}");
    assert_eq!(a.json["methods"][0]["method"], "email");
    assert_eq!(a.json["methods"][0]["email"], "jane.codes@example.com");
    let id = a.json["twoFactorId"].as_str().unwrap().to_string();
    let method = a.json["methods"][0]["id"].as_str().unwrap().to_string();
    let before = mailed_codes(&smtp);
    let sent = s
        .call(
            "POST",
            &format!("/api/two-factor/send/{id}"),
            json!({ "methodId": method }),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let login_code = new_code(&smtp, &before).await;
    assert_eq!(code_login(&s, &id, &login_code).await.status, 200);
    let id = pending(&s, "jane@example.com", None).await;
    assert_eq!(
        code_login(&s, &id, &login_code).await.status,
        421,
        "an emailed code works once"
    );
    let unknown = s
        .call(
            "POST",
            "/api/two-factor/send/no-such-id",
            json!({ "methodId": method }),
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
}

async fn secrets_never_leave_the_server_nor_sit_in_the_database_in_the_clear(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, user) = fixture(&s).await;
    let (b32, _, recovery, _) = enable_authenticator(&s, &user).await;
    let u = s.get(&format!("/api/user/{user}")).await;
    assert!(!u.text.contains(&b32));
    assert!(u.json["user"]["twoFactor"]["methods"][0]
        .get("secret")
        .is_none());
    assert!(u.json["user"]["twoFactor"].get("recoveryCodes").is_none());
    let by_email = s.get("/api/user?email=jane@example.com").await;
    assert!(!by_email.text.contains("tf1."));
    let id: uuid::Uuid = user.parse().unwrap();
    let stored = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    let body = serde_json::to_string(&stored.user).unwrap();
    let raw = data_b64(&b32);
    assert!(!body.contains(&b32), "{body}");
    assert!(!body.contains(&raw), "{body}");
    for c in &recovery {
        assert!(!body.contains(c.as_str()), "{body}");
    }
    // A replace built from an answer (no secrets in it) keeps the method.
    let put = s
        .call(
            "PUT",
            &format!("/api/user/{user}"),
            json!({"user": u.json["user"].clone()}),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let id2 = pending(&s, "jane@example.com", None).await;
    assert_eq!(code_login(&s, &id2, &code(&b32, 30)).await.status, 200);
}

/// The base64 form of a base32 secret (for the search of the stored row).
fn data_b64(b32: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, sys; print(base64.b64encode(base64.b32decode(sys.argv[1])).decode())",
            b32,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn an_altered_stored_secret_is_a_clear_error(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, user) = fixture(&s).await;
    let (b32, ..) = enable_authenticator(&s, &user).await;
    let id: uuid::Uuid = user.parse().unwrap();
    let mut stored = s.db.store.user(Scope::ALL, id).await.unwrap().unwrap();
    let sealed = stored.user.two_factor.methods[0]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let mut altered = sealed.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    stored.user.two_factor.methods[0].insert("secret".into(), json!(altered));
    s.db.store.update_user(&stored).await.unwrap();
    let pid = pending(&s, "jane@example.com", None).await;
    let a = code_login(&s, &pid, &code(&b32, 30)).await;
    assert_eq!(a.status, 500, "{a:?}");
    assert_eq!(a.general_code(), Some("[TwoFactorKeyError]"));
    let msg = a.json["generalErrors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("altered"), "{msg}");
    assert!(!a.text.contains(&b32));
}

async fn bad_input_is_a_400_with_field_errors(b: Backend) {
    let s = Server::start(b).await;
    let (_, _, user) = fixture(&s).await;
    let a = s.call("POST", "/api/two-factor/login", json!({})).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.field_code("twoFactorId").is_some(), "{a:?}");
    assert!(a.field_code("code").is_some(), "{a:?}");
    let a = s
        .call(
            "POST",
            &format!("/api/user/two-factor/{user}"),
            json!({"method": "authenticator", "secret": "not base64!", "code": "123456"}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.field_code("secret"), Some("[invalid]secret"));
    let a = s
        .call(
            "POST",
            &format!("/api/user/two-factor/{user}"),
            json!({"method": "sms", "code": "123456"}),
        )
        .await;
    assert_eq!(a.field_code("method"), Some("[invalid]method"), "{a:?}");
    let a = s
        .call(
            "POST",
            &format!("/api/user/two-factor/recovery-code/{user}"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    let a = s
        .call(
            "POST",
            "/api/user/import",
            json!({"users": [{"email": "x@example.com",
                "twoFactor": {"methods": [{"method": "authenticator", "secret": "c2hvcnQ="}]}}]}),
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(
        a.field_code("users[0].twoFactor.methods[0].secret")
            .is_some(),
        "{a:?}"
    );
}
