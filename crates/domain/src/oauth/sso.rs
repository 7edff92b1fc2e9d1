//! SSO sessions: a row per signed-in browser (the cookie holds a random secret, the row its
//! SHA-256), so any node honours it and a logout on one node ends it on all. Also logout:
//! RP-initiated (`/oauth2/logout`, with an exact-match `post_logout_redirect_uri`) and
//! FusionAuth's Logout API.

use super::{OAuth, OAuthConfig, SsoSessions, StoredSso, SSO_SECONDS};
use crate::model::*;
use crate::session_store::RefreshTokens;
use crate::sessions::tokens::Expect;
use crate::{secrets, Error};
use serde::Deserialize;
use uuid::Uuid;

/// A live SSO session.
#[derive(Debug, Clone)]
pub struct SsoSession {
    pub sid: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub auth_time: Millis,
    pub expires_instant: Millis,
}

/// The parameters of `/oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutRequest {
    pub client_id: Option<String>,
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// Where a logout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedOut {
    /// To this URI (with `state` appended when one was sent).
    Redirect(String),
    /// On our own "signed out" page.
    Page,
    /// The `post_logout_redirect_uri` is not registered: an error page, never a redirect.
    RefusedRedirect,
}

impl OAuth {
    /// Starts an SSO session for a person who just signed in; answers the cookie's secret.
    pub async fn start_session(
        &self,
        tenant: &Tenant,
        user: Uuid,
        auth_time: Millis,
    ) -> Result<(String, SsoSession), Error> {
        let secret = secrets::new_secret();
        let ttl = tenant
            .settings
            .get("httpSessionMaxInactiveInterval")
            .and_then(|v| v.as_i64())
            .filter(|t| *t > 0)
            .unwrap_or(SSO_SECONDS);
        let session = SsoSession {
            sid: crate::new_id(),
            tenant_id: tenant.id.expect("stored"),
            user_id: user,
            auth_time,
            expires_instant: auth_time.saturating_add(ttl.saturating_mul(1000)),
        };
        self.store()
            .insert_sso_session(&StoredSso {
                id_hash: secrets::stored_hash(&secret),
                sid: session.sid,
                tenant_id: session.tenant_id,
                user_id: user,
                auth_time,
                expires_instant: session.expires_instant,
            })
            .await?;
        Ok((secret, session))
    }

    /// The live session a cookie names, if any: not expired, its user still active.
    pub async fn session(&self, cookie: Option<&str>) -> Result<Option<SsoSession>, Error> {
        let Some(secret) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let Some(s) = self
            .store()
            .sso_session(&secrets::stored_hash(secret))
            .await?
        else {
            return Ok(None);
        };
        let now = now_millis();
        if s.expires_instant <= now {
            return Ok(None);
        }
        let active = self
            .store()
            .user(Scope::tenant(s.tenant_id), s.user_id)
            .await?
            .is_some_and(|u| u.user.active && u.user.expiry.is_none_or(|e| e > now));
        Ok(active.then_some(SsoSession {
            sid: s.sid,
            tenant_id: s.tenant_id,
            user_id: s.user_id,
            auth_time: s.auth_time,
            expires_instant: s.expires_instant,
        }))
    }

    /// Ends the session a cookie names.
    pub async fn end_session(&self, cookie: Option<&str>) -> Result<(), Error> {
        if let Some(secret) = cookie.filter(|c| !c.is_empty()) {
            let hash = secrets::stored_hash(secret);
            self.store()
                .end_sso_sessions(SsoSessions::Hash(&hash))
                .await?;
        }
        Ok(())
    }

    /// `/oauth2/logout`: ends the browser's SSO session (on every node, it is a row), then
    /// decides where the browser goes: the `post_logout_redirect_uri` only when it is exactly
    /// the client's logout URL or one of its redirect URIs; without one, the client's logout URL.
    pub async fn logout(
        &self,
        cookie: Option<&str>,
        req: &LogoutRequest,
    ) -> Result<LoggedOut, Error> {
        self.end_session(cookie).await?;
        // The client: named, or the audience of the ID token hint (expired hints are normal
        // here, so the hint only names the client; it grants nothing).
        let client = match req.client_id.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(c.to_string()),
            None => req
                .id_token_hint
                .as_deref()
                .and_then(portcullis_jwt_audience),
        };
        let config = match client {
            Some(c) => match self.client(&c).await {
                Ok(client) => Some(client.config),
                Err(_) => None,
            },
            None => None,
        };
        let with_state = |uri: &str| match req.state.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => append_query(uri, &[("state", s)]),
            None => uri.to_string(),
        };
        match (
            req.post_logout_redirect_uri
                .as_deref()
                .filter(|u| !u.is_empty()),
            config,
        ) {
            (Some(uri), Some(c)) if c.logout_redirect_allowed(uri) => {
                Ok(LoggedOut::Redirect(with_state(uri)))
            }
            (Some(_), _) => Ok(LoggedOut::RefusedRedirect),
            (
                None,
                Some(OAuthConfig {
                    logout_url: Some(u),
                    ..
                }),
            ) => Ok(LoggedOut::Redirect(with_state(&u))),
            (None, _) => Ok(LoggedOut::Page),
        }
    }

    /// FusionAuth's `POST /api/logout`: revokes the refresh token sent (every refresh token
    /// and SSO session of its user with `global`) and ends the browser's SSO session.
    pub async fn api_logout(
        &self,
        cookie: Option<&str>,
        refresh_token: Option<&str>,
        global: bool,
    ) -> Result<(), Error> {
        let session = self.session(cookie).await?;
        self.end_session(cookie).await?;
        let mut user = session.map(|s| s.user_id);
        let identity = self.sessions().identity();
        if let Some(t) = refresh_token.filter(|t| !t.is_empty()) {
            let hash = secrets::stored_hash(t);
            if let Some(row) = self.store().refresh_token(&hash).await? {
                user = Some(row.user_id);
                // With `global` the token goes with every other of its user, below.
                if !global {
                    identity
                        .revoke_refresh_tokens(
                            Some(row.tenant_id),
                            RefreshTokens::Hash(&hash),
                            Some((row.tenant_id, Some(row.user_id), Some(row.application_id))),
                        )
                        .await?;
                }
            }
        }
        if global {
            if let Some(u) = user {
                let tenant =
                    (self.store().user(Scope::ALL, u).await?).and_then(|s| s.user.tenant_id);
                identity
                    .revoke_refresh_tokens(
                        None,
                        RefreshTokens::User(u),
                        tenant.map(|t| (t, Some(u), None)),
                    )
                    .await?;
                self.store().end_sso_sessions(SsoSessions::User(u)).await?;
            }
        }
        Ok(())
    }

    /// The person behind a bearer access token we issued, for userinfo.
    pub(super) async fn bearer_user(
        &self,
        token: &str,
    ) -> Result<(User, serde_json::Map<String, serde_json::Value>), Error> {
        let verified = self
            .sessions
            .tokens()
            .verify(token, &Expect::default())
            .await?;
        let tenant = self
            .store()
            .tenant(verified.tenant)
            .await?
            .ok_or(Error::Unauthorized)?;
        let issuer = crate::settings::LoginSettings::of(&tenant, None).issuer;
        if verified.claims.get("iss").and_then(|v| v.as_str()) != Some(issuer.as_str()) {
            return Err(Error::Unauthorized);
        }
        let sub = verified
            .claims
            .get("sub")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(Error::Unauthorized)?;
        let user = self
            .store()
            .user(Scope::tenant(verified.tenant), sub)
            .await?
            .filter(|u| u.user.active)
            .ok_or(Error::Unauthorized)?;
        Ok((user.user, verified.claims))
    }
}

/// The `aud` of a JWT, read without verifying it: only to name a client.
fn portcullis_jwt_audience(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match v.get("aud")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first()?.as_str().map(str::to_string),
        _ => None,
    }
}

/// `uri` with `params` added to its query string (RFC 6749 §3.1.2: keeping the query it has).
pub fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&urlencode(v));
        sep = '&';
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        assert_eq!(
            append_query("https://a.example/cb", &[("code", "x y"), ("state", "a&b")]),
            "https://a.example/cb?code=x%20y&state=a%26b"
        );
        assert_eq!(
            append_query("https://a.example/cb?k=1", &[("code", "c")]),
            "https://a.example/cb?k=1&code=c"
        );
    }
}
