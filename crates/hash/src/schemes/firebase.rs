//! Firebase Authentication's modified scrypt.
//!
//! Firebase exports per user a base64 `passwordHash` and `salt`, and per project the "password
//! hash parameters": base64 signer key, base64 salt separator, rounds and memory cost. The hash
//! is AES-256-CTR (zero IV) of the signer key, keyed with the first 32 bytes of
//! scrypt(password, salt ‖ salt separator, N = 2^mem_cost, r = rounds, p = 1).
//!
//! Portcullis encodes all of that in one self-describing string (standard base64 with padding
//! for the binary fields):
//!
//! ```text
//! $firebase-scrypt$m=<mem_cost>,r=<rounds>,ss=<salt separator>,sk=<signer key>$<salt>$<hash>
//! ```

use aes::cipher::{KeyIvInit as _, StreamCipher as _};

use super::{
    check_range, ct_eq, decode_std, encoded_credential, malformed, parse_decimal, phc,
    require_ascii,
};
use crate::limits::{MAX_KEY_LEN, MAX_SALT_LEN};
use crate::registry::Hasher;
use crate::{Credential, HashError};

const NAME: &str = "firebase-scrypt";
const PREFIX: &str = "$firebase-scrypt$";

struct Parsed {
    mem_cost: u32,
    rounds: u32,
    salt_separator: Vec<u8>,
    signer_key: Vec<u8>,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(s: &str) -> Result<Parsed, HashError> {
    require_ascii(NAME, s)?;
    let expected = "expected $firebase-scrypt$m=<mem_cost>,r=<rounds>,ss=<base64 salt separator>,sk=<base64 signer key>$<base64 salt>$<base64 hash>";
    let rest = s
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed(NAME, expected))?;
    let fields: Vec<&str> = rest.split('$').collect();
    let [params, salt, hash] = fields[..] else {
        return Err(malformed(NAME, expected));
    };
    let (mut m, mut r, mut ss, mut sk) = (None, None, None, None);
    for kv in params.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| malformed(NAME, format!("parameter {kv:?} is not name=value")))?;
        match k {
            "m" => m = Some(parse_decimal(NAME, "m (mem_cost)", v)?),
            "r" => r = Some(parse_decimal(NAME, "r (rounds)", v)?),
            "ss" => ss = Some(decode_std(NAME, "the salt separator", v)?),
            "sk" => sk = Some(decode_std(NAME, "the signer key", v)?),
            other => return Err(malformed(NAME, format!("unknown parameter {other}"))),
        }
    }
    let missing = |n: &str| malformed(NAME, format!("the parameter {n}= is missing"));
    let (m, r) = (
        m.ok_or_else(|| missing("m"))?,
        r.ok_or_else(|| missing("r"))?,
    );
    let salt_separator = ss.ok_or_else(|| missing("ss"))?;
    let signer_key = sk.ok_or_else(|| missing("sk"))?;
    phc::check_scrypt(NAME, m, r, 1, 32)?;
    let salt = decode_std(NAME, "the salt", salt)?;
    let hash = decode_std(NAME, "the hash", hash)?;
    check_range(
        NAME,
        "salt length",
        (salt.len() + salt_separator.len()) as u64,
        0,
        MAX_SALT_LEN,
    )?;
    check_range(
        NAME,
        "signer key length",
        signer_key.len() as u64,
        1,
        MAX_KEY_LEN,
    )?;
    if hash.len() != signer_key.len() {
        return Err(malformed(
            NAME,
            format!(
                "the hash is {} bytes but the signer key is {}; they must match",
                hash.len(),
                signer_key.len()
            ),
        ));
    }
    Ok(Parsed {
        mem_cost: m as u32,
        rounds: r as u32,
        salt_separator,
        signer_key,
        salt,
        hash,
    })
}

fn derive(p: &Parsed, password: &[u8]) -> Option<Vec<u8>> {
    let mut salt = p.salt.clone();
    salt.extend_from_slice(&p.salt_separator);
    let mut key = [0u8; 32];
    if !phc::scrypt_derive(p.mem_cost, p.rounds, 1, password, &salt, &mut key) {
        return None;
    }
    let mut out = p.signer_key.clone();
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0u8; 16].into());
    cipher.apply_keystream(&mut out);
    Some(out)
}

/// `firebase-scrypt`: the string above; factor = mem_cost.
pub struct FirebaseScrypt;

impl Hasher for FirebaseScrypt {
    fn name(&self) -> &str {
        NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let parsed = parse(password)?;
        Ok(encoded_credential(NAME, parsed.mem_cost.into(), password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Ok(parsed) = parse(&credential.hash) else {
            return false;
        };
        derive(&parsed, password).is_some_and(|d| ct_eq(&d, &parsed.hash))
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let p = parse(&credential.hash).ok()?;
        Some(crate::cost::scrypt(p.mem_cost, p.rounds, 1))
    }

    fn detects(&self, encoded: &str) -> bool {
        encoded.starts_with(PREFIX)
    }
}
