//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636, and OpenID Connect Core
//! §3.1.2): checked before anyone is asked for a password, and the single-use code it ends with.
//!
//! Until the client and its redirect URI are known good, an error is shown on our own page and
//! never redirected anywhere (§4.1.2.1); after that, errors go back to the client's redirect URI
//! with `state`.

use super::clients::PkcePolicy;
use super::{OAuth, OAuthConfig, OAuthError, SsoSession, StoredCode, CODE_MILLIS};
use crate::model::*;
use crate::secrets;
use serde::Deserialize;

/// The parameters of `/oauth2/authorize`, as sent (query string or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
}

/// How the code goes back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// An authorization request that passed every check.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub app: Application,
    pub tenant: Tenant,
    pub config: OAuthConfig,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub response_mode: ResponseMode,
    /// `prompt=login`: ask for the password even with a session.
    pub force_login: bool,
    /// `prompt=none`: never show a page.
    pub no_prompt: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The request's parameters, to carry through the login form unchanged.
    pub request: AuthorizeRequest,
}

/// Why an authorization request stops.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The client or its redirect URI is unknown or wrong: an error page of ours, no redirect.
    Page(String),
    /// The client and redirect URI are good: the error goes back to the client.
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
    },
}

impl Authorization {
    /// The error `error` sent back to the client.
    pub fn fail(&self, error: &'static str, description: impl Into<String>) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
            error: OAuthError::new(error, description),
        }
    }

    pub fn client_id(&self) -> uuid::Uuid {
        self.app.id.expect("stored")
    }

    pub fn wants(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

impl OAuth {
    /// Checks an authorization request: the client, its exact redirect URI, then the response
    /// type, grant, PKCE, scope and prompt.
    pub async fn check_authorize(
        &self,
        req: AuthorizeRequest,
    ) -> Result<Authorization, AuthorizeError> {
        let page = |m: &str| AuthorizeError::Page(m.to_string());
        let client_id = req
            .client_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| page("The request names no client (client_id)."))?;
        let client = self.client(client_id).await.map_err(|e| match e.status {
            500 | 503 => page("The server could not answer. Try again later."),
            _ => page("The client (client_id) is unknown or inactive."),
        })?;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .filter(|r| client.config.redirect_allowed(r))
            .ok_or_else(|| {
                page("The redirect URI (redirect_uri) is not registered for this client.")
            })?;
        let response_mode = match req.response_mode.as_deref() {
            None | Some("") | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => ResponseMode::Query,
        };
        let scope = req
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let auth = Authorization {
            tenant: client.tenant,
            config: client.config,
            redirect_uri,
            state: req.state.clone(),
            nonce: req.nonce.clone().filter(|n| !n.is_empty()),
            scope,
            code_challenge: req.code_challenge.clone().filter(|c| !c.is_empty()),
            response_mode,
            force_login: false,
            no_prompt: false,
            max_age: None,
            login_hint: req.login_hint.clone().filter(|h| !h.is_empty()),
            app: client.app,
            request: req,
        };
        let mut auth = auth;
        if req_mode_unknown(&auth.request) {
            return Err(auth.fail("invalid_request", "The response_mode is not supported."));
        }
        match auth.request.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => {
                return Err(auth.fail("invalid_request", "The response_type is required."))
            }
            Some(_) => {
                return Err(auth.fail(
                    "unsupported_response_type",
                    "Only the code response type is supported.",
                ))
            }
        }
        if !auth.config.grant_enabled("authorization_code") {
            return Err(auth.fail(
                "unauthorized_client",
                "The authorization code grant is not enabled for this client.",
            ));
        }
        match (
            auth.code_challenge.as_deref(),
            auth.request.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256")) if valid_challenge(c) => {}
            (Some(_), Some("S256")) => {
                return Err(auth.fail("invalid_request", "The code_challenge is malformed."))
            }
            (Some(_), None) | (Some(_), Some("plain")) => {
                return Err(auth.fail(
                    "invalid_request",
                    "Only the S256 code_challenge_method is supported.",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(auth.fail(
                    "invalid_request",
                    "Only the S256 code_challenge_method is supported.",
                ))
            }
            (None, _) if auth.config.pkce == PkcePolicy::Required => {
                return Err(auth.fail(
                    "invalid_request",
                    "This client requires PKCE: send a code_challenge with S256.",
                ))
            }
            (None, _) => {}
        }
        for s in auth.scope.split(' ').filter(|s| !s.is_empty()) {
            if !["openid", "profile", "email", "offline_access"].contains(&s) {
                return Err(auth.fail(
                    "invalid_scope",
                    format!("The scope [{s}] is not supported."),
                ));
            }
        }
        if let Some(p) = auth.request.prompt.as_deref() {
            for v in p.split(' ').filter(|v| !v.is_empty()) {
                match v {
                    "none" => auth.no_prompt = true,
                    "login" => auth.force_login = true,
                    "consent" | "select_account" => {}
                    _ => return Err(auth.fail("invalid_request", "The prompt is not supported.")),
                }
            }
            if auth.no_prompt && auth.force_login {
                return Err(auth.fail(
                    "invalid_request",
                    "prompt=none cannot be combined with another value.",
                ));
            }
        }
        if let Some(m) = auth.request.max_age.as_deref().filter(|m| !m.is_empty()) {
            match m.parse::<i64>() {
                Ok(m) if m >= 0 => auth.max_age = Some(m),
                _ => {
                    return Err(
                        auth.fail("invalid_request", "The max_age is not a number of seconds.")
                    )
                }
            }
        }
        Ok(auth)
    }

    /// Whether an SSO session may answer this request without a login page: not with
    /// `prompt=login`, not when older than `max_age`, and only in the client's tenant.
    pub fn session_answers(&self, auth: &Authorization, session: &SsoSession) -> bool {
        !auth.force_login
            && session.tenant_id == auth.tenant.id.expect("stored")
            && auth
                .max_age
                .is_none_or(|m| now_millis() - session.auth_time <= m.saturating_mul(1000))
    }

    /// The single-use authorization code for a signed-in session: stored as its SHA-256, bound
    /// to the client, the redirect URI, the PKCE challenge and the nonce, good for 60 s.
    pub async fn issue_code(
        &self,
        auth: &Authorization,
        session: &SsoSession,
    ) -> Result<String, OAuthError> {
        let code = secrets::new_secret();
        let now = now_millis();
        self.store()
            .insert_oauth_code(&StoredCode {
                code_hash: secrets::stored_hash(&code),
                tenant_id: auth.tenant.id.expect("stored"),
                application_id: auth.client_id(),
                user_id: session.user_id,
                redirect_uri: auth.redirect_uri.clone(),
                code_challenge: auth.code_challenge.clone(),
                nonce: auth.nonce.clone(),
                scope: auth.scope.clone(),
                sid: session.sid,
                auth_time: session.auth_time,
                expires_instant: now + CODE_MILLIS,
                family_id: crate::new_id(),
            })
            .await?;
        Ok(code)
    }
}

fn req_mode_unknown(r: &AuthorizeRequest) -> bool {
    !matches!(
        r.response_mode.as_deref(),
        None | Some("") | Some("query") | Some("form_post")
    )
}

/// RFC 7636 §4.2: 43 to 128 characters of the unreserved set (an S256 challenge is 43).
fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}
