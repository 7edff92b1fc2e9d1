//! crypt(3) strings as found in `/etc/shadow`, old PHP and LDAP `{CRYPT}`: `$1$` md5-crypt
//! (and Apache's `$apr1$` variant), `$5$` sha256-crypt, `$6$` sha512-crypt, and `$2?$` bcrypt.
//!
//! sha-crypt rounds follow glibc: absent means 5000, fewer than 1000 means 1000; more than
//! [`MAX_ITERATIONS`](crate::limits::MAX_ITERATIONS) is refused. Salts longer than glibc's
//! maximum (16 characters for sha-crypt, 8 for md5-crypt) are cut the way glibc cuts them.
//! Traditional DES crypt (13 characters) is not supported: those users need a reset.

use md5::{Digest as _, Md5};

use super::{
    bcrypt, check_range, ct_eq, encoded_credential, malformed, parse_decimal, require_ascii,
};
use crate::encoding::ITOA64;
use crate::limits::MAX_ITERATIONS;
use crate::registry::Hasher;
use crate::{Credential, HashError};

const NAME: &str = "crypt";

enum Parsed<'a> {
    Md5 {
        magic: &'a str,
        salt: &'a str,
        hash: &'a str,
    },
    Sha {
        sha512: bool,
        rounds: u64,
        salt: &'a str,
        hash: &'a str,
    },
    Bcrypt(bcrypt::Mcf),
}

impl Parsed<'_> {
    fn cost(&self) -> crate::Cost {
        match self {
            Parsed::Md5 { .. } => crate::cost::md5_crypt(),
            Parsed::Sha { sha512, rounds, .. } => crate::cost::sha_crypt(*sha512, *rounds),
            Parsed::Bcrypt(m) => crate::cost::bcrypt(m.cost),
        }
    }

    fn factor(&self) -> u64 {
        match self {
            Parsed::Md5 { .. } => 1000,
            Parsed::Sha { rounds, .. } => *rounds,
            Parsed::Bcrypt(m) => m.cost.into(),
        }
    }
}

fn parse(s: &str) -> Result<Parsed<'_>, HashError> {
    require_ascii(NAME, s)?;
    if bcrypt::Bcrypt.detects_str(s) {
        return bcrypt::parse_mcf(NAME, s).map(Parsed::Bcrypt);
    }
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() < 4 || !parts[0].is_empty() {
        if s.len() == 13 || s.starts_with('_') {
            return Err(HashError::Unsupported {
                scheme: NAME.to_string(),
                reason: "traditional DES crypt is not supported (it keeps only 8 characters of a password); import the user without a password and have them reset it".to_string(),
            });
        }
        return Err(malformed(
            NAME,
            "expected $1$<salt>$<hash>, $5$[rounds=N$]<salt>$<hash>, $6$[rounds=N$]<salt>$<hash> or a $2b$ bcrypt string",
        ));
    }
    let check_hash = |hash: &str, len: usize| -> Result<(), HashError> {
        if hash.len() != len || !hash.bytes().all(|b| ITOA64.contains(&b)) {
            return Err(malformed(
                NAME,
                format!("the hash must be {len} characters of ./0-9A-Za-z"),
            ));
        }
        Ok(())
    };
    match parts[1] {
        "1" | "apr1" => {
            if parts.len() != 4 {
                return Err(malformed(NAME, "expected $1$<salt>$<hash>"));
            }
            check_hash(parts[3], 22)?;
            let salt = &parts[2][..parts[2].len().min(8)];
            Ok(Parsed::Md5 {
                magic: if parts[1] == "1" { "$1$" } else { "$apr1$" },
                salt,
                hash: parts[3],
            })
        }
        id @ ("5" | "6") => {
            let sha512 = id == "6";
            let (rounds, salt, hash) = match parts.len() {
                4 => (5000, parts[2], parts[3]),
                5 => {
                    let r = parts[2].strip_prefix("rounds=").ok_or_else(|| {
                        malformed(NAME, format!("expected rounds=N, found {:?}", parts[2]))
                    })?;
                    (parse_decimal(NAME, "rounds", r)?, parts[3], parts[4])
                }
                _ => return Err(malformed(NAME, "too many $-separated fields")),
            };
            check_range(NAME, "rounds", rounds, 0, MAX_ITERATIONS)?;
            check_hash(hash, if sha512 { 86 } else { 43 })?;
            Ok(Parsed::Sha {
                sha512,
                rounds: rounds.max(1000),
                salt: &salt[..salt.len().min(16)],
                hash,
            })
        }
        other => Err(HashError::Unsupported {
            scheme: NAME.to_string(),
            reason: format!("crypt method ${other}$ is not supported; supported are $1$, $apr1$, $5$, $6$ and $2a$/$2b$/$2y$"),
        }),
    }
}

/// md5-crypt (Poul-Henning Kamp's algorithm, as in FreeBSD and glibc).
fn md5_crypt(magic: &str, salt: &[u8], password: &[u8]) -> String {
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(magic.as_bytes())
        .chain_update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = String::with_capacity(22);
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    let b = |i: usize| u32::from(fin[i]);
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64((b(x) << 16) | (b(y) << 8) | b(z), 4);
    }
    to64(b(11), 2);
    out
}

fn verify_parsed(p: &Parsed<'_>, password: &[u8]) -> bool {
    match p {
        Parsed::Md5 { magic, salt, hash } => ct_eq(
            md5_crypt(magic, salt.as_bytes(), password).as_bytes(),
            hash.as_bytes(),
        ),
        Parsed::Sha {
            sha512,
            rounds,
            salt,
            hash,
        } => {
            let rounds = *rounds as usize;
            let derived = if *sha512 {
                sha_crypt::Sha512Params::new(rounds)
                    .ok()
                    .and_then(|params| {
                        sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params).ok()
                    })
            } else {
                sha_crypt::Sha256Params::new(rounds)
                    .ok()
                    .and_then(|params| {
                        sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &params).ok()
                    })
            };
            derived.is_some_and(|d| ct_eq(d.as_bytes(), hash.as_bytes()))
        }
        Parsed::Bcrypt(mcf) => bcrypt::verify_parsed(mcf, password),
    }
}

/// Verifies any crypt(3) string this module knows; used by LDAP's `{CRYPT}` too.
pub fn verify_crypt(encoded: &str, password: &[u8]) -> bool {
    parse(encoded).is_ok_and(|p| verify_parsed(&p, password))
}

/// What verifying a crypt(3) string costs; `None` when it does not parse.
pub fn crypt_cost(encoded: &str) -> Option<crate::Cost> {
    parse(encoded).ok().map(|p| p.cost())
}

/// Validates a crypt(3) string; returns its main cost.
pub fn check_crypt(encoded: &str) -> Result<u64, HashError> {
    parse(encoded).map(|p| p.factor())
}

/// `crypt`: `$1$`, `$apr1$`, `$5$`, `$6$` (and `$2?$`) strings; factor = rounds (md5-crypt:
/// its fixed 1000; bcrypt: the cost).
pub struct CryptFamily;

impl Hasher for CryptFamily {
    fn name(&self) -> &str {
        NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let factor = check_crypt(password)?;
        Ok(encoded_credential(NAME, factor, password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        verify_crypt(&credential.hash, password)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        crypt_cost(&credential.hash)
    }

    fn detects(&self, encoded: &str) -> bool {
        ["$1$", "$apr1$", "$5$", "$6$"]
            .iter()
            .any(|p| encoded.starts_with(p))
    }
}
