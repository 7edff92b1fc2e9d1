//! Tenants: create, read, replace, patch, delete (with everything in them), and which tenant a
//! request acts in.

use super::{not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    /// The tenant a request that names none acts in ([`resolve_tenant`](Self::resolve_tenant)),
    /// read from the store.
    pub async fn acting_tenant(&self, scope: Scope) -> Result<Tenant> {
        let id = self.resolve_tenant(scope, None).await?;
        self.store.tenant(id).await?.ok_or(Error::NotFound)
    }

    /// The tenant a create or a by-email look-up acts in: the scope's, else the one named in the
    /// body, else the only tenant there is.
    pub async fn resolve_tenant(&self, scope: Scope, requested: Option<Uuid>) -> Result<Uuid> {
        match (scope.tenant, requested) {
            (Some(t), Some(r)) if t != r => Err(Error::field(
                "tenantId",
                "[invalid]tenantId",
                "The tenantId in the body differs from the tenant of the request.",
            )),
            (Some(t), _) => Ok(t),
            (None, Some(r)) => match self.store.tenant(r).await? {
                Some(_) => Ok(r),
                None => Err(Error::field(
                    "tenantId",
                    "[invalid]tenantId",
                    format!("The tenant [{r}] does not exist."),
                )),
            },
            (None, None) => {
                let tenants = self.store.tenants().await?;
                match tenants.as_slice() {
                    [only] => Ok(only.id.expect("stored tenants have ids")),
                    _ => Err(Error::tenant_required()),
                }
            }
        }
    }

    // ---------------------------------------------------------------- tenants

    pub async fn create_tenant(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut tenant: Tenant,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        let mut errors = Errors::default();
        validate::named(&tenant.name, "tenant.name", &mut errors);
        crate::settings::check_tenant(&tenant, self.pool.registry(), &mut errors);
        self.check_tenant_theme(None, &tenant, &mut errors).await?;
        errors.into_result()?;
        self.check_connector_policies(None, &mut tenant, manages_connectors)
            .await?;
        let now = now_millis();
        tenant.id = Some(id.or(tenant.id).unwrap_or_else(crate::new_id));
        tenant.insert_instant = Some(now);
        tenant.last_update_instant = Some(now);
        self.store.insert_tenant(&tenant).await?;
        Ok(tenant)
    }

    pub async fn tenant(&self, scope: Scope, id: Uuid) -> Result<Tenant> {
        if !scope.sees(Some(id)) {
            return Err(Error::NotFound);
        }
        not_found(self.store.tenant(id).await?)
    }

    pub async fn tenants(&self, scope: Scope) -> Result<Vec<Tenant>> {
        let mut all = self.store.tenants().await?;
        all.retain(|t| scope.sees(t.id));
        Ok(all)
    }

    /// `manages_connectors`: whether the caller may set `connectorPolicies`
    /// (`ApiKey::manages_connectors`).
    pub async fn replace_tenant(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Tenant,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        let old = self.tenant(scope, id).await?;
        let mut errors = Errors::default();
        validate::named(&new.name, "tenant.name", &mut errors);
        crate::settings::check_tenant(&new, self.pool.registry(), &mut errors);
        self.check_tenant_theme(old.id, &new, &mut errors).await?;
        errors.into_result()?;
        new.keep_secrets(&old);
        self.check_connector_policies(Some(&old), &mut new, manages_connectors)
            .await?;
        new.id = old.id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_tenant(&new).await?;
        Ok(new)
    }

    pub async fn patch_tenant(
        &self,
        scope: Scope,
        id: Uuid,
        p: &Value,
        manages_connectors: bool,
    ) -> Result<Tenant> {
        let old = self.tenant(scope, id).await?;
        let new = patched(&old, p, "tenant")?;
        self.replace_tenant(scope, id, new, manages_connectors)
            .await
    }

    pub async fn delete_tenant(&self, scope: Scope, id: Uuid) -> Result<()> {
        if scope.tenant.is_some() {
            return Err(Error::Unauthorized);
        }
        self.store
            .delete_tenant(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}
