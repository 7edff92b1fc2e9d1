//! bcrypt: `$2a$`/`$2b$`/`$2y$`/`$2x$` strings and FusionAuth's split form.
//!
//! Behaviour on unusual passwords, chosen to match the C implementations (OpenBSD, PHP's
//! crypt_blowfish) that produced the hashes people import:
//! - only the first 72 bytes count; a longer password verifies against the hash of its first
//!   72 bytes (Django's `bcrypt_sha256` prehash exists for this reason);
//! - the password ends at its first NUL byte, as a C string does;
//! - `$2x$` marks hashes made by crypt_blowfish's sign-extension bug. For passwords of ASCII
//!   bytes only it is identical to `$2a$`, and it verifies those; a `$2x$` hash never verifies
//!   a password with bytes ≥ 0x80 (we do not reproduce the bug), so such users reset.
//! - `$2a$`, `$2b$` and `$2y$` are computed identically (the correct algorithm).

use base64::Engine as _;

use super::{check_range, ct_eq, malformed, random_bytes, require_ascii};
use crate::encoding::BCRYPT as B64;
use crate::limits::{BCRYPT_MAX_COST, BCRYPT_MIN_COST};
use crate::registry::Hasher;
use crate::{Credential, HashError};

pub const NAME: &str = "bcrypt";
const DEFAULT_COST: u32 = 12;

/// A parsed bcrypt MCF string.
pub struct Mcf {
    pub variant: u8,
    pub cost: u32,
    pub salt: [u8; 16],
    pub hash: [u8; 23],
}

pub fn parse_mcf(scheme: &str, s: &str) -> Result<Mcf, HashError> {
    require_ascii(scheme, s)?;
    let expected = "expected $2b$<two-digit cost>$<22 salt characters><31 hash characters>";
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 4 || !parts[0].is_empty() {
        return Err(malformed(scheme, expected));
    }
    let variant = match parts[1] {
        "2a" => b'a',
        "2b" => b'b',
        "2y" => b'y',
        "2x" => b'x',
        other => {
            return Err(malformed(
                scheme,
                format!("unknown bcrypt version ${other}$; expected $2a$, $2b$, $2x$ or $2y$"),
            ))
        }
    };
    if parts[2].len() != 2 {
        return Err(malformed(
            scheme,
            format!("the cost must be two digits, found {:?}", parts[2]),
        ));
    }
    let cost = super::parse_decimal(scheme, "the cost", parts[2])?;
    check_range(
        scheme,
        "cost",
        cost,
        BCRYPT_MIN_COST.into(),
        BCRYPT_MAX_COST.into(),
    )?;
    let rest = parts[3];
    if rest.len() != 53 {
        return Err(malformed(
            scheme,
            format!(
                "salt and hash must be 53 characters together, found {}",
                rest.len()
            ),
        ));
    }
    let salt = decode_exact::<16>(scheme, "the salt", &rest[..22])?;
    let hash = decode_exact::<23>(scheme, "the hash", &rest[22..])?;
    Ok(Mcf {
        variant,
        cost: cost as u32,
        salt,
        hash,
    })
}

fn decode_exact<const N: usize>(scheme: &str, what: &str, s: &str) -> Result<[u8; N], HashError> {
    let bytes = B64.decode(s).map_err(|e| {
        malformed(
            scheme,
            format!("{what} is not in bcrypt's base64 alphabet ./A-Za-z0-9 ({e})"),
        )
    })?;
    bytes
        .try_into()
        .map_err(|_| malformed(scheme, format!("{what} has the wrong length")))
}

/// bcrypt's raw output for `password`, or `None` for a `$2x$` hash of an 8-bit password.
pub fn derive(variant: u8, cost: u32, salt: [u8; 16], password: &[u8]) -> Option<[u8; 24]> {
    let password = match password.iter().position(|&b| b == 0) {
        Some(nul) => &password[..nul],
        None => password,
    };
    if variant == b'x' && password.iter().any(|&b| b >= 0x80) {
        return None;
    }
    // The key is the C string including its terminating NUL, cut at 72 bytes.
    let mut key = Vec::with_capacity(73);
    key.extend_from_slice(&password[..password.len().min(72)]);
    if key.len() < 72 {
        key.push(0);
    }
    if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
        return None;
    }
    Some(bcrypt::bcrypt(cost, salt, &key))
}

pub fn verify_mcf(encoded: &str, password: &[u8]) -> bool {
    let Ok(mcf) = parse_mcf(NAME, encoded) else {
        return false;
    };
    verify_parsed(&mcf, password)
}

pub fn verify_parsed(mcf: &Mcf, password: &[u8]) -> bool {
    match derive(mcf.variant, mcf.cost, mcf.salt, password) {
        Some(out) => ct_eq(&out[..23], &mcf.hash),
        None => false,
    }
}

pub fn encode(cost: u32, salt: &[u8; 16], out: &[u8; 24]) -> String {
    format!(
        "$2b${cost:02}${}{}",
        B64.encode(salt),
        B64.encode(&out[..23])
    )
}

/// FusionAuth's split form back to an MCF string: `$2a$` + cost + salt + hash.
fn join_split(cost: u32, salt: &str, hash: &str) -> String {
    format!("$2a${cost:02}${salt}{hash}")
}

/// `bcrypt`: a full MCF string, or FusionAuth's split form (factor = cost, salt = the 22 salt
/// characters, password = the 31 hash characters). Either way the credential stores the full
/// string in `hash`, with `factor` = cost and an empty salt.
pub struct Bcrypt;

impl Bcrypt {
    pub fn detects_str(&self, encoded: &str) -> bool {
        ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|p| encoded.starts_with(p))
    }
}

impl Hasher for Bcrypt {
    fn name(&self) -> &str {
        NAME
    }

    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let encoded = if password.starts_with('$') {
            password.to_string()
        } else {
            let cost = factor.ok_or_else(|| {
                malformed(NAME, "the split form needs factor (the cost), salt (22 characters) and password (31 characters); or put the whole $2a$ string in password")
            })?;
            let salt = salt.unwrap_or("");
            if salt.len() != 22 {
                return Err(malformed(
                    NAME,
                    format!(
                        "the salt must be the 22 characters after $2a$<cost>$, found {} characters",
                        salt.len()
                    ),
                ));
            }
            if password.len() != 31 {
                return Err(malformed(
                    NAME,
                    format!(
                        "the password must be the last 31 characters of the bcrypt string, found {} characters",
                        password.len()
                    ),
                ));
            }
            check_range(
                NAME,
                "cost",
                cost.into(),
                BCRYPT_MIN_COST.into(),
                BCRYPT_MAX_COST.into(),
            )?;
            join_split(cost, salt, password)
        };
        let mcf = parse_mcf(NAME, &encoded)?;
        Ok(Credential {
            scheme: NAME.to_string(),
            factor: mcf.cost,
            salt: String::new(),
            hash: encoded,
        })
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        if credential.hash.starts_with('$') {
            verify_mcf(&credential.hash, password)
        } else {
            let joined = join_split(credential.factor, &credential.salt, &credential.hash);
            verify_mcf(&joined, password)
        }
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let cost = if credential.hash.starts_with('$') {
            parse_mcf(NAME, &credential.hash).ok()?.cost
        } else {
            credential.factor
        };
        (BCRYPT_MIN_COST..=BCRYPT_MAX_COST)
            .contains(&cost)
            .then(|| crate::cost::bcrypt(cost))
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        let cost = factor.unwrap_or(DEFAULT_COST);
        check_range(
            NAME,
            "cost",
            cost.into(),
            BCRYPT_MIN_COST.into(),
            BCRYPT_MAX_COST.into(),
        )?;
        Ok(crate::cost::bcrypt(cost))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let cost = factor.unwrap_or(DEFAULT_COST);
        check_range(
            NAME,
            "cost",
            cost.into(),
            BCRYPT_MIN_COST.into(),
            BCRYPT_MAX_COST.into(),
        )?;
        let salt = random_bytes::<16>();
        let out = derive(b'b', cost, salt, password)
            .ok_or_else(|| malformed(NAME, "could not hash this password"))?;
        Ok(Credential {
            scheme: NAME.to_string(),
            factor: cost,
            salt: String::new(),
            hash: encode(cost, &salt, &out),
        })
    }

    fn detects(&self, encoded: &str) -> bool {
        self.detects_str(encoded)
    }

    fn needs_rehash(&self, credential: &Credential, target_factor: u32) -> bool {
        match parse_mcf(NAME, &credential.hash) {
            Ok(mcf) => mcf.cost < target_factor,
            Err(_) => credential.factor < target_factor,
        }
    }
}
