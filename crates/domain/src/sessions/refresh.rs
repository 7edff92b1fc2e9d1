//! Refresh tokens: the grant (one-time use, a reused token revokes its family), importing the old
//! system's tokens, revoking.

use super::tokens::{AccessTokenFor, RefreshTokenFor};
use super::{ImportedRefreshToken, Refreshed, Result, Sessions};
use crate::model::*;
use crate::session_store::{RefreshTokens, StoredRefreshToken};
use crate::settings::LoginSettings;
use crate::{secrets, Error, Errors};
use std::collections::HashMap;
use uuid::Uuid;

impl Sessions {
    /// A one-time refresh token presented again: someone has a stolen copy, so its whole family
    /// is revoked. Returns the error the grant answers.
    async fn revoke_reused(&self, stored: &StoredRefreshToken) -> Result<Error> {
        let n = self
            .identity()
            .revoke_refresh_tokens(
                None,
                RefreshTokens::Family(stored.family_id),
                Some((
                    stored.tenant_id,
                    Some(stored.user_id),
                    Some(stored.application_id),
                )),
            )
            .await?;
        tracing::warn!(user = %stored.user_id, revoked = n, "refresh token reused: its family is revoked");
        Ok(Error::NotFound)
    }

    /// `POST /api/jwt/refresh`: a new access token for a refresh token. With one-time use (the
    /// default) the refresh token is exchanged for a new one; presenting a used token again
    /// revokes its whole family (someone has a stolen copy). Unknown, expired, revoked and
    /// reused tokens all answer `NotFound`.
    ///
    /// Tokens are looked up by their SHA-256 through a unique index, so no comparison of secret
    /// bytes happens in our code and no constant-time compare is needed.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed> {
        self.refresh_for(refresh_token, None).await
    }

    /// [`refresh`](Self::refresh) for a client: a token issued to another application is
    /// `NotFound`, as an unknown one is (and is not used up).
    pub async fn refresh_for(
        &self,
        refresh_token: &str,
        client: Option<Uuid>,
    ) -> Result<Refreshed> {
        if refresh_token.is_empty() {
            return Err(Error::field(
                "refreshToken",
                "[blank]refreshToken",
                "You must specify the [refreshToken].",
            ));
        }
        let hash = secrets::stored_hash(refresh_token);
        let now = now_millis();
        // Read only: the one write, marking it used together with its successor, comes once
        // the grant is known to succeed (`rotate_refresh_token`, one commit).
        let stored = self
            .store()
            .refresh_token(&hash)
            .await?
            .ok_or(Error::NotFound)?;
        if client.is_some_and(|c| c != stored.application_id) {
            return Err(Error::NotFound);
        }
        if stored.expires_instant <= now {
            self.store()
                .delete_refresh_tokens(None, RefreshTokens::Hash(&hash))
                .await?;
            return Err(Error::NotFound);
        }
        let tenant = self
            .store()
            .tenant(stored.tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let scope = Scope::tenant(stored.tenant_id);
        let app = self
            .store()
            .application(scope, stored.application_id)
            .await?
            .filter(|a| a.active)
            .ok_or(Error::NotFound)?;
        let settings = LoginSettings::of(&tenant, Some(&app));
        // A reusable token is never marked, so never "reused".
        if settings.one_time_refresh && stored.used_instant.is_some() {
            return Err(self.revoke_reused(&stored).await?);
        }
        let user = self
            .store()
            .user(scope, stored.user_id)
            .await?
            .filter(|u| u.user.active && u.user.expiry.is_none_or(|e| e > now))
            .ok_or(Error::NotFound)?
            .user;
        let registration = user
            .registrations
            .iter()
            .find(|r| r.application_id == app.id)
            .ok_or(Error::NotFound)?;
        let (token, _) = self
            .tokens
            .access_token(&AccessTokenFor {
                tenant: &tenant,
                settings: &settings,
                user: &user,
                application: Some(&app),
                registration: Some(registration),
                auth_time: stored.start_instant,
                session: stored.family_id,
                authentication_type: "PASSWORD",
            })
            .await?;
        let (refresh_token, refresh_token_id) = if settings.one_time_refresh {
            let (next, row) = self.tokens.refresh_token(
                RefreshTokenFor {
                    tenant: stored.tenant_id,
                    user: stored.user_id,
                    application: stored.application_id,
                    family: stored.family_id,
                    start: stored.start_instant,
                },
                &settings,
            );
            if !self.store().rotate_refresh_token(&hash, now, &row).await? {
                // A grant racing with this one used it first: two holders of one token.
                return Err(self.revoke_reused(&stored).await?);
            }
            (next, row.id)
        } else {
            (refresh_token.to_string(), stored.id)
        };
        Ok(Refreshed {
            token,
            refresh_token,
            refresh_token_id,
        })
    }

    /// `POST /api/user/refresh-token/import`: refresh tokens of the old system, so that its
    /// sessions survive the move. Each token's user must exist in the caller's scope and its
    /// application in the user's tenant; the lifetime (the tenant's, or the application's
    /// override) counts from `insertInstant`. Only the SHA-256 is stored. All or nothing.
    pub async fn import_refresh_tokens(
        &self,
        scope: Scope,
        tokens: Vec<ImportedRefreshToken>,
    ) -> Result<usize> {
        let mut errors = Errors::default();
        let now = now_millis();
        let mut tenants: HashMap<Uuid, Tenant> = HashMap::new();
        let mut apps: HashMap<Uuid, Option<Application>> = HashMap::new();
        let mut users: HashMap<Uuid, Option<Uuid>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.into_iter().enumerate() {
            let field = |f: &str| format!("refreshTokens[{i}].{f}");
            let token = t.token.as_deref().unwrap_or("");
            if token.is_empty() {
                let f = field("token");
                errors.add_field(&f, &format!("[blank]{f}"), "You must specify the [token].");
            }
            let hash = secrets::stored_hash(token);
            if !token.is_empty()
                && (!seen.insert(hash.clone())
                    || self.store().refresh_token(&hash).await?.is_some())
            {
                let f = field("token");
                errors.add_field(
                    &f,
                    &format!("[duplicate]{f}"),
                    "This refresh token already exists.",
                );
            }
            let tenant = match t.user_id {
                None => None,
                Some(u) => match users.get(&u) {
                    Some(known) => *known,
                    None => {
                        let found = self
                            .store()
                            .user(scope, u)
                            .await?
                            .and_then(|s| s.user.tenant_id);
                        users.insert(u, found);
                        found
                    }
                },
            };
            let Some(tenant_id) = tenant else {
                let f = field("userId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    "The user does not exist in this tenant.",
                );
                continue;
            };
            let app = match t.application_id {
                None => None,
                Some(a) => {
                    let found = match apps.get(&a) {
                        Some(known) => known.clone(),
                        None => {
                            let found = self
                                .store()
                                .application(Scope::tenant(tenant_id), a)
                                .await?;
                            apps.insert(a, found.clone());
                            found
                        }
                    };
                    found.filter(|app| app.tenant_id == Some(tenant_id))
                }
            };
            let Some(app) = app else {
                let f = field("applicationId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    "The application does not exist in the user's tenant.",
                );
                continue;
            };
            let settings = match tenants.get(&tenant_id) {
                Some(tenant) => LoginSettings::of(tenant, Some(&app)),
                None => {
                    let tenant = self
                        .store()
                        .tenant(tenant_id)
                        .await?
                        .ok_or(Error::NotFound)?;
                    let settings = LoginSettings::of(&tenant, Some(&app));
                    tenants.insert(tenant_id, tenant);
                    settings
                }
            };
            let issued = t.insert_instant.unwrap_or(now);
            out.push(StoredRefreshToken {
                id: crate::new_id(),
                token_hash: hash,
                family_id: crate::new_id(),
                tenant_id,
                user_id: t.user_id.expect("checked"),
                application_id: app.id.expect("stored"),
                start_instant: t.start_instant.unwrap_or(issued),
                insert_instant: issued,
                expires_instant: issued.saturating_add(settings.refresh_ttl_millis),
                used_instant: None,
            });
        }
        if out.is_empty() && errors.is_empty() {
            errors.add_field(
                "refreshTokens",
                "[blank]refreshTokens",
                "You must specify at least one refresh token.",
            );
        }
        errors.into_result()?;
        self.store().insert_refresh_tokens(&out).await?;
        tracing::info!(count = out.len(), "refresh tokens imported");
        Ok(out.len())
    }

    /// `DELETE /api/jwt/refresh`: revokes by token, user, application or user and application,
    /// within the caller's tenant.
    pub async fn revoke(
        &self,
        scope: Scope,
        token: Option<&str>,
        user: Option<Uuid>,
        app: Option<Uuid>,
    ) -> Result<u64> {
        let hash = token.map(secrets::stored_hash);
        let which = match (&hash, user, app) {
            (Some(h), None, None) => RefreshTokens::Hash(h),
            (None, Some(u), None) => RefreshTokens::User(u),
            (None, None, Some(a)) => RefreshTokens::Application(a),
            (None, Some(u), Some(a)) => RefreshTokens::UserApplication(u, a),
            _ => {
                return Err(Error::general(
                    "[invalid]query",
                    "Give ?token=, ?userId=, ?applicationId= or ?userId= with ?applicationId=.",
                ))
            }
        };
        // Whose tokens these are, read before they go, for the event.
        let owner = match (&hash, user, app) {
            (Some(h), _, _) => (self.store().refresh_token(h).await?)
                .filter(|r| scope.sees(Some(r.tenant_id)))
                .map(|r| (r.tenant_id, Some(r.user_id), Some(r.application_id))),
            (None, Some(u), a) => (self.store().user(scope, u).await?)
                .and_then(|s| s.user.tenant_id)
                .map(|t| (t, Some(u), a)),
            (None, None, Some(a)) => (self.store().application(scope, a).await?)
                .and_then(|app| app.tenant_id)
                .map(|t| (t, None, Some(a))),
            (None, None, None) => None,
        };
        self.identity()
            .revoke_refresh_tokens(scope.tenant, which, owner)
            .await
    }
}

/// Whose refresh tokens a revocation removes, for its event: the tenant, the user (none: every
/// token of the application) and the application (none: every application of the user).
pub(crate) type RevokedOwner = (Uuid, Option<Uuid>, Option<Uuid>);

impl crate::Identity {
    /// The one way refresh tokens are revoked: deletes those `which` names (within tenant
    /// `within` when set) and, when any went and their `owner` is known, writes
    /// `jwt.refresh-token.revoke`. The tokens live in the session store, apart from the outbox,
    /// so the event follows the revocation rather than sharing its transaction; a failure to
    /// write it is logged, not answered, since the revocation itself took effect.
    pub(crate) async fn revoke_refresh_tokens(
        &self,
        within: Option<Uuid>,
        which: RefreshTokens<'_>,
        owner: Option<RevokedOwner>,
    ) -> Result<u64> {
        let n = self.store().delete_refresh_tokens(within, which).await?;
        if let (true, Some((tenant, user, app))) = (n > 0, owner) {
            if let Err(e) = self.write_refresh_revoke(tenant, user, app).await {
                tracing::warn!(error = %e, "the jwt.refresh-token.revoke event was not written");
            }
        }
        Ok(n)
    }

    async fn write_refresh_revoke(
        &self,
        tenant_id: Uuid,
        user: Option<Uuid>,
        app: Option<Uuid>,
    ) -> Result<()> {
        let scope = Scope::tenant(tenant_id);
        let Some(tenant) = self.store().tenant(tenant_id).await? else {
            return Ok(());
        };
        let user = match user {
            Some(u) => match self.store().user(scope, u).await? {
                Some(s) => Some(s.user),
                None => return Ok(()),
            },
            None => None,
        };
        let apps: Vec<Uuid> = match (app, &user) {
            (Some(a), _) => vec![a],
            (None, Some(u)) => u
                .registrations
                .iter()
                .filter_map(|r| r.application_id)
                .collect(),
            (None, None) => Vec::new(),
        };
        let mut ttls = Vec::with_capacity(apps.len());
        for a in apps {
            let application = self.store().application(scope, a).await?;
            let settings = LoginSettings::of(&tenant, application.as_ref());
            ttls.push((a, settings.access_ttl_secs));
        }
        let event = crate::Event::refresh_token_revoke(tenant_id, user.as_ref(), app, &ttls);
        self.store().append_events(&[event]).await?;
        Ok(())
    }
}
