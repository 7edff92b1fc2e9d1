//! The admin web UI at `/admin`: server-rendered pages (minijinja, HTML-escaped, no script) for
//! the people who run the instance. Sign-in goes through the instance's own hosted login as the
//! built-in admin application (authorization code with PKCE and `state`); the access token it
//! answers is held in an HttpOnly, SameSite=Strict cookie scoped to `/admin`, and every page
//! checks it and then reads the user again, so a removed `admin` role or a deactivated user
//! loses the pages at once. Signed in without the role is a 403. Every form carries the hosted
//! pages' CSRF token; every answer carries a CSP with no script and `frame-ancestors 'none'`.

mod applications;
mod chart;
mod connectors;
mod settings;
mod tenants;
mod users;

pub use applications::{add_role, application, remove_role, save_application};
pub use connectors::{connectors, try_sign_in};
pub use settings::{
    api_keys, groups, import_jobs, keys, retry_attempt, rotate_key, tenants, themes, webhooks,
};
pub use tenants::{save_tenant, tenant};
pub use users::{create_user, new_user, user, user_action, users};

use crate::pages::{cookie, csrf, csrf_holds, html_page, random, secure};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use minijinja::{context, Environment};
use portcullis_domain::oauth::{s256, ClientAuth, TokenRequest};
use portcullis_domain::sessions::tokens::Expect;
use portcullis_domain::{DefaultIds, Scope, ADMIN_ROLE};
use serde::Deserialize;
use std::sync::OnceLock;
use uuid::Uuid;

/// The signed-in administrator's access token.
const SESSION_COOKIE: &str = "portcullis_admin";
/// `state` and the PKCE verifier of a sign-in under way.
const FLOW_COOKIE: &str = "portcullis_admin_flow";
/// How long a sign-in may take between `/admin/login` and the callback.
const FLOW_SECONDS: i64 = 600;
/// The longest session cookie read: an access token with its claims.
const MAX_TOKEN: usize = 8192;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, text) in [
            ("base.html", include_str!("templates/base.html")),
            ("message.html", include_str!("templates/message.html")),
            ("dashboard.html", include_str!("templates/dashboard.html")),
            ("users.html", include_str!("templates/users.html")),
            ("user.html", include_str!("templates/user.html")),
            ("user_new.html", include_str!("templates/user_new.html")),
            ("connectors.html", include_str!("templates/connectors.html")),
            ("records.html", include_str!("templates/records.html")),
            ("tenant.html", include_str!("templates/tenant.html")),
            (
                "application.html",
                include_str!("templates/application.html"),
            ),
        ] {
            env.add_template(name, text)
                .expect("the admin templates compile");
        }
        env
    })
}

/// A rendered admin page with the headers every admin answer carries.
fn page(
    status: StatusCode,
    template: &str,
    ctx: minijinja::Value,
    cookies: Vec<HeaderValue>,
) -> Response {
    let nonce = random();
    let ctx = context! { nonce => nonce.clone(), ..ctx };
    let html = match templates()
        .get_template(template)
        .and_then(|t| t.render(ctx))
    {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, template, "an admin page failed to render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response();
        }
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    html_page(status, html, &csp, cookies)
}

fn no_store(h: &mut HeaderMap) {
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(crate) fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    page(
        status,
        "message.html",
        context! {
            title, message => text, error => status.as_u16() >= 400,
            link => link.map(|l| l.0), link_text => link.map(|l| l.1),
        },
        Vec::new(),
    )
}

pub(crate) fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(
        LOCATION,
        HeaderValue::from_str(to).expect("a URL of URL-safe characters"),
    );
    no_store(h);
    for c in cookies {
        h.append(SET_COOKIE, c);
    }
    r
}

fn admin_cookie(
    s: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite={same_site}{}; Max-Age={max_age}",
        secure(s)
    ))
    .expect("a cookie of URL-safe characters")
}

/// The session cookie, read without the hosted pages' length bound (it holds a JWT).
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_TOKEN)
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The redirect URI of the admin application on this origin.
fn callback_url(s: &AppState, headers: &HeaderMap) -> String {
    format!("{}/admin/callback", crate::oauth::base_url(s, headers))
}

/// Who is asking for an admin page.
enum Gate {
    Admin { email: String },
    NotAdmin,
    SignedOut,
}

async fn defaults(s: &AppState) -> Result<DefaultIds, Response> {
    match s.identity.default_ids().await {
        Ok(Some(ids)) => Ok(ids),
        Ok(None) => Err(message(
            StatusCode::SERVICE_UNAVAILABLE,
            "No admin application",
            "The default tenant or its Portcullis application was renamed or deleted, so the admin pages have no application to sign in with.",
            None,
        )),
        Err(e) => {
            tracing::error!(error = ?e, "the admin pages could not read the default application");
            Err(unavailable())
        }
    }
}

pub(crate) fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The store did not answer; try again in a moment.",
        None,
    )
}

async fn gate(s: &AppState, headers: &HeaderMap, ids: &DefaultIds) -> Gate {
    let Some(token) = session_token(headers) else {
        return Gate::SignedOut;
    };
    let audience = ids.application.to_string();
    let expect = Expect {
        issuer: None,
        audience: Some(&audience),
        tenant: Some(ids.tenant),
    };
    let Ok(verified) = s.sessions.tokens().verify(&token, &expect).await else {
        return Gate::SignedOut;
    };
    let Some(user_id) = verified
        .claims
        .get("sub")
        .and_then(|v| v.as_str())
        .and_then(|v| Uuid::parse_str(v).ok())
    else {
        return Gate::SignedOut;
    };
    let Ok(user) = s.identity.user(Scope::tenant(ids.tenant), user_id).await else {
        return Gate::SignedOut;
    };
    if !user.active {
        return Gate::SignedOut;
    }
    let admin = user.registrations.iter().any(|r| {
        r.application_id == Some(ids.application) && r.roles.iter().any(|x| x == ADMIN_ROLE)
    });
    if admin {
        Gate::Admin {
            email: user.email.clone().unwrap_or_default(),
        }
    } else {
        Gate::NotAdmin
    }
}

fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Not an administrator",
        "You are signed in, but your account does not have the admin role of the Portcullis application.",
        None,
    )
}

/// A signed-in administrator's request: the defaults, who it is, and the CSRF token its forms
/// carry (with the cookie to set when the browser has none yet).
pub(crate) struct Signed {
    pub ids: DefaultIds,
    pub email: String,
    pub csrf: String,
    pub set_csrf: Option<HeaderValue>,
}

impl Signed {
    fn cookies(&self) -> Vec<HeaderValue> {
        self.set_csrf.iter().cloned().collect()
    }

    /// An admin page for this administrator.
    pub(crate) fn page(
        &self,
        status: StatusCode,
        template: &str,
        ctx: minijinja::Value,
    ) -> Response {
        page(
            status,
            template,
            context! { email => self.email.clone(), csrf => self.csrf.clone(), ..ctx },
            self.cookies(),
        )
    }
}

/// The administrator asking, or the answer for someone who is not one (the sign-in, or 403).
pub(crate) async fn require_admin(s: &AppState, headers: &HeaderMap) -> Result<Signed, Response> {
    let ids = defaults(s).await?;
    let email = match gate(s, headers, &ids).await {
        Gate::Admin { email } => email,
        Gate::NotAdmin => return Err(forbidden()),
        Gate::SignedOut => return Err(redirect("/admin/login", Vec::new())),
    };
    let (csrf, set_csrf) = csrf(headers, s);
    Ok(Signed {
        ids,
        email,
        csrf,
        set_csrf,
    })
}

#[derive(Deserialize, Default)]
struct CsrfOnly {
    csrf: Option<String>,
}

/// Whether a posted form's `csrf` field repeats this browser's CSRF cookie.
pub(crate) fn csrf_form(headers: &HeaderMap, body: &[u8]) -> bool {
    let form: CsrfOnly = serde_urlencoded::from_bytes(body).unwrap_or_default();
    csrf_holds(headers, form.csrf.as_deref())
}

/// The answer to a form without this browser's CSRF token: nothing is done.
pub(crate) fn form_expired() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not sent from this browser's page; nothing was done.",
        Some(("/admin", "Back to the dashboard")),
    )
}

/// The messages of a domain error, for the errors box of a form.
pub(crate) fn error_messages(e: &portcullis_domain::Error) -> Vec<String> {
    match e {
        portcullis_domain::Error::Invalid(errors) => errors
            .field_errors
            .values()
            .flatten()
            .chain(errors.general_errors.iter())
            .map(|i| i.message.clone())
            .collect(),
        other => vec![format!("{other}")],
    }
}

/// A form's fields in the order sent, repeated names included (checkbox groups, lists).
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The value of a form's field, when sent.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /admin`: the migration dashboard.
pub async fn dashboard(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed = match require_admin(&s, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = match s
        .identity
        .migration_status(Scope::ALL, &Default::default())
        .await
    {
        Ok(st) => st,
        Err(e) => {
            tracing::error!(error = ?e, "the dashboard could not read the migration status");
            return unavailable();
        }
    };
    let names: std::collections::HashMap<Uuid, String> = s
        .identity
        .tenants(Scope::ALL)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.id?, t.name)))
        .collect();
    let tenants: Vec<minijinja::Value> = status
        .tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f = t.forecast.as_ref();
            let chart = chart::svg(
                &chart::Series {
                    per_day: &t.migrated_per_day,
                    legacy: t.legacy_user_count,
                    forecast: f,
                },
                &format!("chart-{i}"),
            );
            let expected = match f {
                Some(f) if f.reached => "reached".to_string(),
                Some(f) => f.expected_date.clone().unwrap_or_else(|| "too early to say".into()),
                None => "needs the legacy user count".into(),
            };
            let forecast_text = f.map(|f| match (&f.earliest_date, &f.latest_date) {
                (Some(a), Some(b)) if !f.reached => format!(
                    "Expected between {a} and {b} ({}; {} days measured).",
                    f.confidence, f.days_measured
                ),
                _ => f.confidence.clone(),
            });
            context! {
                name => names.get(&t.tenant_id).cloned().unwrap_or_else(|| t.tenant_id.to_string()),
                migrated => t.users_migrated,
                legacy => t.legacy_user_count,
                share => t.share_migrated.map(|x| format!("{:.1}%", x * 100.0)),
                goal => f.map(|f| format!("{:.0}%", f.goal * 100.0)).unwrap_or_else(|| "90%".into()),
                expected,
                forecast_text,
                chart,
                connectors => minijinja::Value::from_serialize(&t.connectors),
            }
        })
        .collect();
    signed.page(
        StatusCode::OK,
        "dashboard.html",
        context! { title => "Migration", tenants },
    )
}

/// `GET /admin/login`: starts a sign-in through the hosted login page.
pub async fn login(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let ids = match defaults(&s).await {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let state = random();
    let verifier = random();
    let query = serde_urlencoded::to_string([
        ("client_id", ids.application.to_string()),
        ("redirect_uri", callback_url(&s, &headers)),
        ("response_type", "code".into()),
        ("scope", "openid".into()),
        ("state", state.clone()),
        ("code_challenge", s256(&verifier)),
        ("code_challenge_method", "S256".into()),
    ])
    .expect("pairs of strings encode");
    let to = format!("/oauth2/authorize?{query}");
    let flow = admin_cookie(
        &s,
        FLOW_COOKIE,
        &format!("{state}.{verifier}"),
        FLOW_SECONDS,
        "Lax",
    );
    redirect(&to, vec![flow])
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /admin/callback`: the hosted login's answer; the code is exchanged here, on the server.
pub async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let ids = match defaults(&s).await {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let clear_flow = admin_cookie(&s, FLOW_COOKIE, "", 0, "Lax");
    let retry = Some(("/admin/login", "Sign in again"));
    let flow = cookie(&headers, FLOW_COOKIE);
    let (Some((state, verifier)), Some(sent)) = (
        flow.as_deref().and_then(|f| f.split_once('.')),
        q.state.as_deref(),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in was not started here, or took too long.",
            retry,
        );
    };
    if !same(state, sent) {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "The answer does not belong to the sign-in this browser started.",
            retry,
        );
    }
    if q.error.is_some() {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in did not complete.",
            retry,
        );
    }
    let Some(code) = q.code else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The answer carries no code.",
            retry,
        );
    };
    let app = ids.application.to_string();
    let tokens = s
        .oauth
        .token(
            ClientAuth {
                client_id: Some(app.clone()),
                client_secret: None,
            },
            TokenRequest {
                grant_type: Some("authorization_code".into()),
                code: Some(code),
                redirect_uri: Some(callback_url(&s, &headers)),
                code_verifier: Some(verifier.to_string()),
                client_id: Some(app),
                ..TokenRequest::default()
            },
            None,
        )
        .await;
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %e.error, description = %e.description, "an admin sign-in's code was refused");
            return message(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The sign-in's code was refused.",
                retry,
            );
        }
    };
    let session = admin_cookie(
        &s,
        SESSION_COOKIE,
        &tokens.access_token,
        tokens.expires_in,
        "Strict",
    );
    redirect("/admin", vec![clear_flow, session])
}

/// `POST /admin/logout`: ends the admin session and the browser's SSO session.
pub async fn logout(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !csrf_form(&headers, &body) {
        return form_expired();
    }
    let ids = match defaults(&s).await {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let end = admin_cookie(&s, SESSION_COOKIE, "", 0, "Strict");
    redirect(
        &format!("/oauth2/logout?client_id={}", ids.application),
        vec![end],
    )
}
