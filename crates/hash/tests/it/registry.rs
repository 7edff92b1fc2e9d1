//! Custom schemes through the Hasher trait.

use portcullis_hash::{Credential, HashError, Hasher, Registry};
use subtle_free_compare::eq;

/// A legacy scheme of some team: hex(SHA-256(pepper ‖ password)) with a `legacy:` prefix.
struct LegacySha256Hex;

mod subtle_free_compare {
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn legacy(password: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"pepper")
        .chain_update(password)
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("legacy:{hex}")
}

impl Hasher for LegacySha256Hex {
    fn name(&self) -> &str {
        "legacy-sha256-hex"
    }

    fn parse_import(
        &self,
        _: Option<u32>,
        _: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        if !password.starts_with("legacy:") || password.len() != 7 + 64 {
            return Err(HashError::Malformed {
                scheme: self.name().into(),
                reason: "expected legacy:<64 hex digits>".into(),
            });
        }
        Ok(Credential {
            scheme: self.name().into(),
            factor: 1,
            salt: String::new(),
            hash: password.into(),
        })
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        eq(legacy(password).as_bytes(), credential.hash.as_bytes())
    }

    fn detects(&self, encoded: &str) -> bool {
        encoded.starts_with("legacy:")
    }
}

#[test]
fn a_team_can_add_a_scheme_by_name() {
    let mut registry = Registry::with_builtin();
    assert!(registry.register(Box::new(LegacySha256Hex)).is_none());
    let stored = legacy(b"hunter2");
    let credential = registry
        .parse_import("legacy-sha256-hex", None, None, &stored)
        .unwrap();
    assert!(registry.verify(&credential, b"hunter2"));
    assert!(!registry.verify(&credential, b"hunter3"));
    // `auto` asks custom hashers too.
    assert_eq!(
        registry.parse_import("auto", None, None, &stored).unwrap(),
        credential
    );
    // Built-ins still work in the same registry.
    let bcrypt = registry.hash_password("bcrypt", Some(4), b"pw").unwrap();
    assert!(registry.verify(&bcrypt, b"pw"));
    // A custom scheme cannot hash unless it says so.
    assert!(matches!(
        registry.hash_password("legacy-sha256-hex", None, b"pw"),
        Err(HashError::CannotHash(_))
    ));
    // The crate's free functions use the built-in registry only.
    assert!(matches!(
        portcullis_hash::parse_import("legacy-sha256-hex", None, None, &stored),
        Err(HashError::UnknownScheme(_))
    ));
}

#[test]
fn the_builtin_registry_names_every_scheme() {
    let registry = Registry::with_builtin();
    let names = registry.names();
    for scheme in [
        "argon2",
        "argon2id",
        "bcrypt",
        "scrypt",
        "pbkdf2",
        "django",
        "crypt",
        "phpass",
        "ldap",
        "aspnet-identity",
        "firebase-scrypt",
        "salted-md5",
        "salted-sha256",
        "salted-hmac-sha256",
        "salted-pbkdf2-hmac-sha256",
        "salted-pbkdf2-hmac-sha256-512",
        "salted-pbkdf2-hmac-sha512-512",
        "phpass-md5",
        "phpass-sha512",
    ] {
        assert!(names.contains(&scheme), "{scheme} missing from {names:?}");
    }
}
