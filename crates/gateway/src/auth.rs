//! Bearer tokens: Portcullis' access tokens verified against the keys it publishes.
//!
//! The issuer comes from Portcullis' discovery document (the configured tenant's, or the default
//! tenant's), the keys from its JWKS (`/.well-known/jwks.json`). Both are cached; a token whose
//! `kid` is unknown triggers one refetch, and refetches happen at most once per
//! `jwks_refetch_interval`, so a stream of tokens with made-up `kid`s costs Portcullis nothing.
//! A token passes when a published key of its header's algorithm verifies its signature (no
//! `none`, no HS256 over a public key: `portcullis_jwt::PublicKey`), its `iss` is the issuer, its
//! `aud` one of the gateway's applications, its `tid` the configured tenant, and `exp`/`nbf` hold
//! within the clock skew.
//!
//! A token that passed is remembered (by its SHA-256, never the token itself) until it expires, so
//! a client sending the same token on every request costs one signature check, not one per
//! request. A remembered token still stops passing at its `exp`, and as soon as its key is no
//! longer published.

use portcullis_jwt::PublicKey;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Keys older than this are refetched in the background on the next request, so a key that
/// Portcullis stopped publishing stops verifying here too.
const MAX_KEY_AGE: Duration = Duration::from_secs(300);

/// Tokens remembered at most; past it, expired ones are dropped, then all.
const MAX_REMEMBERED: usize = 50_000;

/// The key a token is remembered under.
pub fn token_key(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A token that passed, with what its later uses are checked against.
struct Remembered {
    caller: Arc<Caller>,
    kid: String,
    /// `exp` plus the clock skew.
    until: i64,
    /// `nbf` minus the clock skew.
    from: i64,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Map<String, Value>,
    pub sub: String,
    /// The roles of the token's application.
    pub roles: Vec<String>,
    /// The token's `aud` values.
    pub audiences: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The token is not one we accept: 401.
    Invalid,
    /// Portcullis' keys or issuer could not be read: 503.
    Unavailable,
}

#[derive(Default)]
struct Keys {
    issuer: Option<String>,
    keys: HashMap<String, Arc<PublicKey>>,
    fetched: Option<Instant>,
}

/// Checks bearer tokens. Cheap to share behind an `Arc`.
pub struct Verifier {
    http: reqwest::Client,
    base: String,
    tenant: Option<Uuid>,
    issuer: Option<String>,
    audiences: Vec<String>,
    skew: i64,
    refetch_interval: Duration,
    keys: RwLock<Keys>,
    remembered: RwLock<HashMap<[u8; 32], Remembered>>,
    /// When a fetch last started; held while one runs, so callers wait for it instead of
    /// starting their own.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Verifier {
    pub fn new(c: &crate::config::Config) -> Verifier {
        Verifier {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a plain HTTP client builds"),
            base: c.portcullis.clone(),
            tenant: c.tenant_id,
            issuer: c.issuer.clone(),
            audiences: c.audiences.clone(),
            skew: c.clock_skew.as_secs() as i64,
            refetch_interval: c.jwks_refetch_interval,
            keys: Default::default(),
            remembered: Default::default(),
            last_fetch: Default::default(),
        }
    }

    /// The client Portcullis is called with (its token endpoint, for browser sessions).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Portcullis' base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reads the issuer and keys now (at start-up); the error says why not.
    pub async fn fetch(&self) -> Result<usize, String> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<usize, String> {
        let issuer = match &self.issuer {
            Some(i) => i.clone(),
            None => {
                let url = match self.tenant {
                    Some(t) => format!("{}/.well-known/openid-configuration/{t}", self.base),
                    None => format!("{}/.well-known/openid-configuration", self.base),
                };
                let doc: Value = self.get_json(&url).await?;
                doc.get("issuer")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{url} names no issuer"))?
                    .to_string()
            }
        };
        let url = format!("{}/.well-known/jwks.json", self.base);
        let jwks = self.get_json(&url).await?;
        let mut keys = HashMap::new();
        for jwk in jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{url} is not a JWK set"))?
        {
            match PublicKey::from_jwk(jwk) {
                Ok(k) => {
                    if let Some(kid) = k.kid() {
                        keys.insert(kid.to_string(), Arc::new(k));
                    }
                }
                Err(e) => tracing::debug!(error = %e, "a published key is skipped"),
            }
        }
        let n = keys.len();
        *self.keys.write().expect("not poisoned") = Keys {
            issuer: Some(issuer),
            keys,
            fetched: Some(Instant::now()),
        };
        tracing::info!(keys = n, "Portcullis' signing keys fetched");
        Ok(n)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url} answered {}", r.status()));
        }
        r.json().await.map_err(|e| format!("{url}: {e}"))
    }

    /// Fetches unless a fetch started within the refetch interval; waits for a running one.
    async fn refetch(&self) {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.refetch_interval) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch_locked().await {
            tracing::warn!(error = %e, "Portcullis' signing keys could not be fetched");
        }
    }

    fn lookup(&self, kid: &str) -> (Option<String>, Option<Arc<PublicKey>>, bool) {
        let k = self.keys.read().expect("not poisoned");
        let stale = k.fetched.is_none_or(|t| t.elapsed() > MAX_KEY_AGE);
        (k.issuer.clone(), k.keys.get(kid).cloned(), stale)
    }

    /// The caller a bearer token names, when it passes every check.
    pub async fn verify(self: &Arc<Self>, token: &str) -> Result<Arc<Caller>, AuthError> {
        self.verify_keyed(token, &token_key(token)).await
    }

    /// `verify` with the token's `token_key` already computed.
    pub async fn verify_keyed(
        self: &Arc<Self>,
        token: &str,
        key: &[u8; 32],
    ) -> Result<Arc<Caller>, AuthError> {
        let now = now_secs();
        if let Some(caller) = self.recall(key, now) {
            return Ok(caller);
        }
        let kid = portcullis_jwt::key_id(token).ok_or(AuthError::Invalid)?;
        let (mut issuer, mut public, stale) = self.lookup(&kid);
        if public.is_none() || issuer.is_none() {
            self.refetch().await;
            (issuer, public, _) = self.lookup(&kid);
        } else if stale {
            self.refetch_later();
        }
        let Some(issuer) = issuer else {
            return Err(AuthError::Unavailable);
        };
        let public = public.ok_or(AuthError::Invalid)?;
        let claims = public.verify(token).map_err(|_| AuthError::Invalid)?;
        let caller = Arc::new(self.check(claims, &issuer, now)?);
        self.remember(*key, kid, &caller, now);
        Ok(caller)
    }

    /// A remembered caller whose token still holds now and whose key is still published.
    fn recall(self: &Arc<Self>, key: &[u8; 32], now: i64) -> Option<Arc<Caller>> {
        let remembered = self.remembered.read().expect("not poisoned");
        let r = remembered.get(key)?;
        if now >= r.until || now < r.from {
            return None;
        }
        let stale = {
            let keys = self.keys.read().expect("not poisoned");
            if !keys.keys.contains_key(&r.kid) {
                return None;
            }
            keys.fetched.is_none_or(|t| t.elapsed() > MAX_KEY_AGE)
        };
        let caller = r.caller.clone();
        drop(remembered);
        if stale {
            self.refetch_later();
        }
        Some(caller)
    }

    fn remember(&self, key: [u8; 32], kid: String, caller: &Arc<Caller>, now: i64) {
        let Some(exp) = caller.claims.get("exp").and_then(Value::as_i64) else {
            return;
        };
        let nbf = caller
            .claims
            .get("nbf")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MIN);
        let mut remembered = self.remembered.write().expect("not poisoned");
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, r| r.until > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(
            key,
            Remembered {
                caller: caller.clone(),
                kid,
                until: exp.saturating_add(self.skew),
                from: nbf.saturating_sub(self.skew),
            },
        );
    }

    fn refetch_later(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move { me.refetch().await });
    }

    fn check(
        &self,
        claims: Map<String, Value>,
        issuer: &str,
        now: i64,
    ) -> Result<Caller, AuthError> {
        let exp = claims.get("exp").and_then(Value::as_i64);
        let nbf = claims.get("nbf").map(Value::as_i64);
        let audiences: Vec<String> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let holds = exp.is_some_and(|e| now < e.saturating_add(self.skew))
            && match nbf {
                None => true,
                Some(Some(n)) => n <= now.saturating_add(self.skew),
                Some(None) => false,
            }
            && claims.get("iss").and_then(Value::as_str) == Some(issuer)
            && audiences.iter().any(|a| self.audiences.contains(a))
            && self.tenant.is_none_or(|t| {
                claims.get("tid").and_then(Value::as_str) == Some(t.to_string().as_str())
            });
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(sub) = sub.filter(|_| holds) else {
            return Err(AuthError::Invalid);
        };
        let roles = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Caller {
            claims,
            sub,
            roles,
            audiences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verifier(tenant: Option<Uuid>) -> Verifier {
        let c = crate::config::Config::parse(
            "portcullis = \"http://127.0.0.1:9\"\naudiences = [\"app\"]\n",
            &|_| None,
        )
        .unwrap();
        let mut v = Verifier::new(&c);
        v.tenant = tenant;
        v
    }

    fn claims(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { unreachable!() };
        m
    }

    #[test]
    fn claims_are_checked_with_skew() {
        let v = verifier(None);
        let ok = json!({"iss": "i", "aud": "app", "sub": "u", "exp": 1000, "roles": ["a"]});
        let c = v.check(claims(ok.clone()), "i", 990).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.roles.as_slice()),
            ("u", ["a".to_string()].as_slice())
        );
        // 30 s of skew either way.
        assert!(v.check(claims(ok.clone()), "i", 1029).is_ok());
        assert!(v.check(claims(ok.clone()), "i", 1030).is_err());
        let mut nbf = ok.clone();
        nbf["nbf"] = json!(1000);
        assert!(v.check(claims(nbf.clone()), "i", 975).is_ok());
        assert!(v.check(claims(nbf), "i", 960).is_err());
        for (k, bad) in [
            ("iss", json!("other")),
            ("aud", json!("other-app")),
            ("aud", json!(["x", "y"])),
            ("exp", json!("1000")),
            ("sub", json!(null)),
            ("nbf", json!("soon")),
        ] {
            let mut c = ok.clone();
            c[k] = bad;
            assert!(v.check(claims(c), "i", 990).is_err(), "{k}");
        }
        let mut arr = ok.clone();
        arr["aud"] = json!(["x", "app"]);
        assert!(v.check(claims(arr), "i", 990).is_ok());
    }

    #[test]
    fn the_tenant_is_checked_when_configured() {
        let t = Uuid::new_v4();
        let v = verifier(Some(t));
        let mut c =
            json!({"iss": "i", "aud": "app", "sub": "u", "exp": 1000, "tid": t.to_string()});
        assert!(v.check(claims(c.clone()), "i", 990).is_ok());
        c["tid"] = json!(Uuid::new_v4().to_string());
        assert!(v.check(claims(c), "i", 990).is_err());
    }

    #[tokio::test]
    async fn refetches_are_spaced() {
        let mut v = verifier(None);
        v.refetch_interval = Duration::from_secs(60);
        let v = Arc::new(v);
        // Nothing listens on port 9: each real attempt fails; only the first is made.
        let t = Instant::now();
        v.refetch().await;
        let first = *v.last_fetch.lock().await;
        v.refetch().await;
        assert_eq!(*v.last_fetch.lock().await, first);
        assert!(t.elapsed() < Duration::from_secs(5));
        let token = portcullis_jwt::KeyPair::generate("k".into(), portcullis_jwt::Algorithm::EdDSA)
            .sign(&claims(json!({"sub": "u"})));
        assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::Unavailable);
    }

    #[tokio::test]
    async fn a_remembered_token_stops_passing_at_its_expiry_and_when_its_key_goes() {
        let mut v = verifier(None);
        v.refetch_interval = Duration::from_secs(60);
        let pair = portcullis_jwt::KeyPair::generate("k".into(), portcullis_jwt::Algorithm::EdDSA);
        let public = PublicKey::from_jwk(&pair.public_jwk().unwrap()).unwrap();
        *v.keys.write().unwrap() = Keys {
            issuer: Some("i".into()),
            keys: HashMap::from([("k".to_string(), Arc::new(public))]),
            fetched: Some(Instant::now()),
        };
        let v = Arc::new(v);
        let exp = now_secs() + 600;
        let token = pair.sign(&claims(
            json!({"iss": "i", "aud": "app", "sub": "u", "exp": exp}),
        ));
        let key = token_key(&token);
        assert_eq!(v.verify(&token).await.unwrap().sub, "u");
        assert!(v.recall(&key, now_secs()).is_some());
        // 30 s of skew past `exp`, then no more.
        assert!(v.recall(&key, exp + 29).is_some());
        assert!(v.recall(&key, exp + 30).is_none());
        // A forged token never matches a remembered one.
        let mut forged = token.clone();
        forged.push('A');
        assert_eq!(v.verify(&forged).await.unwrap_err(), AuthError::Invalid);
        // Portcullis stops publishing the key: the remembered token fails at once.
        v.keys.write().unwrap().keys.clear();
        assert!(v.recall(&key, now_secs()).is_none());
        assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::Invalid);
    }
}
