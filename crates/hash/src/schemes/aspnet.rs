//! ASP.NET Identity's `PasswordHash` column: base64 of a versioned blob.
//!
//! - V2 (Identity 2, `0x00`): `0x00 ‖ salt (16) ‖ subkey (32)`, PBKDF2-HMAC-SHA1, 1000 iterations.
//! - V3 (Identity 3+, `0x01`): `0x01 ‖ prf (u32 BE: 0 SHA-1, 1 SHA-256, 2 SHA-512) ‖ iterations
//!   (u32 BE) ‖ salt length (u32 BE) ‖ salt ‖ subkey`, with salt and subkey at least 16 bytes,
//!   as .NET's `PasswordHasher` checks.

use super::{check_range, ct_eq, decode_std, encoded_credential, malformed, require_ascii, Prf};
use crate::limits::{MAX_ITERATIONS, MAX_KEY_LEN, MAX_SALT_LEN};
use crate::registry::Hasher;
use crate::{Credential, HashError};

const NAME: &str = "aspnet-identity";

struct Parsed {
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    subkey: Vec<u8>,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn parse(s: &str) -> Result<Parsed, HashError> {
    require_ascii(NAME, s)?;
    let blob = decode_std(NAME, "the password hash", s)?;
    match blob.first() {
        Some(0x00) => {
            if blob.len() != 49 {
                return Err(malformed(
                    NAME,
                    format!(
                        "a V2 hash is 49 bytes (0x00, 16-byte salt, 32-byte subkey); found {}",
                        blob.len()
                    ),
                ));
            }
            Ok(Parsed {
                prf: Prf::Sha1,
                iterations: 1000,
                salt: blob[1..17].to_vec(),
                subkey: blob[17..].to_vec(),
            })
        }
        Some(0x01) => {
            if blob.len() < 13 {
                return Err(malformed(
                    NAME,
                    "a V3 hash is shorter than its 13-byte header",
                ));
            }
            let prf = match be_u32(&blob, 1) {
                0 => Prf::Sha1,
                1 => Prf::Sha256,
                2 => Prf::Sha512,
                other => {
                    return Err(malformed(
                        NAME,
                        format!(
                        "unknown V3 PRF {other}; expected 0 (SHA-1), 1 (SHA-256) or 2 (SHA-512)"
                    ),
                    ))
                }
            };
            let iterations = be_u32(&blob, 5);
            check_range(NAME, "iterations", iterations.into(), 1, MAX_ITERATIONS)?;
            let salt_len = u64::from(be_u32(&blob, 9));
            check_range(NAME, "salt length", salt_len, 16, MAX_SALT_LEN)?;
            let salt_end = 13 + salt_len as usize;
            if blob.len() < salt_end + 16 {
                return Err(malformed(
                    NAME,
                    "the V3 hash is too short for its salt and a 16-byte subkey",
                ));
            }
            let subkey = blob[salt_end..].to_vec();
            check_range(NAME, "key length", subkey.len() as u64, 16, MAX_KEY_LEN)?;
            Ok(Parsed {
                prf,
                iterations,
                salt: blob[13..salt_end].to_vec(),
                subkey,
            })
        }
        _ => Err(malformed(
            NAME,
            "the blob must start with 0x00 (V2) or 0x01 (V3)",
        )),
    }
}

/// `aspnet-identity`: V2 and V3 blobs; factor = iterations.
pub struct AspNetIdentity;

impl Hasher for AspNetIdentity {
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
        Ok(encoded_credential(NAME, parsed.iterations.into(), password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Ok(parsed) = parse(&credential.hash) else {
            return false;
        };
        let mut out = vec![0u8; parsed.subkey.len()];
        parsed
            .prf
            .pbkdf2(password, &parsed.salt, parsed.iterations, &mut out);
        ct_eq(&out, &parsed.subkey)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let p = parse(&credential.hash).ok()?;
        Some(crate::cost::pbkdf2(
            p.prf,
            p.iterations.into(),
            p.subkey.len() as u64,
        ))
    }

    fn detects(&self, encoded: &str) -> bool {
        (encoded.starts_with("AQAAAA") || encoded.starts_with('A')) && parse(encoded).is_ok()
    }
}
