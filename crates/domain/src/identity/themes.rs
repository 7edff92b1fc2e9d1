//! Themes: the look of a tenant's hosted pages, in FusionAuth's Theme API shape (templates by
//! page, a stylesheet, messages per locale as `key=value` lines). A theme belongs to a tenant;
//! `tenant.themeId` names the one its pages use, and a tenant without one gets the default.
//!
//! The templates' language is the hosted pages' engine, which the domain does not know: the
//! caller passes its check ([`ThemeCheck`]), run on every create, replace and patch before
//! anything is stored, so a theme that cannot render never reaches a page.

use super::{not_found, patched, Result};
use crate::model::*;
use crate::{validate, Error, Errors, Identity, StoreResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A theme as FusionAuth shapes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    #[serde(default)]
    pub name: String,
    /// Page template overrides by name; a page without one uses the default's.
    #[serde(default, deserialize_with = "null_default")]
    pub templates: BTreeMap<String, String>,
    /// CSS added after the default theme's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stylesheet: Option<String>,
    /// Messages per locale (`de`, `pt-BR`), each `key=value` lines.
    #[serde(default, deserialize_with = "null_default")]
    pub localized_messages: BTreeMap<String, String>,
    /// Messages for every locale, over the built-in English ones, as `key=value` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_messages: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, deserialize_with = "null_default")]
    pub data: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_instant: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_instant: Option<Millis>,
}

/// The hosted pages' check of a theme's templates and messages: field errors keyed
/// `theme.templates.{name}` and the like; empty when the theme can render.
pub type ThemeCheck = fn(&Theme) -> Errors;

/// Themes in storage, one row per theme, scoped by tenant as every read by id is.
#[async_trait::async_trait]
pub trait ThemeStore: Send + Sync + 'static {
    async fn insert_theme(&self, theme: &Theme) -> StoreResult<()>;
    async fn theme(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Theme>>;
    async fn themes(&self, scope: Scope) -> StoreResult<Vec<Theme>>;
    async fn update_theme(&self, theme: &Theme) -> StoreResult<()>;
    async fn delete_theme(&self, scope: Scope, id: Uuid) -> StoreResult<bool>;
}

/// The id of the theme `tenant.themeId` names, if it names one.
pub fn tenant_theme_id(tenant: &Tenant) -> Option<Uuid> {
    tenant
        .settings
        .get("themeId")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

impl Identity {
    /// A tenant's `themeId` names a theme of that tenant (a new tenant has none yet).
    pub(super) async fn check_tenant_theme(
        &self,
        tenant_id: Option<Uuid>,
        tenant: &Tenant,
        errors: &mut Errors,
    ) -> Result<()> {
        let Some(v) = tenant.settings.get("themeId").filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let found = match (tenant_id, tenant_theme_id(tenant)) {
            (Some(t), Some(id)) => self.store.theme(Scope::tenant(t), id).await?.is_some(),
            _ => false,
        };
        if !found {
            errors.add_field(
                "tenant.themeId",
                "[invalid]tenant.themeId",
                format!("The theme [{v}] is not a theme of this tenant."),
            );
        }
        Ok(())
    }

    fn check_theme(theme: &Theme, check: ThemeCheck) -> Result<()> {
        let mut errors = Errors::default();
        validate::named(&theme.name, "theme.name", &mut errors);
        let more = check(theme);
        errors.field_errors.extend(more.field_errors);
        errors.general_errors.extend(more.general_errors);
        errors.into_result()
    }

    pub async fn create_theme(
        &self,
        scope: Scope,
        id: Option<Uuid>,
        mut theme: Theme,
        check: ThemeCheck,
    ) -> Result<Theme> {
        let tenant = self.resolve_tenant(scope, theme.tenant_id).await?;
        Self::check_theme(&theme, check)?;
        let now = now_millis();
        theme.id = Some(id.or(theme.id).unwrap_or_else(crate::new_id));
        theme.tenant_id = Some(tenant);
        theme.insert_instant = Some(now);
        theme.last_update_instant = Some(now);
        self.store.insert_theme(&theme).await.map_err(|e| match e {
            crate::StoreError::Duplicate(_) => Error::field(
                "theme.id",
                "[duplicate]theme.id",
                "A theme with this id already exists.",
            ),
            e => e.into(),
        })?;
        Ok(theme)
    }

    pub async fn theme(&self, scope: Scope, id: Uuid) -> Result<Theme> {
        not_found(self.store.theme(scope, id).await?)
    }

    pub async fn themes(&self, scope: Scope) -> Result<Vec<Theme>> {
        Ok(self.store.themes(scope).await?)
    }

    /// The theme a tenant's pages use: the one `tenant.themeId` names, if it still exists.
    pub async fn tenant_theme(&self, tenant: &Tenant) -> Result<Option<Theme>> {
        let Some(id) = tenant_theme_id(tenant) else {
            return Ok(None);
        };
        Ok(self.store.theme(Scope { tenant: tenant.id }, id).await?)
    }

    pub async fn replace_theme(
        &self,
        scope: Scope,
        id: Uuid,
        mut new: Theme,
        check: ThemeCheck,
    ) -> Result<Theme> {
        let old = self.theme(scope, id).await?;
        Self::check_theme(&new, check)?;
        new.id = old.id;
        new.tenant_id = old.tenant_id;
        new.insert_instant = old.insert_instant;
        // Strictly later than the version it replaces: the pages' cache keys on it.
        new.last_update_instant = Some(now_millis().max(old.last_update_instant.unwrap_or(0) + 1));
        self.store.update_theme(&new).await?;
        Ok(new)
    }

    pub async fn patch_theme(
        &self,
        scope: Scope,
        id: Uuid,
        p: &Value,
        check: ThemeCheck,
    ) -> Result<Theme> {
        let old = self.theme(scope, id).await?;
        let new = patched(&old, p, "theme")?;
        self.replace_theme(scope, id, new, check).await
    }

    /// Deletes a theme no tenant uses (a tenant's `themeId` must name a theme).
    pub async fn delete_theme(&self, scope: Scope, id: Uuid) -> Result<()> {
        let theme = self.theme(scope, id).await?;
        if let Some(t) = theme.tenant_id {
            if let Some(tenant) = self.store.tenant(t).await? {
                if tenant_theme_id(&tenant) == Some(id) {
                    return Err(Error::general(
                        "[ThemeInUse]",
                        "The tenant uses this theme (tenant.themeId): choose another theme for the tenant first.",
                    ));
                }
            }
        }
        self.store
            .delete_theme(scope, id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}
