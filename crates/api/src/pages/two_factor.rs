//! The two-factor steps of the hosted login: the code page a login with a second factor goes
//! through (an authenticator code, an emailed code or a recovery code, and "trust this
//! computer"), and enrolment when the tenant requires a second factor or the legacy system asked
//! for one (`CONFIGURE_TOTP`): a new authenticator secret as a QR code and as text, the first
//! code to prove the app holds it, then the recovery codes, shown once.
//!
//! Both steps carry only the pending login's `twoFactorId` between requests; the user it belongs
//! to is read from the server's row, never from the form. A trusted computer keeps its
//! `twoFactorTrustId` in an HttpOnly cookie that the login page sends back with the password.

use super::*;
use portcullis_domain::sessions::{
    new_two_factor_secret, CodeOutcome, EnableTwoFactorRequest, SendCodeRequest,
    TwoFactorLoginRequest, TwoFactorPending,
};

/// The cookie of a computer the person chose to trust: it skips the code step until it expires.
pub const TRUST_COOKIE: &str = "portcullis_2fa_trust";

/// The code step's form: the pending login, the code, and the authorization request.
#[derive(Deserialize)]
pub(super) struct CodeForm {
    csrf_token: Option<String>,
    #[serde(rename = "twoFactorId")]
    two_factor_id: Option<String>,
    code: Option<String>,
    #[serde(rename = "trustComputer")]
    trust_computer: Option<String>,
    /// The email method to send a code through, instead of checking one.
    #[serde(rename = "sendMethodId")]
    send_method_id: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// The enrolment step's form: the pending login, the secret shown, and its first code.
#[derive(Deserialize)]
pub(super) struct EnrolForm {
    csrf_token: Option<String>,
    #[serde(rename = "twoFactorId")]
    two_factor_id: Option<String>,
    #[serde(rename = "secretBase32Encoded")]
    secret: Option<String>,
    account: Option<String>,
    code: Option<String>,
    #[serde(flatten)]
    request: AuthorizeRequest,
}

/// The page a password login that needs a second factor answers with: the code step, or
/// enrolment when the user has no method yet.
pub(super) fn step_page(
    s: &AppState,
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    pending: &TwoFactorPending,
    account: &str,
) -> Response {
    if pending.enrolment_required {
        let (_, secret) = new_two_factor_secret();
        enrol_page(
            s,
            look,
            headers,
            auth,
            StatusCode::OK,
            &pending.two_factor_id,
            &secret,
            account,
            Vec::new(),
        )
    } else {
        code_page(
            s,
            look,
            headers,
            auth,
            StatusCode::OK,
            &pending.two_factor_id,
            &email_methods(&pending.methods),
            Vec::new(),
            None,
            None,
        )
    }
}

/// `(id, address)` of each email method, for the "send me a code" buttons.
fn email_methods(methods: &[portcullis_domain::Json]) -> Vec<(String, String)> {
    methods
        .iter()
        .filter(|m| m.get("method").and_then(|v| v.as_str()) == Some("email"))
        .filter_map(|m| {
            Some((
                m.get("id")?.as_str()?.to_string(),
                m.get("email")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn code_page(
    s: &AppState,
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    two_factor_id: &str,
    email_methods: &[(String, String)],
    errors: Vec<PageError>,
    notice: Option<String>,
    recovery_codes: Option<Vec<String>>,
) -> Response {
    let (token, set) = csrf(headers, s);
    let mut p = Page::new(
        look,
        status,
        "two_factor.html",
        context! {
            title => look.t("two_factor_title"),
            app_name => auth.app.name.clone(),
            csrf => token,
            two_factor_id => two_factor_id,
            email_methods => email_methods,
            params => carried(&auth.request),
            errors => errors,
            notice => notice,
            recovery_codes => recovery_codes,
        },
    );
    p.cookies.extend(set);
    // A right code redirects to the client: browsers hold that redirect to `form-action`.
    p.form_action = origin_of(&auth.redirect_uri);
    p.render()
}

#[allow(clippy::too_many_arguments)]
fn enrol_page(
    s: &AppState,
    look: &Look,
    headers: &HeaderMap,
    auth: &Authorization,
    status: StatusCode,
    two_factor_id: &str,
    secret_base32: &str,
    account: &str,
    errors: Vec<PageError>,
) -> Response {
    let issuer = auth.tenant.name.clone();
    let qr = qr_data_uri(&otpauth_uri(&issuer, account, secret_base32));
    let (token, set) = csrf(headers, s);
    // Groups of four, as authenticator apps show a key typed by hand.
    let grouped = secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut p = Page::new(
        look,
        status,
        "two_factor_enrol.html",
        context! {
            title => look.t("two_factor_enrol_title"),
            app_name => auth.app.name.clone(),
            csrf => token,
            two_factor_id => two_factor_id,
            secret => secret_base32,
            secret_grouped => grouped,
            account => account,
            qr => qr,
            params => carried(&auth.request),
            errors => errors,
        },
    );
    p.cookies.extend(set);
    p.render()
}

/// The key URI authenticator apps read from a QR code (Google Authenticator's format): the
/// defaults of RFC 6238, which every app supports.
fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    // Form encoding writes a space as `+`, which some apps show literally in the label.
    let enc = |s: &str| {
        serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The QR code of `text` as an SVG `data:` URI, which the pages' CSP (`img-src data:`) allows.
fn qr_data_uri(text: &str) -> Option<String> {
    use base64::Engine;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The cookie that trusts this computer for as long as the tenant trusts the id it holds.
fn trust_cookie(s: &AppState, tenant: &portcullis_domain::Tenant, trust_id: &str) -> HeaderValue {
    let ttl = portcullis_domain::settings::TwoFactorSettings::of(tenant).trust_ttl_millis / 1000;
    set_cookie(s, TRUST_COOKIE, trust_id, Some(ttl))
}

/// `POST /oauth2/two-factor`: a code (authenticator, emailed or recovery) completes the pending
/// login and goes back to the client; or, with `sendMethodId`, emails a code and shows the form
/// again.
pub async fn two_factor_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: CodeForm = match parse_params(&body) {
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
    let app = Some(auth.app.name.as_str());
    let tenant = Scope::tenant(auth.tenant.id.expect("stored"));
    let id = form.two_factor_id.unwrap_or_default();
    let sessions = s.oauth.sessions();
    let methods = sessions
        .pending_login_methods(tenant, &id)
        .await
        .map(|m| email_methods(&m));
    let methods = match methods {
        Ok(m) => m,
        Err(Error::NotFound) => return expired(&s, &look, &headers, &auth),
        Err(e) => return unavailable(&look, &auth, e),
    };
    let again = |status, errors, notice| {
        code_page(
            &s, &look, &headers, &auth, status, &id, &methods, errors, notice, None,
        )
    };

    if let Some(method_id) = form.send_method_id.filter(|m| !m.is_empty()) {
        let req = SendCodeRequest {
            method_id: Some(method_id),
            ..Default::default()
        };
        return match sessions.send_login_code(tenant, &id, req).await {
            Ok(()) => again(
                StatusCode::OK,
                Vec::new(),
                Some(look.t("two_factor_code_sent")),
            ),
            Err(Error::NotFound) => expired(&s, &look, &headers, &auth),
            Err(Error::Invalid(_)) => again(
                StatusCode::BAD_REQUEST,
                vec![PageError::on("code", look.t("two_factor_send_failed"))],
                None,
            ),
            Err(e) => unavailable(&look, &auth, e),
        };
    }

    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            vec![PageError::on("code", look.t("two_factor_enter_code"))],
            None,
        );
    }
    let req = TwoFactorLoginRequest {
        two_factor_id: Some(id.clone()),
        code: Some(code),
        trust_computer: form.trust_computer.is_some(),
        application_id: Some(auth.client_id()),
        ip_address: None,
        no_jwt: true,
    };
    let tokens = match sessions.two_factor_login(tenant, req).await {
        Ok(CodeOutcome::Accepted(LoginOutcome::Success(t)))
        | Ok(CodeOutcome::Accepted(LoginOutcome::NotRegistered(t))) => t,
        Ok(CodeOutcome::Accepted(LoginOutcome::EmailNotVerified(_))) => {
            return state(&look, StatusCode::FORBIDDEN, "verify_email", app)
        }
        Ok(CodeOutcome::Accepted(LoginOutcome::Locked { .. })) | Ok(CodeOutcome::Locked { .. }) => {
            return state(&look, StatusCode::LOCKED, "locked", app)
        }
        Ok(CodeOutcome::Accepted(_)) => {
            return state(&look, StatusCode::FORBIDDEN, "cannot_sign_in", app)
        }
        Ok(CodeOutcome::Invalid) => {
            return again(
                StatusCode::UNAUTHORIZED,
                vec![PageError::on("code", look.t("two_factor_wrong_code"))],
                None,
            )
        }
        Err(Error::NotFound) => return expired(&s, &look, &headers, &auth),
        Err(Error::Invalid(_)) => {
            return again(
                StatusCode::BAD_REQUEST,
                vec![PageError::on("code", look.t("two_factor_enter_code"))],
                None,
            )
        }
        Err(e) => return unavailable(&look, &auth, e),
    };
    let mut r = signed_in(&s, &look, &auth, tokens.user.id.expect("stored")).await;
    if let Some(t) = tokens.two_factor_trust_id {
        r.headers_mut()
            .append(SET_COOKIE, trust_cookie(&s, &auth.tenant, &t));
    }
    r
}

/// `POST /oauth2/two-factor/enrol`: the first code of the secret shown enables the
/// authenticator; the answer shows the recovery codes once and asks for the next code, which
/// completes the login.
pub async fn enrol_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: EnrolForm = match parse_params(&body) {
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
    let tenant = Scope::tenant(auth.tenant.id.expect("stored"));
    let id = form.two_factor_id.unwrap_or_default();
    let secret = form.secret.unwrap_or_default();
    let account = form.account.unwrap_or_default();
    let code = form.code.unwrap_or_default();
    let again = |status, message: String| {
        enrol_page(
            &s,
            &look,
            &headers,
            &auth,
            status,
            &id,
            &secret,
            &account,
            vec![PageError::on("code", message)],
        )
    };
    if code.trim().is_empty() {
        return again(StatusCode::BAD_REQUEST, look.t("two_factor_enter_code"));
    }
    let req = EnableTwoFactorRequest {
        method: Some("authenticator".into()),
        code: Some(code),
        secret_base32_encoded: Some(secret.clone()),
        ..Default::default()
    };
    match s.oauth.sessions().enrol_pending(tenant, &id, req).await {
        Ok(CodeOutcome::Accepted(codes)) => code_page(
            &s,
            &look,
            &headers,
            &auth,
            StatusCode::OK,
            &id,
            &[],
            Vec::new(),
            Some(look.t("two_factor_enabled_next_code")),
            Some(codes),
        ),
        Ok(CodeOutcome::Invalid) => {
            again(StatusCode::UNAUTHORIZED, look.t("two_factor_wrong_code"))
        }
        Ok(CodeOutcome::Locked { .. }) => {
            state(&look, StatusCode::LOCKED, "locked", Some(&auth.app.name))
        }
        Err(Error::NotFound) => expired(&s, &look, &headers, &auth),
        Err(Error::Invalid(_)) => again(StatusCode::BAD_REQUEST, look.t("two_factor_enter_code")),
        Err(e) => unavailable(&look, &auth, e),
    }
}

/// The pending login is over (expired, used, or never was): sign in again.
fn expired(s: &AppState, look: &Look, headers: &HeaderMap, auth: &Authorization) -> Response {
    login_page(
        s,
        look,
        headers,
        auth,
        StatusCode::BAD_REQUEST,
        None,
        vec![PageError {
            field: None,
            message: look.t("two_factor_expired"),
        }],
        None,
    )
}
