//! The hosted pages around the login: self-service registration (`/oauth2/register`), forgot
//! password (`/oauth2/forgot`) and the reset page its email links to
//! (`/oauth2/reset-password`).
//!
//! Each carries the authorization request it started from, like the login form, so that the
//! person ends where the login would have taken them: back at the client with a code, or on
//! the login page of that request. Registration is offered only to clients whose application
//! enables it. Forgot password answers the same page whatever was typed; its email goes out
//! through the mail worker, as the Forgot Password API's does.

use super::*;
use portcullis_domain::oauth::{Registered, SelfRegistration};
use portcullis_domain::ChangePasswordRequest;

/// The form's field for a field error of the domain; `None` shows it without a link.
fn form_field(name: &str) -> Option<&'static str> {
    ["email", "password", "firstName", "lastName", "loginId"]
        .into_iter()
        .find(|f| *f == name)
}

/// The domain's field and general errors as a page's error summary.
fn page_errors(errors: portcullis_domain::Errors) -> Vec<PageError> {
    let mut out: Vec<PageError> = errors
        .field_errors
        .into_iter()
        .flat_map(|(field, items)| {
            items.into_iter().map(move |e| PageError {
                field: form_field(&field),
                message: e.message,
            })
        })
        .collect();
    out.extend(errors.general_errors.into_iter().map(|e| PageError {
        field: None,
        message: e.message,
    }));
    out
}

/// The query string of a page: its authorization request, checked.
async fn authorization(s: &AppState, q: Option<String>) -> Result<Authorization, Response> {
    let req: AuthorizeRequest =
        parse_params(q.unwrap_or_default().as_bytes()).map_err(|m| error_page(&m))?;
    s.oauth
        .check_authorize(req)
        .await
        .map_err(|e| authorize_error(s, e))
}

// --- registration ---------------------------------------------------------------------------

/// What the registration form shows again after an error.
#[derive(Default)]
struct Typed {
    email: String,
    first_name: String,
    last_name: String,
}

fn register_page(
    s: &AppState,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    typed: &Typed,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        status,
        "register.html",
        context! {
            title => "Create an account",
            app_name => auth.app.name.clone(),
            csrf => token,
            params => carried(&auth.request),
            email => typed.email.clone(),
            first_name => typed.first_name.clone(),
            last_name => typed.last_name.clone(),
            errors => errors,
            login_url => page_url("/oauth2/authorize", &auth.request),
        },
    );
    p.cookies.extend(set);
    p.render()
}

fn registration_closed(auth: &Authorization) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Registration is not available",
        "This application does not let people create their own accounts. Ask its support for one.",
        Some(&auth.app.name),
    )
}

/// `GET /oauth2/register`: the registration form of an authorization request, when the
/// client's application allows self-service registration.
pub async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let auth = match authorization(&s, q).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if !auth.config.self_registration {
        return registration_closed(&auth);
    }
    let typed = Typed {
        email: auth.login_hint.clone().unwrap_or_default(),
        ..Typed::default()
    };
    register_page(&s, &headers, &auth, StatusCode::OK, &typed, Vec::new())
}

#[derive(Deserialize)]
struct RegisterForm {
    csrf_token: Option<String>,
    email: Option<String>,
    password: Option<String>,
    #[serde(rename = "passwordConfirm")]
    password_confirm: Option<String>,
    #[serde(rename = "firstName")]
    first_name: Option<String>,
    #[serde(rename = "lastName")]
    last_name: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// `POST /oauth2/register`: creates the user with a registration for the client's application
/// (the tenant's password rules, as the User Registration API), signs them in and goes back to
/// the client with a code. An email the tenant holds already is told as such (see
/// [`portcullis_domain::oauth::Registered`] for why); one a legacy system holds shows the login
/// page, since that is where the person's account works.
pub async fn register_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: RegisterForm = match parse_params(&body) {
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
    if !auth.config.self_registration {
        return registration_closed(&auth);
    }
    let typed = Typed {
        email: form.email.clone().unwrap_or_default().trim().to_string(),
        first_name: form.first_name.clone().unwrap_or_default(),
        last_name: form.last_name.clone().unwrap_or_default(),
    };
    let password = form.password.unwrap_or_default();
    let mut errors = Vec::new();
    if typed.email.is_empty() {
        errors.push(PageError::on("email", "Enter your email address."));
    }
    if password.is_empty() {
        errors.push(PageError::on("password", "Enter a password."));
    } else if Some(&password) != form.password_confirm.as_ref() {
        errors.push(PageError::on(
            "passwordConfirm",
            "Enter the same password in both fields.",
        ));
    }
    if !errors.is_empty() {
        return register_page(&s, &headers, &auth, StatusCode::BAD_REQUEST, &typed, errors);
    }
    let outcome = s
        .oauth
        .register(
            &auth,
            SelfRegistration {
                email: typed.email.clone(),
                password,
                first_name: form.first_name,
                last_name: form.last_name,
            },
        )
        .await;
    match outcome {
        Ok(Registered::Created(user)) => {
            let settings = portcullis_domain::settings::LoginSettings::of(&auth.tenant, None);
            if settings.verify_email && !user.verified {
                return message(
                    StatusCode::OK,
                    "Verify your email",
                    "Your account is created. Verify your email address with the link we send you, then sign in.",
                    Some(&auth.app.name),
                );
            }
            signed_in(&s, &auth, user.id.expect("stored")).await
        }
        Ok(Registered::Taken) => register_page(
            &s,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            &typed,
            vec![PageError::on(
                "email",
                "An account with this email already exists. Sign in, or reset your password if you forgot it.",
            )],
        ),
        Ok(Registered::InLegacy) => login_page(
            &s,
            &headers,
            &auth,
            StatusCode::OK,
            Some(&typed.email),
            Vec::new(),
            Some("You already have an account with this email. Sign in with the password you have always used; your account moves over as you do."),
        ),
        Err(Error::Invalid(errs)) => register_page(
            &s,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            &typed,
            page_errors(errs),
        ),
        Err(e) => unavailable(&s, &auth, e),
    }
}

// --- forgot password ------------------------------------------------------------------------

fn forgot_page(
    s: &AppState,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    login_id: &str,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        status,
        "forgot.html",
        context! {
            title => "Forgot your password?",
            app_name => auth.app.name.clone(),
            csrf => token,
            params => carried(&auth.request),
            login_id => login_id,
            errors => errors,
            login_url => page_url("/oauth2/authorize", &auth.request),
        },
    );
    p.cookies.extend(set);
    p.render()
}

/// `GET /oauth2/forgot`: asks for the login id of an account whose password is forgotten.
pub async fn forgot(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let auth = match authorization(&s, q).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let hint = auth.login_hint.clone().unwrap_or_default();
    forgot_page(&s, &headers, &auth, StatusCode::OK, &hint, Vec::new())
}

#[derive(Deserialize)]
struct ForgotForm {
    csrf_token: Option<String>,
    #[serde(rename = "loginId")]
    login_id: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// The reset page the email links to, `{changePasswordId}` to be filled in by the mail worker,
/// carrying the authorization request so that the person signs in to the same client after.
/// Absolute only with the server's configured public URL: a link built from the request's
/// `Host` would let anyone who asks for someone else's reset choose the host that receives
/// that person's change-password id. Without one, the tenant's `forgotPasswordUrl` (or the
/// mail's default) is used.
fn reset_link(s: &AppState, auth: &Authorization) -> Option<String> {
    let Some(base) = s.config.public_url.as_deref() else {
        tracing::warn!("the hosted forgot-password page needs the server's public URL for its reset link; the tenant's forgotPasswordUrl is used");
        return None;
    };
    let mut link = format!(
        "{}/oauth2/reset-password?changePasswordId={{changePasswordId}}",
        base.trim_end_matches('/')
    );
    let params = carried(&auth.request);
    if !params.is_empty() {
        link.push('&');
        link.push_str(&serde_urlencoded::to_string(&params).unwrap_or_default());
    }
    Some(link)
}

/// `POST /oauth2/forgot`: queues the reset email and answers the same page whether or not an
/// account exists, so the page tells nothing about who has one. The look-up (legacy systems
/// included) and the email happen in the mail worker, so the time does not tell either.
pub async fn forgot_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ForgotForm = match parse_params(&body) {
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
    // The Forgot Password API's check: not blank, no control characters, not over the bound.
    let raw = form.login_id.unwrap_or_default();
    let mut checked = portcullis_domain::Errors::default();
    let login_id =
        portcullis_domain::validate::login_id(Some(&raw), "loginId", "", &mut checked).to_string();
    if !checked.is_empty() {
        return forgot_page(
            &s,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            "",
            vec![PageError::on("loginId", "Enter your email or username.")],
        );
    }
    let link = reset_link(&s, &auth);
    s.oauth
        .sessions()
        .queue_reset(auth.tenant.clone(), login_id, link, s.resets());
    Page::new(
        StatusCode::OK,
        "message.html",
        context! {
            title => "Check your email",
            app_name => auth.app.name.clone(),
            message => "If an account exists for what you entered, we have sent an email with a link to choose a new password. The link works once and for a limited time.",
            error => false,
            link => page_url("/oauth2/authorize", &auth.request),
            link_text => "Back to sign in",
        },
    )
    .render()
}

// --- reset password -------------------------------------------------------------------------

#[derive(Deserialize)]
struct ResetForm {
    csrf_token: Option<String>,
    #[serde(rename = "changePasswordId")]
    change_password_id: Option<String>,
    password: Option<String>,
    #[serde(rename = "passwordConfirm")]
    password_confirm: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

fn reset_page(
    s: &AppState,
    headers: &HeaderMap,
    id: &str,
    request: &AuthorizeRequest,
    status: StatusCode,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        status,
        "change_password.html",
        context! {
            title => "Choose a new password",
            lead => "Choose the new password of your account.",
            action => "/oauth2/reset-password",
            csrf => token,
            change_password_id => id,
            params => carried(request),
            errors => errors,
        },
    );
    p.cookies.extend(set);
    p.render()
}

fn link_expired() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This link has expired",
        "The link to reset your password has expired or was used already. Ask for a new one from the sign-in page.",
        None,
    )
}

/// `GET /oauth2/reset-password?changePasswordId=…`: the page a reset email links to. Whether
/// the id is good is told when the form is sent, where using it is one step.
pub async fn reset_password(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let form: ResetForm = match parse_params(q.unwrap_or_default().as_bytes()) {
        Ok(f) => f,
        Err(m) => return error_page(&m),
    };
    let Some(id) = form.change_password_id.filter(|i| !i.is_empty()) else {
        return link_expired();
    };
    reset_page(&s, &headers, &id, &form.request, StatusCode::OK, Vec::new())
}

/// `POST /oauth2/reset-password`: sets the new password through the emailed id (the tenant's
/// password rules; the id works once), then shows the login page of the authorization request
/// the link carries, or a "password changed" page when it carries none that still holds.
pub async fn reset_password_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ResetForm = match parse_params(&body) {
        Ok(f) => f,
        Err(m) => return error_page(&m),
    };
    if !csrf_holds(&headers, form.csrf_token.as_deref()) {
        return forbidden();
    }
    let id = form.change_password_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let again = |errors| reset_page(&s, &headers, &id, &form.request, StatusCode::BAD_REQUEST, errors);
    if password.is_empty() {
        return again(vec![PageError::on("password", "Enter the new password.")]);
    }
    if Some(&password) != form.password_confirm.as_ref() {
        return again(vec![PageError::on(
            "passwordConfirm",
            "Enter the same password in both fields.",
        )]);
    }
    let req = ChangePasswordRequest {
        password: Some(Password(password)),
        ..Default::default()
    };
    match s.oauth.sessions().change_password_by_id(&id, req).await {
        Ok(()) => {}
        Err(Error::Invalid(errs)) => {
            return again(
                page_errors(errs)
                    .into_iter()
                    .map(|mut e| {
                        e.field = Some("password");
                        e
                    })
                    .collect(),
            )
        }
        Err(Error::NotFound) => return link_expired(),
        Err(e) => {
            tracing::error!(error = %e, "the hosted password reset failed");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "The password could not be changed. Please try again in a moment.",
                None,
            );
        }
    }
    if form.request.client_id.as_deref().is_some_and(|c| !c.is_empty()) {
        if let Ok(auth) = s.oauth.check_authorize(form.request.clone()).await {
            return login_page(
                &s,
                &headers,
                &auth,
                StatusCode::OK,
                None,
                Vec::new(),
                Some("Your password is changed. Sign in with the new password."),
            );
        }
    }
    message(
        StatusCode::OK,
        "Password changed",
        "Your password is changed. Go back to the application and sign in with the new password.",
        None,
    )
}
