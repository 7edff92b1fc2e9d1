//! The two-factor steps of the hosted login, driven as a browser drives them, with codes made by
//! pyotp: the code page after the password, a wrong code, "trust this computer", and enrolment
//! with the QR code and the recovery codes when the tenant requires a second factor. A password
//! alone never adds a method to an account that has one.

use crate::oauth::{authorize_query, client, login_form, Browser, Client, Seen, REDIRECT};
use crate::support::Server;
use crate::two_factor::{code, enable_authenticator};
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    the_hosted_login_asks_for_the_code_and_a_trusted_computer_skips_it,
    a_required_second_factor_is_enrolled_on_the_hosted_page_and_a_password_alone_adds_none,
);

/// The form of a two-factor page: its hidden inputs (CSRF token, the pending login, the
/// authorization request) and `fields`.
fn step_form(page: &Seen, fields: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&'static str, String)> =
        fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for name in [
        "csrf_token",
        "twoFactorId",
        "secretBase32Encoded",
        "account",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        if let Some(v) = page.input(name) {
            form.push((name, v));
        }
    }
    form
}

async fn user_id(s: &Server, c: &Client) -> String {
    let u = s.get(&format!("/api/user?email={}", c.email)).await;
    u.json["user"]["id"].as_str().unwrap().to_string()
}

/// The password step of the hosted login.
async fn password_step(br: &mut Browser, c: &Client) -> Seen {
    let page = br.get(&authorize_query(c, &[])).await;
    assert_eq!(page.status, 200, "{page:?}");
    br.post_form(
        "/oauth2/authorize",
        &login_form(&page, &c.email, "correct horse"),
    )
    .await
}

fn back_to_client(r: &Seen) {
    assert!(matches!(r.status, 302 | 303), "{r:?}");
    assert!(
        r.location.as_deref().unwrap().starts_with(REDIRECT),
        "{r:?}"
    );
    assert!(r.param("code").is_some(), "{r:?}");
    assert_eq!(r.param("state").as_deref(), Some("st-123"));
}

async fn the_hosted_login_asks_for_the_code_and_a_trusted_computer_skips_it(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let uid = user_id(&s, &c).await;
    let (b32, ..) = enable_authenticator(&s, &uid).await;

    let mut br = Browser::new(&s);
    let step = password_step(&mut br, &c).await;
    assert_eq!(step.status, 200, "{step:?}");
    assert!(step.location.is_none());
    assert!(step.body.contains("name=\"code\""), "{}", step.body);
    assert!(step.input("twoFactorId").is_some());
    // The form goes back to the client when the code is right: its origin may be posted to.
    let csp = step.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );

    let wrong = br
        .post_form(
            "/oauth2/two-factor",
            &step_form(&step, &[("code", "000000")]),
        )
        .await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(wrong.body.contains("href=\"#code\""), "{}", wrong.body);
    // Another browser's form (no CSRF cookie) is refused.
    let forged = Browser::new(&s)
        .post_form(
            "/oauth2/two-factor",
            &step_form(&wrong, &[("code", &code(&b32, 30))]),
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    // The code after the one that enabled the method, and "trust this computer".
    let done = br
        .post_form(
            "/oauth2/two-factor",
            &step_form(
                &wrong,
                &[("code", &code(&b32, 30)), ("trustComputer", "true")],
            ),
        )
        .await;
    back_to_client(&done);
    let trust = br.cookies.get("portcullis_2fa_trust").cloned();
    assert!(trust.is_some(), "{done:?}");

    // A new browser session (no SSO cookie) on the trusted computer: the password alone.
    let mut again = Browser::new(&s);
    again
        .cookies
        .insert("portcullis_2fa_trust".into(), trust.unwrap());
    back_to_client(&password_step(&mut again, &c).await);
    // Without the trust cookie the step comes back.
    let fresh = password_step(&mut Browser::new(&s), &c).await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert!(fresh.input("twoFactorId").is_some());
}

async fn a_required_second_factor_is_enrolled_on_the_hosted_page_and_a_password_alone_adds_none(
    b: Backend,
) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let uid = user_id(&s, &c).await;
    let p = s
        .call(
            "PATCH",
            &format!("/api/tenant/{}", c.tenant),
            json!({"tenant": {"multiFactorConfiguration": {"loginPolicy": "Required"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");

    let mut br = Browser::new(&s);
    let enrol = password_step(&mut br, &c).await;
    assert_eq!(enrol.status, 200, "{enrol:?}");
    let secret = enrol.input("secretBase32Encoded").expect("the key to type");
    assert!(secret.len() >= 16, "{secret}");
    // The QR code is an SVG image the page's CSP allows (`img-src data:`).
    let body = enrol.body.replace("&#x2f;", "/").replace("&#x3d;", "=");
    let prefix = "src=\"data:image/svg+xml;base64,";
    let start = body.find(prefix).expect("a QR code") + prefix.len();
    let end = start + body[start..].find('"').unwrap();
    use base64::Engine;
    let svg = base64::engine::general_purpose::STANDARD
        .decode(&body[start..end])
        .expect("base64");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    let wrong = br
        .post_form(
            "/oauth2/two-factor/enrol",
            &step_form(&enrol, &[("code", "000000")]),
        )
        .await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(
        wrong.input("secretBase32Encoded").as_deref(),
        Some(secret.as_str())
    );
    let on = br
        .post_form(
            "/oauth2/two-factor/enrol",
            &step_form(&wrong, &[("code", &code(&secret, 0))]),
        )
        .await;
    assert_eq!(on.status, 200, "{on:?}");
    assert_eq!(on.body.matches("<li><code>").count(), 10, "{}", on.body);
    // The login completes with the next code.
    let done = br
        .post_form(
            "/oauth2/two-factor",
            &step_form(&on, &[("code", &code(&secret, 30))]),
        )
        .await;
    back_to_client(&done);
    let u = s.get(&format!("/api/user/{uid}")).await;
    assert_eq!(
        u.json["user"]["twoFactor"]["methods"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Someone with the password only: the login asks for the code, and the enrolment form,
    // posted with their own key and its right code, adds nothing.
    let mut other = Browser::new(&s);
    let step = password_step(&mut other, &c).await;
    assert!(step.input("secretBase32Encoded").is_none(), "{}", step.body);
    let (_, attacker) = {
        let g = s.get("/api/two-factor/secret").await;
        (
            g.json["secret"].as_str().unwrap().to_string(),
            g.json["secretBase32Encoded"].as_str().unwrap().to_string(),
        )
    };
    let mut form = step_form(&step, &[("code", &code(&attacker, 0))]);
    form.push(("secretBase32Encoded", attacker.clone()));
    form.push(("account", c.email.clone()));
    let refused = other.post_form("/oauth2/two-factor/enrol", &form).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("took too long"), "{}", refused.body);
    let u = s.get(&format!("/api/user/{uid}")).await;
    assert_eq!(
        u.json["user"]["twoFactor"]["methods"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
