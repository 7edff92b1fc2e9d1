//! `/api/two-factor/*` and `/api/user/two-factor/*`: FusionAuth's Two-Factor API — a new
//! secret, enabling and disabling methods, recovery codes, emailing a code, and the code step of
//! a login.

use super::login::{locked, login_answer};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, PathId, PathName, QueryParams};
use crate::wire::{RecoveryCodesBody, TwoFactorSecretBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_domain::sessions::{
    new_two_factor_secret, CodeOutcome, EnableTwoFactorRequest, SendCodeRequest,
    TwoFactorLoginRequest,
};
use serde::Deserialize;
use uuid::Uuid;

/// 421: FusionAuth's answer to a wrong, used or expired code.
fn invalid_code() -> Response {
    StatusCode::from_u16(421)
        .expect("a valid status")
        .into_response()
}

fn answer<T>(outcome: CodeOutcome<T>, ok: impl FnOnce(T) -> Response) -> Response {
    match outcome {
        CodeOutcome::Accepted(t) => ok(t),
        CodeOutcome::Invalid => invalid_code(),
        CodeOutcome::Locked { until } => locked(until),
    }
}

/// `GET /api/two-factor/secret`: a new authenticator secret, base64 and base32, to show the user
/// (as a QR code or the key) before they enable it with a code.
pub async fn secret(_: Caller) -> Json<TwoFactorSecretBody> {
    let (secret, secret_base32_encoded) = new_two_factor_secret();
    Json(TwoFactorSecretBody {
        secret,
        secret_base32_encoded,
    })
}

/// `POST /api/two-factor/login`: the code of a pending login. 200 with the login's tokens, 421
/// wrong code, 404 unknown or expired `twoFactorId`, 423 locked.
pub async fn login(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<TwoFactorLoginRequest>,
) -> ApiResult<Response> {
    let outcome = s.sessions.two_factor_login(c.scope, req).await?;
    Ok(answer(outcome, login_answer))
}

/// `POST /api/two-factor/send/{twoFactorId}` with `methodId`: emails a code for a pending login.
pub async fn send_for_login(
    State(s): State<AppState>,
    c: Caller,
    PathName(id): PathName,
    JsonBody(req): JsonBody<SendCodeRequest>,
) -> ApiResult<StatusCode> {
    s.sessions.send_login_code(c.scope, &id, req).await?;
    Ok(StatusCode::OK)
}

/// `POST /api/two-factor/send` with `userId`, `method: "email"` and `email`: emails the code
/// that enables that address.
pub async fn send_for_enrolment(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<SendCodeRequest>,
) -> ApiResult<StatusCode> {
    s.sessions.send_enrolment_code(c.scope, req).await?;
    Ok(StatusCode::OK)
}

/// `POST /api/user/two-factor/{userId}`: enables a method with a right code; the first method
/// answers the recovery codes, once.
pub async fn enable(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    JsonBody(req): JsonBody<EnableTwoFactorRequest>,
) -> ApiResult<Response> {
    let outcome = s.sessions.enable_two_factor(c.scope, id, req).await?;
    Ok(answer(outcome, |recovery_codes| {
        Json(RecoveryCodesBody { recovery_codes }).into_response()
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisableQuery {
    method_id: Option<String>,
    code: Option<String>,
}

/// `DELETE /api/user/two-factor/{userId}?methodId=&code=`: disables a method with a code of the
/// user's or a recovery code.
pub async fn disable(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
    QueryParams(q): QueryParams<DisableQuery>,
) -> ApiResult<Response> {
    let outcome = s
        .sessions
        .disable_two_factor(c.scope, id, q.method_id.as_deref(), q.code.as_deref())
        .await?;
    Ok(answer(outcome, |()| StatusCode::OK.into_response()))
}

/// `POST /api/user/two-factor/recovery-code/{userId}`: new recovery codes, answered once.
pub async fn recovery_codes(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<RecoveryCodesBody>> {
    let recovery_codes = s.sessions.new_recovery_codes(c.scope, id).await?;
    Ok(Json(RecoveryCodesBody { recovery_codes }))
}
