//! Django's `algorithm$...` strings: `pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`, `bcrypt_sha256`,
//! `bcrypt`, `scrypt`, and the legacy salted `sha1` and `md5`.
//!
//! Django uses the salt string's UTF-8 bytes (not decoded bytes) for PBKDF2, scrypt, sha1 and
//! md5. `bcrypt_sha256` bcrypts the hex SHA-256 of the password, so passwords over 72 bytes
//! count in full there.

use crate::encoding::hex;
use md5::Digest as _;

use super::{
    bcrypt, check_range, ct_eq, decode_std, encoded_credential, malformed, parse_decimal, phc,
    require_ascii, Prf,
};
use crate::limits::{MAX_ITERATIONS, MAX_KEY_LEN, MIN_KEY_LEN};
use crate::registry::Hasher;
use crate::{Credential, HashError};

const NAME: &str = "django";

enum Parsed<'a> {
    Pbkdf2 {
        prf: Prf,
        iterations: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
    Argon2(String),
    Bcrypt {
        sha256: bool,
        mcf: bcrypt::Mcf,
    },
    Scrypt {
        ln: u32,
        r: u32,
        p: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
    SaltedHex {
        sha1: bool,
        salt: &'a str,
        hash: &'a str,
    },
}

fn parse(s: &str) -> Result<(Parsed<'_>, u64), HashError> {
    require_ascii(NAME, s)?;
    let (algorithm, rest) = s.split_once('$').ok_or_else(|| {
        malformed(
            NAME,
            "expected algorithm$..., e.g. pbkdf2_sha256$<iterations>$<salt>$<hash>",
        )
    })?;
    match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            let fields: Vec<&str> = rest.split('$').collect();
            let [iterations, salt, hash] = fields[..] else {
                return Err(malformed(NAME, format!("expected {algorithm}$<iterations>$<salt>$<base64 hash>")));
            };
            let iterations = parse_decimal(NAME, "iterations", iterations)?;
            check_range(NAME, "iterations", iterations, 1, MAX_ITERATIONS)?;
            let hash = decode_std(NAME, "the hash", hash)?;
            check_range(NAME, "key length", hash.len() as u64, MIN_KEY_LEN, MAX_KEY_LEN)?;
            let prf = if algorithm == "pbkdf2_sha256" { Prf::Sha256 } else { Prf::Sha1 };
            Ok((
                Parsed::Pbkdf2 {
                    prf,
                    iterations: iterations as u32,
                    salt,
                    hash,
                },
                iterations,
            ))
        }
        "argon2" => {
            let phc_string = format!("${rest}");
            let parsed = phc::parse_argon2(NAME, &phc_string)?;
            Ok((Parsed::Argon2(phc_string), parsed.t.into()))
        }
        "bcrypt_sha256" | "bcrypt" => {
            let mcf = bcrypt::parse_mcf(NAME, rest)?;
            let cost = mcf.cost.into();
            Ok((
                Parsed::Bcrypt {
                    sha256: algorithm == "bcrypt_sha256",
                    mcf,
                },
                cost,
            ))
        }
        "scrypt" => {
            let fields: Vec<&str> = rest.split('$').collect();
            let [n, salt, r, p, hash] = fields[..] else {
                return Err(malformed(NAME, "expected scrypt$<N>$<salt>$<r>$<p>$<base64 hash>"));
            };
            let n = parse_decimal(NAME, "N", n)?;
            if !n.is_power_of_two() || n < 2 {
                return Err(malformed(NAME, format!("scrypt N = {n} is not a power of two")));
            }
            let ln = u64::from(n.trailing_zeros());
            let (r, p) = (parse_decimal(NAME, "r", r)?, parse_decimal(NAME, "p", p)?);
            let hash = decode_std(NAME, "the hash", hash)?;
            phc::check_scrypt(NAME, ln, r, p, hash.len() as u64)?;
            Ok((
                Parsed::Scrypt {
                    ln: ln as u32,
                    r: r as u32,
                    p: p as u32,
                    salt,
                    hash,
                },
                ln,
            ))
        }
        "sha1" | "md5" => {
            let (salt, hash) = rest
                .split_once('$')
                .ok_or_else(|| malformed(NAME, format!("expected {algorithm}$<salt>$<hex hash>")))?;
            let len = if algorithm == "sha1" { 40 } else { 32 };
            if hash.len() != len || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(NAME, format!("the {algorithm} hash must be {len} hex digits")));
            }
            Ok((
                Parsed::SaltedHex {
                    sha1: algorithm == "sha1",
                    salt,
                    hash,
                },
                1,
            ))
        }
        other => Err(HashError::Unsupported {
            scheme: NAME.to_string(),
            reason: format!("the Django hasher {other:?} is not supported; supported are pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, scrypt, sha1 and md5"),
        }),
    }
}

fn cost(parsed: &Parsed<'_>) -> Option<crate::Cost> {
    Some(match parsed {
        Parsed::Pbkdf2 {
            prf,
            iterations,
            hash,
            ..
        } => crate::cost::pbkdf2(*prf, (*iterations).into(), hash.len() as u64),
        Parsed::Argon2(phc_string) => phc::argon2_cost(phc_string)?,
        Parsed::Bcrypt { mcf, .. } => crate::cost::bcrypt(mcf.cost),
        Parsed::Scrypt { ln, r, p, .. } => crate::cost::scrypt(*ln, *r, *p),
        Parsed::SaltedHex { .. } => crate::cost::SINGLE_DIGEST,
    })
}

fn verify_parsed(parsed: &Parsed<'_>, password: &[u8]) -> bool {
    match parsed {
        Parsed::Pbkdf2 {
            prf,
            iterations,
            salt,
            hash,
        } => {
            let mut out = vec![0u8; hash.len()];
            prf.pbkdf2(password, salt.as_bytes(), *iterations, &mut out);
            ct_eq(&out, hash)
        }
        Parsed::Argon2(phc_string) => phc::verify_argon2(phc_string, password),
        Parsed::Bcrypt { sha256, mcf } => {
            if *sha256 {
                let prehash = hex(&sha2::Sha256::digest(password));
                bcrypt::verify_parsed(mcf, prehash.as_bytes())
            } else {
                bcrypt::verify_parsed(mcf, password)
            }
        }
        Parsed::Scrypt {
            ln,
            r,
            p,
            salt,
            hash,
        } => {
            let mut out = vec![0u8; hash.len()];
            phc::scrypt_derive(*ln, *r, *p, password, salt.as_bytes(), &mut out)
                && ct_eq(&out, hash)
        }
        Parsed::SaltedHex { sha1, salt, hash } => {
            let derived = if *sha1 {
                hex(&sha1::Sha1::new()
                    .chain_update(salt)
                    .chain_update(password)
                    .finalize())
            } else {
                hex(&md5::Md5::new()
                    .chain_update(salt)
                    .chain_update(password)
                    .finalize())
            };
            ct_eq(derived.as_bytes(), hash.to_ascii_lowercase().as_bytes())
        }
    }
}

/// `django`: Django's encoded password strings; factor = iterations (bcrypt: cost, argon2: t,
/// scrypt: log2 N, sha1/md5: 1).
pub struct DjangoFamily;

impl Hasher for DjangoFamily {
    fn name(&self) -> &str {
        NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let (_, factor) = parse(password)?;
        Ok(encoded_credential(NAME, factor, password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        parse(&credential.hash).is_ok_and(|(p, _)| verify_parsed(&p, password))
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        parse(&credential.hash).ok().and_then(|(p, _)| cost(&p))
    }

    fn detects(&self, encoded: &str) -> bool {
        [
            "pbkdf2_sha256$",
            "pbkdf2_sha1$",
            "argon2$",
            "bcrypt_sha256$",
            "bcrypt$",
            "scrypt$",
            "sha1$",
            "md5$",
        ]
        .iter()
        .any(|p| encoded.starts_with(p))
    }
}
