//! Connector resources (the Connector API: connectors are global configuration) and the checks
//! on a tenant's `connectorPolicies` when it is saved.

use super::connectors::*;
use super::policies;
use crate::identity::Result;
use crate::model::*;
use crate::{Error, Errors, Identity};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    /// Connectors are global configuration: a caller acting in one tenant (a tenant-locked key,
    /// or a global key with a tenant header) neither sees nor changes them.
    fn connectors_allowed(scope: Scope) -> Result<()> {
        match scope.tenant {
            Some(_) => Err(Error::Unauthorized),
            None => Ok(()),
        }
    }

    async fn check_connector(&self, c: &Connector) -> Result<()> {
        let mut errors = Errors::default();
        crate::validate::named(&c.name, "connector.name", &mut errors);
        if let Some(Value::Object(h)) = c.settings.get(HEADERS) {
            for (name, value) in h {
                if value.as_str() == Some(MASK) {
                    errors.add_field(
                        "connector.headers",
                        "[invalid]connector.headers",
                        format!("The header [{name}] has the masked value {MASK} but no stored value to keep; send its value."),
                    );
                }
            }
        }
        // The application whose registration migrated users get must exist: a login would
        // otherwise fail on a reference nobody can see.
        match c.settings.get("applicationId") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let id = v.as_str().and_then(|s| Uuid::parse_str(s.trim()).ok());
                let exists = match id {
                    Some(id) => self.store().application(Scope::ALL, id).await?.is_some(),
                    None => false,
                };
                if !exists {
                    errors.add_field(
                        "connector.applicationId",
                        "[invalid]connector.applicationId",
                        format!("[connector.applicationId] {v} names no application."),
                    );
                }
            }
        }
        errors.into_result()?;
        self.legacy().check(c)
    }

    pub async fn create_connector(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut c: Connector,
    ) -> Result<Connector> {
        Self::connectors_allowed(scope)?;
        c.id = Some(id.or(c.id).unwrap_or_else(crate::new_id));
        self.check_connector(&c).await?;
        let now = now_millis();
        c.insert_instant = Some(now);
        c.last_update_instant = Some(now);
        self.store().insert_connector(&c).await?;
        Ok(c)
    }

    pub async fn connector(&self, scope: Scope, id: Uuid) -> Result<Connector> {
        Self::connectors_allowed(scope)?;
        self.store().connector(id).await?.ok_or(Error::NotFound)
    }

    pub async fn connectors(&self, scope: Scope) -> Result<Vec<Connector>> {
        Self::connectors_allowed(scope)?;
        Ok(self.store().connectors().await?)
    }

    pub async fn replace_connector(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Connector,
    ) -> Result<Connector> {
        let old = self.connector(scope, id).await?;
        // Answers never carry secrets, so a replace built from one keeps the stored ones.
        new.keep_secrets(&old);
        new.id = old.id;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.check_connector(&new).await?;
        self.store().update_connector(&new).await?;
        Ok(new)
    }

    pub async fn patch_connector(&self, scope: Scope, id: Uuid, p: &Value) -> Result<Connector> {
        let old = self.connector(scope, id).await?;
        let mut v = serde_json::to_value(&old).map_err(|e| Error::Store(e.to_string()))?;
        crate::patch::merge(&mut v, p);
        let new: Connector = serde_json::from_value(v).map_err(|e| {
            Error::field(
                "connector",
                "[invalid]connector",
                format!("The patch does not fit the [connector] object: {e}"),
            )
        })?;
        self.replace_connector(scope, id, new).await
    }

    /// Refused while a tenant's policy names the connector: the tenant would silently stop
    /// migrating.
    pub async fn delete_connector(&self, scope: Scope, id: Uuid) -> Result<()> {
        Self::connectors_allowed(scope)?;
        let users: Vec<String> = self
            .store()
            .tenants()
            .await?
            .iter()
            .filter(|t| policies(t).iter().any(|p| p.connector_id == id))
            .map(|t| t.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(Error::general(
                "[ConnectorInUse]",
                format!(
                    "The connector is used by the connector policies of tenant(s) {}; remove it from them first.",
                    users.join(", ")
                ),
            ));
        }
        self.store()
            .delete_connector(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    /// Checks `tenant.connectorPolicies` on save: who may change them, the shape, and that each
    /// connector exists. Only a caller that manages connectors (`ApiKey::manages_connectors`)
    /// sets or changes them: a policy sends the tenant's logins, typed passwords included, to a
    /// legacy system, so pointing one at a connector is configuring that connector's use. Anyone
    /// else may save the tenant with its policies unchanged, or without them (the stored ones
    /// are kept).
    pub(crate) async fn check_connector_policies(
        &self,
        old: Option<&Tenant>,
        tenant: &mut Tenant,
        manages_connectors: bool,
    ) -> Result<()> {
        let field = "tenant.connectorPolicies";
        if !manages_connectors {
            let stored = old
                .and_then(|t| t.settings.get("connectorPolicies"))
                .cloned();
            let sent = tenant.settings.get("connectorPolicies").cloned();
            let as_list = |v: &Option<Value>| -> Option<Vec<ConnectorPolicy>> {
                match v {
                    None | Some(Value::Null) => Some(Vec::new()),
                    Some(v) => serde_json::from_value(v.clone()).ok(),
                }
            };
            let same = match (as_list(&sent), as_list(&stored)) {
                (Some(a), Some(b)) => a == b,
                _ => sent == stored,
            };
            match (sent, stored) {
                (None, Some(v)) => {
                    tenant.settings.insert("connectorPolicies".into(), v);
                }
                _ if same => {}
                _ => {
                    return Err(Error::field(
                        field,
                        &format!("[notAllowed]{field}"),
                        "Only an API key that may manage connectors (not locked to a tenant, and allowed to write /api/connector) can set or change [tenant.connectorPolicies].",
                    ))
                }
            }
        }
        let Some(raw) = tenant.settings.get("connectorPolicies") else {
            return Ok(());
        };
        let list: Vec<ConnectorPolicy> = serde_json::from_value(raw.clone()).map_err(|e| {
            Error::field(
                field,
                &format!("[invalid]{field}"),
                format!("[{field}] must be a list of {{connectorId, domains, migrate}}: {e}"),
            )
        })?;
        let mut errors = Errors::default();
        for (i, p) in list.iter().enumerate() {
            if self.store().connector(p.connector_id).await?.is_none() {
                let f = format!("{field}[{i}].connectorId");
                errors.add_field(
                    &f,
                    &format!("[invalid]{f}"),
                    format!("The connector [{}] does not exist.", p.connector_id),
                );
            }
            if p.domains.is_empty() {
                let f = format!("{field}[{i}].domains");
                errors.add_field(
                    &f,
                    &format!("[blank]{f}"),
                    "Name the login-id domains the policy applies to, or [\"*\"] for all.",
                );
            }
        }
        errors.into_result()
    }
}
