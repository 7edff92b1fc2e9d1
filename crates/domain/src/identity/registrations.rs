//! Registrations: a user's membership of an application, with its roles.

use super::{not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity, StoreError};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    /// FusionAuth's *register*: with `user_id`, adds a registration to that existing user;
    /// without, creates `user` and the registration together (all or nothing).
    pub async fn register(
        &self,
        scope: Scope,
        user_id: Option<Uuid>,
        user: Option<User>,
        registration: Registration,
    ) -> Result<(User, Registration)> {
        match user_id {
            None => {
                let Some(mut user) = user else {
                    return Err(Error::field("user", "[blank]user", "You must specify the [user] to create, or add the registration to an existing user with POST /api/user/registration/{userId}."));
                };
                if registration.application_id.is_none() {
                    return Err(Error::field(
                        "registration.applicationId",
                        "[blank]registration.applicationId",
                        "You must specify the [registration.applicationId] property.",
                    ));
                }
                user.registrations = vec![registration];
                let app_id = user.registrations[0].application_id;
                let user = self
                    .create_user(scope, None, user)
                    .await
                    .map_err(rename_reg_errors)?;
                let reg = user
                    .registrations
                    .iter()
                    .find(|r| r.application_id == app_id)
                    .cloned()
                    .expect("created with it");
                Ok((user, reg))
            }
            Some(uid) => {
                let stored = not_found(self.store.user(scope, uid).await?)?;
                let tenant = stored.user.tenant_id.expect("stored");
                let mut regs = vec![registration];
                let mut errors = Errors::default();
                self.prepare_registrations(
                    tenant,
                    &mut regs,
                    |_| "registration".into(),
                    &mut errors,
                )
                .await?;
                if let Some(a) = regs[0].application_id {
                    if stored
                        .user
                        .registrations
                        .iter()
                        .any(|r| r.application_id == Some(a))
                    {
                        errors.add_field(
                            "registration.applicationId",
                            "[duplicate]registration.applicationId",
                            "The user is already registered for this application.",
                        );
                    }
                }
                errors.into_result()?;
                let reg = regs.pop().expect("one");
                let mut event =
                    crate::Event::registration("user.registration.create", &stored.user, &reg);
                self.transact(std::slice::from_mut(&mut event)).await?;
                self.store
                    .insert_registration_with_events(
                        tenant,
                        uid,
                        &reg,
                        std::slice::from_ref(&event),
                    )
                    .await
                    .map_err(reg_dup)?;
                let user = self.user(scope, uid).await?;
                Ok((user, reg))
            }
        }
    }

    pub async fn registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
    ) -> Result<Registration> {
        let user = self.user(scope, user_id).await?;
        not_found(
            user.registrations
                .into_iter()
                .find(|r| r.application_id == Some(app_id)),
        )
    }

    pub async fn replace_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
        mut new: Registration,
    ) -> Result<Registration> {
        let user = self.user(scope, user_id).await?;
        let old = not_found(
            user.registrations
                .iter()
                .find(|r| r.application_id == Some(app_id)),
        )?;
        let app = self
            .store
            .application(
                Scope {
                    tenant: user.tenant_id,
                },
                app_id,
            )
            .await?;
        new.id = old.id;
        new.application_id = Some(app_id);
        new.insert_instant = old.insert_instant;
        new.last_login_instant = old.last_login_instant;
        new.last_update_instant = Some(now_millis());
        let mut errors = Errors::default();
        validate::registration(&new, app.as_ref(), "registration", &mut errors);
        errors.into_result()?;
        let mut event = crate::Event::registration("user.registration.update", &user, &new);
        self.transact(std::slice::from_mut(&mut event)).await?;
        self.store
            .update_registration_with_events(user_id, &new, std::slice::from_ref(&event))
            .await?;
        Ok(new)
    }

    pub async fn patch_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
        p: &Value,
    ) -> Result<Registration> {
        let old = self.registration(scope, user_id, app_id).await?;
        let new = patched(&old, p, "registration")?;
        self.replace_registration(scope, user_id, app_id, new).await
    }

    pub async fn delete_registration(
        &self,
        scope: Scope,
        user_id: Uuid,
        app_id: Uuid,
    ) -> Result<()> {
        let Some(stored) = self.store.user(scope, user_id).await? else {
            return Err(Error::NotFound);
        };
        let mut events: Vec<crate::Event> = stored
            .user
            .registrations
            .iter()
            .filter(|r| r.application_id == Some(app_id))
            .map(|r| crate::Event::registration("user.registration.delete", &stored.user, r))
            .collect();
        self.transact(&mut events).await?;
        self.store
            .delete_registration_with_events(scope, user_id, app_id, &events)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}

fn reg_dup(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate(_) => Error::field(
            "registration.applicationId",
            "[duplicate]registration.applicationId",
            "The user is already registered for this application.",
        ),
        other => other.into(),
    }
}

/// In *register*, the registration travels inside the user; name its errors as the caller sent
/// them (`registration.applicationId`, not `user.registrations[0].applicationId`).
fn rename_reg_errors(e: Error) -> Error {
    match e {
        Error::Invalid(mut errs) => {
            let fields = std::mem::take(&mut errs.field_errors);
            for (k, items) in fields {
                let k2 = k.replace("user.registrations[0]", "registration");
                for mut it in items {
                    it.code = it.code.replace("user.registrations[0]", "registration");
                    it.message = it.message.replace("user.registrations[0]", "registration");
                    errs.field_errors.entry(k2.clone()).or_default().push(it);
                }
            }
            Error::Invalid(errs)
        }
        other => other,
    }
}
