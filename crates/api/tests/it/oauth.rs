//! OAuth 2.0 / OpenID Connect over real HTTP: the code flow through the hosted login page as a
//! browser drives it (cookies kept by hand, redirects not followed), the token endpoint's grants,
//! and the rules an attacker tests first.

use crate::support::{send, Server};
use base64::Engine;
use portcullis_domain::oauth::{s256, OAuthStore, StoredCode};
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;

pub(crate) const REDIRECT: &str = "https://app.example/callback";
const LOGOUT: &str = "https://app.example/signed-out";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-1B0gbV8pG4kNrU77Gu-yDVTnW9l0Jc";

/// A browser: its cookies, and no automatic redirects.
pub(crate) struct Browser {
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    base: String,
}

/// A page or redirect as the browser saw it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Seen {
    /// The value of a query parameter of the redirect.
    pub fn param(&self, name: &str) -> Option<String> {
        let loc = self.location.as_deref()?;
        let q = loc.split_once('?')?.1;
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The value of a hidden input of the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')?;
        Some(
            self.body[start..start + end]
                .replace("&#x2f;", "/")
                .replace("&amp;", "&"),
        )
    }
}

impl Browser {
    pub fn new(s: &Server) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            base: s.url.clone(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn see(&mut self, rb: reqwest::RequestBuilder) -> Seen {
        let rb = if self.cookies.is_empty() {
            rb
        } else {
            rb.header("Cookie", self.cookie_header())
        };
        let res = rb.send().await.unwrap();
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        Seen {
            status,
            location,
            body: res.text().await.unwrap(),
            headers,
        }
    }

    pub async fn get(&mut self, path_and_query: &str) -> Seen {
        let rb = self.http.get(format!("{}{path_and_query}", self.base));
        self.see(rb).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, String)]) -> Seen {
        let rb = self.http.post(format!("{}{path}", self.base)).form(form);
        self.see(rb).await
    }
}

/// An application set up as an OAuth client, with its secret and a registered user.
pub(crate) struct Client {
    pub id: String,
    pub secret: String,
    pub tenant: String,
    pub email: String,
}

pub(crate) async fn client_with(s: &Server, tenant: &str, oauth: Value) -> Client {
    let a = send(
        s.req("POST", "/api/application")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({"application": {
                "name": "Shop", "roles": [{"name": "admin"}],
                "oauthConfiguration": oauth,
            }})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let app = &a.json["application"];
    let id = app["id"].as_str().unwrap().to_string();
    assert_eq!(app["oauthConfiguration"]["clientId"], id.as_str());
    let secret = app["oauthConfiguration"]["clientSecret"]
        .as_str()
        .expect("the create answer shows the secret once")
        .to_string();
    let email = format!("{}@example.com", &id[24..]);
    let u = send(
        s.req("POST", "/api/user/registration")
            .header("X-FusionAuth-TenantId", tenant)
            .json(&json!({
                "user": {"email": email, "password": "correct horse", "firstName": "Ada", "lastName": "Lovelace"},
                "registration": {"applicationId": id, "roles": ["admin"]},
            })),
    )
    .await;
    assert_eq!(u.status, 200, "{u:?}");
    Client {
        id,
        secret,
        tenant: tenant.to_string(),
        email,
    }
}

pub(crate) async fn client(s: &Server) -> Client {
    let tenant = s.default_tenant().await;
    client_with(
        s,
        &tenant,
        json!({
            "authorizedRedirectURLs": [REDIRECT],
            "logoutURL": LOGOUT,
            "enabledGrants": ["authorization_code", "refresh_token", "client_credentials", "password"],
        }),
    )
    .await
}

pub(crate) fn authorize_query(c: &Client, extra: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, String)> = vec![
        ("client_id", c.id.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("response_type", "code".into()),
        ("scope", "openid profile email offline_access".into()),
        ("state", "st-123".into()),
        ("nonce", "n-456".into()),
        ("code_challenge", s256(VERIFIER)),
        ("code_challenge_method", "S256".into()),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v.to_string()));
        }
    }
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(&p).unwrap()
    )
}

/// The login form of a login page, filled in.
pub(crate) fn login_form(
    page: &Seen,
    login_id: &str,
    password: &str,
) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&'static str, String)> = vec![
        ("loginId", login_id.to_string()),
        ("password", password.to_string()),
    ];
    for name in [
        "csrf_token",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
    ] {
        if let Some(v) = page.input(name) {
            form.push((name, v));
        }
    }
    form
}

/// Signs in through the hosted page; answers the redirect back to the client.
pub(crate) async fn sign_in(b: &mut Browser, c: &Client, extra: &[(&str, &str)]) -> Seen {
    let page = b.get(&authorize_query(c, extra)).await;
    assert_eq!(page.status, 200, "{page:?}");
    b.post_form(
        "/oauth2/authorize",
        &login_form(&page, &c.email, "correct horse"),
    )
    .await
}

pub(crate) async fn token(s: &Server, c: &Client, form: &[(&str, &str)]) -> (u16, Value) {
    let a = send(
        s.http
            .post(format!("{}/oauth2/token", s.url))
            .basic_auth(&c.id, Some(&c.secret))
            .form(form),
    )
    .await;
    (a.status, a.json)
}

pub(crate) fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

fn half_sha256(v: &str) -> String {
    let d = sha2::Sha256::digest(v.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}

/// An attacker who has seen a code races the client with it: of many exchanges sent at once,
/// at most one gets tokens, and since the code was replayed, the refresh token that one got is
/// revoked by the end, even when a replay ran while it was being issued.
async fn one_code_sent_many_times_at_once_is_exchanged_once(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let back = sign_in(&mut br, &c, &[]).await;
    assert_eq!(back.status, 303, "{back:?}");
    let code = back.param("code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let answers = futures_util::future::join_all((0..8).map(|_| token(&s, &c, &form))).await;
    let issued: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, t)| t)
        .collect();
    assert!(issued.len() <= 1, "{answers:?}");
    for (st, e) in answers.iter().filter(|(st, _)| *st != 200) {
        assert_eq!(
            (*st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{e}"
        );
    }
    for t in issued {
        let refresh = t["refresh_token"].as_str().expect("a refresh token");
        let (st, e) = token(
            &s,
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{e}"
        );
    }
}

async fn the_code_flow_issues_tokens_and_a_second_use_of_the_code_revokes_them(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let back = sign_in(&mut br, &c, &[]).await;
    assert_eq!(back.status, 303, "{back:?}");
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("st-123"));
    let code = back.param("code").unwrap();
    let sso = br
        .cookies
        .get("portcullis_sso")
        .cloned()
        .expect("an SSO cookie");
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
    assert_eq!(t["token_type"], "Bearer");
    let access = t["access_token"].as_str().unwrap();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["aud"], c.id.as_str());
    assert_eq!(id["at_hash"], half_sha256(access));
    assert_eq!(id["c_hash"], half_sha256(&code));
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["given_name"], "Ada");
    assert!(id["auth_time"].as_i64().is_some() && id["sid"].is_string());
    assert_eq!(claims(access)["roles"], json!(["admin"]));
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    // The SSO cookie is HttpOnly and SameSite=Lax; the secret is only in the cookie.
    assert!(!sso.is_empty());

    // userinfo answers the person.
    let ui = send(
        s.http
            .get(format!("{}/oauth2/userinfo", s.url))
            .bearer_auth(access),
    )
    .await;
    assert_eq!(ui.status, 200, "{ui:?}");
    assert_eq!(ui.json["email"], c.email.as_str());

    // The code again: refused, and the refresh token the first use issued is revoked.
    let (st, e) = token(
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
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    let (st, e) = token(
        &s,
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
}

async fn refresh_introspection_and_revocation_work_for_the_client_only(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let back = sign_in(&mut br, &c, &[]).await;
    let code = back.param("code").unwrap();
    let (_, t) = token(
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
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let (st, r) = token(
        &s,
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let next = r["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(next, refresh, "one-time refresh tokens rotate");

    let introspect = |token: String, id: String, secret: String| {
        let s = &s;
        async move {
            send(
                s.http
                    .post(format!("{}/oauth2/introspect", s.url))
                    .basic_auth(id, Some(secret))
                    .form(&[("token", token)]),
            )
            .await
        }
    };
    let a = introspect(
        r["access_token"].as_str().unwrap().into(),
        c.id.clone(),
        c.secret.clone(),
    )
    .await;
    assert_eq!(a.json["active"], true, "{a:?}");
    let a = introspect(next.clone(), c.id.clone(), c.secret.clone()).await;
    assert_eq!(a.json["active"], true, "{a:?}");
    assert_eq!(a.json["token_type"], "refresh_token");
    // Another tenant's client learns nothing about these tokens.
    let other = s.new_tenant("Other").await;
    let o = client_with(&s, &other, json!({"authorizedRedirectURLs": [REDIRECT]})).await;
    let a = introspect(
        r["access_token"].as_str().unwrap().into(),
        o.id.clone(),
        o.secret.clone(),
    )
    .await;
    assert_eq!(a.json, json!({"active": false}));
    let a = introspect(next.clone(), o.id.clone(), o.secret.clone()).await;
    assert_eq!(a.json, json!({"active": false}));
    // Another client cannot revoke it; this one can.
    let rv = send(
        s.http
            .post(format!("{}/oauth2/revoke", s.url))
            .basic_auth(&o.id, Some(&o.secret))
            .form(&[("token", next.as_str())]),
    )
    .await;
    assert_eq!(rv.status, 200);
    let a = introspect(next.clone(), c.id.clone(), c.secret.clone()).await;
    assert_eq!(a.json["active"], true);
    let rv = send(
        s.http
            .post(format!("{}/oauth2/revoke", s.url))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", next.as_str())]),
    )
    .await;
    assert_eq!(rv.status, 200);
    let a = introspect(next.clone(), c.id.clone(), c.secret.clone()).await;
    assert_eq!(a.json, json!({"active": false}));
}

async fn an_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    for bad in [
        "https://evil.example/callback",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
        "https://app.example/callbac",
        "https://app.example/callback#f",
        "",
    ] {
        let p = br.get(&authorize_query(&c, &[("redirect_uri", bad)])).await;
        assert_eq!(p.status, 400, "{bad}: {p:?}");
        assert!(p.location.is_none(), "{bad}");
        assert!(!p.body.contains("evil.example"));
    }
    // An unknown client: the same page.
    let p = br
        .get(&authorize_query(
            &c,
            &[("client_id", "6b4c3e2a-0000-4000-8000-000000000000")],
        ))
        .await;
    assert_eq!((p.status, p.location.is_none()), (400, true));
}

async fn pkce_is_s256_only_and_the_verifier_must_match(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    // plain is refused, back at the client with state.
    let p = br
        .get(&authorize_query(
            &c,
            &[
                ("code_challenge_method", "plain"),
                ("code_challenge", VERIFIER),
            ],
        ))
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(p.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(p.param("state").as_deref(), Some("st-123"));
    // A verifier missing or wrong.
    for verifier in [
        None,
        Some("wrong-verifier-wrong-verifier-wrong-verifier-000"),
    ] {
        let back = sign_in(&mut br, &c, &[("prompt", "login")]).await;
        let code = back.param("code").unwrap();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (st, e) = token(&s, &c, &form).await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{verifier:?}"
        );
    }
    // A client that requires PKCE refuses a request without a challenge.
    let tenant = c.tenant.clone();
    let strict = client_with(
        &s,
        &tenant,
        json!({"authorizedRedirectURLs": [REDIRECT], "proofKeyForCodeExchangePolicy": "Required"}),
    )
    .await;
    let p = br
        .get(&authorize_query(
            &strict,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ))
        .await;
    assert_eq!(p.param("error").as_deref(), Some("invalid_request"));
}

async fn an_expired_code_a_wrong_redirect_and_another_clients_code_are_refused(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    // A code whose 60 s are over, stored as the server stores one.
    let back = sign_in(&mut br, &c, &[]).await;
    let live = back.param("code").unwrap();
    let user = s.get(&format!("/api/user?email={}", c.email)).await.json["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expired = "expired-code-expired-code-expired-code-0000";
    let now = portcullis_domain::now_millis();
    s.db.store
        .insert_oauth_code(&StoredCode {
            code_hash: portcullis_domain::secrets::stored_hash(expired),
            tenant_id: c.tenant.parse().unwrap(),
            application_id: c.id.parse().unwrap(),
            user_id: user,
            redirect_uri: REDIRECT.into(),
            code_challenge: None,
            nonce: None,
            scope: "openid".into(),
            sid: uuid::Uuid::new_v4(),
            auth_time: now - 120_000,
            expires_instant: now - 60_000,
            family_id: uuid::Uuid::new_v4(),
        })
        .await
        .unwrap();
    let (st, e) = token(
        &s,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", expired),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    // Another client presenting this client's code.
    let other = client_with(&s, &c.tenant, json!({"authorizedRedirectURLs": [REDIRECT]})).await;
    let (st, e) = token(
        &s,
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", &live),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    // A redirect URI that differs from the request's.
    let back = sign_in(&mut br, &c, &[("prompt", "login")]).await;
    let code = back.param("code").unwrap();
    let (st, e) = token(
        &s,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
}

async fn a_wrong_client_secret_is_401_invalid_client(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let a = send(
        s.http
            .post(format!("{}/oauth2/token", s.url))
            .basic_auth(&c.id, Some("not-the-secret"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // client_secret_post works with the right secret, and the grant gives a client token.
    let a = send(s.http.post(format!("{}/oauth2/token", s.url)).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret.as_str()),
    ]))
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        claims(a.json["access_token"].as_str().unwrap())["sub"],
        c.id.as_str()
    );
    // The secret is never answered again, nor its hash.
    let g = s.get(&format!("/api/application/{}", c.id)).await;
    assert!(g.json["application"]["oauthConfiguration"]["clientSecret"].is_null());
    assert!(!g.text.contains("clientSecretHash"));
    assert!(!g
        .text
        .contains(&portcullis_domain::secrets::stored_hash(&c.secret)));
    // A rotated secret replaces the old one at once.
    let r = s
        .call(
            "POST",
            &format!(
                "/api/application/{}/oauth-configuration/client-secret",
                c.id
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let new = r.json["clientSecret"].as_str().unwrap().to_string();
    let old = Client {
        secret: c.secret.clone(),
        ..clone(&c)
    };
    let (st, _) = token(&s, &old, &[("grant_type", "client_credentials")]).await;
    assert_eq!(st, 401);
    let (st, _) = token(
        &s,
        &Client {
            secret: new,
            ..clone(&c)
        },
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(st, 200);
}

fn clone(c: &Client) -> Client {
    Client {
        id: c.id.clone(),
        secret: c.secret.clone(),
        tenant: c.tenant.clone(),
        email: c.email.clone(),
    }
}

async fn a_disabled_grant_is_unauthorized_client(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    let c = client_with(&s, &tenant, json!({"authorizedRedirectURLs": [REDIRECT]})).await;
    let (st, e) = token(&s, &c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (st, e) = token(
        &s,
        &c,
        &[
            ("grant_type", "password"),
            ("username", &c.email),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (st, e) = token(
        &s,
        &c,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")],
    )
    .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

async fn prompt_none_without_a_session_is_login_required_and_a_session_skips_the_page(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let p = br.get(&authorize_query(&c, &[("prompt", "none")])).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.param("error").as_deref(), Some("login_required"));
    assert_eq!(p.param("state").as_deref(), Some("st-123"));
    sign_in(&mut br, &c, &[]).await;
    let p = br.get(&authorize_query(&c, &[("prompt", "none")])).await;
    assert_eq!(p.status, 303, "{p:?}");
    assert!(p.param("code").is_some());
    // prompt=login shows the page despite the session.
    let p = br.get(&authorize_query(&c, &[("prompt", "login")])).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("name=\"password\""));
}

async fn a_form_without_this_browsers_csrf_token_is_403(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut mine = Browser::new(&s);
    let page = mine.get(&authorize_query(&c, &[])).await;
    assert_eq!(page.headers["cache-control"], "no-store");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let mut form = login_form(&page, &c.email, "correct horse");
    // Missing.
    let without: Vec<_> = form
        .iter()
        .filter(|(k, _)| *k != "csrf_token")
        .cloned()
        .collect();
    let p = mine.post_form("/oauth2/authorize", &without).await;
    assert_eq!((p.status, p.location.is_none()), (403, true));
    // Another browser's token, posted with this browser's cookie.
    let mut theirs = Browser::new(&s);
    let their_page = theirs.get(&authorize_query(&c, &[])).await;
    let their_token = their_page.input("csrf_token").unwrap();
    for (k, v) in form.iter_mut() {
        if *k == "csrf_token" {
            *v = their_token.clone();
        }
    }
    let p = mine.post_form("/oauth2/authorize", &form).await;
    assert_eq!((p.status, p.location.is_none()), (403, true));
    // A browser with no cookie at all (a cross-site post).
    let mut fresh = Browser::new(&s);
    let p = fresh.post_form("/oauth2/authorize", &form).await;
    assert_eq!(p.status, 403);
}

async fn the_login_page_tells_nothing_about_whether_a_user_exists(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&c, &[])).await;
    let wrong = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, &c.email, "wrong password"),
        )
        .await;
    let page = br.get(&authorize_query(&c, &[])).await;
    let unknown = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, "nobody@example.com", "wrong password"),
        )
        .await;
    assert_eq!(wrong.status, unknown.status);
    assert!(wrong.location.is_none() && unknown.location.is_none());
    let message = |p: &Seen| {
        let start = p.body.find("<ul>").unwrap();
        p.body[start..start + p.body[start..].find("</ul>").unwrap()].to_string()
    };
    assert_eq!(message(&wrong), message(&unknown));
    assert!(
        !wrong.body.contains("wrong password"),
        "the password is never echoed"
    );
}

async fn logout_ends_the_session_everywhere_and_never_redirects_to_an_unregistered_uri(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let mut br = Browser::new(&s);
    sign_in(&mut br, &c, &[]).await;
    let sso = br.cookies.get("portcullis_sso").cloned().unwrap();
    // An unregistered return address: signed out, but no redirect.
    let p = br
        .get(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
            c.id
        ))
        .await;
    assert_eq!((p.status, p.location.is_none()), (400, true));
    // The old cookie, replayed by another browser, signs no one in.
    let mut thief = Browser::new(&s);
    thief.cookies.insert("portcullis_sso".into(), sso);
    let p = thief.get(&authorize_query(&c, &[("prompt", "none")])).await;
    assert_eq!(p.param("error").as_deref(), Some("login_required"));
    // A registered one is followed, with state.
    sign_in(&mut br, &c, &[]).await;
    let p = br
        .get(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}&state=bye",
            c.id,
            portcullis_domain::oauth::append_query("", &[("x", LOGOUT)]).trim_start_matches("?x=")
        ))
        .await;
    assert_eq!(p.status, 303, "{p:?}");
    assert_eq!(
        p.location.as_deref(),
        Some(format!("{LOGOUT}?state=bye").as_str())
    );
    let p = br.get(&authorize_query(&c, &[("prompt", "none")])).await;
    assert_eq!(p.param("error").as_deref(), Some("login_required"));
}

async fn a_client_of_one_tenant_signs_in_no_user_of_another(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let other = s.new_tenant("Other").await;
    let o = client_with(
        &s,
        &other,
        json!({"authorizedRedirectURLs": [REDIRECT], "enabledGrants": ["authorization_code", "password"]}),
    )
    .await;
    // c's user through o's client: the hosted page refuses as for a wrong password.
    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&o, &[])).await;
    let p = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, &c.email, "correct horse"),
        )
        .await;
    assert_eq!((p.status, p.location.is_none()), (401, true));
    let (st, e) = token(
        &s,
        &o,
        &[
            ("grant_type", "password"),
            ("username", &c.email),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    // Its own user works through the password grant.
    let (st, t) = token(
        &s,
        &o,
        &[
            ("grant_type", "password"),
            ("username", &o.email),
            ("password", "correct horse"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["aud"],
        o.id.as_str()
    );
}

async fn a_required_password_change_is_a_step_of_the_hosted_login(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let user = s.get(&format!("/api/user?email={}", c.email)).await.json["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = s
        .call(
            "PATCH",
            &format!("/api/user/{user}"),
            json!({"user": {"passwordChangeRequired": true}}),
        )
        .await;
    assert_eq!(p.status, 200, "{p:?}");
    let mut br = Browser::new(&s);
    let page = br.get(&authorize_query(&c, &[])).await;
    let step = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&page, &c.email, "correct horse"),
        )
        .await;
    assert_eq!(step.status, 200, "{step:?}");
    let id = step
        .input("changePasswordId")
        .expect("the change-password step");
    let mut form = vec![
        ("changePasswordId", id),
        ("password", "a brand new passphrase".to_string()),
        ("passwordConfirm", "a brand new passphrase".to_string()),
    ];
    for name in [
        "csrf_token",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        if let Some(v) = step.input(name) {
            form.push((name, v));
        }
    }
    let done = br.post_form("/oauth2/change-password", &form).await;
    assert_eq!(done.status, 200, "{done:?}");
    let back = br
        .post_form(
            "/oauth2/authorize",
            &login_form(&done, &c.email, "a brand new passphrase"),
        )
        .await;
    assert_eq!(back.status, 303, "{back:?}");
    assert!(back.param("code").is_some());
}

async fn api_logout_revokes_the_refresh_token(b: Backend) {
    let s = Server::start(b).await;
    let c = client(&s).await;
    let (_, t) = token(
        &s,
        &c,
        &[
            ("grant_type", "password"),
            ("username", &c.email),
            ("password", "correct horse"),
            ("scope", "offline_access"),
        ],
    )
    .await;
    let refresh = t["refresh_token"]
        .as_str()
        .expect("offline_access gives one")
        .to_string();
    let a = send(
        s.http
            .post(format!("{}/api/logout", s.url))
            .json(&json!({"refreshToken": refresh, "global": true})),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let (st, e) = token(
        &s,
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
}

async fn discovery_names_every_endpoint(b: Backend) {
    let s = Server::start(b).await;
    let tenant = s.default_tenant().await;
    for path in [
        "/.well-known/openid-configuration".to_string(),
        format!("/.well-known/openid-configuration/{tenant}"),
    ] {
        let d = send(s.http.get(format!("{}{path}", s.url))).await;
        assert_eq!(d.status, 200, "{d:?}");
        assert_eq!(
            d.json["authorization_endpoint"],
            format!("{}/oauth2/authorize", s.url)
        );
        assert_eq!(d.json["code_challenge_methods_supported"], json!(["S256"]));
        let jwks = send(s.http.get(d.json["jwks_uri"].as_str().unwrap())).await;
        assert!(!jwks.json["keys"].as_array().unwrap().is_empty());
    }
}

portcullis_store::on_both_backends!(
    the_code_flow_issues_tokens_and_a_second_use_of_the_code_revokes_them,
    one_code_sent_many_times_at_once_is_exchanged_once,
    refresh_introspection_and_revocation_work_for_the_client_only,
    an_unregistered_redirect_uri_shows_an_error_page_and_never_redirects,
    pkce_is_s256_only_and_the_verifier_must_match,
    an_expired_code_a_wrong_redirect_and_another_clients_code_are_refused,
    a_wrong_client_secret_is_401_invalid_client,
    a_disabled_grant_is_unauthorized_client,
    prompt_none_without_a_session_is_login_required_and_a_session_skips_the_page,
    a_form_without_this_browsers_csrf_token_is_403,
    the_login_page_tells_nothing_about_whether_a_user_exists,
    logout_ends_the_session_everywhere_and_never_redirects_to_an_unregistered_uri,
    a_client_of_one_tenant_signs_in_no_user_of_another,
    a_required_password_change_is_a_step_of_the_hosted_login,
    api_logout_revokes_the_refresh_token,
    discovery_names_every_endpoint,
);
