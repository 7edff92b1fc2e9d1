//! The hosted pages a browser visits: `/oauth2/authorize` (the login page, and the redirect
//! back to the client with a code), the change-password step a login can require, and
//! `/oauth2/logout`; self-service registration, forgot password and the reset page are in
//! [`account`].
//!
//! Pages are server-rendered from templates (minijinja, HTML-escaped) in the tenant's theme
//! ([`theme`]: its templates, stylesheet and messages in the browser's language), work without JavaScript,
//! and every answer carries `Cache-Control: no-store`, a CSP with `frame-ancestors 'none'` and
//! a per-answer nonce for the page's own style. Every form carries a CSRF token: a random value
//! in an HttpOnly cookie that the form must repeat (compared in constant time), so a form posted
//! from another site, or with another browser's token, is refused with 403. The login page says
//! the same thing for an unknown user as for a wrong password.

use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use minijinja::context;
use portcullis_domain::oauth::{
    Authorization, AuthorizeError, AuthorizeRequest, LoggedOut, LogoutRequest, ResponseMode,
};
use portcullis_domain::{Error, LoginOutcome, LoginRequest, Password, Scope};
use serde::Deserialize;

mod account;
mod theme;
mod two_factor;
pub use account::{
    forgot, forgot_post, register, register_post, reset_password, reset_password_post,
};
pub use theme::check_theme;
use theme::{default_look, look_for, Look};
pub use two_factor::{enrol_post as two_factor_enrol_post, two_factor_post, TRUST_COOKIE};

/// The SSO session's cookie.
pub const SSO_COOKIE: &str = "portcullis_sso";
/// The CSRF token's cookie.
pub const CSRF_COOKIE: &str = "portcullis_csrf";

/// The authorization request's parameters a login form carries through, unchanged.
const CARRIED: [&str; 11] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "max_age",
    "login_hint",
];

/// One error of a page's error summary; `field` links to the input it is about.
#[derive(serde::Serialize)]
struct PageError {
    field: Option<&'static str>,
    message: String,
}

impl PageError {
    fn on(field: &'static str, message: impl Into<String>) -> Self {
        PageError {
            field: Some(field),
            message: message.into(),
        }
    }
}

pub(crate) fn random() -> String {
    portcullis_domain::secrets::new_secret()
}

/// The value of cookie `name`, if the request sends it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

pub(crate) fn secure(s: &AppState) -> &'static str {
    match &s.config.public_url {
        Some(u) if u.starts_with("https://") => "; Secure",
        _ => "",
    }
}

fn set_cookie(s: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{}{age}",
        secure(s)
    ))
    .expect("a cookie of URL-safe characters")
}

/// A `Set-Cookie` that removes cookie `name`.
pub(crate) fn clear_cookie(s: &AppState, name: &str) -> HeaderValue {
    set_cookie(s, name, "", Some(0))
}

/// A rendered page with the headers every page carries.
struct Page {
    look: Look,
    status: StatusCode,
    template: &'static str,
    ctx: minijinja::Value,
    cookies: Vec<HeaderValue>,
    /// An origin the page's form may post to besides ours (a client's, for `form_post`).
    form_action: Option<String>,
}

impl Page {
    fn new(look: &Look, status: StatusCode, template: &'static str, ctx: minijinja::Value) -> Self {
        Page {
            look: look.clone(),
            status,
            template,
            ctx,
            cookies: Vec::new(),
            form_action: None,
        }
    }

    fn render(self) -> Response {
        let nonce = random();
        let ctx = context! {
            nonce => nonce.clone(),
            t => minijinja::Value::from_serialize(&*self.look.messages),
            lang => self.look.lang.clone(),
            stylesheet => self.look.stylesheet.clone(),
            ..self.ctx
        };
        let html = match self
            .look
            .env
            .get_template(self.template)
            .and_then(|t| t.render(ctx))
        {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, template = self.template, "a page failed to render");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page could not be shown.",
                )
                    .into_response();
            }
        };
        let form_action = match &self.form_action {
            Some(o) => format!("'self' {o}"),
            None => "'self'".into(),
        };
        let csp = format!(
            "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
             img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'; \
             base-uri 'none'"
        );
        html_page(self.status, html, &csp, self.cookies)
    }
}

/// A page's answer with the headers every browser page carries: not stored, its CSP, not
/// framed, no referrer, no sniffing; and the cookies to set.
pub(crate) fn html_page(
    status: StatusCode,
    html: String,
    csp: &str,
    cookies: Vec<HeaderValue>,
) -> Response {
    let mut r = (status, axum::response::Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(csp).expect("a header value"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    for c in cookies {
        h.append(SET_COOKIE, c);
    }
    r
}

/// A page with a title (a message key) and a text (an error, or a state such as "locked").
fn message(
    look: &Look,
    status: StatusCode,
    title: &str,
    text: &str,
    app: Option<&str>,
) -> Response {
    Page::new(
        look,
        status,
        "message.html",
        context! {
            title => look.t(title),
            message => text,
            app_name => app,
            error => status.as_u16() >= 400,
        },
    )
    .render()
}

/// The page of the messages `{key}_title` and `{key}_text`.
fn state(look: &Look, status: StatusCode, key: &str, app: Option<&str>) -> Response {
    let text = look.t(&format!("{key}_text"));
    message(look, status, &format!("{key}_title"), &text, app)
}

/// The error page of a request that must not be redirected anywhere. Shown before a tenant is
/// known, so in the default theme.
fn error_page(text: &str) -> Response {
    message(
        &default_look(),
        StatusCode::BAD_REQUEST,
        "cannot_continue_title",
        text,
        None,
    )
}

/// A form without this browser's CSRF token; checked before anything else, so in the default
/// theme.
fn forbidden() -> Response {
    state(&default_look(), StatusCode::FORBIDDEN, "expired_form", None)
}

/// The request's CSRF token, or a new one to set.
pub(crate) fn csrf(headers: &HeaderMap, s: &AppState) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(t) => (t, None),
        None => {
            let t = random();
            let c = set_cookie(s, CSRF_COOKIE, &t, None);
            (t, Some(c))
        }
    }
}

/// Whether a posted form repeats this browser's CSRF cookie.
pub(crate) fn csrf_holds(headers: &HeaderMap, posted: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    match (cookie(headers, CSRF_COOKIE), posted) {
        (Some(c), Some(p)) if !p.is_empty() => {
            c.len() == p.len() && bool::from(c.as_bytes().ct_eq(p.as_bytes()))
        }
        _ => false,
    }
}

/// The authorization request's parameters as name/value pairs, for hidden inputs.
fn carried(req: &AuthorizeRequest) -> Vec<(&'static str, String)> {
    let v = |o: &Option<String>| o.clone().filter(|v| !v.is_empty());
    let values = [
        v(&req.client_id),
        v(&req.redirect_uri),
        v(&req.response_type),
        v(&req.scope),
        v(&req.state),
        v(&req.nonce),
        v(&req.code_challenge),
        v(&req.code_challenge_method),
        v(&req.response_mode),
        v(&req.max_age),
        v(&req.login_hint),
    ];
    CARRIED
        .iter()
        .zip(values)
        .filter_map(|(n, v)| v.map(|v| (*n, v)))
        .collect()
}

/// `path` with the authorization request's parameters, for a link between pages.
fn page_url(path: &str, req: &AuthorizeRequest) -> String {
    let params = carried(req);
    if params.is_empty() {
        return path.to_string();
    }
    let q = serde_urlencoded::to_string(&params).unwrap_or_default();
    format!("{path}?{q}")
}

/// Parses a query string or form body, refusing a parameter sent twice (RFC 6749 §3.1).
fn parse_params<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(raw).map_err(|_| "The request is malformed.".to_string())?;
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(format!("The parameter [{k}] is repeated."));
    }
    serde_urlencoded::from_bytes(raw).map_err(|_| "The request is malformed.".to_string())
}

/// Where an authorization error goes: our page, or back to the client.
fn authorize_error(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(m) => error_page(&m),
        AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        } => {
            let mut params = vec![
                ("error", error.error.to_string()),
                ("error_description", error.description),
            ];
            if let Some(st) = state {
                params.push(("state", st));
            }
            back_to_client(
                &default_look(),
                &redirect_uri,
                response_mode,
                params,
                Vec::new(),
            )
        }
    }
}

/// Sends the browser back to a (checked) redirect URI with `params`: a 303 with a query string,
/// or an auto-submitted form for `response_mode=form_post`.
fn back_to_client(
    look: &Look,
    redirect_uri: &str,
    mode: ResponseMode,
    params: Vec<(&'static str, String)>,
    cookies: Vec<HeaderValue>,
) -> Response {
    match mode {
        ResponseMode::Query => {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let to = portcullis_domain::oauth::append_query(redirect_uri, &pairs);
            let mut r = StatusCode::SEE_OTHER.into_response();
            let h = r.headers_mut();
            match HeaderValue::from_str(&to) {
                Ok(v) => {
                    h.insert(LOCATION, v);
                }
                Err(_) => return error_page("The redirect URI cannot be used."),
            }
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            for c in cookies {
                h.append(SET_COOKIE, c);
            }
            r
        }
        ResponseMode::FormPost => {
            let origin = origin_of(redirect_uri);
            let mut p = Page::new(
                look,
                StatusCode::OK,
                "form_post.html",
                context! { title => look.t("form_post_title"), action => redirect_uri, params => params },
            );
            p.cookies = cookies;
            p.form_action = origin;
            p.render()
        }
    }
}

/// `scheme://host[:port]` of an absolute URL.
pub(super) fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The login page of an authorization request.
#[allow(clippy::too_many_arguments)]
fn login_page(
    s: &AppState,
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    login_id: Option<&str>,
    errors: Vec<PageError>,
    notice: Option<&str>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let register_url = auth
        .config
        .self_registration
        .then(|| page_url("/oauth2/register", &auth.request));
    let mut p = Page::new(
        look,
        status,
        "login.html",
        context! {
            title => look.t("sign_in"),
            app_name => auth.app.name.clone(),
            csrf => token,
            params => carried(&auth.request),
            login_id => login_id.or(auth.login_hint.as_deref()).unwrap_or(""),
            errors => errors,
            notice => notice,
            forgot_url => page_url("/oauth2/forgot", &auth.request),
            register_url => register_url,
        },
    );
    p.cookies.extend(set);
    // The form's answer redirects to the client: browsers hold that redirect to `form-action`.
    p.form_action = origin_of(&auth.redirect_uri);
    p.render()
}

/// A signed-in browser goes back to the client with a code.
async fn with_code(
    s: &AppState,
    look: &Look,
    auth: &Authorization,
    session: &portcullis_domain::oauth::SsoSession,
    cookies: Vec<HeaderValue>,
) -> Response {
    match s.oauth.issue_code(auth, session).await {
        Ok(code) => {
            let mut params = vec![("code", code)];
            if let Some(st) = &auth.state {
                params.push(("state", st.clone()));
            }
            back_to_client(
                look,
                &auth.redirect_uri,
                auth.response_mode,
                params,
                cookies,
            )
        }
        Err(e) => {
            tracing::warn!(error = %e.description, "issuing an authorization code failed");
            authorize_error(auth.fail(e.error, e.description))
        }
    }
}

/// `GET /oauth2/authorize`: checks the request; a browser with a live SSO session goes straight
/// back with a code, `prompt=none` without one gets `login_required`, anyone else the login
/// page.
pub async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let req: AuthorizeRequest = match parse_params(q.unwrap_or_default().as_bytes()) {
        Ok(r) => r,
        Err(m) => return error_page(&m),
    };
    let auth = match s.oauth.check_authorize(req).await {
        Ok(a) => a,
        Err(e) => return authorize_error(e),
    };
    let look = look_for(&s, &auth.tenant, &headers).await;
    let session = match s
        .oauth
        .session(cookie(&headers, SSO_COOKIE).as_deref())
        .await
    {
        Ok(x) => x,
        Err(e) => return unavailable(&look, &auth, e),
    };
    if let Some(session) = session.filter(|x| s.oauth.session_answers(&auth, x)) {
        return with_code(&s, &look, &auth, &session, Vec::new()).await;
    }
    if auth.no_prompt {
        return authorize_error(auth.fail("login_required", "The user is not signed in."));
    }
    login_page(
        &s,
        &look,
        &headers,
        &auth,
        StatusCode::OK,
        None,
        Vec::new(),
        None,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: Option<String>,
    #[serde(rename = "loginId")]
    login_id: Option<String>,
    password: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// The page for a failure that is the server's or a legacy system's, not the person's.
fn unavailable(look: &Look, auth: &Authorization, e: Error) -> Response {
    let app = Some(auth.app.name.as_str());
    match e {
        Error::Legacy { connector, failure } => {
            tracing::warn!(connector = %connector, kind = failure.kind.as_str(), "legacy system failed during hosted login");
            state(look, StatusCode::SERVICE_UNAVAILABLE, "unavailable", app)
        }
        Error::Busy(_) => state(look, StatusCode::SERVICE_UNAVAILABLE, "busy", app),
        other => {
            tracing::error!(error = %other, "hosted login failed");
            state(look, StatusCode::INTERNAL_SERVER_ERROR, "failed", app)
        }
    }
}

/// `POST /oauth2/authorize`: the login form. Checks the CSRF token and the authorization
/// request again, then the password exactly as the Login API does (locks first, legacy
/// systems for users not migrated yet); a right password starts an SSO session and goes back to
/// the client with a code.
pub async fn authorize_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = match parse_params(&body) {
        Ok(f) => f,
        Err(m) => return error_page(&m),
    };
    if !csrf_holds(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    let auth = match s.oauth.check_authorize(form.request).await {
        Ok(a) => a,
        Err(e) => return authorize_error(e),
    };
    let look = look_for(&s, &auth.tenant, &headers).await;
    let login_id = form.login_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let mut errors = Vec::new();
    if login_id.trim().is_empty() {
        errors.push(PageError::on("loginId", look.t("enter_login_id")));
    }
    if password.is_empty() {
        errors.push(PageError::on("password", look.t("enter_password")));
    }
    if !errors.is_empty() {
        return login_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            Some(&login_id),
            errors,
            None,
        );
    }
    let tenant = auth.tenant.id.expect("stored");
    let outcome = s
        .oauth
        .sessions()
        .authenticate(
            Scope::tenant(tenant),
            LoginRequest {
                login_id: Some(login_id.clone()),
                password: Some(Password(password)),
                application_id: Some(auth.client_id()),
                ip_address: None,
                no_jwt: true,
                two_factor_trust_id: cookie(&headers, TRUST_COOKIE),
            },
        )
        .await;
    let wrong = |s: &AppState| {
        login_page(
            s,
            &look,
            &headers,
            &auth,
            StatusCode::UNAUTHORIZED,
            Some(&login_id),
            vec![PageError {
                field: None,
                message: look.t("wrong_credentials"),
            }],
            None,
        )
    };
    let app = Some(auth.app.name.as_str());
    let user = match outcome {
        Ok(LoginOutcome::Success(t)) | Ok(LoginOutcome::NotRegistered(t)) => t.user,
        Ok(LoginOutcome::EmailNotVerified(_)) => {
            return state(&look, StatusCode::FORBIDDEN, "verify_email", app)
        }
        Ok(LoginOutcome::PasswordChangeRequired { change_password_id }) => {
            let (token, set) = csrf(&headers, &s);
            let mut p = Page::new(
                &look,
                StatusCode::OK,
                "change_password.html",
                context! {
                    title => look.t("change_password_title"),
                    lead => look.t("change_password_lead"),
                    action => "/oauth2/change-password",
                    app_name => auth.app.name.clone(),
                    csrf => token,
                    change_password_id => change_password_id,
                    params => carried(&auth.request),
                    errors => Vec::<PageError>::new(),
                },
            );
            p.cookies.extend(set);
            return p.render();
        }
        Ok(LoginOutcome::Inactive) | Ok(LoginOutcome::Expired) => {
            return state(&look, StatusCode::FORBIDDEN, "cannot_sign_in", app)
        }
        Ok(LoginOutcome::Locked { .. }) => return state(&look, StatusCode::LOCKED, "locked", app),
        Ok(LoginOutcome::TwoFactorRequired(pending)) => {
            return two_factor::step_page(&s, &look, &headers, &auth, &pending, &login_id)
        }
        Err(Error::NotFound) | Err(Error::Invalid(_)) => return wrong(&s),
        Err(e) => return unavailable(&look, &auth, e),
    };
    signed_in(&s, &look, &auth, user.id.expect("stored")).await
}

/// A person who just proved who they are (signed in or registered): starts the SSO session and
/// goes back to the client with a code.
async fn signed_in(
    s: &AppState,
    look: &Look,
    auth: &Authorization,
    user_id: uuid::Uuid,
) -> Response {
    match s
        .oauth
        .start_session(&auth.tenant, user_id, portcullis_domain::now_millis())
        .await
    {
        Ok((secret, session)) => {
            let ttl = (session.expires_instant - session.auth_time) / 1000;
            let cookies = vec![set_cookie(s, SSO_COOKIE, &secret, Some(ttl))];
            with_code(s, look, auth, &session, cookies).await
        }
        Err(e) => unavailable(look, auth, e),
    }
}

#[derive(Deserialize)]
struct ChangePasswordForm {
    csrf_token: Option<String>,
    #[serde(rename = "changePasswordId")]
    change_password_id: Option<String>,
    password: Option<String>,
    #[serde(rename = "passwordConfirm")]
    password_confirm: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// `POST /oauth2/change-password`: the step a login that must change its password (the Login
/// API's 203) goes through; then the person signs in with the new password.
pub async fn change_password_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ChangePasswordForm = match parse_params(&body) {
        Ok(f) => f,
        Err(m) => return error_page(&m),
    };
    if !csrf_holds(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    let auth = match s.oauth.check_authorize(form.request).await {
        Ok(a) => a,
        Err(e) => return authorize_error(e),
    };
    let look = look_for(&s, &auth.tenant, &headers).await;
    let id = form.change_password_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let again = |errors: Vec<PageError>| {
        let (token, set) = csrf(&headers, &s);
        let mut p = Page::new(
            &look,
            StatusCode::BAD_REQUEST,
            "change_password.html",
            context! {
                title => look.t("change_password_title"),
                lead => look.t("change_password_lead"),
                action => "/oauth2/change-password",
                app_name => auth.app.name.clone(),
                csrf => token,
                change_password_id => id.clone(),
                params => carried(&auth.request),
                errors => errors,
            },
        );
        p.cookies.extend(set);
        p.render()
    };
    if password.is_empty() || Some(&password) != form.password_confirm.as_ref() {
        return again(vec![PageError::on(
            "password",
            look.t("same_password_twice"),
        )]);
    }
    let req = portcullis_domain::ChangePasswordRequest {
        password: Some(Password(password)),
        ..Default::default()
    };
    match s.oauth.sessions().change_password_by_id(&id, req).await {
        Ok(()) => login_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::OK,
            None,
            Vec::new(),
            Some(&look.t("password_changed_sign_in")),
        ),
        Err(Error::Invalid(errs)) => again(
            errs.field_errors
                .values()
                .flatten()
                .chain(errs.general_errors.iter())
                .map(|e| PageError {
                    field: Some("password"),
                    message: e.message.clone(),
                })
                .collect(),
        ),
        Err(Error::NotFound) => message(
            &look,
            StatusCode::BAD_REQUEST,
            "link_expired_title",
            &look.t("change_expired_text"),
            Some(&auth.app.name),
        ),
        Err(e) => unavailable(&look, &auth, e),
    }
}

/// `GET|POST /oauth2/logout`: ends the SSO session everywhere, clears the cookie, and goes to
/// the client's registered logout URL (never to an unregistered one).
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let raw = if body.is_empty() {
        q.unwrap_or_default().into_bytes()
    } else {
        body.to_vec()
    };
    let req: LogoutRequest = match parse_params(&raw) {
        Ok(r) => r,
        Err(m) => return error_page(&m),
    };
    let look = default_look();
    let cookie = cookie(&headers, SSO_COOKIE);
    let clear = clear_cookie(&s, SSO_COOKIE);
    let done = match s.oauth.logout(cookie.as_deref(), &req).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            return message(
                &look,
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed_title",
                &look.t("sign_out_failed_text"),
                None,
            );
        }
    };
    let mut r = match done {
        LoggedOut::Redirect(to) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&to) {
                Ok(v) => {
                    r.headers_mut().insert(LOCATION, v);
                }
                Err(_) => return error_page("The logout URL cannot be used."),
            }
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        LoggedOut::Page => state(&look, StatusCode::OK, "signed_out", None),
        LoggedOut::RefusedRedirect => message(
            &look,
            StatusCode::BAD_REQUEST,
            "signed_out_title",
            &look.t("signed_out_refused_text"),
            None,
        ),
    };
    r.headers_mut().append(SET_COOKIE, clear);
    r
}
