//! phpass portable hashes: WordPress and phpBB (`$P$`, `$H$`, iterated MD5) and Drupal 7
//! (`$S$`, iterated SHA-512), as whole strings (family `phpass`) or FusionAuth's split form
//! (`phpass-md5`, `phpass-sha512`).
//!
//! The string is `$P$` + one character c + 8 salt characters + the hash in phpass' own
//! little-endian base64 ("hash64"). The loop count is 2^index(c) in `./0-9A-Za-z`.
//! h = H(salt ‖ password), then h = H(h ‖ password) loop-count times. MD5 keeps all 22 hash
//! characters; Drupal keeps the first 43 of SHA-512's 86 (its hashes are 55 characters long).
//!
//! Reading taken for FusionAuth's split form, whose docs do not pin the encoding: `salt` is the
//! 8 salt characters exactly as they appear in the string (phpass hashes those ASCII
//! characters, not decoded bytes; base64 of them, 12 characters, is accepted too), `password` is
//! the hash characters after the salt, and `factor` is the loop count (8192 for WordPress'
//! `$P$B`). A factor of 30 or less cannot be a loop count (phpass' minimum is 2^7), so it is
//! read as log2 of the loop count. A whole `$P$...` string in `password` is accepted as well.

use super::{check_range, ct_eq, decode_std, malformed, require_ascii};
use crate::encoding::{hash64_encode, itoa64_index, ITOA64};
use crate::limits::PHPASS_MAX_LOG2;
use crate::registry::Hasher;
use crate::{Credential, HashError};

const MIN_LOG2: u32 = 7;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Md5,
    Sha512,
}

impl Kind {
    fn hash_len(self) -> usize {
        match self {
            Kind::Md5 => 22,
            Kind::Sha512 => 43,
        }
    }
}

struct Parsed<'a> {
    kind: Kind,
    log2: u32,
    salt: &'a str,
    hash: &'a str,
}

impl Parsed<'_> {
    fn cost(&self) -> crate::Cost {
        crate::cost::phpass(self.kind == Kind::Sha512, self.log2)
    }
}

fn check_log2(scheme: &str, log2: u32) -> Result<(), HashError> {
    check_range(
        scheme,
        "loop count",
        1u64 << log2.min(63),
        1 << MIN_LOG2,
        1 << PHPASS_MAX_LOG2,
    )
}

fn parse<'a>(scheme: &str, s: &'a str) -> Result<Parsed<'a>, HashError> {
    require_ascii(scheme, s)?;
    let kind = match s.get(..3) {
        Some("$P$") | Some("$H$") => Kind::Md5,
        Some("$S$") => Kind::Sha512,
        _ => {
            return Err(malformed(
                scheme,
                "expected a phpass string starting with $P$, $H$ (MD5) or $S$ (Drupal SHA-512)",
            ))
        }
    };
    if s.len() != 12 + kind.hash_len() {
        return Err(malformed(
            scheme,
            format!(
                "a {} phpass string is {} characters long, found {}",
                &s[..3],
                12 + kind.hash_len(),
                s.len()
            ),
        ));
    }
    let log2 = itoa64_index(s.as_bytes()[3])
        .ok_or_else(|| malformed(scheme, "the loop-count character is not in ./0-9A-Za-z"))?;
    check_log2(scheme, log2)?;
    let hash = &s[12..];
    if !hash.bytes().all(|b| ITOA64.contains(&b)) {
        return Err(malformed(
            scheme,
            "the hash has characters outside ./0-9A-Za-z",
        ));
    }
    Ok(Parsed {
        kind,
        log2,
        salt: &s[4..12],
        hash,
    })
}

fn derive(kind: Kind, log2: u32, salt: &[u8], password: &[u8]) -> String {
    fn run<D: md5::Digest>(log2: u32, salt: &[u8], password: &[u8]) -> Vec<u8> {
        let mut h = D::new()
            .chain_update(salt)
            .chain_update(password)
            .finalize();
        for _ in 0..(1u64 << log2) {
            h = D::new().chain_update(&h).chain_update(password).finalize();
        }
        h.to_vec()
    }
    let raw = match kind {
        Kind::Md5 => run::<md5::Md5>(log2, salt, password),
        Kind::Sha512 => run::<sha2::Sha512>(log2, salt, password),
    };
    let mut encoded = hash64_encode(&raw);
    encoded.truncate(kind.hash_len());
    encoded
}

fn verify_parsed(p: &Parsed<'_>, password: &[u8]) -> bool {
    if check_log2("phpass", p.log2).is_err() {
        return false;
    }
    let derived = derive(p.kind, p.log2, p.salt.as_bytes(), password);
    ct_eq(derived.as_bytes(), p.hash.as_bytes())
}

/// `phpass`: whole `$P$`/`$H$`/`$S$` strings; factor = loop count.
pub struct PhpassFamily;

impl Hasher for PhpassFamily {
    fn name(&self) -> &str {
        "phpass"
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let p = parse("phpass", password)?;
        Ok(super::encoded_credential(
            "phpass",
            1u64 << p.log2,
            password,
        ))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        parse("phpass", &credential.hash).is_ok_and(|p| verify_parsed(&p, password))
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        parse("phpass", &credential.hash).ok().map(|p| p.cost())
    }

    fn detects(&self, encoded: &str) -> bool {
        ["$P$", "$H$", "$S$"].iter().any(|p| encoded.starts_with(p))
    }
}

/// FusionAuth's `phpass-md5` and `phpass-sha512`: split fields (see the module docs).
pub struct PhpassSplit {
    name: &'static str,
    kind: Kind,
}

impl PhpassSplit {
    pub const MD5: Self = Self {
        name: "phpass-md5",
        kind: Kind::Md5,
    };
    pub const SHA512: Self = Self {
        name: "phpass-sha512",
        kind: Kind::Sha512,
    };

    fn prefix(&self) -> &'static str {
        match self.kind {
            Kind::Md5 => "$P$",
            Kind::Sha512 => "$S$",
        }
    }

    fn log2_of(&self, factor: u32) -> Result<u32, HashError> {
        if factor <= 30 {
            return Ok(factor);
        }
        if !factor.is_power_of_two() {
            return Err(malformed(
                self.name,
                format!("factor {factor} is not a power of two; phpass loop counts are 2^n"),
            ));
        }
        Ok(factor.trailing_zeros())
    }

    fn join(&self, log2: u32, salt: &str, hash: &str) -> Option<String> {
        let c = *ITOA64.get(log2 as usize)? as char;
        Some(format!("{}{c}{salt}{hash}", self.prefix()))
    }

    fn credential(&self, p: &Parsed<'_>) -> Credential {
        Credential {
            scheme: self.name.to_string(),
            factor: 1 << p.log2,
            salt: p.salt.to_string(),
            hash: p.hash.to_string(),
        }
    }
}

impl Hasher for PhpassSplit {
    fn name(&self) -> &str {
        self.name
    }

    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        require_ascii(self.name, password)?;
        if password.starts_with('$') {
            let p = parse(self.name, password)?;
            if p.kind != self.kind {
                return Err(malformed(
                    self.name,
                    format!("expected a {} string", self.prefix()),
                ));
            }
            return Ok(self.credential(&p));
        }
        let factor = factor.ok_or_else(|| {
            malformed(self.name, "factor (the loop count, e.g. 8192) is required")
        })?;
        let log2 = self.log2_of(factor)?;
        check_log2(self.name, log2)?;
        let salt =
            salt.ok_or_else(|| malformed(self.name, "salt (the 8 salt characters) is required"))?;
        let salt = match salt.len() {
            8 => salt.to_string(),
            12 => String::from_utf8(decode_std(self.name, "the salt", salt)?)
                .ok()
                .filter(|s| s.len() == 8 && s.is_ascii())
                .ok_or_else(|| {
                    malformed(self.name, "the base64 salt must decode to 8 characters")
                })?,
            n => {
                return Err(malformed(
                    self.name,
                    format!(
                    "the salt must be the 8 characters after the loop-count character, found {n}"
                ),
                ))
            }
        };
        require_ascii(self.name, &salt)?;
        let hash = match (self.kind, password.len()) {
            // Drupal keeps 43 characters; a full 86-character SHA-512 encoding is cut the same way.
            (Kind::Sha512, 86) => &password[..43],
            _ => password,
        };
        let joined = self
            .join(log2, &salt, hash)
            .ok_or_else(|| malformed(self.name, "bad loop count"))?;
        let p = parse(self.name, &joined)?;
        Ok(self.credential(&p))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Ok(log2) = self.log2_of(credential.factor) else {
            return false;
        };
        let Some(joined) = self.join(log2, &credential.salt, &credential.hash) else {
            return false;
        };
        parse(self.name, &joined).is_ok_and(|p| p.kind == self.kind && verify_parsed(&p, password))
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let log2 = self.log2_of(credential.factor).ok()?;
        check_log2(self.name, log2).ok()?;
        Some(crate::cost::phpass(self.kind == Kind::Sha512, log2))
    }
}
