//! Applications and their roles.

use super::{not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    fn check_application(app: &Application) -> Result<()> {
        let mut errors = Errors::default();
        validate::named(&app.name, "application.name", &mut errors);
        validate::roles(&app.roles, &mut errors);
        crate::settings::check_application(app, &mut errors);
        crate::oauth::check_config(app, &mut errors);
        errors.into_result()
    }

    fn stamp_roles(roles: &mut [Role], now: Millis) {
        for r in roles {
            r.id.get_or_insert_with(crate::new_id);
            r.insert_instant.get_or_insert(now);
            r.last_update_instant = Some(now);
        }
    }

    pub async fn create_application(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut app: Application,
    ) -> Result<Application> {
        Self::check_application(&app)?;
        let tenant = self.resolve_tenant(scope, app.tenant_id).await?;
        let now = now_millis();
        app.id = Some(id.or(app.id).unwrap_or_else(crate::new_id));
        app.tenant_id = Some(tenant);
        app.insert_instant = Some(now);
        app.last_update_instant = Some(now);
        Self::stamp_roles(&mut app.roles, now);
        // Every application is an OAuth client with a secret of its own, shown in this answer
        // only.
        let secret = crate::oauth::seal_secret(&mut app, None, true);
        self.store.insert_application(&app).await?;
        Ok(app.with_secret(secret))
    }

    /// The application as answered (no secret's hash in it).
    pub async fn application(&self, scope: Scope, id: Uuid) -> Result<Application> {
        Ok(self.stored_application(scope, id).await?.redacted())
    }

    /// The application as stored, with its client secret's hash: for updates, which keep it.
    async fn stored_application(&self, scope: Scope, id: Uuid) -> Result<Application> {
        not_found(self.store.application(scope, id).await?)
    }

    pub async fn applications(&self, scope: Scope) -> Result<Vec<Application>> {
        let apps = self.store.applications(scope).await?;
        Ok(apps.into_iter().map(Application::redacted).collect())
    }

    /// Stores an update of an application read from the store: a `clientSecret` it carries is
    /// kept as its hash, else the stored secret stays.
    pub(crate) async fn store_application_update(&self, mut app: Application) -> Result<()> {
        let previous = app.clone();
        crate::oauth::seal_secret(&mut app, Some(&previous), false);
        app.last_update_instant = Some(now_millis());
        self.store.update_application(&app, &[]).await?;
        Ok(())
    }

    pub async fn replace_application(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Application,
    ) -> Result<Application> {
        let old = self.stored_application(scope, id).await?;
        Self::check_application(&new)?;
        new.id = old.id;
        new.tenant_id = old.tenant_id;
        new.insert_instant = old.insert_instant;
        let now = now_millis();
        new.last_update_instant = Some(now);
        Self::stamp_roles(&mut new.roles, now);
        let secret = crate::oauth::seal_secret(&mut new, Some(&old), false);
        // A role that goes away goes from every registration and group that held it.
        let removed: Vec<Role> = (old.roles.into_iter())
            .filter(|r| !new.roles.iter().any(|n| n.id == r.id))
            .collect();
        self.store.update_application(&new, &removed).await?;
        Ok(new.with_secret(secret))
    }

    pub async fn patch_application(
        &self,
        scope: Scope,
        id: Uuid,
        p: &Value,
    ) -> Result<Application> {
        let old = self.application(scope, id).await?;
        let new = patched(&old, p, "application")?;
        self.replace_application(scope, id, new).await
    }

    /// FusionAuth's soft delete and reactivation of an application.
    pub async fn set_application_active(
        &self,
        scope: Scope,
        id: Uuid,
        active: bool,
    ) -> Result<Application> {
        let mut app = self.stored_application(scope, id).await?;
        app.active = active;
        app.last_update_instant = Some(now_millis());
        self.store.update_application(&app, &[]).await?;
        Ok(app.redacted())
    }

    pub async fn delete_application(&self, scope: Scope, id: Uuid) -> Result<()> {
        self.store
            .delete_application(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Adds a role to an application (`POST /api/application/{id}/role`).
    pub async fn create_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Option<Uuid>,
        mut role: Role,
    ) -> Result<Role> {
        let mut app = self.application(scope, app_id).await?;
        role.id = Some(role_id.or(role.id).unwrap_or_else(crate::new_id));
        if app.roles.iter().any(|r| r.id == role.id) {
            return Err(Error::field(
                "role.id",
                "[duplicate]role.id",
                "A role with this id already exists.",
            ));
        }
        role.insert_instant = None;
        app.roles.push(role.clone());
        let app = self.replace_application(scope, app_id, app).await?;
        Ok(app
            .roles
            .into_iter()
            .find(|r| r.id == role.id)
            .expect("just added"))
    }

    pub async fn replace_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Uuid,
        mut role: Role,
    ) -> Result<Role> {
        let mut app = self.application(scope, app_id).await?;
        let slot = not_found(app.roles.iter_mut().find(|r| r.id == Some(role_id)))?;
        role.id = Some(role_id);
        role.insert_instant = slot.insert_instant;
        *slot = role;
        let app = self.replace_application(scope, app_id, app).await?;
        Ok(app
            .roles
            .into_iter()
            .find(|r| r.id == Some(role_id))
            .expect("kept"))
    }

    pub async fn patch_role(
        &self,
        scope: Scope,
        app_id: Uuid,
        role_id: Uuid,
        p: &Value,
    ) -> Result<Role> {
        let app = self.application(scope, app_id).await?;
        let old = not_found(app.roles.iter().find(|r| r.id == Some(role_id)))?;
        let new = patched(old, p, "role")?;
        self.replace_role(scope, app_id, role_id, new).await
    }

    pub async fn delete_role(&self, scope: Scope, app_id: Uuid, role_id: Uuid) -> Result<()> {
        let mut app = self.application(scope, app_id).await?;
        let before = app.roles.len();
        app.roles.retain(|r| r.id != Some(role_id));
        if app.roles.len() == before {
            return Err(Error::NotFound);
        }
        self.replace_application(scope, app_id, app).await?;
        Ok(())
    }
}
