//! For every scheme that can hash: verify(hash(p), p) and not verify(hash(p), q), and our own
//! output imports back unchanged. Low factors keep slow schemes fast.

use portcullis_hash::{hash_password, parse_import, verify, Credential};
use proptest::prelude::*;

/// Schemes we write, each with a low factor for the tests.
pub const WRITABLE: &[(&str, Option<u32>)] = &[
    ("argon2id", Some(1)),
    ("bcrypt", Some(4)),
    ("scrypt", Some(4)),
    ("pbkdf2", Some(10)),
    ("salted-md5", Some(3)),
    ("salted-sha256", Some(2)),
    ("salted-hmac-sha256", None),
    ("salted-pbkdf2-hmac-sha256", Some(10)),
    ("salted-pbkdf2-hmac-sha256-512", Some(10)),
    ("salted-pbkdf2-hmac-sha512-512", Some(10)),
];

fn reimport(c: &Credential) -> Credential {
    let salt = (!c.salt.is_empty()).then_some(c.salt.as_str());
    parse_import(&c.scheme, Some(c.factor), salt, &c.hash)
        .unwrap_or_else(|e| panic!("{}: our own hash does not import: {e}", c.scheme))
}

/// bcrypt sees passwords as C strings cut at 72 bytes, so the property holds for passwords
/// without NUL bytes that differ within their first 72 bytes.
fn password() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..72)
}

fn check(scheme: &str, factor: Option<u32>, p: &[u8], q: &[u8]) -> Result<(), TestCaseError> {
    let credential = hash_password(scheme, factor, p).unwrap();
    prop_assert_eq!(&credential.scheme, scheme);
    prop_assert!(
        verify(&credential, p),
        "{} does not verify its own hash",
        scheme
    );
    prop_assert!(
        !verify(&credential, q),
        "{} verifies another password",
        scheme
    );
    prop_assert_eq!(&reimport(&credential), &credential);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn every_writable_scheme_verifies_its_hash_and_nothing_else(p in password(), q in password()) {
        prop_assume!(p != q);
        for (scheme, factor) in WRITABLE {
            check(scheme, *factor, &p, &q)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fast_schemes_verify_their_hash_and_nothing_else(
        p in prop::collection::vec(any::<u8>(), 0..200),
        q in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        prop_assume!(p != q);
        for scheme in ["salted-md5", "salted-sha256", "salted-hmac-sha256", "salted-pbkdf2-hmac-sha256"] {
            check(scheme, Some(1), &p, &q)?;
        }
    }

    #[test]
    fn parse_import_never_panics(
        scheme in prop::sample::select(vec![
            "auto", "bcrypt", "argon2", "argon2id", "scrypt", "pbkdf2", "django", "crypt", "phpass",
            "ldap", "aspnet-identity", "firebase-scrypt", "salted-md5", "salted-sha256",
            "salted-hmac-sha256", "salted-pbkdf2-hmac-sha256", "salted-pbkdf2-hmac-sha256-512",
            "salted-pbkdf2-hmac-sha512-512", "phpass-md5", "phpass-sha512",
        ]),
        prefix in prop::sample::select(vec![
            "", "$2a$", "$2b$05$", "$argon2id$v=19$", "$scrypt$ln=", "$pbkdf2-sha256$", "$pbkdf2$",
            "pbkdf2_sha256$", "argon2$argon2id$", "bcrypt_sha256$$2b$", "scrypt$", "$1$", "$5$rounds=",
            "$6$", "$P$", "$S$", "{SSHA}", "{CRYPT}$6$", "{ARGON2}$argon2i$", "AQAAAA", "$firebase-scrypt$m=",
        ]),
        body in "[ -~]{0,120}",
        factor in prop::option::of(any::<u32>()),
        salt in prop::option::of("[ -~]{0,30}"),
    ) {
        let encoded = format!("{prefix}{body}");
        if let Ok(credential) = parse_import(scheme, factor, salt.as_deref(), &encoded) {
            let _ = verify(&credential, b"password");
        }
    }

    #[test]
    fn verify_never_panics_on_any_credential(
        scheme in prop::sample::select(vec![
            "bcrypt", "argon2", "argon2id", "scrypt", "pbkdf2", "django", "crypt", "phpass", "ldap",
            "aspnet-identity", "firebase-scrypt", "salted-md5", "salted-sha256", "salted-hmac-sha256",
            "salted-pbkdf2-hmac-sha256", "phpass-md5", "phpass-sha512", "nonsense",
        ]),
        factor in prop_oneof![Just(0u32), Just(1), Just(31), Just(u32::MAX), 0u32..100],
        salt in "\\PC{0,30}",
        hash in "\\PC{0,100}",
        password in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let credential = Credential { scheme: scheme.to_string(), factor, salt, hash };
        let _ = verify(&credential, &password);
    }
}
