//! The hosted pages around the login: self-service registration (`/oauth2/register`), forgot
//! password (`/oauth2/forgot`) and the reset page its email links to
//! (`/oauth2/reset-password`).
//!
//! Each carries the authorization request it started from, like the login form, so that the
//! person ends where the login would have taken them: back at the client with a code, or on
//! the login page of that request. Registration is offered only to clients whose application
//! enables it. Forgot password answers the same page whatever was typed; its email goes out
//! through the mail worker, as the Forgot Password API's does. Pages are in the tenant's theme.

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

/// The query string of a page: its authorization request, checked, and the tenant's look.
async fn authorization(
    s: &AppState,
    headers: &HeaderMap,
    q: Option<String>,
) -> Result<(Authorization, Look), Response> {
    let req: AuthorizeRequest =
        parse_params(q.unwrap_or_default().as_bytes()).map_err(|m| error_page(&m))?;
    let auth = s
        .oauth
        .check_authorize(req)
        .await
        .map_err(authorize_error)?;
    let look = look_for(s, &auth.tenant, headers).await;
    Ok((auth, look))
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
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    typed: &Typed,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        look,
        status,
        "register.html",
        context! {
            title => look.t("register_title"),
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
    // A registration that succeeds redirects to the client: browsers hold that to `form-action`.
    p.form_action = super::origin_of(&auth.redirect_uri);
    p.render()
}

fn registration_closed(look: &Look, auth: &Authorization) -> Response {
    state(
        look,
        StatusCode::NOT_FOUND,
        "registration_closed",
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
    let (auth, look) = match authorization(&s, &headers, q).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if !auth.config.self_registration {
        return registration_closed(&look, &auth);
    }
    let typed = Typed {
        email: auth.login_hint.clone().unwrap_or_default(),
        ..Typed::default()
    };
    register_page(
        &s,
        &look,
        &headers,
        &auth,
        StatusCode::OK,
        &typed,
        Vec::new(),
    )
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
pub async fn register_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: RegisterForm = match parse_params(&body) {
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
    if !auth.config.self_registration {
        return registration_closed(&look, &auth);
    }
    let typed = Typed {
        email: form.email.clone().unwrap_or_default().trim().to_string(),
        first_name: form.first_name.clone().unwrap_or_default(),
        last_name: form.last_name.clone().unwrap_or_default(),
    };
    let password = form.password.unwrap_or_default();
    let mut errors = Vec::new();
    if typed.email.is_empty() {
        errors.push(PageError::on("email", look.t("enter_email")));
    }
    if password.is_empty() {
        errors.push(PageError::on("password", look.t("enter_new_password")));
    } else if Some(&password) != form.password_confirm.as_ref() {
        errors.push(PageError::on(
            "passwordConfirm",
            look.t("same_password_twice"),
        ));
    }
    if !errors.is_empty() {
        let status = StatusCode::BAD_REQUEST;
        return register_page(&s, &look, &headers, &auth, status, &typed, errors);
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
                    &look,
                    StatusCode::OK,
                    "verify_email_title",
                    &look.t("registered_verify_text"),
                    Some(&auth.app.name),
                );
            }
            signed_in(&s, &look, &auth, user.id.expect("stored")).await
        }
        Ok(Registered::Taken) => register_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            &typed,
            vec![PageError::on("email", look.t("email_taken"))],
        ),
        Ok(Registered::InLegacy) => login_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::OK,
            Some(&typed.email),
            Vec::new(),
            Some(&look.t("email_in_legacy")),
        ),
        Err(Error::Invalid(errs)) => register_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            &typed,
            page_errors(errs),
        ),
        Err(e) => unavailable(&look, &auth, e),
    }
}

// --- forgot password ------------------------------------------------------------------------

fn forgot_page(
    s: &AppState,
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    login_id: &str,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        look,
        status,
        "forgot.html",
        context! {
            title => look.t("forgot_title"),
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
    let (auth, look) = match authorization(&s, &headers, q).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let hint = auth.login_hint.clone().unwrap_or_default();
    forgot_page(
        &s,
        &look,
        &headers,
        &auth,
        StatusCode::OK,
        &hint,
        Vec::new(),
    )
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
pub async fn forgot_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: ForgotForm = match parse_params(&body) {
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
    // The Forgot Password API's check: not blank, no control characters, not over the bound.
    let raw = form.login_id.unwrap_or_default();
    let mut checked = portcullis_domain::Errors::default();
    let login_id =
        portcullis_domain::validate::login_id(Some(&raw), "loginId", "", &mut checked).to_string();
    if !checked.is_empty() {
        return forgot_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::BAD_REQUEST,
            "",
            vec![PageError::on("loginId", look.t("enter_login_id"))],
        );
    }
    let link = reset_link(&s, &auth);
    s.oauth
        .sessions()
        .queue_reset(auth.tenant.clone(), login_id, link, s.resets());
    Page::new(
        &look,
        StatusCode::OK,
        "message.html",
        context! {
            title => look.t("forgot_sent_title"),
            app_name => auth.app.name.clone(),
            message => look.t("forgot_sent_text"),
            error => false,
            link => page_url("/oauth2/authorize", &auth.request),
            link_text => look.t("back_to_sign_in"),
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
    look: &Look,
    headers: &HeaderMap,
    id: &str,
    request: &AuthorizeRequest,
    status: StatusCode,
    errors: Vec<PageError>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        look,
        status,
        "change_password.html",
        context! {
            title => look.t("reset_title"),
            lead => look.t("reset_lead"),
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

fn link_expired(look: &Look) -> Response {
    state(look, StatusCode::BAD_REQUEST, "link_expired", None)
}

/// The look of a reset page: the tenant's of the client the link carries, if it names one
/// (the id itself tells nothing until it is used).
async fn reset_look(s: &AppState, headers: &HeaderMap, req: &AuthorizeRequest) -> Look {
    if req.client_id.as_deref().is_some_and(|c| !c.is_empty()) {
        if let Ok(auth) = s.oauth.check_authorize(req.clone()).await {
            return look_for(s, &auth.tenant, headers).await;
        }
    }
    default_look()
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
    let look = reset_look(&s, &headers, &form.request).await;
    let Some(id) = form.change_password_id.filter(|i| !i.is_empty()) else {
        return link_expired(&look);
    };
    reset_page(
        &s,
        &look,
        &headers,
        &id,
        &form.request,
        StatusCode::OK,
        Vec::new(),
    )
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
    let look = reset_look(&s, &headers, &form.request).await;
    let id = form.change_password_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let again = |errors| {
        let status = StatusCode::BAD_REQUEST;
        reset_page(&s, &look, &headers, &id, &form.request, status, errors)
    };
    if password.is_empty() {
        return again(vec![PageError::on(
            "password",
            look.t("enter_the_new_password"),
        )]);
    }
    if Some(&password) != form.password_confirm.as_ref() {
        return again(vec![PageError::on(
            "passwordConfirm",
            look.t("same_password_twice"),
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
        Err(Error::NotFound) => return link_expired(&look),
        Err(e) => {
            tracing::error!(error = %e, "the hosted password reset failed");
            let text = look.t("reset_failed_text");
            return message(
                &look,
                StatusCode::SERVICE_UNAVAILABLE,
                "failed_title",
                &text,
                None,
            );
        }
    }
    if form
        .request
        .client_id
        .as_deref()
        .is_some_and(|c| !c.is_empty())
    {
        if let Ok(auth) = s.oauth.check_authorize(form.request.clone()).await {
            return login_page(
                &s,
                &look,
                &headers,
                &auth,
                StatusCode::OK,
                None,
                Vec::new(),
                Some(&look.t("password_changed_sign_in")),
            );
        }
    }
    state(&look, StatusCode::OK, "password_changed", None)
}
