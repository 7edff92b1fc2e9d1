//! Malformed and hostile input: errors that say what is wrong, never a panic, never a match.

use portcullis_hash::{hash_password, parse_import, verify, Credential, HashError};

use crate::vectors::{load, FILES};

fn too_large(result: Result<Credential, HashError>) -> (&'static str, u64) {
    match result {
        Err(HashError::ParameterTooLarge {
            parameter, limit, ..
        }) => (parameter, limit),
        other => panic!("expected ParameterTooLarge, got {other:?}"),
    }
}

fn malformed(result: Result<Credential, HashError>) -> String {
    match result {
        Err(e @ HashError::Malformed { .. }) => e.to_string(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn truncated_vectors_never_panic_and_never_verify() {
    for (file, _) in FILES {
        for v in load(file) {
            let full = &v.password_hash;
            for cut in 0..full.len() {
                let truncated = &full[..cut];
                let Ok(credential) =
                    parse_import(&v.scheme, v.factor, v.salt.as_deref(), truncated)
                else {
                    continue;
                };
                // Formats with a variable output length (PHC, Django, ASP.NET V3) stay valid when
                // the hash field loses characters: the shorter key is a prefix of the longer one.
                let only_padding_dropped = full[cut..].bytes().all(|b| b == b'=');
                let variable_length = matches!(
                    v.scheme.as_str(),
                    "argon2" | "scrypt" | "pbkdf2" | "django" | "aspnet-identity"
                );
                let inside_hash_field =
                    !full[cut..].contains('$') && cut > full.rfind('$').unwrap_or(0) + 4;
                assert!(
                    only_padding_dropped
                        || (variable_length && inside_hash_field)
                        || !verify(&credential, &v.right()),
                    "{file}: {}: truncated to {cut} characters still verifies",
                    v.note
                );
            }
        }
    }
}

#[test]
fn bad_base64_is_a_malformed_error() {
    let reason = malformed(parse_import(
        "salted-md5",
        Some(1),
        Some("c2FsdA=="),
        "not base64!!",
    ));
    assert!(reason.contains("base64"), "{reason}");
    malformed(parse_import(
        "salted-md5",
        Some(1),
        Some("%%%"),
        "ISMvKXpXpadDiUoOSoAfww==",
    ));
    malformed(parse_import("ldap", None, None, "{SSHA}@@@@"));
    malformed(parse_import("aspnet-identity", None, None, "AQAAAA%%"));
    malformed(parse_import(
        "bcrypt",
        None,
        None,
        "$2b$10$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ));
}

#[test]
fn wrong_lengths_are_malformed_errors() {
    // An MD5 is 16 bytes; this is 15.
    let reason = malformed(parse_import(
        "salted-md5",
        Some(1),
        Some("c2FsdA=="),
        "AAAAAAAAAAAAAAAAAAAA",
    ));
    assert!(reason.contains("16"), "{reason}");
    malformed(parse_import(
        "salted-pbkdf2-hmac-sha256-512",
        Some(1000),
        Some("c2FsdA=="),
        "ISMvKXpXpadDiUoOSoAfww==",
    ));
    malformed(parse_import("bcrypt", Some(10), Some("tooshort"), "x"));
    malformed(parse_import("bcrypt", None, None, "$2b$10$short"));
    malformed(parse_import("phpass", None, None, "$P$Babcdefgh"));
    malformed(parse_import("crypt", None, None, "$6$salt$tooshort"));
    malformed(parse_import("ldap", None, None, "{SHA}AAAA"));
    malformed(parse_import("aspnet-identity", None, None, "AAAA"));
}

#[test]
fn absurd_parameters_name_the_limit() {
    assert_eq!(
        too_large(parse_import(
            "bcrypt",
            None,
            None,
            "$2b$17$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        )),
        ("cost", 16)
    );
    assert_eq!(
        too_large(parse_import(
            "bcrypt",
            Some(31),
            Some("abcdefghijklmnopqrstuu"),
            "abcdefghijklmnopqrstuvwxyz01234"
        )),
        ("cost", 16)
    );
    assert_eq!(
        too_large(parse_import(
            "salted-pbkdf2-hmac-sha256",
            Some(10_000_001),
            Some("c2FsdA=="),
            "ISMvKXpXpadDiUoOSoAfwyISMvKXpXpadDiUoOSoAfww="
        )),
        ("iterations", 10_000_000)
    );
    assert_eq!(
        too_large(parse_import(
            "salted-md5",
            Some(u32::MAX),
            Some("c2FsdA=="),
            "ISMvKXpXpadDiUoOSoAfww=="
        )),
        ("iterations", 10_000_000)
    );
    assert_eq!(
        too_large(parse_import(
            "pbkdf2",
            None,
            None,
            "$pbkdf2-sha256$99999999$c2FsdA$ISMvKXpXpadDiUoOSoAfww"
        )),
        ("iterations", 10_000_000)
    );
    assert_eq!(
        too_large(parse_import(
            "django",
            None,
            None,
            "pbkdf2_sha256$20000000$salt$ISMvKXpXpadDiUoOSoAfww=="
        )),
        ("iterations", 10_000_000)
    );
    assert_eq!(
        too_large(parse_import(
            "scrypt",
            None,
            None,
            "$scrypt$ln=21,r=8,p=1$c2FsdA$ISMvKXpXpadDiUoOSoAfww"
        )),
        ("ln (log2 N)", 20)
    );
    assert_eq!(
        too_large(parse_import(
            "scrypt",
            None,
            None,
            "$scrypt$ln=20,r=16,p=1$c2FsdA$ISMvKXpXpadDiUoOSoAfww"
        )),
        ("N*r*p", 1 << 23)
    );
    assert_eq!(
        too_large(parse_import(
            "argon2",
            None,
            None,
            "$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHQ$ISMvKXpXpadDiUoOSoAfww"
        )),
        ("m (memory KiB)", 1 << 20)
    );
    assert_eq!(
        too_large(parse_import(
            "argon2",
            None,
            None,
            "$argon2id$v=19$m=65536,t=1000,p=1$c2FsdHNhbHQ$ISMvKXpXpadDiUoOSoAfww"
        )),
        ("t (passes)", 64)
    );
    assert_eq!(too_large(parse_import("crypt", None, None, "$6$rounds=999999999$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), ("rounds", 10_000_000));
    assert_eq!(
        too_large(parse_import(
            "phpass",
            None,
            None,
            "$P$Uabcdefgh0123456789012345678901"
        )),
        ("loop count", 1 << 23)
    );
    assert_eq!(
        too_large(parse_import(
            "firebase-scrypt",
            None,
            None,
            "$firebase-scrypt$m=30,r=8,ss=Bw==,sk=AAAA$AAAA$AAAA"
        )),
        ("ln (log2 N)", 20)
    );
    let message = parse_import(
        "bcrypt",
        None,
        None,
        "$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("limit of 16") && message.contains("cost"),
        "{message}"
    );
}

#[test]
fn unknown_schemes_and_prefixes_say_what_to_do() {
    let e = parse_import("sha3-legacy", None, None, "abc").unwrap_err();
    assert!(matches!(e, HashError::UnknownScheme(_)));
    assert!(e.to_string().contains("auto"), "{e}");
    let e = parse_import("auto", None, None, "plaintext?").unwrap_err();
    assert!(e.to_string().contains("encryptionScheme"), "{e}");
    let e = parse_import("crypt", None, None, "abJnggxhB/yWI").unwrap_err();
    assert!(matches!(e, HashError::Unsupported { .. }), "{e:?}");
    let e = parse_import("ldap", None, None, "{PBKDF2}whatever").unwrap_err();
    assert!(matches!(e, HashError::Unsupported { .. }), "{e:?}");
    let e = hash_password("phpass", None, b"pw").unwrap_err();
    assert!(matches!(e, HashError::CannotHash(_)), "{e:?}");
}

#[test]
fn non_ascii_hashes_are_errors_not_panics() {
    for scheme in [
        "bcrypt",
        "argon2",
        "scrypt",
        "pbkdf2",
        "django",
        "crypt",
        "phpass",
        "ldap",
        "aspnet-identity",
        "firebase-scrypt",
        "auto",
    ] {
        for s in [
            "$2b$10$ééééééééééééééééééééééééééééééééééééééééééééééééééééé",
            "{SSHA}é",
            "$P$Bé",
            "pbkdf2_sha256$1$é$é",
            "é",
        ] {
            assert!(
                parse_import(scheme, None, None, s).is_err(),
                "{scheme} accepted {s}"
            );
        }
    }
    assert!(parse_import(
        "phpass-md5",
        Some(8192),
        Some("ééééé"),
        "abcdefghijklmnopqrstuv"
    )
    .is_err());
}

#[test]
fn non_utf8_and_empty_passwords_hash_and_verify() {
    for (scheme, factor) in crate::properties::WRITABLE {
        for password in [&b""[..], &[0xff, 0xfe, 0x80][..], &[0xc3, 0x28][..]] {
            let credential = hash_password(scheme, *factor, password).unwrap();
            assert!(verify(&credential, password), "{scheme} {password:?}");
            assert!(
                !verify(&credential, b"something else"),
                "{scheme} {password:?}"
            );
        }
    }
}

#[test]
fn a_credential_that_does_not_parse_never_verifies() {
    for scheme in [
        "bcrypt",
        "argon2id",
        "scrypt",
        "pbkdf2",
        "salted-md5",
        "ldap",
        "unknown",
    ] {
        let credential = Credential {
            scheme: scheme.into(),
            factor: 1,
            salt: String::new(),
            hash: String::new(),
        };
        assert!(!verify(&credential, b""));
        assert!(!verify(&credential, b"password"));
    }
}

#[test]
fn bcrypt_uses_only_the_first_72_bytes_like_the_original() {
    let long = [b'a'; 80];
    let credential = hash_password("bcrypt", Some(4), &long).unwrap();
    assert!(verify(&credential, &long));
    let mut other_tail = long[..72].to_vec();
    other_tail.extend_from_slice(b"something else entirely");
    assert!(
        verify(&credential, &other_tail),
        "bytes after 72 are ignored, as in OpenBSD and PHP"
    );
    assert!(!verify(&credential, &long[..71]));
}

#[test]
fn bcrypt_2x_never_verifies_8_bit_passwords() {
    // $2x$ marks crypt_blowfish's sign-extension bug, which we do not reproduce.
    let ascii = "$2x$05$abcdefghijklmnopqrstuu";
    let c = parse_import(
        "bcrypt",
        None,
        None,
        &format!("{ascii}0123456789012345678901234567890"),
    )
    .unwrap();
    assert!(!verify(&c, &[0xff, 0xff, 0xa3]));
}
