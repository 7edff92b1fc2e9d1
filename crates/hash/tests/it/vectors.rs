//! Known-answer vectors from independent implementations (tests/vectors/generate.py).

use portcullis_hash::{parse_import, verify};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Vector {
    pub scheme: String,
    pub factor: Option<u32>,
    pub salt: Option<String>,
    pub password_hash: String,
    pub right: Option<String>,
    pub right_hex: Option<String>,
    pub wrong: Option<String>,
    pub wrong_hex: Option<String>,
    pub note: String,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

impl Vector {
    pub fn right(&self) -> Vec<u8> {
        match (&self.right, &self.right_hex) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(h)) => hex(h),
            _ => panic!("vector without a right password: {}", self.note),
        }
    }

    pub fn wrong(&self) -> Vec<u8> {
        match (&self.wrong, &self.wrong_hex) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(h)) => hex(h),
            _ => panic!("vector without a wrong password: {}", self.note),
        }
    }
}

pub const FILES: &[(&str, &str)] = &[
    ("fusionauth", include_str!("../vectors/fusionauth.json")),
    ("bcrypt", include_str!("../vectors/bcrypt.json")),
    ("argon2", include_str!("../vectors/argon2.json")),
    ("scrypt", include_str!("../vectors/scrypt.json")),
    ("pbkdf2", include_str!("../vectors/pbkdf2.json")),
    ("django", include_str!("../vectors/django.json")),
    ("crypt", include_str!("../vectors/crypt.json")),
    ("phpass", include_str!("../vectors/phpass.json")),
    ("ldap", include_str!("../vectors/ldap.json")),
    ("aspnet", include_str!("../vectors/aspnet.json")),
    ("firebase", include_str!("../vectors/firebase.json")),
];

pub fn load(file: &str) -> Vec<Vector> {
    let (_, json) = FILES.iter().find(|(name, _)| *name == file).unwrap();
    serde_json::from_str(json).unwrap()
}

fn check_file(file: &str) {
    let vectors = load(file);
    assert!(!vectors.is_empty(), "{file}.json has no vectors");
    for v in &vectors {
        let credential = parse_import(&v.scheme, v.factor, v.salt.as_deref(), &v.password_hash)
            .unwrap_or_else(|e| panic!("{file}: {} did not import: {e}", v.note));
        assert!(
            verify(&credential, &v.right()),
            "{file}: {}: the right password does not verify",
            v.note
        );
        assert!(
            !verify(&credential, &v.wrong()),
            "{file}: {}: a wrong password verifies",
            v.note
        );
    }
}

/// The self-describing vectors must also be recognised by `auto`.
fn check_auto(file: &str) {
    for v in load(file) {
        if v.salt.is_some() || v.scheme.starts_with("salted-") || v.scheme.starts_with("phpass-") {
            continue;
        }
        let credential = parse_import("auto", None, None, &v.password_hash)
            .unwrap_or_else(|e| panic!("{file}: {}: auto did not detect it: {e}", v.note));
        assert!(
            verify(&credential, &v.right()),
            "{file}: {} via auto",
            v.note
        );
    }
}

#[test]
fn fusionauth_split_schemes_verify_hashlib_vectors() {
    check_file("fusionauth");
}

#[test]
fn bcrypt_verifies_php_python_and_published_vectors() {
    check_file("bcrypt");
    check_auto("bcrypt");
}

#[test]
fn argon2_verifies_argon2_cffi_and_php_vectors() {
    check_file("argon2");
    check_auto("argon2");
}

#[test]
fn scrypt_verifies_passlib_and_hashlib_vectors() {
    check_file("scrypt");
    check_auto("scrypt");
}

#[test]
fn pbkdf2_verifies_passlib_and_phc_vectors() {
    check_file("pbkdf2");
    check_auto("pbkdf2");
}

#[test]
fn django_verifies_django_hasher_vectors() {
    check_file("django");
    check_auto("django");
}

#[test]
fn crypt_verifies_passlib_php_and_spec_vectors() {
    check_file("crypt");
    check_auto("crypt");
}

#[test]
fn phpass_verifies_passlib_drupal_and_published_vectors() {
    check_file("phpass");
    check_auto("phpass");
}

#[test]
fn ldap_verifies_passlib_and_slappasswd_vectors() {
    check_file("ldap");
    check_auto("ldap");
}

#[test]
fn aspnet_identity_verifies_v2_and_v3_blobs() {
    check_file("aspnet");
    check_auto("aspnet");
}

#[test]
fn firebase_scrypt_verifies_the_published_example() {
    check_file("firebase");
    check_auto("firebase");
}

#[test]
fn every_mission_scheme_has_vectors() {
    let mut schemes: Vec<String> = FILES
        .iter()
        .flat_map(|(file, _)| load(file))
        .map(|v| v.scheme)
        .collect();
    schemes.sort();
    schemes.dedup();
    for scheme in [
        "salted-md5",
        "salted-sha256",
        "salted-hmac-sha256",
        "salted-pbkdf2-hmac-sha256",
        "salted-pbkdf2-hmac-sha256-512",
        "salted-pbkdf2-hmac-sha512-512",
        "bcrypt",
        "phpass-md5",
        "phpass-sha512",
        "argon2",
        "scrypt",
        "pbkdf2",
        "django",
        "crypt",
        "phpass",
        "ldap",
        "aspnet-identity",
        "firebase-scrypt",
    ] {
        assert!(
            schemes.iter().any(|s| s == scheme),
            "no vector for {scheme}"
        );
    }
}
