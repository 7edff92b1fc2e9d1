//! The hosted pages a browser visits: `/oauth2/authorize` (the login page, and the redirect
//! back to the client with a code), the change-password step a login can require, and
//! `/oauth2/logout`; self-service registration, forgot password and the reset page are in
//! [`account`].
//!
//! Pages are server-rendered from templates (minijinja, HTML-escaped), work without JavaScript,
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
use minijinja::{context, Environment};
use portcullis_domain::oauth::{
    AuthorizeError, AuthorizeRequest, Authorization, LoggedOut, LogoutRequest, ResponseMode,
};
use portcullis_domain::{Error, LoginOutcome, LoginRequest, Password, Scope};
use serde::Deserialize;
use std::sync::OnceLock;

mod account;
pub use account::{
    forgot, forgot_post, register, register_post, reset_password, reset_password_post,
};

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

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("errors.html", include_str!("templates/errors.html")),
            ("login.html", include_str!("templates/login.html")),
            ("message.html", include_str!("templates/message.html")),
            (
                "change_password.html",
                include_str!("templates/change_password.html"),
            ),
            ("form_post.html", include_str!("templates/form_post.html")),
            ("register.html", include_str!("templates/register.html")),
            ("forgot.html", include_str!("templates/forgot.html")),
        ] {
            env.add_template(name, source).expect("a valid template");
        }
        env
    })
}

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

fn random() -> String {
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

fn secure(s: &AppState) -> &'static str {
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
    status: StatusCode,
    template: &'static str,
    ctx: minijinja::Value,
    cookies: Vec<HeaderValue>,
    /// An origin the page's form may post to besides ours (a client's, for `form_post`).
    form_action: Option<String>,
}

impl Page {
    fn new(status: StatusCode, template: &'static str, ctx: minijinja::Value) -> Self {
        Page {
            status,
            template,
            ctx,
            cookies: Vec::new(),
            form_action: None,
        }
    }

    fn render(self) -> Response {
        let nonce = random();
        let ctx = context! { nonce => nonce.clone(), ..self.ctx };
        let html = match templates()
            .get_template(self.template)
            .and_then(|t| t.render(ctx))
        {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, template = self.template, "a page failed to render");
                return (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.")
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
        let mut r = (self.status, axum::response::Html(html)).into_response();
        let h = r.headers_mut();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp).expect("a header value"),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        for c in self.cookies {
            h.append(SET_COOKIE, c);
        }
        r
    }
}

/// A page with a title and a message (an error, or a state such as "locked").
fn message(status: StatusCode, title: &str, text: &str, app: Option<&str>) -> Response {
    Page::new(
        status,
        "message.html",
        context! { title, message => text, app_name => app, error => status.as_u16() >= 400 },
    )
    .render()
}

/// The error page of a request that must not be redirected anywhere.
fn error_page(text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, "Sign-in cannot continue", text, None)
}

fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this browser's sign-in page, or it is too old. Go back to the application and sign in again.",
        None,
    )
}

/// The request's CSRF token, or a new one to set.
fn csrf(headers: &HeaderMap, s: &AppState) -> (String, Option<HeaderValue>) {
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
fn csrf_holds(headers: &HeaderMap, posted: Option<&str>) -> bool {
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
fn authorize_error(s: &AppState, e: AuthorizeError) -> Response {
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
            back_to_client(s, &redirect_uri, response_mode, params, Vec::new())
        }
    }
}

/// Sends the browser back to a (checked) redirect URI with `params`: a 303 with a query string,
/// or an auto-submitted form for `response_mode=form_post`.
fn back_to_client(
    s: &AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    params: Vec<(&'static str, String)>,
    cookies: Vec<HeaderValue>,
) -> Response {
    let _ = s;
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
                StatusCode::OK,
                "form_post.html",
                context! { title => "Signing you in", action => redirect_uri, params => params },
            );
            p.cookies = cookies;
            p.form_action = origin;
            p.render()
        }
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The login page of an authorization request.
fn login_page(
    s: &AppState,
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
        status,
        "login.html",
        context! {
            title => "Sign in",
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
    p.render()
}

/// A signed-in browser goes back to the client with a code.
async fn with_code(
    s: &AppState,
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
            back_to_client(s, &auth.redirect_uri, auth.response_mode, params, cookies)
        }
        Err(e) => {
            tracing::warn!(error = %e.description, "issuing an authorization code failed");
            authorize_error(s, auth.fail(e.error, e.description))
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
        Err(e) => return authorize_error(&s, e),
    };
    let session = match s
        .oauth
        .session(cookie(&headers, SSO_COOKIE).as_deref())
        .await
    {
        Ok(x) => x,
        Err(e) => return unavailable(&s, &auth, e),
    };
    if let Some(session) = session.filter(|x| s.oauth.session_answers(&auth, x)) {
        return with_code(&s, &auth, &session, Vec::new()).await;
    }
    if auth.no_prompt {
        return authorize_error(&s, auth.fail("login_required", "The user is not signed in."));
    }
    login_page(&s, &headers, &auth, StatusCode::OK, None, Vec::new(), None)
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
fn unavailable(s: &AppState, auth: &Authorization, e: Error) -> Response {
    let _ = s;
    match e {
        Error::Legacy { connector, failure } => {
            tracing::warn!(connector = %connector, kind = failure.kind.as_str(), "legacy system failed during hosted login");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "We could not reach the system that holds your account. Nothing was changed. Please try again in a few minutes.",
                Some(&auth.app.name),
            )
        }
        Error::Busy(_) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is busy",
            "Too many people are signing in right now. Please try again in a moment.",
            Some(&auth.app.name),
        ),
        other => {
            tracing::error!(error = %other, "hosted login failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not sign you in. Nothing was changed. Please try again.",
                Some(&auth.app.name),
            )
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
        Err(e) => return authorize_error(&s, e),
    };
    let login_id = form.login_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let mut errors = Vec::new();
    if login_id.trim().is_empty() {
        errors.push(PageError {
            field: Some("loginId"),
            message: "Enter your email or username.".into(),
        });
    }
    if password.is_empty() {
        errors.push(PageError {
            field: Some("password"),
            message: "Enter your password.".into(),
        });
    }
    if !errors.is_empty() {
        return login_page(&s, &headers, &auth, StatusCode::BAD_REQUEST, Some(&login_id), errors, None);
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
            },
        )
        .await;
    let wrong = |s: &AppState| {
        login_page(
            s,
            &headers,
            &auth,
            StatusCode::UNAUTHORIZED,
            Some(&login_id),
            vec![PageError {
                field: None,
                message: "The email, username or password is not right.".into(),
            }],
            None,
        )
    };
    let user = match outcome {
        Ok(LoginOutcome::Success(t)) | Ok(LoginOutcome::NotRegistered(t)) => t.user,
        Ok(LoginOutcome::EmailNotVerified(_)) => {
            return message(
                StatusCode::FORBIDDEN,
                "Verify your email",
                "Your email address is not verified yet. Follow the link in the email we sent you, then sign in again.",
                Some(&auth.app.name),
            )
        }
        Ok(LoginOutcome::PasswordChangeRequired { change_password_id }) => {
            let (token, set) = csrf(&headers, &s);
            let mut p = Page::new(
                StatusCode::OK,
                "change_password.html",
                context! {
                    title => "Change your password",
                    lead => "Your password must be changed before you can sign in.",
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
            return message(
                StatusCode::FORBIDDEN,
                "This account cannot sign in",
                "This account is closed or disabled. Contact the application's support.",
                Some(&auth.app.name),
            )
        }
        Ok(LoginOutcome::Locked { .. }) => {
            return message(
                StatusCode::LOCKED,
                "Account locked",
                "Too many failed sign-in attempts. The account is locked for a while; try again later or reset your password.",
                Some(&auth.app.name),
            )
        }
        Err(Error::NotFound) | Err(Error::Invalid(_)) => return wrong(&s),
        Err(e) => return unavailable(&s, &auth, e),
    };
    signed_in(&s, &auth, user.id.expect("stored")).await
}

/// A person who just proved who they are (signed in or registered): starts the SSO session and
/// goes back to the client with a code.
async fn signed_in(s: &AppState, auth: &Authorization, user_id: uuid::Uuid) -> Response {
    match s
        .oauth
        .start_session(&auth.tenant, user_id, portcullis_domain::now_millis())
        .await
    {
        Ok((secret, session)) => {
            let ttl = (session.expires_instant - session.auth_time) / 1000;
            let cookies = vec![set_cookie(s, SSO_COOKIE, &secret, Some(ttl))];
            with_code(s, auth, &session, cookies).await
        }
        Err(e) => unavailable(s, auth, e),
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
        Err(e) => return authorize_error(&s, e),
    };
    let id = form.change_password_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let again = |errors: Vec<PageError>| {
        let (token, set) = csrf(&headers, &s);
        let mut p = Page::new(
            StatusCode::BAD_REQUEST,
            "change_password.html",
            context! {
                title => "Change your password",
                lead => "Your password must be changed before you can sign in.",
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
        return again(vec![PageError {
            field: Some("password"),
            message: "Enter the new password twice, the same both times.".into(),
        }]);
    }
    let req = portcullis_domain::ChangePasswordRequest {
        password: Some(Password(password)),
        ..Default::default()
    };
    match s.oauth.sessions().change_password_by_id(&id, req).await {
        Ok(()) => login_page(
            &s,
            &headers,
            &auth,
            StatusCode::OK,
            None,
            Vec::new(),
            Some("Your password is changed. Sign in with the new password."),
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
            StatusCode::BAD_REQUEST,
            "This link has expired",
            "The password change has expired or was already done. Sign in again.",
            Some(&auth.app.name),
        ),
        Err(e) => unavailable(&s, &auth, e),
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
    let cookie = cookie(&headers, SSO_COOKIE);
    let clear = clear_cookie(&s, SSO_COOKIE);
    let done = match s.oauth.logout(cookie.as_deref(), &req).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not sign you out. Please try again.",
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
        LoggedOut::Page => message(
            StatusCode::OK,
            "You are signed out",
            "You have been signed out. You can close this window.",
            None,
        ),
        LoggedOut::RefusedRedirect => message(
            StatusCode::BAD_REQUEST,
            "You are signed out",
            "You have been signed out, but the address to return to is not registered for this application, so you stay here.",
            None,
        ),
    };
    r.headers_mut().append(SET_COOKIE, clear);
    r
}
