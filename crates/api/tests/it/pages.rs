//! The hosted pages around the login, driven as a browser drives them: forgot password with
//! the email read from a real SMTP server, the reset page it links to, self-service
//! registration, and the tenant's theme (the Theme API and what the pages render from it).

use crate::oauth::{
    authorize_query, client, client_with, login_form, token, Browser, Client, Seen, REDIRECT,
    VERIFIER,
};
use crate::support::{send, Server, Setup, SmtpSink};
use portcullis_store::testing::Backend;
use serde_json::json;

portcullis_store::on_both_backends!(
    forgot_password_emails_the_reset_page_and_the_new_password_signs_in,
    the_forgot_page_answers_the_same_for_anyone,
    self_registration_creates_a_registered_user_and_signs_them_in,
    registration_is_offered_only_when_the_application_enables_it,
    the_theme_api_keeps_themes_per_tenant_and_refuses_a_template_that_does_not_compile,
    the_tenants_theme_renders_its_templates_stylesheet_and_messages,
);

/// An attribute's value as the page's HTML holds it, unescaped.
fn unescape(v: &str) -> String {
    v.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `href` of the link whose text is `text`.
fn href(page: &Seen, text: &str) -> Option<String> {
    let end = page.body.find(&format!("\">{text}</a>"))?;
    let start = page.body[..end].rfind("href=\"")? + 6;
    Some(unescape(&page.body[start..end]))
}

/// Every page says not to store it, and may not be framed.
fn assert_page_headers(p: &Seen) {
    assert_eq!(p.headers["cache-control"], "no-store", "{p:?}");
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

/// The form of `page` with `fields`, plus every hidden input it carries (CSRF token and the
/// authorization request).
pub(crate) fn form_of(page: &Seen, fields: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&'static str, String)> =
        fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for name in [
        "csrf_token",
        "changePasswordId",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
        "login_hint",
    ] {
        if let Some(v) = page.input(name) {
            form.push((name, v));
        }
    }
    form
}

/// A quoted-printable email body as text.
fn decode_qp(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The page without what differs on every answer (the nonce, the CSRF token).
fn stable(body: &str) -> String {
    body.split('"')
        .enumerate()
        .filter(|(i, part)| i % 2 == 0 || part.len() < 40)
        .map(|(_, p)| p)
        .collect::<Vec<_>>()
        .join("\"")
}

async fn point_smtp_at(s: &Server, tenant: &str, smtp: &SmtpSink) {
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{tenant}"),
            json!({"tenant": {"emailConfiguration": {"host": "127.0.0.1", "port": smtp.port,
                   "security": "NONE", "defaultFromEmail": "accounts@shop.example"}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn forgot_password_emails_the_reset_page_and_the_new_password_signs_in(b: Backend) {
    let s = Server::start_with(
        b,
        Setup {
            public_url: true,
            ..Setup::default()
        },
    )
    .await;
    let smtp = SmtpSink::start();
    let c = client(&s).await;
    point_smtp_at(&s, &c.tenant, &smtp).await;

    let mut br = Browser::new(&s);
    let login = br.get(&authorize_query(&c, &[])).await;
    assert_eq!(login.status, 200, "{login:?}");
    let forgot_url = href(&login, "Forgot your password?").expect("the login page links it");
    assert!(forgot_url.starts_with("/oauth2/forgot?"), "{forgot_url}");
    let forgot = br.get(&forgot_url).await;
    assert_eq!(forgot.status, 200, "{forgot:?}");
    assert_page_headers(&forgot);
    assert!(forgot.body.contains("<label for=\"loginId\">"));

    // Nothing typed: the error summary names the field.
    let empty = br
        .post_form("/oauth2/forgot", &form_of(&forgot, &[("loginId", " ")]))
        .await;
    assert_eq!(empty.status, 400, "{empty:?}");
    assert!(empty.body.contains("href=\"#loginId\""), "{}", empty.body);

    let sent = br
        .post_form(
            "/oauth2/forgot",
            &form_of(&forgot, &[("loginId", c.email.as_str())]),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_page_headers(&sent);
    assert!(sent.body.contains("Check your email"), "{}", sent.body);

    let mail = decode_qp(&smtp.wait_for(&c.email).await);
    assert!(mail.contains("accounts@shop.example"), "{mail}");
    let prefix = format!("{}/oauth2/reset-password?changePasswordId=", s.url);
    let start = mail.find(&prefix).expect("the email links the reset page");
    let link: String = mail[start + s.url.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(link.contains(&format!("client_id={}", c.id)), "{link}");

    let reset = br.get(&link).await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_page_headers(&reset);
    assert!(reset.body.contains("<label for=\"password\">"));
    // Without this browser's CSRF token: refused, and the link still works after.
    let mut other = Browser::new(&s);
    let forged = other
        .post_form(
            "/oauth2/reset-password",
            &form_of(
                &reset,
                &[
                    ("password", "stolen passphrase"),
                    ("passwordConfirm", "stolen passphrase"),
                ],
            ),
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let mismatch = br
        .post_form(
            "/oauth2/reset-password",
            &form_of(
                &reset,
                &[
                    ("password", "a new passphrase"),
                    ("passwordConfirm", "another one"),
                ],
            ),
        )
        .await;
    assert_eq!(mismatch.status, 400, "{mismatch:?}");
    assert!(mismatch.body.contains("href=\"#passwordConfirm\""));
    let weak = br
        .post_form(
            "/oauth2/reset-password",
            &form_of(
                &reset,
                &[("password", "short"), ("passwordConfirm", "short")],
            ),
        )
        .await;
    assert_eq!(weak.status, 400, "{weak:?}");
    assert!(weak.body.contains("error-summary"));

    let done = br
        .post_form(
            "/oauth2/reset-password",
            &form_of(
                &reset,
                &[
                    ("password", "a new passphrase"),
                    ("passwordConfirm", "a new passphrase"),
                ],
            ),
        )
        .await;
    assert_eq!(done.status, 200, "{done:?}");
    assert!(
        done.body.contains("Your password is changed"),
        "{}",
        done.body
    );
    // The page after is the login page of the request the link carried: sign in there.
    let wrong = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&done, &c.email, "correct horse"),
        )
        .await;
    assert_eq!(wrong.status, 401, "the old password no longer works");
    let back = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&wrong, &c.email, "a new passphrase"),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("st-123"));
    let code = back.param("code").unwrap();
    let (st, t) = token(
        &s,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");

    // The link works once.
    let again = br.get(&link).await;
    let used = br
        .post_form(
            "/oauth2/reset-password",
            &form_of(
                &again,
                &[
                    ("password", "yet another one"),
                    ("passwordConfirm", "yet another one"),
                ],
            ),
        )
        .await;
    assert_eq!(used.status, 400, "{used:?}");
    assert!(used.body.contains("expired"), "{}", used.body);
}

async fn the_forgot_page_answers_the_same_for_anyone(b: Backend) {
    let s = Server::start_with(
        b,
        Setup {
            public_url: true,
            ..Setup::default()
        },
    )
    .await;
    let smtp = SmtpSink::start();
    let c = client(&s).await;
    point_smtp_at(&s, &c.tenant, &smtp).await;
    let mut br = Browser::new(&s);
    let forgot = br
        .get(&authorize_query(&c, &[]).replace("/oauth2/authorize", "/oauth2/forgot"))
        .await;
    assert_eq!(forgot.status, 200, "{forgot:?}");
    let known = br
        .post_form(
            "/oauth2/forgot",
            &form_of(&forgot, &[("loginId", c.email.as_str())]),
        )
        .await;
    let unknown = br
        .post_form(
            "/oauth2/forgot",
            &form_of(&forgot, &[("loginId", "nobody@example.com")]),
        )
        .await;
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(stable(&known.body), stable(&unknown.body));
    // Only the account that exists gets an email.
    smtp.wait_for(&c.email).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1, "{:?}", smtp.messages());
    // A form from another browser is refused.
    let mut other = Browser::new(&s);
    let forged = other
        .post_form(
            "/oauth2/forgot",
            &form_of(&forgot, &[("loginId", c.email.as_str())]),
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
}

/// A client whose application lets people register themselves.
pub(crate) async fn open_client(s: &Server) -> Client {
    let tenant = s.default_tenant().await;
    let c = client_with(
        s,
        &tenant,
        json!({"authorizedRedirectURLs": [REDIRECT], "enabledGrants": ["authorization_code", "refresh_token"]}),
    )
    .await;
    let a = s
        .call(
            "PATCH",
            &format!("/api/application/{}", c.id),
            json!({"application": {"registrationConfiguration": {"enabled": true}}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    c
}

async fn self_registration_creates_a_registered_user_and_signs_them_in(b: Backend) {
    let s = Server::start(b).await;
    let c = open_client(&s).await;
    let mut br = Browser::new(&s);
    let login = br.get(&authorize_query(&c, &[])).await;
    let register_url = href(&login, "Create an account").expect("the login page links it");
    let page = br.get(&register_url).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_page_headers(&page);
    for field in [
        "email",
        "password",
        "passwordConfirm",
        "firstName",
        "lastName",
    ] {
        assert!(
            page.body.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
    }

    let fields = |email: &'static str, pw: &'static str, confirm: &'static str| {
        [
            ("email", email),
            ("password", pw),
            ("passwordConfirm", confirm),
            ("firstName", "Grace"),
            ("lastName", "Hopper"),
        ]
    };
    let mismatch = br
        .post_form(
            "/oauth2/register",
            &form_of(
                &page,
                &fields("grace@example.com", "a long passphrase", "another"),
            ),
        )
        .await;
    assert_eq!(mismatch.status, 400, "{mismatch:?}");
    assert!(mismatch.body.contains("href=\"#passwordConfirm\""));
    // What was typed stays, but never the password.
    assert!(mismatch.body.contains("value=\"grace@example.com\""));
    assert!(!mismatch.body.contains("a long passphrase"));
    let weak = br
        .post_form(
            "/oauth2/register",
            &form_of(&page, &fields("grace@example.com", "short", "short")),
        )
        .await;
    assert_eq!(weak.status, 400, "{weak:?}");
    assert!(weak.body.contains("href=\"#password\""), "{}", weak.body);
    // An email the tenant holds already is told as such (FusionAuth's behaviour).
    let taken = br
        .post_form(
            "/oauth2/register",
            &form_of(
                &page,
                &[
                    ("email", c.email.as_str()),
                    ("password", "a long passphrase"),
                    ("passwordConfirm", "a long passphrase"),
                ],
            ),
        )
        .await;
    assert_eq!(taken.status, 400, "{taken:?}");
    assert!(taken.body.contains("already exists"), "{}", taken.body);
    let forged = Browser::new(&s)
        .post_form(
            "/oauth2/register",
            &form_of(
                &page,
                &fields(
                    "grace@example.com",
                    "a long passphrase",
                    "a long passphrase",
                ),
            ),
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(s.get("/api/user?email=grace@example.com").await.status, 404);

    let back = br
        .post_form(
            "/oauth2/register",
            &form_of(
                &page,
                &fields(
                    "grace@example.com",
                    "a long passphrase",
                    "a long passphrase",
                ),
            ),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("st-123"));
    assert!(br.cookies.contains_key("portcullis_sso"));
    let code = back.param("code").unwrap();
    let (st, t) = token(
        &s,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let id = crate::oauth::claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "grace@example.com");
    assert_eq!(id["given_name"], "Grace");

    let u = s.get("/api/user?email=grace@example.com").await;
    assert_eq!(u.status, 200, "{u:?}");
    assert_eq!(u.json["user"]["lastName"], "Hopper");
    assert_eq!(
        u.json["user"]["registrations"][0]["applicationId"],
        c.id.as_str()
    );
    // The SSO session answers the next authorization without a page.
    let next = br.get(&authorize_query(&c, &[])).await;
    assert_eq!(next.status, 303, "{next:?}");
    // And the password works on the Login API.
    let l = s
        .call(
            "POST",
            "/api/login",
            json!({"loginId": "grace@example.com", "password": "a long passphrase", "applicationId": c.id}),
        )
        .await;
    assert_eq!(l.status, 200, "{l:?}");
}

async fn registration_is_offered_only_when_the_application_enables_it(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let login = br.get(&authorize_query(&c, &[])).await;
    assert!(
        href(&login, "Create an account").is_none(),
        "{}",
        login.body
    );
    let page = br
        .get(&authorize_query(&c, &[]).replace("/oauth2/authorize", "/oauth2/register"))
        .await;
    assert_eq!(page.status, 404, "{page:?}");
    assert_page_headers(&page);
    // A form posted anyway creates nobody.
    let mut form = form_of(
        &login,
        &[
            ("email", "eve@example.com"),
            ("password", "a long passphrase"),
            ("passwordConfirm", "a long passphrase"),
        ],
    );
    form.retain(|(k, _)| *k != "loginId");
    let posted = br.post_form("/oauth2/register", &form).await;
    assert_eq!(posted.status, 404, "{posted:?}");
    assert_eq!(s.get("/api/user?email=eve@example.com").await.status, 404);
}

async fn the_theme_api_keeps_themes_per_tenant_and_refuses_a_template_that_does_not_compile(
    b: Backend,
) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let other = s.new_tenant("Other").await;
    let created = send(
        s.req("POST", "/api/theme")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"theme": {
                "name": "Shop",
                "templates": {"oauth2Authorize": "{% extends \"base.html\" %}{% block content %}<h1>{{ t.sign_in }} at the shop</h1>{% endblock %}"},
                "stylesheet": "body { background: #fafafa; }",
                "defaultMessages": "sign_in=Welcome",
                "localizedMessages": {"de": "sign_in=Anmelden"},
            }})),
    )
    .await;
    assert_eq!(created.status, 200, "{created:?}");
    let id = created.json["theme"]["id"].as_str().unwrap().to_string();
    assert_eq!(created.json["theme"]["tenantId"], t.as_str());
    assert_eq!(
        created.json["theme"]["localizedMessages"]["de"],
        "sign_in=Anmelden"
    );

    let one = s.get(&format!("/api/theme/{id}")).await;
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.json["theme"]["name"], "Shop");
    let list = s.get("/api/theme").await;
    assert_eq!(list.json["themes"].as_array().unwrap().len(), 1, "{list:?}");

    // A key locked to another tenant sees no such theme.
    let key = s.key_with(json!({"tenantId": other})).await;
    let hidden = send(s.req_as(&key, "GET", &format!("/api/theme/{id}"))).await;
    assert_eq!(hidden.status, 404, "{hidden:?}");
    let none = send(s.req_as(&key, "GET", "/api/theme")).await;
    assert_eq!(none.json["themes"], json!([]), "{none:?}");

    // A template that does not compile, an unknown template and a bad message line: 400, and
    // nothing changes.
    let bad = s
        .call(
            "PATCH",
            &format!("/api/theme/{id}"),
            json!({"theme": {"templates": {"oauth2Authorize": "{% if %}", "nope": "x"},
                   "localizedMessages": {"fr": "no equals sign"}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(
        bad.field_code("theme.templates.oauth2Authorize"),
        Some("[invalid]theme.templates.oauth2Authorize")
    );
    assert_eq!(
        bad.field_code("theme.templates.nope"),
        Some("[invalid]theme.templates.nope")
    );
    assert_eq!(
        bad.field_code("theme.localizedMessages.fr"),
        Some("[invalid]theme.localizedMessages.fr")
    );
    let blank = s
        .call(
            "PUT",
            &format!("/api/theme/{id}"),
            json!({"theme": {"name": " "}}),
        )
        .await;
    assert_eq!(
        blank.field_code("theme.name"),
        Some("[blank]theme.name"),
        "{blank:?}"
    );
    assert_eq!(
        s.get(&format!("/api/theme/{id}")).await.json["theme"]["name"],
        "Shop"
    );

    let renamed = s
        .call(
            "PATCH",
            &format!("/api/theme/{id}"),
            json!({"theme": {"name": "Shop 2"}}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(
        renamed.json["theme"]["stylesheet"],
        "body { background: #fafafa; }"
    );

    // In use by its tenant: not deleted.
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"themeId": id}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let used = send(s.req("DELETE", &format!("/api/theme/{id}"))).await;
    assert_eq!(used.status, 400, "{used:?}");
    assert_eq!(used.general_code(), Some("[ThemeInUse]"));
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{t}"),
            json!({"tenant": {"themeId": null}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let gone = send(s.req("DELETE", &format!("/api/theme/{id}"))).await;
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(s.get(&format!("/api/theme/{id}")).await.status, 404);
}

async fn the_tenants_theme_renders_its_templates_stylesheet_and_messages(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    // The default theme.
    let plain = br.get(&authorize_query(&c, &[])).await;
    assert!(plain.body.contains("<h1>Sign in</h1>"), "{}", plain.body);
    assert!(plain.body.contains("<html lang=\"en\">"));

    let created = send(
        s.req("POST", "/api/theme")
            .header("X-FusionAuth-TenantId", &c.tenant)
            .json(&json!({"theme": {
                "name": "Shop",
                "templates": {"oauth2Authorize": "{% extends \"base.html\" %}{% block content %}<h1>{{ t.sign_in }} at the shop</h1><form method=\"post\" action=\"/oauth2/authorize\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf }}\">{% for name, value in params %}<input type=\"hidden\" name=\"{{ name }}\" value=\"{{ value }}\">{% endfor %}<label for=\"loginId\">{{ t.login_id }}</label><input id=\"loginId\" name=\"loginId\"><label for=\"password\">{{ t.password }}</label><input id=\"password\" name=\"password\" type=\"password\"><button>{{ t.sign_in_button }}</button></form>{% endblock %}"},
                "stylesheet": "body { background: #fafafa; }",
                "localizedMessages": {"de": "sign_in=Anmelden\nlogin_id=E-Mail oder Benutzername", "en": "sign_in=Welcome"},
            }})),
    )
    .await;
    assert_eq!(created.status, 200, "{created:?}");
    let id = created.json["theme"]["id"].as_str().unwrap().to_string();
    let a = s
        .call(
            "PATCH",
            &format!("/api/tenant/{}", c.tenant),
            json!({"tenant": {"themeId": id}}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");

    let en = br.get(&authorize_query(&c, &[])).await;
    assert_eq!(en.status, 200, "{en:?}");
    assert!(
        en.body.contains("<h1>Welcome at the shop</h1>"),
        "{}",
        en.body
    );
    assert!(
        en.body.contains("body { background: #fafafa; }"),
        "{}",
        en.body
    );
    let de = br
        .see(
            br.http
                .get(format!("{}{}", s.url, authorize_query(&c, &[])))
                .header("Accept-Language", "de-DE,de;q=0.9,en;q=0.5"),
        )
        .await;
    assert!(
        de.body.contains("<h1>Anmelden at the shop</h1>"),
        "{}",
        de.body
    );
    assert!(de.body.contains("E-Mail oder Benutzername"));
    assert!(de.body.contains("<html lang=\"de\">"), "{}", de.body);
    // A key the locale lacks comes from the default messages.
    assert!(de.body.contains(">Password</label>"), "{}", de.body);
    // The themed form signs in like the default one.
    let back = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&de, &c.email, "correct horse"),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");

    // An update shows at the next page.
    let p = s
        .call(
            "PATCH",
            &format!("/api/theme/{id}"),
            json!({"theme": {"templates": {"oauth2Authorize": "{% extends \"base.html\" %}{% block content %}<h1>Version two</h1>{% endblock %}"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let mut fresh = Browser::new(&s);
    let v2 = fresh.get(&authorize_query(&c, &[])).await;
    assert!(v2.body.contains("<h1>Version two</h1>"), "{}", v2.body);
    // Pages the theme does not override keep the default template, with its messages.
    let forgot = fresh
        .get(&authorize_query(&c, &[]).replace("/oauth2/authorize", "/oauth2/forgot"))
        .await;
    assert!(
        forgot.body.contains("<h1>Forgot your password?</h1>"),
        "{}",
        forgot.body
    );
    assert!(forgot.body.contains("body { background: #fafafa; }"));
}
