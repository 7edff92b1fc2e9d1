//! The cost model: one unit across schemes, in an order that matches what each costs to verify.

use portcullis_hash::{cost, hash_password, new_hash_cost, parse_import, HashError};

fn cost_of(scheme: &str, encoded: &str) -> u64 {
    let c = parse_import(scheme, None, None, encoded).unwrap();
    cost(&c).unwrap_or_else(|| panic!("{encoded} has a cost"))
}

fn pbkdf2(digest: &str, iterations: u64, key_len: usize) -> String {
    // Unpadded base64 of `key_len` zero bytes, `A`s with no stray bits.
    let chars = (key_len * 4).div_ceil(3);
    format!(
        "$pbkdf2-{digest}$i={iterations},l={key_len}$c2FsdHNhbHRzYWx0${}",
        "A".repeat(chars)
    )
}

#[test]
fn pbkdf2_costs_one_iteration_run_per_output_block() {
    let one_block = cost_of("pbkdf2", &pbkdf2("sha1", 10_000_000, 20));
    let seven_blocks = cost_of("pbkdf2", &pbkdf2("sha1", 10_000_000, 128));
    assert_eq!(
        seven_blocks,
        7 * one_block,
        "128 bytes of SHA-1 are 7 blocks of 20"
    );
    assert_eq!(
        cost_of("pbkdf2", &pbkdf2("sha256", 600_000, 64)),
        2 * cost_of("pbkdf2", &pbkdf2("sha256", 600_000, 32))
    );
    assert!(
        cost_of("pbkdf2", &pbkdf2("sha512", 210_000, 64))
            > cost_of("pbkdf2", &pbkdf2("sha256", 210_000, 32)),
        "SHA-512 iterations cost more than SHA-256 ones"
    );
    assert_eq!(
        cost_of("pbkdf2", &pbkdf2("sha256", 2_000, 32)),
        2 * cost_of("pbkdf2", &pbkdf2("sha256", 1_000, 32))
    );
}

#[test]
fn the_model_orders_schemes_as_their_verifies_cost() {
    let salted_md5 = cost(
        &parse_import(
            "salted-md5",
            Some(1),
            Some("c2FsdA=="),
            "AAAAAAAAAAAAAAAAAAAAAA==",
        )
        .unwrap(),
    )
    .unwrap();
    let ssha = cost_of("ldap", "{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let argon2_default = new_hash_cost("argon2id", None).unwrap();
    let bcrypt = |c: u32| new_hash_cost("bcrypt", Some(c)).unwrap();
    let pbkdf2_limits = cost_of("pbkdf2", &pbkdf2("sha1", 10_000_000, 128));
    let argon2_limits = cost_of(
        "argon2",
        "$argon2id$v=19$m=1048576,t=4,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    );
    assert!(
        salted_md5 < argon2_default / 1000,
        "a salted digest is nearly free"
    );
    assert!(ssha < argon2_default / 1000);
    assert!(
        bcrypt(10) > argon2_default / 2 && bcrypt(10) < argon2_default * 2,
        "bcrypt 10 is about argon2id's defaults"
    );
    assert_eq!(
        bcrypt(11),
        2 * bcrypt(10),
        "each bcrypt cost doubles the work"
    );
    assert!(bcrypt(16) > 50 * argon2_default);
    // A scheme that wraps another costs what the wrapped one does.
    let bcrypt_16 = "$2b$16$Zx1bwMV0IPGbQzvzpn6HdOXjdRGzRZTnP74hsIQPA1DZ/ksEtmdUC";
    assert_eq!(
        cost_of("ldap", &format!("{{CRYPT}}{bcrypt_16}")),
        bcrypt(16)
    );
    assert_eq!(
        cost_of("auto", &format!("{{CRYPT}}{bcrypt_16}")),
        bcrypt(16)
    );
    assert!(argon2_limits > 50 * argon2_default);
    assert!(
        pbkdf2_limits > bcrypt(16),
        "the 8.8 s PBKDF2 outweighs the 4.4 s bcrypt"
    );
    // argon2 and scrypt cost memory times passes.
    let argon2 = |m: u32, t: u32| {
        cost_of(
            "argon2",
            &format!("$argon2id$v=19$m={m},t={t},p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        )
    };
    assert_eq!(argon2(65536, 2), 2 * argon2(65536, 1));
    assert_eq!(argon2(65536, 2), argon2(131072, 1));
    assert_eq!(
        new_hash_cost("scrypt", Some(15)).unwrap(),
        2 * new_hash_cost("scrypt", Some(14)).unwrap()
    );
    // Rounds-based schemes grow with their rounds.
    let sha512_crypt = |rounds: u32| {
        cost_of(
            "crypt",
            &format!("$6$rounds={rounds}$saltsalt${}", ".".repeat(86)),
        )
    };
    assert_eq!(sha512_crypt(10_000), 2 * sha512_crypt(5_000));
    assert!(sha512_crypt(5_000) < argon2_default);
    let phpass = |c: char| cost_of("phpass", &format!("$P${c}12345678{}", ".".repeat(22)));
    assert_eq!(phpass('C'), 2 * phpass('B'));
    assert!(
        phpass('B') < argon2_default,
        "WordPress' 8192 MD5s are cheap"
    );
}

#[test]
fn a_new_hash_costs_what_its_credential_costs() {
    for (scheme, factor) in [
        ("argon2id", Some(1)),
        ("bcrypt", Some(4)),
        ("scrypt", Some(6)),
        ("pbkdf2", Some(1_000)),
        ("salted-md5", Some(3)),
        ("salted-sha256", Some(3)),
        ("salted-hmac-sha256", None),
        ("salted-pbkdf2-hmac-sha256", Some(1_000)),
        ("salted-pbkdf2-hmac-sha256-512", Some(1_000)),
        ("salted-pbkdf2-hmac-sha512-512", Some(1_000)),
    ] {
        let c = hash_password(scheme, factor, b"pw").unwrap();
        assert_eq!(
            cost(&c),
            Some(new_hash_cost(scheme, factor).unwrap()),
            "{scheme}"
        );
    }
}

#[test]
fn new_hash_cost_refuses_what_cannot_be_a_tenant_scheme() {
    assert!(matches!(
        new_hash_cost("rot13", None),
        Err(HashError::UnknownScheme(_))
    ));
    assert!(matches!(
        new_hash_cost("phpass", None),
        Err(HashError::CannotHash(_))
    ));
    assert!(matches!(
        new_hash_cost("django", None),
        Err(HashError::CannotHash(_))
    ));
    assert!(matches!(
        new_hash_cost("bcrypt", Some(17)),
        Err(HashError::ParameterTooLarge { .. })
    ));
    assert!(matches!(
        new_hash_cost("argon2id", Some(0)),
        Err(HashError::ParameterTooSmall { .. })
    ));
    assert!(new_hash_cost("argon2id", None).is_ok());
}
