//! The token service: the one place that issues and verifies Portcullis's own tokens, for every
//! part that needs them (the Login API, the JWT API, the OAuth2/OIDC endpoints, the gateway).
//!
//! It owns the tenants' signing keys: generated and stored on first need, rotated with the old
//! key published until its tokens expire, and cached per node (a key row is the truth, so every
//! node signs and verifies with the same keys). It issues access tokens (FusionAuth's claims), ID
//! tokens (OpenID Connect Core's claims) and refresh tokens (random secrets stored as their
//! SHA-256), verifies a token we signed (signature, expiry, issuer, audience, tenant) and serves
//! the JWKS.

use crate::model::*;
use crate::session_store::{StoredKey, StoredRefreshToken};
use crate::settings::LoginSettings;
use crate::{secrets, Error, Store};
use portcullis_jwt::{Algorithm, KeyPair};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

type Result<T, E = Error> = std::result::Result<T, E>;

/// The signing algorithm of keys generated on first need.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::ES256;
/// How long a node keeps signing with the key it last read as active, and trusts a cached key
/// without asking the store again (a key deleted on another node stops verifying here after it).
pub const KEY_CACHE: Duration = Duration::from_secs(30);

/// A loaded key, its tenant, and when the store last confirmed it.
type CachedKey = (Arc<KeyPair>, Uuid, Instant);

/// Issues and verifies our tokens. Cheap to clone; clones share the key cache.
#[derive(Clone)]
pub struct TokenService {
    store: Arc<dyn Store>,
    /// kid → key, for signing and verifying.
    keys: Arc<RwLock<HashMap<String, CachedKey>>>,
    /// tenant → the kid that signs, and when this node read it. Re-read after [`KEY_CACHE`], so a
    /// rotation on another node reaches this one.
    active: Arc<RwLock<HashMap<Uuid, (String, Instant)>>>,
    /// Key creation and rotation on this node, one at a time.
    create_key: Arc<tokio::sync::Mutex<()>>,
}

/// What an access token is issued for.
pub struct AccessTokenFor<'a> {
    pub tenant: &'a Tenant,
    pub settings: &'a LoginSettings,
    pub user: &'a User,
    /// The application signed in to: the token's `aud` and `applicationId`.
    pub application: Option<&'a Application>,
    /// The user's registration for that application: the token's `roles`.
    pub registration: Option<&'a Registration>,
    /// When the person authenticated (the `auth_time` claim).
    pub auth_time: Millis,
    /// The session (the refresh token family) the token belongs to (the `sid` claim).
    pub session: Uuid,
    /// How the person authenticated (`PASSWORD`, `REFRESH_TOKEN`, …), FusionAuth's
    /// `authenticationType` claim.
    pub authentication_type: &'a str,
}

/// What an OpenID Connect ID token is issued for.
pub struct IdTokenFor<'a> {
    pub tenant: &'a Tenant,
    pub settings: &'a LoginSettings,
    pub user: &'a User,
    /// The client the token is for (its `aud`).
    pub client_id: Uuid,
    /// The `nonce` of the authorization request, returned unchanged.
    pub nonce: Option<&'a str>,
    pub auth_time: Millis,
    pub session: Uuid,
    /// The access token issued beside it: its `at_hash`.
    pub access_token: Option<&'a str>,
    /// The authorization code it was exchanged for: its `c_hash`.
    pub code: Option<&'a str>,
    /// How the person authenticated (`amr`, RFC 8176: `pwd`, `otp`, …).
    pub amr: &'a [&'a str],
}

/// What an access token for a client itself (the client-credentials grant) is issued for.
pub struct ClientTokenFor<'a> {
    pub tenant: &'a Tenant,
    pub settings: &'a LoginSettings,
    pub client_id: Uuid,
    /// The granted scope, space-separated.
    pub scope: &'a str,
}

/// What a verified token must also satisfy besides a good signature and an `exp` in the future.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    /// The `iss` claim must equal this.
    pub issuer: Option<&'a str>,
    /// The `aud` claim (a string, or an array of them) must hold this.
    pub audience: Option<&'a str>,
    /// The token must be signed by a key of this tenant.
    pub tenant: Option<Uuid>,
}

/// A token we signed that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub claims: Map<String, Value>,
    /// The tenant whose key signed it.
    pub tenant: Uuid,
}

fn secs(m: Millis) -> i64 {
    m / 1000
}

fn key_error(e: impl std::fmt::Display) -> Error {
    Error::Store(e.to_string())
}

impl TokenService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            keys: Default::default(),
            active: Default::default(),
            create_key: Default::default(),
        }
    }

    // ------------------------------------------------------------ signing keys

    /// The key of a row just read from the store (so the cache entry counts as confirmed now).
    pub(crate) async fn load_key(&self, stored: &StoredKey) -> Result<Arc<KeyPair>> {
        if let Some((k, _, at)) = self
            .keys
            .write()
            .expect("not poisoned")
            .get_mut(&stored.kid)
        {
            *at = Instant::now();
            return Ok(k.clone());
        }
        let alg = Algorithm::parse(&stored.algorithm).map_err(key_error)?;
        let k = Arc::new(
            KeyPair::from_parts(stored.kid.clone(), alg, &stored.secret).map_err(key_error)?,
        );
        self.keys.write().expect("not poisoned").insert(
            stored.kid.clone(),
            (k.clone(), stored.tenant_id, Instant::now()),
        );
        Ok(k)
    }

    /// Forgets a key this node deleted, so its tokens stop verifying here at once.
    pub(crate) fn forget_key(&self, kid: &str) {
        self.keys.write().expect("not poisoned").remove(kid);
    }

    /// The tenant's signing key, generated and stored on first need. When two nodes generate at
    /// once, both keep the oldest stored active key, so they agree.
    pub async fn signing_key(&self, tenant: Uuid) -> Result<Arc<KeyPair>> {
        let cached = self
            .active
            .read()
            .expect("not poisoned")
            .get(&tenant)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE)
            .map(|(kid, _)| kid.clone());
        if let Some(kid) = cached {
            if let Some((k, _, _)) = self.keys.read().expect("not poisoned").get(&kid) {
                return Ok(k.clone());
            }
        }
        let _one_at_a_time = self.create_key.lock().await;
        let mut active = self.active_keys(tenant).await?;
        if active.is_empty() {
            let k = tokio::task::spawn_blocking(|| {
                KeyPair::generate(Uuid::new_v4().to_string(), DEFAULT_ALGORITHM)
            })
            .await
            .map_err(key_error)?;
            self.store
                .insert_signing_key(&StoredKey {
                    kid: k.kid().to_string(),
                    tenant_id: tenant,
                    algorithm: k.algorithm().name().to_string(),
                    secret: k.secret(),
                    status: "active".into(),
                    insert_instant: now_millis(),
                    expires_instant: None,
                })
                .await?;
            active = self.active_keys(tenant).await?;
        }
        let first = active
            .first()
            .ok_or_else(|| Error::Store("no signing key after creating one".into()))?;
        let k = self.load_key(first).await?;
        self.active
            .write()
            .expect("not poisoned")
            .insert(tenant, (first.kid.clone(), Instant::now()));
        Ok(k)
    }

    /// Rotates the tenant's signing key: a new key (of `algorithm`, else the current key's)
    /// signs from now on; the old one turns `retiring` and stays published until every token it
    /// signed has expired (the longest access-token lifetime of the tenant and its applications,
    /// plus the time other nodes may still hold it as active), then is dropped.
    pub async fn rotate_key(
        &self,
        tenant: Uuid,
        algorithm: Option<Algorithm>,
    ) -> Result<Arc<KeyPair>> {
        let t = self.store.tenant(tenant).await?.ok_or(Error::NotFound)?;
        let mut longest = LoginSettings::of(&t, None).access_ttl_secs;
        for app in self.store.applications(Scope::tenant(tenant)).await? {
            longest = longest.max(LoginSettings::of(&t, Some(&app)).access_ttl_secs);
        }
        let _one_at_a_time = self.create_key.lock().await;
        let old = self.active_keys(tenant).await?;
        let alg = match (algorithm, old.first()) {
            (Some(a), _) => a,
            (None, Some(k)) => Algorithm::parse(&k.algorithm).map_err(key_error)?,
            (None, None) => DEFAULT_ALGORITHM,
        };
        let k =
            tokio::task::spawn_blocking(move || KeyPair::generate(Uuid::new_v4().to_string(), alg))
                .await
                .map_err(key_error)?;
        let now = now_millis();
        let stored = StoredKey {
            kid: k.kid().to_string(),
            tenant_id: tenant,
            algorithm: alg.name().to_string(),
            secret: k.secret(),
            status: "active".into(),
            insert_instant: now,
            expires_instant: None,
        };
        self.store.insert_signing_key(&stored).await?;
        let until = now.saturating_add(
            longest
                .saturating_add(KEY_CACHE.as_secs() as i64)
                .saturating_mul(1000),
        );
        for o in &old {
            self.store.retire_signing_key(&o.kid, until).await?;
        }
        self.store.delete_expired_signing_keys(now).await?;
        let k = self.load_key(&stored).await?;
        self.active
            .write()
            .expect("not poisoned")
            .insert(tenant, (stored.kid.clone(), Instant::now()));
        tracing::info!(tenant = %tenant, kid = %stored.kid, algorithm = alg.name(), retired = old.len(), "signing key rotated");
        Ok(k)
    }

    /// Keys that are published: active ones, and retiring ones until they expire.
    pub(crate) async fn published_keys(&self, tenant: Option<Uuid>) -> Result<Vec<StoredKey>> {
        let now = now_millis();
        let mut keys = self.store.signing_keys(tenant).await?;
        keys.retain(|k| k.status == "active" || k.expires_instant.is_some_and(|e| e > now));
        Ok(keys)
    }

    async fn active_keys(&self, tenant: Uuid) -> Result<Vec<StoredKey>> {
        let mut keys = self.store.signing_keys(Some(tenant)).await?;
        keys.retain(|k| k.status == "active");
        Ok(keys)
    }

    /// The public JWKs of the active and retiring keys of one tenant, or of every tenant
    /// (`/.well-known/jwks.json`).
    pub async fn jwks(&self, tenant: Option<Uuid>) -> Result<Value> {
        let mut out = Vec::new();
        for s in self.published_keys(tenant).await? {
            if let Some(jwk) = self.load_key(&s).await?.public_jwk() {
                out.push(jwk);
            }
        }
        Ok(json!({ "keys": out }))
    }

    // ------------------------------------------------------------ issuing

    /// A signed access token with FusionAuth's claims, and when it expires (epoch millis).
    pub async fn access_token(&self, t: &AccessTokenFor<'_>) -> Result<(String, Millis)> {
        let tenant_id = t.tenant.id.expect("stored");
        let key = self.signing_key(tenant_id).await?;
        let now = now_millis();
        let exp = secs(now).saturating_add(t.settings.access_ttl_secs);
        let app = t.application.and_then(|a| a.id);
        let mut c = Map::new();
        if let Some(a) = app {
            c.insert("aud".into(), json!(a));
        }
        c.insert("exp".into(), json!(exp));
        c.insert("iat".into(), json!(secs(now)));
        c.insert("iss".into(), json!(t.settings.issuer));
        c.insert("sub".into(), json!(t.user.id));
        c.insert("jti".into(), json!(Uuid::new_v4()));
        c.insert("authenticationType".into(), json!(t.authentication_type));
        profile_claims(&mut c, t.user);
        if let Some(a) = app {
            c.insert("applicationId".into(), json!(a));
        }
        if let Some(r) = t.registration {
            c.insert("roles".into(), json!(r.roles));
        }
        c.insert("auth_time".into(), json!(secs(t.auth_time)));
        c.insert("sid".into(), json!(t.session));
        c.insert("tid".into(), json!(tenant_id));
        Ok((key.sign(&c), exp.saturating_mul(1000)))
    }

    /// A signed OpenID Connect ID token (OpenID Connect Core 1.0 §2): who the person is, for the
    /// client that asked, with the request's `nonce`. It lives as long as an access token.
    pub async fn id_token(&self, t: &IdTokenFor<'_>) -> Result<(String, Millis)> {
        let tenant_id = t.tenant.id.expect("stored");
        let key = self.signing_key(tenant_id).await?;
        let now = now_millis();
        let exp = secs(now).saturating_add(t.settings.access_ttl_secs);
        let mut c = Map::new();
        c.insert("iss".into(), json!(t.settings.issuer));
        c.insert("sub".into(), json!(t.user.id));
        c.insert("aud".into(), json!(t.client_id));
        c.insert("exp".into(), json!(exp));
        c.insert("iat".into(), json!(secs(now)));
        c.insert("jti".into(), json!(Uuid::new_v4()));
        c.insert("auth_time".into(), json!(secs(t.auth_time)));
        if let Some(n) = t.nonce {
            c.insert("nonce".into(), json!(n));
        }
        if let Some(at) = t.access_token {
            c.insert("at_hash".into(), json!(half_hash(key.algorithm(), at)));
        }
        if let Some(code) = t.code {
            c.insert("c_hash".into(), json!(half_hash(key.algorithm(), code)));
        }
        if !t.amr.is_empty() {
            c.insert("amr".into(), json!(t.amr));
        }
        profile_claims(&mut c, t.user);
        name_claims(&mut c, t.user);
        c.insert("sid".into(), json!(t.session));
        c.insert("tid".into(), json!(tenant_id));
        Ok((key.sign(&c), exp.saturating_mul(1000)))
    }

    /// An access token for a client acting on its own behalf (the client-credentials grant):
    /// `sub` and `aud` are the client, and no person's claims are in it.
    pub async fn client_token(&self, t: &ClientTokenFor<'_>) -> Result<(String, Millis)> {
        let tenant_id = t.tenant.id.expect("stored");
        let key = self.signing_key(tenant_id).await?;
        let now = now_millis();
        let exp = secs(now).saturating_add(t.settings.access_ttl_secs);
        let mut c = Map::new();
        c.insert("aud".into(), json!(t.client_id));
        c.insert("exp".into(), json!(exp));
        c.insert("iat".into(), json!(secs(now)));
        c.insert("iss".into(), json!(t.settings.issuer));
        c.insert("sub".into(), json!(t.client_id));
        c.insert("jti".into(), json!(Uuid::new_v4()));
        c.insert("authenticationType".into(), json!("CLIENT_CREDENTIALS"));
        c.insert("applicationId".into(), json!(t.client_id));
        if !t.scope.is_empty() {
            c.insert("scope".into(), json!(t.scope));
        }
        c.insert("tid".into(), json!(tenant_id));
        Ok((key.sign(&c), exp.saturating_mul(1000)))
    }

    /// A new refresh token and the row to store for it (the token's SHA-256, never the token).
    pub fn refresh_token(
        &self,
        owner: RefreshTokenFor,
        settings: &LoginSettings,
    ) -> (String, StoredRefreshToken) {
        let token = secrets::new_secret();
        let now = now_millis();
        let row = StoredRefreshToken {
            id: crate::new_id(),
            token_hash: secrets::stored_hash(&token),
            family_id: owner.family,
            tenant_id: owner.tenant,
            user_id: owner.user,
            application_id: owner.application,
            start_instant: owner.start,
            insert_instant: now,
            expires_instant: now.saturating_add(settings.refresh_ttl_millis),
            used_instant: None,
        };
        (token, row)
    }

    /// Signs `claims` with the stored key `kid` (a webhook's `signingKeyId`): HMAC or
    /// asymmetric, whatever the key is. `Invalid` when no such key exists.
    pub async fn sign_with_key(&self, kid: &str, claims: &Map<String, Value>) -> Result<String> {
        let stored = self.store.signing_key(kid).await?.ok_or_else(|| {
            Error::field(
                "signingKeyId",
                "[invalid]signingKeyId",
                "The signing key no longer exists.",
            )
        })?;
        let key = self.load_key(&stored).await?;
        Ok(key.sign(claims))
    }

    // ------------------------------------------------------------ verifying

    /// The claims of a token we signed with a key still published: the signature is good, `exp`
    /// is present and in the future, and `expect`'s issuer, audience and tenant hold. Anything
    /// else is `Unauthorized`, with no detail an attacker could learn from.
    pub async fn verify(&self, token: &str, expect: &Expect<'_>) -> Result<Verified> {
        let kid = portcullis_jwt::key_id(token).ok_or(Error::Unauthorized)?;
        let cached = self
            .keys
            .read()
            .expect("not poisoned")
            .get(&kid)
            .filter(|(_, _, at)| at.elapsed() < KEY_CACHE)
            .map(|(k, t, _)| (k.clone(), *t));
        let (key, tenant) = match cached {
            Some(k) => k,
            None => match self.store.signing_key(&kid).await? {
                Some(s) => (self.load_key(&s).await?, s.tenant_id),
                None => {
                    self.forget_key(&kid);
                    return Err(Error::Unauthorized);
                }
            },
        };
        let claims = key
            .verify(token, secs(now_millis()))
            .map_err(|_| Error::Unauthorized)?;
        let holds = claims.get("exp").is_some_and(Value::is_i64)
            && expect
                .issuer
                .is_none_or(|i| claims.get("iss").and_then(Value::as_str) == Some(i))
            && expect
                .audience
                .is_none_or(|a| audience_holds(claims.get("aud"), a))
            && expect.tenant.is_none_or(|t| t == tenant);
        if !holds {
            return Err(Error::Unauthorized);
        }
        Ok(Verified { claims, tenant })
    }
}

/// Whose refresh token a new one is, and the session it continues.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTokenFor {
    pub tenant: Uuid,
    pub user: Uuid,
    pub application: Uuid,
    /// The session: every token exchanged from the first login's shares it.
    pub family: Uuid,
    /// When the person authenticated.
    pub start: Millis,
}

/// The claims both kinds of token carry about the person.
fn profile_claims(c: &mut Map<String, Value>, user: &User) {
    if let Some(e) = &user.email {
        c.insert("email".into(), json!(e));
        c.insert("email_verified".into(), json!(user.verified));
    }
    if let Some(u) = &user.username {
        c.insert("preferred_username".into(), json!(u));
    }
}

/// The name claims of OpenID Connect's `profile` scope that the user has.
pub fn name_claims(c: &mut Map<String, Value>, user: &User) {
    for (claim, v) in [
        ("name", &user.full_name),
        ("given_name", &user.first_name),
        ("family_name", &user.last_name),
        ("middle_name", &user.middle_name),
    ] {
        if let Some(v) = v {
            c.insert(claim.into(), json!(v));
        }
    }
}

/// OpenID Connect Core §3.1.3.6: the left half of the hash the signing algorithm uses,
/// base64url — SHA-256 for ES256, RS256 and HS256; SHA-512 for EdDSA over Ed25519.
fn half_hash(alg: Algorithm, value: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest: Vec<u8> = match alg {
        Algorithm::EdDSA => sha2::Sha512::digest(value.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(value.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// RFC 7519 §4.1.3: `aud` is one string or an array of strings.
fn audience_holds(aud: Option<&Value>, expected: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_a_string_or_an_array() {
        assert!(audience_holds(Some(&json!("a")), "a"));
        assert!(audience_holds(Some(&json!(["b", "a"])), "a"));
        assert!(!audience_holds(Some(&json!("b")), "a"));
        assert!(!audience_holds(Some(&json!(["b"])), "a"));
        assert!(!audience_holds(None, "a"));
        assert!(!audience_holds(Some(&json!(1)), "1"));
    }
}
