//! `/api/login`, `/api/jwt/*` and `/.well-known/jwks.json`: FusionAuth's Login and JWT APIs.

use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Caller, JsonBody, PathName, QueryParams};
use crate::wire::{
    ChangePasswordRequired, ForgotPasswordResponse, ImportRefreshTokensRequest, LockedBody,
    LoginResponse, PublicKeys, RefreshRequest, RefreshResponse, TwoFactorMethodView,
    TwoFactorRequiredBody, ValidateResponse,
};
use crate::AppState;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_domain::migration::forgot::{ForgotOutcome, ForgotPasswordRequest};
use portcullis_domain::sessions::Tokens;
use portcullis_domain::{ChangePasswordRequest, Errors, LoginOutcome, LoginRequest, Scope};
use serde::Deserialize;
use serde_json::{Map, Value};

fn tokens_json(t: &Tokens) -> LoginResponse {
    LoginResponse {
        token: t.token.clone(),
        token_expiration_instant: t.token.as_ref().and(t.token_expiration_instant),
        refresh_token: t.refresh_token.clone(),
        refresh_token_id: t.refresh_token.as_ref().and(t.refresh_token_id),
        two_factor_trust_id: t.two_factor_trust_id.clone(),
        user: t.user.redacted(),
    }
}

/// `POST /api/login`: 200, 202 (not registered for the application), 203 (change password
/// first), 212 (email not verified, when the tenant verifies emails), 242 (a second factor is
/// needed: `twoFactorId` and the methods), 404 (unknown user or wrong password, alike), 409
/// (inactive), 410 (expired), 423 (locked after failed attempts), 400, 503 (hashing pool full).
pub async fn login(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    Ok(login_answer(s.sessions.login(c.scope, req).await?))
}

/// The HTTP answer of a login outcome (the Login API's and the two-factor login's).
pub(crate) fn login_answer(outcome: LoginOutcome) -> Response {
    match outcome {
        LoginOutcome::Success(t) => (StatusCode::OK, Json(tokens_json(&t))).into_response(),
        LoginOutcome::NotRegistered(t) => {
            (StatusCode::ACCEPTED, Json(tokens_json(&t))).into_response()
        }
        LoginOutcome::EmailNotVerified(t) => (
            StatusCode::from_u16(212).expect("a valid status"),
            Json(tokens_json(&t)),
        )
            .into_response(),
        LoginOutcome::PasswordChangeRequired { change_password_id } => (
            StatusCode::NON_AUTHORITATIVE_INFORMATION,
            Json(ChangePasswordRequired {
                change_password_id,
                change_password_reason: "Administrative".into(),
            }),
        )
            .into_response(),
        LoginOutcome::Inactive => StatusCode::CONFLICT.into_response(),
        LoginOutcome::Expired => StatusCode::GONE.into_response(),
        LoginOutcome::Locked { until } => locked(until),
        LoginOutcome::TwoFactorRequired(p) => (
            StatusCode::from_u16(242).expect("a valid status"),
            Json(TwoFactorRequiredBody {
                two_factor_id: p.two_factor_id,
                methods: p
                    .methods
                    .iter()
                    .map(|m| TwoFactorMethodView {
                        id: m.get("id").and_then(Value::as_str).unwrap_or("").into(),
                        method: m.get("method").and_then(Value::as_str).unwrap_or("").into(),
                        email: m.get("email").and_then(Value::as_str).map(str::to_string),
                    })
                    .collect(),
                two_factor_enrolment_required: p.enrolment_required,
            }),
        )
            .into_response(),
    }
}

/// 423 with FusionAuth's error body and the lock's end.
pub(crate) fn locked(until: portcullis_domain::Millis) -> Response {
    let errors = Errors::default().general(
        "[LoginLocked]",
        "Too many failed logins: login is locked until lockExpirationInstant (epoch milliseconds).",
    );
    let body = LockedBody {
        errors,
        lock_expiration_instant: until,
    };
    (StatusCode::LOCKED, Json(body)).into_response()
}

/// `POST /api/user/change-password` with `loginId`, `currentPassword` and `password`: 200, 400
/// (rules of `tenant.passwordValidationRules`), 404 (unknown user or wrong current password),
/// 423 (locked by failed attempts, which this call counts like logins).
pub async fn change_password(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> ApiResult<Response> {
    Ok(match s.sessions.change_password(c.scope, req).await? {
        None => StatusCode::OK.into_response(),
        Some(until) => locked(until),
    })
}

/// `POST /api/user/change-password/{changePasswordId}` with `password`: the id a 203 login gave
/// replaces the current password, once. No API key, as in FusionAuth.
pub async fn change_password_by_id(
    State(s): State<AppState>,
    PathName(id): PathName,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    s.sessions.change_password_by_id(&id, req).await?;
    Ok(StatusCode::OK)
}

/// The token of `Authorization: Bearer <jwt>` (also `JWT <jwt>`, as FusionAuth accepts).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt"))
        .then(|| token.trim())
}

/// `GET /api/jwt/validate`: 200 `{"jwt": claims}` for a token we signed that has not expired,
/// else 401.
pub async fn validate(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<ValidateResponse>> {
    let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let verified = s
        .sessions
        .tokens()
        .verify(token, &Default::default())
        .await?;
    Ok(Json(ValidateResponse {
        jwt: verified.claims,
    }))
}

/// `POST /api/jwt/refresh`: a new access token and, with one-time use, a new refresh token. 404
/// for an unknown, expired, revoked or reused token (a reuse also revokes its family).
pub async fn refresh(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> ApiResult<Json<RefreshResponse>> {
    let r = s
        .sessions
        .refresh(req.refresh_token.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(RefreshResponse {
        token: r.token,
        refresh_token: r.refresh_token,
        refresh_token_id: r.refresh_token_id,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeQuery {
    token: Option<String>,
    user_id: Option<String>,
    application_id: Option<String>,
}

/// `DELETE /api/jwt/refresh?token= | ?userId= | ?applicationId=`: revokes refresh tokens in the
/// caller's tenant. Needs an API key, unlike `POST` on the same path.
pub async fn revoke(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(q): QueryParams<RevokeQuery>,
) -> ApiResult<StatusCode> {
    let user = q
        .user_id
        .as_deref()
        .map(|u| uuid(u, "userId"))
        .transpose()?;
    let app = q
        .application_id
        .as_deref()
        .map(|a| uuid(a, "applicationId"))
        .transpose()?;
    s.sessions
        .revoke(c.scope, q.token.as_deref(), user, app)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /api/user/refresh-token/import`: refresh tokens from the old system, all or nothing.
pub async fn import_refresh_tokens(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(req): JsonBody<ImportRefreshTokensRequest>,
) -> ApiResult<StatusCode> {
    s.sessions
        .import_refresh_tokens(c.scope, req.refresh_tokens)
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyQuery {
    key_id: Option<String>,
    /// The official client libraries send `?kid=`.
    kid: Option<String>,
    application_id: Option<String>,
}

/// `GET /api/jwt/public-key`: `?keyId=` (or `?kid=`) or `?applicationId=` → `{"publicKey": PEM}`; neither →
/// `{"publicKeys": {kid: PEM}}` of every tenant.
pub async fn public_key(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<PublicKeyQuery>,
) -> ApiResult<Json<PublicKeys>> {
    let pem = |v: Value| v.as_str().map(str::to_string).unwrap_or_default();
    let single = |keys: Map<String, Value>| -> ApiResult<Json<PublicKeys>> {
        let key = keys
            .into_iter()
            .next()
            .ok_or(portcullis_domain::Error::NotFound)?
            .1;
        Ok(Json(PublicKeys {
            public_key: Some(pem(key)),
            public_keys: None,
        }))
    };
    if let Some(a) = q.application_id {
        let a = uuid(&a, "applicationId")?;
        let app = s.identity.application(Scope::ALL, a).await?;
        let key = s
            .sessions
            .tokens()
            .signing_key(app.tenant_id.expect("stored"))
            .await?;
        let keys = s.sessions.public_keys(Scope::ALL, Some(key.kid())).await?;
        return single(keys);
    }
    let kid = q.key_id.or(q.kid);
    let keys = s.sessions.public_keys(Scope::ALL, kid.as_deref()).await?;
    match kid {
        Some(_) => single(keys),
        None => Ok(Json(PublicKeys {
            public_key: None,
            public_keys: Some(keys.into_iter().map(|(k, v)| (k, pem(v))).collect()),
        })),
    }
}

/// `GET /.well-known/jwks.json`: the public keys of every tenant, for anyone verifying our tokens.
pub async fn jwks(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(s.sessions.tokens().jwks(None).await?))
}

/// `POST /api/user/forgot-password` with `loginId`: 200 `{}` whether or not the user exists,
/// and the reset email (to a user Portcullis has, or one a lookup connector still holds) goes
/// out afterwards. No API key needed, as in FusionAuth; with `"sendForgotPasswordEmail": false`
/// an API key is required and the answer is `{"changePasswordId"}` (404 for an unknown user).
pub async fn forgot_password(
    State(s): State<AppState>,
    caller: Option<Caller>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ForgotPasswordRequest>,
) -> ApiResult<Json<ForgotPasswordResponse>> {
    let (scope, trusted) = if let Some(c) = caller {
        (c.scope, true)
    } else {
        let tenant = match headers.get(crate::auth::TENANT_HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|t| uuid::Uuid::parse_str(t.trim()).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(Errors::default().general(
                            "[invalid]tenantId",
                            "The X-FusionAuth-TenantId header is not a valid UUID.",
                        ))
                    })?,
            ),
        };
        (Scope { tenant }, false)
    };
    let change_password_id = match s
        .sessions
        .forgot_password(scope, req, trusted, s.resets())
        .await?
    {
        ForgotOutcome::Accepted => None,
        ForgotOutcome::ChangePasswordId(id) => Some(id),
    };
    Ok(Json(ForgotPasswordResponse { change_password_id }))
}
