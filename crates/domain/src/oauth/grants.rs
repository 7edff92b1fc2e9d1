//! The token endpoint's grants (RFC 6749 §4.1.3, §4.3, §4.4, §6 with PKCE), userinfo,
//! introspection (RFC 7662) and revocation (RFC 7009).
//!
//! A code is used up by the first exchange that reaches the store, whatever happens next; a
//! second exchange of it fails and revokes the refresh tokens the first one issued (the code's
//! family), since two holders of one code means one of them stole it.

use super::clients::{Client, ClientAuthPolicy, PkcePolicy};
use super::{s256, same, ClientAuth, OAuth, OAuthError};
use crate::model::*;
use crate::session_store::RefreshTokens;
use crate::sessions::tokens::{
    AccessTokenFor, ClientTokenFor, Expect, IdTokenFor, RefreshTokenFor,
};
use crate::settings::LoginSettings;
use crate::{secrets, Error, LoginOutcome, LoginRequest};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The form of `POST /oauth2/token`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub username: Option<String>,
    pub password: Option<Password>,
}

/// RFC 6749 §5.1's answer (with FusionAuth's `userId` and `refresh_token_id`).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_id: Option<Uuid>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

/// RFC 7662's answer: `{"active": false}` or the token's claims.
pub type Introspection = Map<String, Value>;

fn invalid_grant(m: &str) -> OAuthError {
    OAuthError::new("invalid_grant", m)
}

/// What the tokens of a signed-in person are issued from.
struct Grant<'a> {
    client: &'a Client,
    user: User,
    scope: String,
    nonce: Option<String>,
    code: Option<&'a str>,
    sid: Uuid,
    family: Uuid,
    auth_time: Millis,
}

impl OAuth {
    /// `POST /oauth2/token`.
    pub async fn token(
        &self,
        auth: ClientAuth,
        req: TokenRequest,
        ip: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = req.grant_type.clone().unwrap_or_default();
        if grant.is_empty() {
            return Err(OAuthError::new(
                "invalid_request",
                "The grant_type is required.",
            ));
        }
        if ![
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
        ]
        .contains(&grant.as_str())
        {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "The grant_type is not supported.",
            ));
        }
        let client = self
            .authenticate_client(&auth, req.client_id.as_deref())
            .await?;
        if !client.config.grant_enabled(&grant) {
            return Err(OAuthError::new(
                "unauthorized_client",
                format!("The {grant} grant is not enabled for this client."),
            ));
        }
        match grant.as_str() {
            "authorization_code" => self.code_grant(&client, &req).await,
            "refresh_token" => {
                require_secret(&client, false)?;
                self.refresh_grant(&client, &req).await
            }
            "client_credentials" => {
                if !client.authenticated {
                    return Err(OAuthError::new(
                        "invalid_client",
                        "The client_credentials grant needs the client's secret.",
                    ));
                }
                self.client_grant(&client, &req).await
            }
            _ => {
                require_secret(&client, false)?;
                self.password_grant(&client, &req, ip).await
            }
        }
    }

    async fn code_grant(
        &self,
        client: &Client,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let code = req
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::new("invalid_request", "The code is required."))?;
        let verifier = req.code_verifier.as_deref().filter(|v| !v.is_empty());
        require_secret(client, verifier.is_some())?;
        let now = now_millis();
        let hash = secrets::stored_hash(code);
        let (stored, first) = self
            .store()
            .use_oauth_code(&hash, now)
            .await?
            .ok_or_else(|| invalid_grant("The code is invalid, expired or used."))?;
        if !first {
            let n = self.revoke_code_family(&stored).await?;
            tracing::warn!(client = %stored.application_id, revoked = n, "authorization code used twice: what it issued is revoked");
            return Err(invalid_grant("The code is invalid, expired or used."));
        }
        if stored.application_id != client.app.id.expect("stored") {
            return Err(invalid_grant("The code was issued to another client."));
        }
        if stored.expires_instant <= now {
            return Err(invalid_grant("The code is invalid, expired or used."));
        }
        if req.redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "The redirect_uri differs from the authorization request's.",
            ));
        }
        match (stored.code_challenge.as_deref(), verifier) {
            (Some(challenge), Some(v)) if same(challenge, &s256(v)) => {}
            (Some(_), _) => return Err(invalid_grant("The code_verifier does not match.")),
            (None, Some(_)) => {
                return Err(invalid_grant(
                    "A code_verifier was sent for a code issued without a challenge.",
                ))
            }
            (None, None)
                if client.config.pkce == PkcePolicy::NotRequiredWhenUsingClientAuthentication
                    && !client.authenticated =>
            {
                return Err(invalid_grant("This client needs PKCE or its secret."))
            }
            (None, None) => {}
        }
        let user = self
            .store()
            .user(Scope::tenant(stored.tenant_id), stored.user_id)
            .await?
            .filter(|u| u.user.active && u.user.expiry.is_none_or(|e| e > now))
            .ok_or_else(|| invalid_grant("The user can no longer sign in."))?
            .user;
        let issued = self
            .issue(Grant {
                client,
                user,
                scope: stored.scope.clone(),
                nonce: stored.nonce.clone(),
                code: Some(code),
                sid: stored.sid,
                family: stored.family_id,
                auth_time: stored.auth_time,
            })
            .await?;
        // A replay that ran while these tokens were issued may have revoked the family before
        // its refresh token was written: now that it is, the replay's mark is looked for again.
        if self.store().oauth_code_replayed(&hash).await? {
            self.revoke_code_family(&stored).await?;
            return Err(invalid_grant("The code is invalid, expired or used."));
        }
        Ok(issued)
    }

    /// Revokes the refresh tokens a code's exchange issued; answers how many.
    async fn revoke_code_family(&self, stored: &super::StoredCode) -> Result<u64, OAuthError> {
        Ok(self
            .sessions()
            .identity()
            .revoke_refresh_tokens(
                Some(stored.tenant_id),
                RefreshTokens::Family(stored.family_id),
                Some((
                    stored.tenant_id,
                    Some(stored.user_id),
                    Some(stored.application_id),
                )),
            )
            .await?)
    }

    async fn refresh_grant(
        &self,
        client: &Client,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let token = req
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::new("invalid_request", "The refresh_token is required."))?;
        let settings = LoginSettings::of(&client.tenant, Some(&client.app));
        let r = self
            .sessions
            .refresh_for(token, client.app.id)
            .await
            .map_err(|e| match e {
                Error::NotFound | Error::Invalid(_) => {
                    invalid_grant("The refresh token is invalid, expired or revoked.")
                }
                other => other.into(),
            })?;
        Ok(TokenResponse {
            access_token: r.token,
            token_type: "Bearer",
            expires_in: settings.access_ttl_secs,
            id_token: None,
            refresh_token: Some(r.refresh_token),
            refresh_token_id: Some(r.refresh_token_id),
            scope: String::new(),
            user_id: None,
        })
    }

    async fn client_grant(
        &self,
        client: &Client,
        req: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = LoginSettings::of(&client.tenant, Some(&client.app));
        let scope = req.scope.clone().unwrap_or_default();
        if scope
            .split(' ')
            .any(|s| s == "openid" || s == "offline_access")
        {
            return Err(OAuthError::new(
                "invalid_scope",
                "A client acting for itself gets neither an ID token nor a refresh token.",
            ));
        }
        let (token, _) = self
            .sessions
            .tokens()
            .client_token(&ClientTokenFor {
                tenant: &client.tenant,
                settings: &settings,
                client_id: client.app.id.expect("stored"),
                scope: &scope,
            })
            .await?;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: settings.access_ttl_secs,
            id_token: None,
            refresh_token: None,
            refresh_token_id: None,
            scope,
            user_id: None,
        })
    }

    async fn password_grant(
        &self,
        client: &Client,
        req: &TokenRequest,
        ip: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let outcome = self
            .sessions
            .authenticate(
                Scope::tenant(client.tenant.id.expect("stored")),
                LoginRequest {
                    login_id: req.username.clone(),
                    password: req.password.clone(),
                    application_id: client.app.id,
                    ip_address: ip.map(str::to_string),
                    no_jwt: true,
                    two_factor_trust_id: None,
                },
            )
            .await
            .map_err(|e| match e {
                Error::NotFound | Error::Invalid(_) => {
                    invalid_grant("The username or password is wrong.")
                }
                other => other.into(),
            })?;
        let user = match outcome {
            LoginOutcome::Success(t) | LoginOutcome::NotRegistered(t) => t.user,
            _ => return Err(invalid_grant("The user cannot sign in now.")),
        };
        let now = now_millis();
        self.issue(Grant {
            client,
            user,
            scope: req.scope.clone().unwrap_or_default(),
            nonce: None,
            code: None,
            sid: crate::new_id(),
            family: crate::new_id(),
            auth_time: now,
        })
        .await
    }

    /// The tokens of a person: an access token, an ID token for `openid`, and a refresh token
    /// for `offline_access` when the client may refresh and the person is registered.
    async fn issue(&self, g: Grant<'_>) -> Result<TokenResponse, OAuthError> {
        let tenant = &g.client.tenant;
        let app = &g.client.app;
        let settings = LoginSettings::of(tenant, Some(app));
        let registration = g
            .user
            .registrations
            .iter()
            .find(|r| r.application_id == app.id)
            .cloned();
        let wants = |s: &str| g.scope.split(' ').any(|x| x == s);
        let (access, _) = self
            .sessions
            .tokens()
            .access_token(&AccessTokenFor {
                tenant,
                settings: &settings,
                user: &g.user,
                application: Some(app),
                registration: registration.as_ref(),
                auth_time: g.auth_time,
                session: g.sid,
                authentication_type: "PASSWORD",
            })
            .await?;
        let id_token = if wants("openid") {
            Some(
                self.sessions
                    .tokens()
                    .id_token(&IdTokenFor {
                        tenant,
                        settings: &settings,
                        user: &g.user,
                        client_id: app.id.expect("stored"),
                        nonce: g.nonce.as_deref(),
                        auth_time: g.auth_time,
                        session: g.sid,
                        access_token: Some(&access),
                        code: g.code,
                        amr: &["pwd"],
                    })
                    .await?
                    .0,
            )
        } else {
            None
        };
        let (refresh_token, refresh_token_id) = if wants("offline_access")
            && g.client.config.grant_enabled("refresh_token")
            && registration.is_some()
        {
            let (t, row) = self.sessions.tokens().refresh_token(
                RefreshTokenFor {
                    tenant: tenant.id.expect("stored"),
                    user: g.user.id.expect("stored"),
                    application: app.id.expect("stored"),
                    family: g.family,
                    start: g.auth_time,
                },
                &settings,
            );
            self.store().insert_refresh_token(&row).await?;
            (Some(t), Some(row.id))
        } else {
            (None, None)
        };
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: settings.access_ttl_secs,
            id_token,
            refresh_token,
            refresh_token_id,
            scope: g.scope,
            user_id: g.user.id,
        })
    }

    /// `/oauth2/userinfo`: the claims of the person an access token names.
    pub async fn userinfo(&self, bearer: &str) -> Result<Map<String, Value>, Error> {
        let (user, claims) = self.bearer_user(bearer).await?;
        let mut c = Map::new();
        c.insert("sub".into(), json!(user.id));
        if let Some(e) = &user.email {
            c.insert("email".into(), json!(e));
            c.insert("email_verified".into(), json!(user.verified));
        }
        if let Some(u) = &user.username {
            c.insert("preferred_username".into(), json!(u));
        }
        crate::sessions::tokens::name_claims(&mut c, &user);
        for k in ["roles", "applicationId", "tid"] {
            if let Some(v) = claims.get(k) {
                c.insert(k.into(), v.clone());
            }
        }
        Ok(c)
    }

    /// `/oauth2/introspect` (RFC 7662): whether a token is active, for an authenticated client
    /// of the token's tenant; anything else about a token it may not see is `active: false`.
    pub async fn introspect(
        &self,
        auth: ClientAuth,
        body_client_id: Option<&str>,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        let client = self.authenticate_client(&auth, body_client_id).await?;
        if !client.authenticated {
            return Err(OAuthError::new(
                "invalid_client",
                "Introspection needs the client's secret.",
            ));
        }
        let tenant = client.tenant.id.expect("stored");
        let inactive = || {
            let mut m = Map::new();
            m.insert("active".into(), json!(false));
            m
        };
        if token.is_empty() {
            return Ok(inactive());
        }
        let issuer = LoginSettings::of(&client.tenant, None).issuer;
        if let Ok(v) = self
            .sessions
            .tokens()
            .verify(
                token,
                &Expect {
                    issuer: Some(&issuer),
                    audience: None,
                    tenant: Some(tenant),
                },
            )
            .await
        {
            let mut m = v.claims;
            m.insert("active".into(), json!(true));
            m.insert(
                "client_id".into(),
                m.get("aud").cloned().unwrap_or(Value::Null),
            );
            m.insert("token_type".into(), json!("access_token"));
            return Ok(m);
        }
        let hash = secrets::stored_hash(token);
        match self.store().refresh_token(&hash).await? {
            Some(r)
                if r.tenant_id == tenant
                    && r.expires_instant > now_millis()
                    && r.used_instant.is_none() =>
            {
                let mut m = Map::new();
                m.insert("active".into(), json!(true));
                m.insert("sub".into(), json!(r.user_id));
                m.insert("client_id".into(), json!(r.application_id));
                m.insert("exp".into(), json!(r.expires_instant / 1000));
                m.insert("iat".into(), json!(r.insert_instant / 1000));
                m.insert("token_type".into(), json!("refresh_token"));
                Ok(m)
            }
            _ => Ok(inactive()),
        }
    }

    /// `/oauth2/revoke` (RFC 7009): revokes a refresh token of this client. The answer is the
    /// same whether or not there was such a token.
    pub async fn revoke(
        &self,
        auth: ClientAuth,
        body_client_id: Option<&str>,
        token: &str,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate_client(&auth, body_client_id).await?;
        require_secret(&client, false)?;
        let hash = secrets::stored_hash(token);
        if let Some(r) = self.store().refresh_token(&hash).await? {
            if Some(r.application_id) == client.app.id {
                self.sessions()
                    .identity()
                    .revoke_refresh_tokens(
                        Some(r.tenant_id),
                        RefreshTokens::Hash(&hash),
                        Some((r.tenant_id, Some(r.user_id), Some(r.application_id))),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// Refuses a client that sent no secret unless its policy lets it through (`with_pkce`: the
/// request proves PKCE instead).
fn require_secret(client: &Client, with_pkce: bool) -> Result<(), OAuthError> {
    let ok = client.authenticated
        || match client.config.client_auth {
            ClientAuthPolicy::Required => false,
            ClientAuthPolicy::NotRequired => true,
            ClientAuthPolicy::NotRequiredWhenUsingPKCE => with_pkce,
        };
    if ok {
        Ok(())
    } else {
        Err(OAuthError::new(
            "invalid_client",
            "Client authentication failed.",
        ))
    }
}
