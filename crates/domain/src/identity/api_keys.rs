//! API keys: authenticating a raw key, and the keys' own API (only a key that may manage keys
//! changes them).

use super::{not_found, patched, Result};
use crate::model::*;
use crate::secrets;
use crate::{Error, Identity, StoreError};
use serde_json::Value;
use uuid::Uuid;

impl Identity {
    /// The key a raw `Authorization` value names, if any.
    pub async fn authenticate(&self, raw: &str) -> Result<Option<ApiKey>> {
        if raw.is_empty() {
            return Ok(None);
        }
        Ok(self
            .store
            .api_key_by_hash(&secrets::stored_hash(raw))
            .await?)
    }

    /// Managing keys needs a key that can do everything (no tenant lock, no endpoint limits) or a
    /// key manager; a tenant-locked key never manages keys.
    fn may_manage_keys(caller: &ApiKey) -> Result<()> {
        let unrestricted = caller.tenant_id.is_none() && caller.permissions.endpoints.is_empty();
        if unrestricted || (caller.key_manager && caller.tenant_id.is_none()) {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Creates an API key; the answer is the only time the secret is shown.
    pub async fn create_api_key(
        &self,
        caller: Option<&ApiKey>,
        id: Option<Uuid>,
        mut key: ApiKey,
    ) -> Result<ApiKey> {
        if let Some(c) = caller {
            Self::may_manage_keys(c)?;
        }
        let secret = key.key.take().unwrap_or_else(secrets::new_secret);
        if secret.chars().any(char::is_control) {
            // Such a key could never be sent in an Authorization header.
            return Err(Error::field(
                "apiKey.key",
                "[invalid]apiKey.key",
                "An API key must not contain control characters.",
            ));
        }
        if secret.len() < 16 {
            return Err(Error::field(
                "apiKey.key",
                "[tooShort]apiKey.key",
                "An API key must be at least 16 characters long; leave it out to get a random one.",
            ));
        }
        if let Some(t) = key.tenant_id {
            if self.store.tenant(t).await?.is_none() {
                return Err(Error::field(
                    "apiKey.tenantId",
                    "[invalid]apiKey.tenantId",
                    format!("The tenant [{t}] does not exist."),
                ));
            }
        }
        let now = now_millis();
        key.id = Some(id.or(key.id).unwrap_or_else(crate::new_id));
        key.insert_instant = Some(now);
        key.last_update_instant = Some(now);
        self.store
            .insert_api_key(&key, &secrets::stored_hash(&secret))
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => Error::field(
                    "apiKey.key",
                    "[duplicate]apiKey.key",
                    "This API key (or its id) already exists.",
                ),
                other => other.into(),
            })?;
        key.key = Some(secret);
        Ok(key)
    }

    pub async fn api_key(&self, caller: &ApiKey, id: Uuid) -> Result<ApiKey> {
        Self::may_manage_keys(caller)?;
        not_found(self.store.api_key(id).await?)
    }

    pub async fn api_keys(&self, caller: &ApiKey) -> Result<Vec<ApiKey>> {
        Self::may_manage_keys(caller)?;
        Ok(self.store.api_keys().await?)
    }

    /// Replaces a key's permissions and metadata; the secret itself never changes.
    pub async fn replace_api_key(
        &self,
        caller: &ApiKey,
        id: Uuid,
        mut new: ApiKey,
    ) -> Result<ApiKey> {
        let old = self.api_key(caller, id).await?;
        if let Some(t) = new.tenant_id {
            if self.store.tenant(t).await?.is_none() {
                return Err(Error::field(
                    "apiKey.tenantId",
                    "[invalid]apiKey.tenantId",
                    format!("The tenant [{t}] does not exist."),
                ));
            }
        }
        new.id = old.id;
        new.key = None;
        new.insert_instant = old.insert_instant;
        new.last_update_instant = Some(now_millis());
        self.store.update_api_key(&new).await?;
        Ok(new)
    }

    pub async fn patch_api_key(&self, caller: &ApiKey, id: Uuid, p: &Value) -> Result<ApiKey> {
        let old = self.api_key(caller, id).await?;
        let new = patched(&old, p, "apiKey")?;
        self.replace_api_key(caller, id, new).await
    }

    pub async fn delete_api_key(&self, caller: &ApiKey, id: Uuid) -> Result<()> {
        Self::may_manage_keys(caller)?;
        if caller.id == Some(id) {
            return Err(Error::general(
                "[CannotDeleteSelf]",
                "An API key cannot delete itself; use another key.",
            ));
        }
        self.store
            .delete_api_key(id)
            .await?
            .then_some(())
            .ok_or(Error::NotFound)
    }
}
