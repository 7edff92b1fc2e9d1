//! Changing a password: with the current one (checked like a login), or with a change-password
//! id; either revokes the user's refresh tokens.

use super::login::Checked;
use super::{ChangePasswordRequest, Result, Sessions};
use crate::model::*;
use crate::session_store::RefreshTokens;
use crate::settings::LoginSettings;
use crate::{secrets, validate, Error, Errors};

/// How long a change-password id is good for.
pub(super) const CHANGE_PASSWORD_ID_MILLIS: Millis = 10 * 60_000;

impl Sessions {
    /// `POST /api/user/change-password` with `loginId` and `currentPassword`: the current
    /// password is checked like a login (same locks, same 404 for unknown user or wrong
    /// password). `Ok(Some(until))` when locked.
    pub async fn change_password(
        &self,
        scope: Scope,
        req: ChangePasswordRequest,
    ) -> Result<Option<Millis>> {
        let tenant = self.identity.acting_tenant(scope).await?;
        let tenant_id = tenant.id.expect("stored");
        let settings = LoginSettings::of(&tenant, None);
        let mut errors = Errors::default();
        let login_id = validate::login_id(
            req.login_id.as_deref(),
            "loginId",
            "You must specify the [loginId] (or use a change-password id).",
            &mut errors,
        );
        let ip = validate::optional_ip_address(req.ip_address.as_deref(), "ipAddress", &mut errors);
        let current = validate::required_password(
            req.current_password.as_ref(),
            "currentPassword",
            &mut errors,
        );
        let new = Self::new_password(&req, &settings, &mut errors);
        errors.into_result()?;
        let now = now_millis();
        let stored = match self
            .check_password(
                tenant_id,
                &settings,
                login_id,
                current,
                ip.as_deref(),
                now,
                None,
            )
            .await?
        {
            Checked::Right(u, _, _, counted) => {
                self.take_back(&counted).await?;
                *u
            }
            Checked::Locked(until) => return Ok(Some(until)),
        };
        self.set_password(stored, new, &settings).await?;
        Ok(None)
    }

    /// `POST /api/user/change-password/{changePasswordId}`: the id (from a 203 login) stands in
    /// for the current password, once, until it expires.
    pub async fn change_password_by_id(
        &self,
        change_password_id: &str,
        req: ChangePasswordRequest,
    ) -> Result<()> {
        let hash = secrets::stored_hash(change_password_id);
        let (tenant_id, user_id, expires) = self
            .store()
            .change_password_id(&hash)
            .await?
            .ok_or(Error::NotFound)?;
        if expires <= now_millis() {
            self.store().delete_change_password_id(&hash).await?;
            return Err(Error::NotFound);
        }
        let tenant = self
            .store()
            .tenant(tenant_id)
            .await?
            .ok_or(Error::NotFound)?;
        let settings = LoginSettings::of(&tenant, None);
        let mut errors = Errors::default();
        let new = Self::new_password(&req, &settings, &mut errors);
        errors.into_result()?;
        let stored = self
            .store()
            .user(Scope::tenant(tenant_id), user_id)
            .await?
            .ok_or(Error::NotFound)?;
        if !self.store().delete_change_password_id(&hash).await? {
            return Err(Error::NotFound);
        }
        self.set_password(stored, new, &settings).await
    }

    fn new_password(
        req: &ChangePasswordRequest,
        settings: &LoginSettings,
        errors: &mut Errors,
    ) -> Password {
        let new = req.password.clone().unwrap_or(Password(String::new()));
        if new.0.is_empty() {
            errors.add_field(
                "password",
                "[blank]password",
                "You must specify the new [password].",
            );
        } else {
            settings.rules.check(&new.0, "password", errors);
        }
        new
    }

    /// Hashes the new password with the tenant's scheme, clears `passwordChangeRequired` and,
    /// unless the tenant says otherwise, revokes the user's refresh tokens.
    async fn set_password(
        &self,
        stored: StoredUser,
        new: Password,
        settings: &LoginSettings,
    ) -> Result<()> {
        let scheme = settings.passwords.scheme().to_string();
        let factor = settings.passwords.encryption_scheme_factor;
        let credential = self
            .identity
            .pool()
            .hash_password(scheme, factor, new.0)
            .await?
            .map_err(|e| Error::Store(format!("hashing the new password failed: {e}")))?;
        let now = now_millis();
        // A profile copied from a legacy system for a reset becomes a migrated user when its
        // first password is set here.
        if let (None, Some(t), Some(c)) = (
            &stored.credential,
            stored.user.tenant_id,
            stored.user.connector_id,
        ) {
            self.identity.count(t, c, crate::migration::MIGRATED).await;
        }
        let user_id = stored.user.id.expect("stored");
        // In place: a profile update racing this change keeps its fields, and this its password.
        let mut event = crate::Event::user("user.password.update", &stored.user);
        self.identity
            .transact(std::slice::from_mut(&mut event))
            .await?;
        self.store()
            .set_password_with_events(user_id, &credential, now, std::slice::from_ref(&event))
            .await?;
        if settings.revoke_on_password_change {
            self.identity
                .revoke_refresh_tokens(
                    stored.user.tenant_id,
                    RefreshTokens::User(user_id),
                    stored.user.tenant_id.map(|t| (t, Some(user_id), None)),
                )
                .await?;
        }
        tracing::info!(user = %user_id, "password changed");
        Ok(())
    }
}
