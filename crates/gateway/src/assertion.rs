//! The signed identity assertion: a short-lived JWT (EdDSA or ES256) the gateway adds to each
//! request it forwards for a signed-in caller, addressed to the route's upstream (`aud`), so a
//! service can check who is calling without trusting the network. The key is generated at start
//! or read from a PKCS#8 PEM file (so several gateway copies sign alike); its public half is
//! served at `/.well-known/gateway/jwks.json`. The `kid` is derived from the public key, so
//! copies sharing a key file publish the same one.
//!
//! A caller's assertion for an upstream is reused for the first half of its lifetime, so a
//! client sending requests back to back costs one signature per upstream every `ttl / 2`, not
//! one per request; each one still leaves at least half its lifetime to the upstream.

use crate::auth::Caller;
use base64::Engine as _;
use portcullis_jwt::{Algorithm, KeyPair};
use serde_json::{json, Map, Value};
use sha2::Digest as _;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Callers whose assertions are kept at most; past it, expired ones are dropped, then all.
const MAX_KEPT: usize = 50_000;

/// An assertion kept for reuse: the upstream it is for, the token, until when it is reused.
struct Kept {
    audience: String,
    token: String,
    reuse_until: i64,
}

pub struct Signer {
    key: KeyPair,
    issuer: String,
    ttl: Duration,
    /// By the caller's `auth::token_key`.
    kept: Mutex<HashMap<[u8; 32], Vec<Kept>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({:?})", self.key)
    }
}

/// The key with a `kid` of its own public half's SHA-256.
fn with_derived_kid(k: &KeyPair) -> Result<KeyPair, String> {
    let jwk = k
        .public_jwk()
        .ok_or("an assertion key must be asymmetric")?;
    let material = format!(
        "{}{}{}",
        jwk["crv"].as_str().unwrap_or(""),
        jwk["x"].as_str().unwrap_or(""),
        jwk["y"].as_str().unwrap_or("")
    );
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&sha2::Sha256::digest(material.as_bytes())[..16]);
    KeyPair::from_parts(kid, k.algorithm(), &k.secret()).map_err(|e| e.to_string())
}

impl Signer {
    pub fn new(id: &crate::config::Identity) -> Result<Signer, String> {
        let key = match &id.assertion_key_file {
            None => KeyPair::generate(String::new(), id.assertion_algorithm),
            Some(path) => read_pem(path, id.assertion_algorithm)?,
        };
        Ok(Signer {
            key: with_derived_kid(&key)?,
            issuer: id.assertion_issuer.clone(),
            ttl: id.assertion_ttl,
            kept: Mutex::default(),
        })
    }

    /// The assertion for the caller of token `key` on its way to `audience`: a kept one while
    /// it is in the first half of its lifetime, else a new one.
    pub fn assertion(&self, key: &[u8; 32], caller: &Caller, audience: &str) -> String {
        let now = now_secs();
        let half = self.ttl.as_secs() as i64 / 2;
        if half == 0 {
            return self.sign(caller, audience, now);
        }
        {
            let kept = self.kept.lock().expect("not poisoned");
            if let Some(k) = kept
                .get(key)
                .and_then(|ks| ks.iter().find(|k| k.audience == audience))
            {
                if now < k.reuse_until {
                    return k.token.clone();
                }
            }
        }
        let token = self.sign(caller, audience, now);
        let mut kept = self.kept.lock().expect("not poisoned");
        if kept.len() >= MAX_KEPT {
            kept.retain(|_, ks| ks.iter().any(|k| now < k.reuse_until));
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
        }
        let ks = kept.entry(*key).or_default();
        ks.retain(|k| k.audience != audience && now < k.reuse_until);
        ks.push(Kept {
            audience: audience.to_string(),
            token: token.clone(),
            reuse_until: now + half,
        });
        token
    }

    /// A new assertion for `caller` on its way to `audience` (the upstream's URL).
    pub fn sign(&self, caller: &Caller, audience: &str, now: i64) -> String {
        let mut c = Map::new();
        c.insert("iss".into(), json!(self.issuer));
        c.insert("aud".into(), json!(audience));
        c.insert("sub".into(), json!(caller.sub));
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(now + self.ttl.as_secs() as i64));
        c.insert("jti".into(), json!(uuid::Uuid::new_v4()));
        c.insert("roles".into(), json!(caller.roles));
        for claim in [
            "email",
            "email_verified",
            "preferred_username",
            "tid",
            "applicationId",
        ] {
            if let Some(v) = caller.claims.get(claim) {
                c.insert(claim.into(), v.clone());
            }
        }
        self.key.sign(&c)
    }

    /// `{"keys": [the public JWK]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public_jwk().expect("asymmetric")] })
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`), e.g. from
/// `openssl genpkey -algorithm ed25519`.
fn read_pem(path: &Path, alg: Algorithm) -> Result<KeyPair, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the assertion key {}: {e}", path.display()))?;
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(format!(
            "the assertion key {} is not a PKCS#8 PEM private key",
            path.display()
        ));
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    KeyPair::from_parts(String::new(), alg, &body).map_err(|e| {
        format!(
            "the assertion key {} is not an {} key: {e}",
            path.display(),
            alg.name()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(file: Option<std::path::PathBuf>, alg: Algorithm) -> crate::config::Identity {
        crate::config::Identity {
            headers: vec![],
            assertion_header: Some("x-portcullis-assertion".into()),
            assertion_key_file: file,
            assertion_algorithm: alg,
            assertion_issuer: "gw".into(),
            assertion_ttl: Duration::from_secs(30),
        }
    }

    #[test]
    fn assertions_verify_with_the_published_key() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256] {
            let s = Signer::new(&identity(None, alg)).unwrap();
            let jwk = &s.jwks()["keys"][0];
            let public = portcullis_jwt::PublicKey::from_jwk(jwk).unwrap();
            let caller = Caller {
                claims: serde_json::from_value(json!({"email": "a@b.c", "sub": "u"})).unwrap(),
                sub: "u".into(),
                roles: vec!["admin".into()],
                audiences: vec![],
            };
            let t = s.assertion(&[1; 32], &caller, "http://127.0.0.1:3001");
            assert_eq!(t, s.assertion(&[1; 32], &caller, "http://127.0.0.1:3001"));
            assert_ne!(t, s.assertion(&[2; 32], &caller, "http://127.0.0.1:3001"));
            assert_ne!(t, s.assertion(&[1; 32], &caller, "http://127.0.0.1:3002"));
            assert_eq!(portcullis_jwt::key_id(&t).as_deref(), jwk["kid"].as_str());
            let c = public.verify(&t).unwrap();
            assert_eq!(c["aud"], "http://127.0.0.1:3001");
            assert_eq!(c["email"], "a@b.c");
            assert_eq!(c["roles"], json!(["admin"]));
            let ttl = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
            assert!(ttl > 0 && ttl <= 60);
        }
    }

    #[test]
    fn a_key_file_gives_every_copy_the_same_kid() {
        let k = KeyPair::generate("x".into(), Algorithm::EdDSA);
        let dir = std::env::temp_dir().join(format!("gw-key-{}", uuid::Uuid::new_v4()));
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            k.secret()
        );
        std::fs::write(&dir, pem).unwrap();
        let a = Signer::new(&identity(Some(dir.clone()), Algorithm::EdDSA)).unwrap();
        let b = Signer::new(&identity(Some(dir.clone()), Algorithm::EdDSA)).unwrap();
        assert_eq!(a.jwks(), b.jwks());
        assert!(Signer::new(&identity(Some(dir.clone()), Algorithm::ES256)).is_err());
        std::fs::remove_file(dir).unwrap();
    }
}
