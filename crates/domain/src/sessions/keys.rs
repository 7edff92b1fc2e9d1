//! The Key API and the JWT API's public keys: signing keys as their public halves, rotation,
//! deleting a retiring key. The keys themselves belong to the token service.

use super::{Result, Sessions};
use crate::model::*;
use crate::session_store::StoredKey;
use crate::{validate, Error, Errors};
use portcullis_jwt::Algorithm;
use serde_json::{Map, Value};
use uuid::Uuid;

/// `status`). It has no field for private key material or an HMAC secret, so none can leak.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub kid: String,
    pub algorithm: String,
    /// `EC`, `OKP`, `RSA` or `HMAC`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// PEM; none for HMAC keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub has_private_key: bool,
    pub tenant_id: Uuid,
    /// `active` (signs) or `retiring` (verifies until `expirationInstant`).
    pub status: String,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub insert_instant: Millis,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_instant: Option<Millis>,
}

impl Sessions {
    /// `GET /api/jwt/public-key`: PEM public keys by kid, of the scope's tenants (creating the
    /// signing key of a tenant that has none yet); with `kid`, only that key.
    pub async fn public_keys(&self, scope: Scope, kid: Option<&str>) -> Result<Map<String, Value>> {
        if let Some(t) = scope.tenant {
            self.tokens.signing_key(t).await?;
        }
        let mut out = Map::new();
        for s in self.tokens.published_keys(scope.tenant).await? {
            if kid.is_some_and(|k| k != s.kid) {
                continue;
            }
            if let Some(pem) = self.tokens.load_key(&s).await?.public_pem() {
                out.insert(s.kid.clone(), Value::String(pem));
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ key management API

    /// `GET /api/key`: the signing keys of the scope's tenants (creating the signing key of a
    /// tenant that has none yet), oldest first, public halves only.
    pub async fn keys(&self, scope: Scope) -> Result<Vec<KeyView>> {
        if let Some(t) = scope.tenant {
            self.tokens.signing_key(t).await?;
        }
        let mut out = Vec::new();
        for s in self.store().signing_keys(scope.tenant).await? {
            out.push(self.key_view(&s).await?);
        }
        Ok(out)
    }

    /// `GET /api/key/{keyId}`: one key of the scope; `NotFound` for another tenant's.
    pub async fn key(&self, scope: Scope, kid: &str) -> Result<KeyView> {
        let s = self.scoped_key(scope, kid).await?;
        self.key_view(&s).await
    }

    /// `POST /api/key/generate`: rotates the tenant's signing key (as `portcullis keys rotate`
    /// does) to `algorithm` (default: the current key's); the old key stays published until its
    /// tokens have expired.
    pub async fn generate_key(
        &self,
        scope: Scope,
        tenant: Option<Uuid>,
        algorithm: Option<&str>,
    ) -> Result<KeyView> {
        let alg = match algorithm.map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(Algorithm::parse(a).map_err(|_| {
                Error::field(
                    "key.algorithm",
                    "[invalid]key.algorithm",
                    format!(
                        "The algorithm [{a}] is not offered: use ES256, EdDSA, RS256 or HS256."
                    ),
                )
            })?),
        };
        let tenant = self.identity.resolve_tenant(scope, tenant).await?;
        let k = self.tokens.rotate_key(tenant, alg).await?;
        let stored = self
            .store()
            .signing_key(k.kid())
            .await?
            .ok_or(Error::NotFound)?;
        self.key_view(&stored).await
    }

    /// `DELETE /api/key/{keyId}`: drops a retiring key now (its tokens stop validating on this
    /// node at once, on others within [`super::tokens::KEY_CACHE`]). The active key cannot be deleted:
    /// generate a new one first.
    pub async fn delete_key(&self, scope: Scope, kid: &str) -> Result<()> {
        let s = self.scoped_key(scope, kid).await?;
        if s.status == "active" {
            return Err(Error::general(
                "[KeyInUse]",
                format!(
                    "The key [{kid}] is the tenant's active signing key: generate a new key \
                     (POST /api/key/generate) first, then delete this one."
                ),
            ));
        }
        if !self.store().delete_signing_key(kid).await? {
            return Err(Error::NotFound);
        }
        self.tokens.forget_key(kid);
        tracing::info!(tenant = %s.tenant_id, kid = %kid, "signing key deleted");
        Ok(())
    }

    async fn scoped_key(&self, scope: Scope, kid: &str) -> Result<StoredKey> {
        let mut errors = Errors::default();
        validate::identifier(kid, "keyId", validate::NAME_MAX, &mut errors);
        errors.into_result()?;
        self.store()
            .signing_key(kid)
            .await?
            .filter(|k| scope.tenant.is_none_or(|t| t == k.tenant_id))
            .ok_or(Error::NotFound)
    }

    async fn key_view(&self, s: &StoredKey) -> Result<KeyView> {
        let key = self.tokens.load_key(s).await?;
        let alg = key.algorithm();
        Ok(KeyView {
            id: s.kid.clone(),
            kid: s.kid.clone(),
            algorithm: alg.name().to_string(),
            key_type: match alg {
                Algorithm::ES256 => "EC",
                Algorithm::EdDSA => "OKP",
                Algorithm::RS256 => "RSA",
                Algorithm::HS256 => "HMAC",
            }
            .to_string(),
            public_key: key.public_pem(),
            has_private_key: alg != Algorithm::HS256,
            tenant_id: s.tenant_id,
            status: s.status.clone(),
            insert_instant: s.insert_instant,
            expiration_instant: s.expires_instant,
        })
    }
}
