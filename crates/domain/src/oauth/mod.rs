//! OAuth 2.0 and OpenID Connect: applications as clients (their `oauthConfiguration`, client
//! secrets kept as SHA-256), the authorization request's rules (exact redirect URIs, PKCE with
//! S256 only), single-use codes bound to client, redirect URI and challenge, SSO sessions shared
//! by every node, the token endpoint's grants, userinfo, introspection, revocation and logout.
//!
//! Self-service registration from the hosted pages creates users through the User Registration
//! API's path ([`Identity::register`](crate::Identity::register)).
//!
//! Every token comes from the one token service, and the password check behind the hosted login
//! page is [`Sessions::authenticate`](crate::Sessions::authenticate): the same locks, legacy
//! systems and account rules as the Login API.

mod authorize;
mod clients;
mod grants;
mod register;
mod sso;

pub use authorize::{Authorization, AuthorizeError, AuthorizeRequest, ResponseMode};
pub(crate) use clients::{check as check_config, seal_secret};
pub use clients::{ClientAuth, OAuthConfig, PkcePolicy};
pub use grants::{Introspection, TokenRequest, TokenResponse};
pub use register::{Registered, SelfRegistration};
pub use sso::{append_query, LoggedOut, LogoutRequest, SsoSession};

use crate::model::*;
use crate::{Sessions, StoreResult};
use uuid::Uuid;

/// An authorization code as stored: its SHA-256, never the code, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub code_hash: String,
    pub tenant_id: Uuid,
    pub application_id: Uuid,
    pub user_id: Uuid,
    /// The redirect URI of the authorization request, which the exchange must repeat.
    pub redirect_uri: String,
    /// The PKCE S256 challenge, when the request sent one.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    /// The SSO session the code was issued in (the tokens' `sid`).
    pub sid: Uuid,
    pub auth_time: Millis,
    pub expires_instant: Millis,
    /// The refresh-token family the exchange issues, so that a second use of the code revokes
    /// what the first one issued.
    pub family_id: Uuid,
}

/// An SSO session as stored: the SHA-256 of the cookie's secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSso {
    pub id_hash: String,
    /// The session's public id (the tokens' `sid`).
    pub sid: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub auth_time: Millis,
    pub expires_instant: Millis,
}

/// Which SSO sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SsoSessions<'a> {
    Hash(&'a str),
    Sid(Uuid),
    User(Uuid),
}

/// What OAuth needs from storage beside sessions: codes and SSO sessions, shared by every node.
#[async_trait::async_trait]
pub trait OAuthStore: Send + Sync + 'static {
    async fn insert_oauth_code(&self, code: &StoredCode) -> StoreResult<()>;
    /// Marks a code used and answers it with whether this was its first use; `None` for a code
    /// that does not exist. The mark is atomic, so of two exchanges racing with one code only
    /// one sees a first use. A use after the first is recorded as a replay before it answers.
    async fn use_oauth_code(
        &self,
        code_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<(StoredCode, bool)>>;
    /// Whether the code has been used again after its first use.
    async fn oauth_code_replayed(&self, code_hash: &str) -> StoreResult<bool>;
    async fn insert_sso_session(&self, session: &StoredSso) -> StoreResult<()>;
    async fn sso_session(&self, id_hash: &str) -> StoreResult<Option<StoredSso>>;
    /// Ends SSO sessions; answers how many.
    async fn end_sso_sessions(&self, which: SsoSessions<'_>) -> StoreResult<u64>;
    /// Deletes codes and SSO sessions that expired at or before `now`; answers how many.
    async fn delete_expired_oauth_rows(&self, now: Millis) -> StoreResult<u64>;
}

/// A protocol error of RFC 6749 (§4.1.2.1 for the authorization endpoint, §5.2 for the token
/// endpoint): its code, a description for people, and the HTTP status it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" { 401 } else { 400 };
        Self {
            error,
            description: description.into(),
            status,
        }
    }
}

impl From<crate::Error> for OAuthError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Busy(m) => OAuthError {
                error: "temporarily_unavailable",
                description: m,
                status: 503,
            },
            crate::Error::Invalid(_) | crate::Error::NotFound | crate::Error::Unauthorized => {
                OAuthError::new("invalid_request", "The request is not valid.")
            }
            other => {
                tracing::error!(error = %other, "oauth request failed");
                OAuthError {
                    error: "server_error",
                    description: "The server could not answer.".into(),
                    status: 500,
                }
            }
        }
    }
}

impl From<crate::StoreError> for OAuthError {
    fn from(e: crate::StoreError) -> Self {
        crate::Error::from(e).into()
    }
}

/// How long an authorization code can be exchanged.
pub const CODE_MILLIS: Millis = 60_000;
/// How long an SSO session lasts when the tenant sets no `httpSessionMaxInactiveInterval`.
pub const SSO_SECONDS: i64 = 3600;

/// The OAuth 2.0 / OpenID Connect provider. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    sessions: Sessions,
}

impl OAuth {
    pub fn new(sessions: Sessions) -> Self {
        Self { sessions }
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn store(&self) -> &std::sync::Arc<dyn crate::Store> {
        self.sessions.identity().store()
    }

    /// The OpenID Provider metadata (OpenID Connect Discovery 1.0) of a tenant (or of the only
    /// tenant), with endpoints under `base` (the server's public URL).
    pub async fn discovery(
        &self,
        tenant: Option<Uuid>,
        base: &str,
    ) -> Result<serde_json::Value, crate::Error> {
        let scope = tenant.map_or(Scope::ALL, Scope::tenant);
        let tenant = self.sessions.identity().acting_tenant(scope).await?;
        let tenant_id = tenant.id.expect("stored");
        let settings = crate::settings::LoginSettings::of(&tenant, None);
        let alg = self
            .sessions
            .tokens()
            .signing_key(tenant_id)
            .await?
            .algorithm()
            .name()
            .to_string();
        let base = base.trim_end_matches('/');
        Ok(serde_json::json!({
            "issuer": settings.issuer,
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "token_endpoint": format!("{base}/oauth2/token"),
            "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "end_session_endpoint": format!("{base}/oauth2/logout"),
            "introspection_endpoint": format!("{base}/oauth2/introspect"),
            "revocation_endpoint": format!("{base}/oauth2/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [alg],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "c_hash", "sid", "amr",
                "email", "email_verified", "preferred_username", "name", "given_name", "family_name", "middle_name", "roles"],
            "prompt_values_supported": ["none", "login"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }))
    }
}

/// PKCE (RFC 7636 §4.6): the S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// Equal strings, compared in time that does not depend on where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
