//! Users: create (with registrations and memberships), read by id, email, username or login id,
//! replace, patch, (de)activate, delete; a new password's rules and hash.

use super::{lookup_key, not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity, StoreError};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    /// Hashes a new password with the tenant's `passwordEncryptionConfiguration` (argon2id by
    /// default) on the shared pool; only a scheme measured as cheap runs on the async runtime.
    async fn hash(&self, tenant: Uuid, password: Password) -> Result<portcullis_hash::Credential> {
        let config = match self.store.tenant(tenant).await? {
            Some(t) => crate::settings::PasswordEncryption::of(&t),
            None => Default::default(),
        };
        let scheme = config.scheme().to_string();
        let factor = config.encryption_scheme_factor;
        self.pool
            .hash_password(scheme, factor, password.0)
            .await?
            .map_err(|e| Error::Store(format!("hashing a new password failed: {e}")))
    }

    /// The tenant's `passwordValidationRules` decide a new password: they replace the built-in
    /// length check of [`validate::user`], whose limits are their defaults.
    async fn check_password_rules(
        &self,
        tenant: Uuid,
        user: &User,
        errors: &mut Errors,
    ) -> Result<()> {
        let Some(p) = &user.password else {
            return Ok(());
        };
        let rules = match self.store.tenant(tenant).await? {
            Some(t) => crate::settings::PasswordRules::of(&t),
            None => Default::default(),
        };
        errors.field_errors.remove("user.password");
        rules.check(&p.0, "user.password", errors);
        Ok(())
    }

    /// Duplicate email/username checks against the store, as field errors. The unique indexes
    /// catch races; this gives the common case a precise answer.
    async fn check_unique(&self, tenant: Uuid, user: &User, errors: &mut Errors) -> Result<()> {
        // A value `validate::user` refused is never looked up: the request fails anyway, and
        // PostgreSQL would refuse the statement itself.
        let lower = |s: &Option<String>, max| {
            validate::normalized(s).filter(|s| validate::is_identifier(s, max))
        };
        if let Some(email) = lower(&user.email, validate::EMAIL_MAX) {
            if let Some(other) = self.store.user_by_email(tenant, &email).await? {
                if other.user.id != user.id {
                    errors.add_field(
                        "user.email",
                        "[duplicate]user.email",
                        "A user with this email already exists in the tenant.",
                    );
                }
            }
        }
        if let Some(name) = lower(&user.username, validate::USERNAME_MAX) {
            if let Some(other) = self.store.user_by_username(tenant, &name).await? {
                if other.user.id != user.id {
                    errors.add_field(
                        "user.username",
                        "[duplicate]user.username",
                        "A user with this username already exists in the tenant.",
                    );
                }
            }
        }
        Ok(())
    }

    /// Validates the registrations a user is created with, filling ids, instants and the
    /// application's default roles.
    pub(super) async fn prepare_registrations(
        &self,
        tenant: Uuid,
        regs: &mut [Registration],
        prefix: impl Fn(usize) -> String,
        errors: &mut Errors,
    ) -> Result<()> {
        let now = now_millis();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in regs.iter_mut().enumerate() {
            let app = match r.application_id {
                Some(a) => self.store.application(Scope::tenant(tenant), a).await?,
                None => None,
            };
            validate::registration(r, app.as_ref(), &prefix(i), errors);
            if let Some(a) = r.application_id {
                if !seen.insert(a) {
                    let field = format!("{}.applicationId", prefix(i));
                    errors.add_field(
                        &field,
                        &format!("[duplicate]{field}"),
                        "The user is already registered for this application.",
                    );
                }
            }
            if let Some(app) = app {
                if r.roles.is_empty() {
                    r.roles = app
                        .roles
                        .iter()
                        .filter(|x| x.is_default)
                        .map(|x| x.name.clone())
                        .collect();
                }
            }
            r.id.get_or_insert_with(crate::new_id);
            r.insert_instant = Some(now);
            r.last_update_instant = Some(now);
        }
        Ok(())
    }

    /// Creates a user (with the registrations and memberships it carries) in one transaction.
    pub async fn create_user(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut user: User,
    ) -> Result<User> {
        let tenant = self.resolve_tenant(scope, user.tenant_id).await?;
        user.id = Some(id.or(user.id).unwrap_or_else(crate::new_id));
        user.tenant_id = Some(tenant);
        let mut errors = Errors::default();
        validate::user(&user, "user", &mut errors);
        crate::two_factor::seal(
            &mut user.two_factor,
            self.two_factor_keys(),
            "user.twoFactor",
            &mut errors,
        );
        self.check_password_rules(tenant, &user, &mut errors)
            .await?;
        self.check_unique(tenant, &user, &mut errors).await?;
        if errors.is_empty() {
            self.check_not_in_legacy(tenant, &user, &mut errors).await?;
        }
        if self
            .store
            .user(Scope::ALL, user.id.expect("set"))
            .await?
            .is_some()
        {
            errors.add_field(
                "user.id",
                "[duplicate]user.id",
                "A user with this id already exists.",
            );
        }
        let mut regs = std::mem::take(&mut user.registrations);
        self.prepare_registrations(
            tenant,
            &mut regs,
            |i| format!("user.registrations[{i}]"),
            &mut errors,
        )
        .await?;
        user.registrations = regs;
        let now = now_millis();
        for (i, m) in user.memberships.iter_mut().enumerate() {
            let field = format!("user.memberships[{i}].groupId");
            let group = match m.group_id {
                Some(g) => self.store.group(Scope::tenant(tenant), g).await?,
                None => None,
            };
            if group.is_none() {
                errors.add_field(
                    &field,
                    &format!("[invalid]{field}"),
                    "The group does not exist in this tenant.",
                );
            }
            m.id.get_or_insert_with(crate::new_id);
            m.user_id = user.id;
            m.insert_instant = Some(now);
        }
        errors.into_result()?;
        let credential = match user.password.take() {
            Some(p) => {
                user.password_last_update_instant = Some(now);
                Some(self.hash(tenant, p).await?)
            }
            None => None,
        };
        user.insert_instant = Some(now);
        user.last_update_instant = Some(now);
        user.username_status.get_or_insert_with(|| "ACTIVE".into());
        let stored = StoredUser { user, credential };
        let mut events = vec![crate::Event::user("user.create", &stored.user)];
        events.extend(
            stored
                .user
                .registrations
                .iter()
                .map(|r| crate::Event::registration("user.registration.create", &stored.user, r)),
        );
        self.transact(&mut events).await?;
        (self.store)
            .insert_user_with_events(&stored, &events)
            .await
            .map_err(user_dup)?;
        Ok(stored.user)
    }

    pub async fn user(&self, scope: Scope, id: Uuid) -> Result<User> {
        Ok(not_found(self.store.user(scope, id).await?)?.user)
    }

    pub async fn user_by_email(&self, scope: Scope, email: &str) -> Result<User> {
        let email = lookup_key(email, "email", validate::EMAIL_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        let u = self.store.user_by_email(tenant, &email).await?;
        Ok(not_found(u)?.user)
    }

    pub async fn user_by_username(&self, scope: Scope, username: &str) -> Result<User> {
        let username = lookup_key(username, "username", validate::USERNAME_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        let u = self.store.user_by_username(tenant, &username).await?;
        Ok(not_found(u)?.user)
    }

    /// A login id is an email or a username; email wins when both would match.
    pub async fn user_by_login_id(&self, scope: Scope, login_id: &str) -> Result<User> {
        let key = lookup_key(login_id, "loginId", validate::LOGIN_ID_MAX)?;
        let tenant = self.resolve_tenant(scope, None).await?;
        if let Some(u) = self.store.user_by_email(tenant, &key).await? {
            return Ok(u.user);
        }
        Ok(not_found(self.store.user_by_username(tenant, &key).await?)?.user)
    }

    /// Replaces a user's profile. Registrations and memberships have their own endpoints and are
    /// kept; the password changes only when the body carries one.
    pub async fn replace_user(&self, scope: Scope, id: Uuid, mut new: User) -> Result<User> {
        let old = not_found(self.store.user(scope, id).await?)?;
        let tenant = old.user.tenant_id.expect("stored");
        new.id = Some(id);
        new.tenant_id = Some(tenant);
        let mut errors = Errors::default();
        validate::user(&new, "user", &mut errors);
        self.check_password_rules(tenant, &new, &mut errors).await?;
        self.check_unique(tenant, &new, &mut errors).await?;
        errors.into_result()?;
        let now = now_millis();
        let mut credential = None;
        new.password_last_update_instant = old.user.password_last_update_instant;
        if let Some(p) = new.password.take() {
            credential = Some(self.hash(tenant, p).await?);
            new.password_last_update_instant = Some(now);
        }
        new.registrations = old.user.registrations;
        new.memberships = old.user.memberships;
        // The Two-Factor API owns the methods and recovery codes: an answer carries neither
        // secrets nor codes, so a body built from one must not overwrite them.
        new.two_factor = old.user.two_factor;
        new.insert_instant = old.user.insert_instant;
        new.last_login_instant = old.user.last_login_instant;
        new.last_update_instant = Some(now);
        if new.username_status.is_none() {
            new.username_status = old.user.username_status;
        }
        // In place of what a login or a password change meanwhile writes, their values stay.
        let mut events = vec![crate::Event::user("user.update", &new)];
        if credential.is_some() {
            events.push(crate::Event::user("user.password.update", &new));
        }
        // Portcullis sends no verification emails of its own: an email becomes verified when
        // the user's `verified` is set, by the caller that checked it.
        if new.verified && !old.user.verified && new.email.is_some() {
            events.push(crate::Event::user("user.email.verified", &new));
        }
        self.transact(&mut events).await?;
        let found = (self.store)
            .update_profile_with_events(&new, credential.as_ref(), &events)
            .await
            .map_err(user_dup)?;
        found.then_some(new).ok_or(Error::NotFound)
    }

    pub async fn patch_user(&self, scope: Scope, id: Uuid, p: &Value) -> Result<User> {
        let old = self.user(scope, id).await?;
        let new = patched(&old, p, "user")?;
        self.replace_user(scope, id, new).await
    }

    /// FusionAuth's soft delete (`DELETE /api/user/{id}` without `hardDelete`): the user stays,
    /// inactive. Deleting for real is a separate, explicit call, so a script that "deactivates"
    /// never loses an account.
    pub async fn set_user_active(&self, scope: Scope, id: Uuid, active: bool) -> Result<User> {
        let mut stored = not_found(self.store.user(scope, id).await?)?;
        stored.user.active = active;
        stored.user.last_update_instant = Some(now_millis());
        let kind = if active {
            "user.reactivate"
        } else {
            "user.deactivate"
        };
        let mut event = crate::Event::user(kind, &stored.user);
        self.transact(std::slice::from_mut(&mut event)).await?;
        let found = (self.store)
            .update_profile_with_events(&stored.user, None, std::slice::from_ref(&event))
            .await?;
        found.then_some(stored.user).ok_or(Error::NotFound)
    }

    pub async fn delete_user(&self, scope: Scope, id: Uuid) -> Result<()> {
        // The event names the user as they were; it is written only if the delete found them.
        let mut event = match self.store.user(scope, id).await? {
            Some(u) => vec![crate::Event::user("user.delete", &u.user)],
            None => return Err(Error::NotFound),
        };
        self.transact(&mut event).await?;
        self.store
            .delete_user_with_events(scope, id, &event)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}

/// A unique index caught a duplicate user field that the pre-check missed (a race).
fn user_dup(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate("user.id") => Error::field(
            "user.id",
            "[duplicate]user.id",
            "A user with this id already exists.",
        ),
        other => other.into(),
    }
}
