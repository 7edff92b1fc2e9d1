//! Rehash-on-login decisions.

use portcullis_hash::{hash_password, needs_rehash, parse_import, DEFAULT_SCHEME};

#[test]
fn a_default_argon2id_hash_needs_no_rehash() {
    let c = hash_password(DEFAULT_SCHEME, None, b"pw").unwrap();
    assert_eq!(c.scheme, "argon2id");
    assert!(!needs_rehash(&c, "argon2id", 2));
    assert!(
        needs_rehash(&c, "argon2id", 3),
        "a higher t is a stronger target"
    );
}

#[test]
fn weaker_or_other_schemes_need_a_rehash() {
    let md5 = parse_import(
        "salted-md5",
        Some(1),
        Some("c2FsdA=="),
        "ISMvKXpXpadDiUoOSoAfww==",
    )
    .unwrap();
    assert!(needs_rehash(&md5, "argon2id", 2));
    let bcrypt10 = hash_password("bcrypt", Some(10), b"pw").unwrap();
    assert!(needs_rehash(&bcrypt10, "bcrypt", 12));
    assert!(!needs_rehash(&bcrypt10, "bcrypt", 10));
    assert!(needs_rehash(&bcrypt10, "argon2id", 2));
    let weak_argon = parse_import(
        "argon2",
        None,
        None,
        "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$ISMvKXpXpadDiUoOSoAfww",
    )
    .unwrap();
    assert!(needs_rehash(&weak_argon, "argon2id", 2), "m below 19 MiB");
    let argon2i = parse_import(
        "argon2",
        None,
        None,
        "$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$ISMvKXpXpadDiUoOSoAfww",
    )
    .unwrap();
    assert!(
        needs_rehash(&argon2i, "argon2id", 2),
        "argon2i is not the target variant"
    );
    let pbkdf2 = hash_password("salted-pbkdf2-hmac-sha256", Some(27_500), b"pw").unwrap();
    assert!(needs_rehash(&pbkdf2, "salted-pbkdf2-hmac-sha256", 600_000));
    assert!(!needs_rehash(&pbkdf2, "salted-pbkdf2-hmac-sha256", 27_500));
}
