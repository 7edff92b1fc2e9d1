//! The [`Hasher`] trait and the [`Registry`] that maps scheme names to hashers.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::{schemes, Cost, Credential, HashError};

/// One password hash scheme, known by [`Hasher::name`] (the `encryptionScheme` of an import and
/// the `scheme` of a stored [`Credential`]).
///
/// Implementations must not panic (the registry turns a panic into "does not verify", but a
/// panic is still a bug), must compare derived bytes in constant time (`subtle`), and must
/// check imported parameters against limits so a crafted hash cannot exhaust the machine.
pub trait Hasher: Send + Sync {
    /// The scheme name, e.g. `salted-md5` or `django`.
    fn name(&self) -> &str;

    /// Validates import input and returns the credential to store. `factor` and `salt` are
    /// FusionAuth's split fields; self-describing schemes read everything from `password`.
    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError>;

    /// True when `password` matches `credential`. Never panics; false for anything malformed.
    fn verify(&self, credential: &Credential, password: &[u8]) -> bool;

    /// Hashes a new password. Schemes accepted for import only keep this default.
    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let _ = (factor, password);
        Err(HashError::CannotHash(self.name().to_string()))
    }

    /// True when `encoded` looks like this scheme's self-describing string (for `auto`).
    fn detects(&self, encoded: &str) -> bool {
        let _ = encoded;
        false
    }

    /// True when a credential of this scheme is weaker than `target_factor`.
    fn needs_rehash(&self, credential: &Credential, target_factor: u32) -> bool {
        credential.factor < target_factor
    }

    /// What verifying `credential` costs ([`mod@crate::cost`]), or `None` when it does not parse
    /// (it then never verifies, at once) or the scheme has no model. A hasher with no model
    /// is never refused by a cost budget and always runs on the pool's main lane.
    fn cost(&self, credential: &Credential) -> Option<Cost> {
        let _ = credential;
        None
    }

    /// What verifying a password this hasher writes at `factor` (its default when `None`)
    /// costs. An error when it writes no new passwords or `factor` is out of its range: the
    /// check a tenant's `encryptionScheme` and `encryptionSchemeFactor` get on save.
    fn new_hash_cost(&self, factor: Option<u32>) -> Result<Cost, HashError> {
        let _ = factor;
        Err(HashError::CannotHash(self.name().to_string()))
    }
}

/// Scheme names → hashers. [`Registry::with_builtin`] holds every built-in scheme
/// (`docs/hashes.md` lists them).
#[derive(Clone, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<dyn Hasher>>,
    /// Order in which `auto` asks hashers whether they recognise a string.
    detect_order: Vec<Arc<dyn Hasher>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Registry").field("schemes", &names).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every built-in scheme.
    pub fn with_builtin() -> Self {
        let mut registry = Self::new();
        for hasher in schemes::builtin() {
            registry.insert(Arc::from(hasher), false);
        }
        registry
    }

    /// Adds `hasher` under its name, replacing any hasher of the same name, and lets `auto`
    /// ask it first. Returns the hasher it replaced.
    pub fn register(&mut self, hasher: Box<dyn Hasher>) -> Option<Arc<dyn Hasher>> {
        self.insert(Arc::from(hasher), true)
    }

    fn insert(&mut self, hasher: Arc<dyn Hasher>, first: bool) -> Option<Arc<dyn Hasher>> {
        let name = hasher.name().to_string();
        self.detect_order.retain(|h| h.name() != name);
        if first {
            self.detect_order.insert(0, hasher.clone());
        } else {
            self.detect_order.push(hasher.clone());
        }
        self.by_name.insert(name, hasher)
    }

    /// The hasher registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Hasher>> {
        self.by_name.get(name)
    }

    /// Registered scheme names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// See [`crate::hash_password`].
    pub fn hash_password(
        &self,
        scheme: &str,
        factor: Option<u32>,
        password: &[u8],
    ) -> Result<Credential, HashError> {
        let hasher = self
            .get(scheme)
            .ok_or_else(|| HashError::UnknownScheme(scheme.to_string()))?;
        hasher.hash(factor, password)
    }

    /// See [`crate::verify`].
    pub fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Some(hasher) = self.get(&credential.scheme) else {
            return false;
        };
        catch_unwind(AssertUnwindSafe(|| hasher.verify(credential, password))).unwrap_or(false)
    }

    /// See [`crate::parse_import`]. `scheme = "auto"` picks the hasher from the string's prefix.
    pub fn parse_import(
        &self,
        scheme: &str,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let password = password.trim();
        if password.len() > crate::limits::MAX_ENCODED_LEN {
            return Err(HashError::Malformed {
                scheme: scheme.to_string(),
                reason: format!(
                    "the encoded hash is {} bytes long; no supported scheme needs more than {}",
                    password.len(),
                    crate::limits::MAX_ENCODED_LEN
                ),
            });
        }
        let hasher = if scheme == "auto" {
            self.detect_order
                .iter()
                .find(|h| h.detects(password))
                .ok_or_else(|| HashError::Malformed {
                    scheme: "auto".to_string(),
                    reason: "the hash has no recognised prefix (such as $2b$, $argon2id$, \
                             pbkdf2_sha256$, {SSHA}); set encryptionScheme to the scheme name"
                        .to_string(),
                })?
        } else {
            self.get(scheme)
                .ok_or_else(|| HashError::UnknownScheme(scheme.to_string()))?
        };
        match catch_unwind(AssertUnwindSafe(|| {
            hasher.parse_import(factor, salt, password)
        })) {
            Ok(result) => result,
            Err(_) => Err(HashError::Malformed {
                scheme: hasher.name().to_string(),
                reason: "the hasher failed on this input (a bug: please report it)".to_string(),
            }),
        }
    }

    /// See [`mod@crate::cost`].
    pub fn cost(&self, credential: &Credential) -> Option<Cost> {
        let hasher = self.get(&credential.scheme)?;
        catch_unwind(AssertUnwindSafe(|| hasher.cost(credential))).unwrap_or(None)
    }

    /// See [`crate::new_hash_cost`].
    pub fn new_hash_cost(&self, scheme: &str, factor: Option<u32>) -> Result<Cost, HashError> {
        let hasher = self
            .get(scheme)
            .ok_or_else(|| HashError::UnknownScheme(scheme.to_string()))?;
        hasher.new_hash_cost(factor)
    }

    /// See [`crate::needs_rehash`].
    pub fn needs_rehash(
        &self,
        credential: &Credential,
        target_scheme: &str,
        target_factor: u32,
    ) -> bool {
        let same_family = credential.scheme == target_scheme
            || (schemes::is_argon2_name(&credential.scheme)
                && schemes::is_argon2_name(target_scheme));
        if !same_family {
            return true;
        }
        let Some(hasher) = self.get(target_scheme) else {
            return true;
        };
        catch_unwind(AssertUnwindSafe(|| {
            hasher.needs_rehash(credential, target_factor)
        }))
        .unwrap_or(true)
    }
}
