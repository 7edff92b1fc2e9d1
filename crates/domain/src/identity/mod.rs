//! The identity service: tenants, applications and their roles, groups and memberships, users,
//! registrations, API keys and the hosted pages' themes. Each public method of [`Identity`] is
//! one thing an API call does, from validation to the store; handlers call exactly one of them.
//! One file per resource.

mod api_keys;
mod applications;
mod groups;
mod registrations;
mod tenants;
mod themes;
mod users;

pub use themes::{tenant_theme_id, Theme, ThemeCheck, ThemeStore};

use crate::model::*;
use crate::{patch, validate, Error, Errors, Store};
use portcullis_hash::HashPool;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The identity service: the store, the hashing pool, and the rules between them.
#[derive(Clone)]
pub struct Identity {
    store: Arc<dyn Store>,
    pool: HashPool,
    legacy: Arc<dyn crate::LegacySystems>,
    mailer: Arc<dyn crate::mail::Mailer>,
    webhook_sender: Arc<dyn crate::webhooks::WebhookSender>,
    two_factor_keys: Option<Arc<crate::two_factor::TwoFactorKeys>>,
    import_budget: crate::import::ImportBudget,
}

/// Applies a JSON merge patch to an entity, reporting a patch that breaks its shape as a field
/// error on `root`.
pub(crate) fn patched<T: Serialize + DeserializeOwned>(
    current: &T,
    p: &Value,
    root: &str,
) -> Result<T> {
    let mut v = serde_json::to_value(current).map_err(|e| Error::Store(e.to_string()))?;
    patch::merge(&mut v, p);
    serde_json::from_value(v).map_err(|e| {
        Error::field(
            root,
            &format!("[invalid]{root}"),
            format!("The patch does not fit the [{root}] object: {e}"),
        )
    })
}

pub(crate) fn not_found<T>(o: Option<T>) -> Result<T> {
    o.ok_or(Error::NotFound)
}

/// The lower-cased key a look-up by email, username or login id searches for; a value no user
/// can have (a control character, over the bound) is a 400 on `field` before the store sees it.
pub(crate) fn lookup_key(raw: &str, field: &str, max: usize) -> Result<String> {
    let key = raw.trim();
    let mut errors = Errors::default();
    validate::identifier(key, field, max, &mut errors);
    errors.into_result()?;
    Ok(crate::normalize_login_id(key))
}

/// The default tenant and application ids every fresh store has, so scripts can rely on them.
pub const DEFAULT_TENANT_NAME: &str = "Default";
pub const DEFAULT_APPLICATION_NAME: &str = "Portcullis";

impl Identity {
    pub fn new(store: Arc<dyn Store>, pool: HashPool) -> Self {
        Self {
            store,
            pool,
            legacy: Arc::new(crate::migration::connectors::NoLegacySystems),
            mailer: Arc::new(crate::mail::NoMailer),
            webhook_sender: Arc::new(crate::webhooks::NoWebhookSender),
            two_factor_keys: None,
            import_budget: Default::default(),
        }
    }

    /// The same service, sealing two-factor secrets with `keys`.
    pub fn with_two_factor_keys(mut self, keys: Arc<crate::two_factor::TwoFactorKeys>) -> Self {
        self.two_factor_keys = Some(keys);
        self
    }

    /// The keys two-factor secrets are sealed with, when configured.
    pub fn two_factor_keys(&self) -> Option<&crate::two_factor::TwoFactorKeys> {
        self.two_factor_keys.as_deref()
    }

    /// The same service, holding imports to `budget` bytes in flight on this node.
    pub fn with_import_budget(mut self, budget: crate::import::ImportBudget) -> Self {
        self.import_budget = budget;
        self
    }

    /// The node's budget of import bytes in flight.
    pub fn import_budget(&self) -> &crate::import::ImportBudget {
        &self.import_budget
    }

    /// The same service, sending email through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::mail::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// The same service, calling webhooks' receivers through `sender` (the `portcullis-connect`
    /// crate's `HttpWebhooks` in a server).
    pub fn with_webhook_sender(mut self, sender: Arc<dyn crate::webhooks::WebhookSender>) -> Self {
        self.webhook_sender = sender;
        self
    }

    pub fn webhook_sender(&self) -> &Arc<dyn crate::webhooks::WebhookSender> {
        &self.webhook_sender
    }

    pub fn mailer(&self) -> &Arc<dyn crate::mail::Mailer> {
        &self.mailer
    }

    /// The same service, asking legacy systems through `legacy` (the `portcullis-connect`
    /// crate's `Connectors` in a server).
    pub fn with_legacy(mut self, legacy: Arc<dyn crate::LegacySystems>) -> Self {
        self.legacy = legacy;
        self
    }

    pub fn legacy(&self) -> &Arc<dyn crate::LegacySystems> {
        &self.legacy
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn pool(&self) -> &HashPool {
        &self.pool
    }

    /// Creates the default tenant and the admin application when the store has no tenant at
    /// all: FusionAuth's fresh shape, so its Kickstart files and scripts find what they expect.
    pub async fn ensure_defaults(&self) -> Result<()> {
        if !self.store.tenants().await?.is_empty() {
            return Ok(());
        }
        match self.create_defaults(None).await {
            Ok(_) => Ok(()),
            // Another node starting at the same moment created it first.
            Err(Error::Invalid(_)) if !self.store.tenants().await?.is_empty() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_defaults(&self, tenant_id: Option<Uuid>) -> Result<DefaultIds> {
        let tenant = self
            .create_tenant(
                Scope::ALL,
                tenant_id,
                Tenant {
                    name: DEFAULT_TENANT_NAME.into(),
                    ..Tenant::default()
                },
                true,
            )
            .await?;
        let tenant = tenant.id.expect("a created tenant has its id");
        let application = self
            .create_application(
                Scope::ALL,
                None,
                Application {
                    name: DEFAULT_APPLICATION_NAME.into(),
                    tenant_id: Some(tenant),
                    roles: vec![Role {
                        name: ADMIN_ROLE.into(),
                        description: Some("Administers this Portcullis instance".into()),
                        is_super_role: true,
                        ..Role::default()
                    }],
                    ..Application::default()
                },
            )
            .await?
            .id
            .expect("a created application has its id");
        Ok(DefaultIds {
            tenant,
            application,
        })
    }

    /// The default tenant and the admin application, found by their names (FusionAuth's
    /// `#{FUSIONAUTH_TENANT_ID}` and `#{FUSIONAUTH_APPLICATION_ID}`); `None` once either is
    /// renamed or deleted.
    pub async fn default_ids(&self) -> Result<Option<DefaultIds>> {
        let Some(tenant) = self
            .store
            .tenants()
            .await?
            .into_iter()
            .find(|t| t.name == DEFAULT_TENANT_NAME)
            .and_then(|t| t.id)
        else {
            return Ok(None);
        };
        let application = self
            .store
            .applications(Scope::tenant(tenant))
            .await?
            .into_iter()
            .find(|a| a.name == DEFAULT_APPLICATION_NAME && a.tenant_id == Some(tenant))
            .and_then(|a| a.id);
        Ok(application.map(|application| DefaultIds {
            tenant,
            application,
        }))
    }

    /// Gives the default tenant the id `tenant_id` (FusionAuth Kickstart's `defaultTenantId`) by
    /// creating the defaults afresh under it. Only a pristine store (no user, no API key) is
    /// re-keyed, since the tenant's id is in every row that belongs to it.
    pub async fn rekey_default_tenant(&self, tenant_id: Uuid) -> Result<DefaultIds> {
        let current = self.default_ids().await?;
        if let Some(ids) = current.filter(|ids| ids.tenant == tenant_id) {
            return Ok(ids);
        }
        if !self.store.is_pristine().await? {
            return Err(Error::general(
                "[NotPristine]",
                "The default tenant's id can only change before any user or API key exists.",
            ));
        }
        if let Some(ids) = current {
            self.delete_tenant(Scope::ALL, ids.tenant).await?;
        }
        self.create_defaults(Some(tenant_id)).await
    }
}

impl Identity {
    /// Lets the admin application sign people in at `{origin}/admin/callback` for each of
    /// `origins` (the server's public URL, or the addresses it listens on): a public client
    /// that must prove PKCE, with exactly these redirect URIs added to any an administrator set.
    /// The server registers them at start-up, never from a request's `Host`, so no request can
    /// add a place codes are sent to.
    pub async fn register_admin_sign_in(&self, origins: &[String]) -> Result<Option<DefaultIds>> {
        let Some(ids) = self.default_ids().await? else {
            return Ok(None);
        };
        let mut app = self.application(Scope::ALL, ids.application).await?;
        let config = app
            .settings
            .entry("oauthConfiguration")
            .or_insert_with(|| serde_json::json!({}));
        let Some(config) = config.as_object_mut() else {
            return Ok(Some(ids));
        };
        let mut changed = false;
        // The admin pages are a public client: no secret to keep, PKCE instead. An
        // administrator's own choice of policies stays.
        for (key, value) in [
            ("clientAuthenticationPolicy", "NotRequired"),
            ("proofKeyForCodeExchangePolicy", "Required"),
        ] {
            if !config.contains_key(key) {
                config.insert(key.into(), Value::String(value.into()));
                changed = true;
            }
        }
        let urls = config
            .entry("authorizedRedirectURLs")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(urls) = urls.as_array_mut() else {
            return Ok(Some(ids));
        };
        for origin in origins {
            let url = format!("{}/admin/callback", origin.trim_end_matches('/'));
            if !urls.iter().any(|u| u.as_str() == Some(url.as_str())) {
                urls.push(Value::String(url));
                changed = true;
            }
        }
        if changed {
            self.replace_application(Scope::ALL, ids.application, app)
                .await?;
        }
        Ok(Some(ids))
    }
}

/// The name of the admin application's role that may administer the instance.
pub const ADMIN_ROLE: &str = "admin";

/// The ids of the default tenant and the admin application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultIds {
    pub tenant: Uuid,
    pub application: Uuid,
}
