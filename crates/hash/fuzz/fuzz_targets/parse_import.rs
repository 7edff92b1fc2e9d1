//! Fuzzes the import parser: any scheme name, factor, salt and encoded string must give a
//! credential or an error, never a panic. Credentials the cost model prices cheap are verified
//! too (verify must not panic either); the rest are skipped so the run stays fast.
//!
//! Input layout: byte 0 picks the scheme, byte 1 bit 0 says whether a factor follows in bytes
//! 2..6 (little-endian); the rest is UTF-8 "salt\npassword" (no newline: no salt).

#![no_main]

use libfuzzer_sys::fuzz_target;

const SCHEMES: &[&str] = &[
    "auto",
    "bcrypt",
    "argon2",
    "argon2id",
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
];

/// Credentials the cost model prices at or below this are verified too: about 2 ms of one
/// core uninstrumented. Pricing by the model rather than by scheme or factor covers a scheme that
/// wraps another (LDAP `{CRYPT}$2b$...`), and a model that underprices a credential shows up here
/// as a timeout.
const VERIFY_BUDGET: portcullis_hash::Cost = 2_000_000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let scheme = SCHEMES[data[0] as usize % SCHEMES.len()];
    let factor = (data[1] & 1 == 1).then(|| u32::from_le_bytes([data[2], data[3], data[4], data[5]]));
    let Ok(text) = std::str::from_utf8(&data[6..]) else {
        return;
    };
    let (salt, password) = match text.split_once('\n') {
        Some((salt, password)) => (Some(salt), password),
        None => (None, text),
    };
    if let Ok(credential) = portcullis_hash::parse_import(scheme, factor, salt, password) {
        if portcullis_hash::cost(&credential).is_some_and(|cost| cost <= VERIFY_BUDGET) {
            let _ = portcullis_hash::verify(&credential, b"fuzz");
        }
    }
});
