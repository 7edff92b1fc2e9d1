//! PHC-style strings: argon2 (`$argon2id$`), scrypt (`$scrypt$`) and PBKDF2 (`$pbkdf2-sha256$`
//! in PHC form with `i=`, or passlib's form with a bare round count and adapted base64).

use argon2::password_hash::PasswordHash;

use super::{
    check_range, ct_eq, encoded_credential, malformed, parse_decimal, random_bytes, require_ascii,
    Prf,
};
use crate::encoding::{decode_ab64, STD_NOPAD};
use crate::limits::*;
use crate::registry::Hasher;
use crate::{Credential, HashError};
use base64::Engine as _;

// ---------------------------------------------------------------------------------------------
// argon2

/// OWASP's argon2id parameters for new passwords: m = 19 MiB, t = 2, p = 1.
pub const ARGON2_DEFAULT_M_KIB: u32 = 19 * 1024;
pub const ARGON2_DEFAULT_T: u32 = 2;
const ARGON2_DEFAULT_P: u32 = 1;

pub struct Argon2Parsed {
    pub algorithm: argon2::Algorithm,
    pub version: argon2::Version,
    pub m: u32,
    pub t: u32,
    pub p: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

pub fn parse_argon2(scheme: &str, s: &str) -> Result<Argon2Parsed, HashError> {
    require_ascii(scheme, s)?;
    let ph = PasswordHash::new(s).map_err(|e| {
        malformed(
            scheme,
            format!("not a PHC argon2 string ({e}); expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>"),
        )
    })?;
    let algorithm = argon2::Algorithm::try_from(ph.algorithm).map_err(|_| {
        malformed(
            scheme,
            format!(
                "unknown variant ${}$; expected $argon2id$, $argon2i$ or $argon2d$",
                ph.algorithm
            ),
        )
    })?;
    let version = match ph.version {
        None | Some(0x10) => argon2::Version::V0x10,
        Some(0x13) => argon2::Version::V0x13,
        Some(v) => {
            return Err(malformed(
                scheme,
                format!("unknown version v={v}; expected v=19 or v=16"),
            ))
        }
    };
    for (name, _) in ph.params.iter() {
        if !matches!(name.as_str(), "m" | "t" | "p") {
            return Err(HashError::Unsupported {
                scheme: scheme.to_string(),
                reason: format!(
                    "the parameter {name} (secret key or associated data) is not supported"
                ),
            });
        }
    }
    let get = |name: &'static str| {
        ph.params
            .get_decimal(name)
            .ok_or_else(|| malformed(scheme, format!("the parameter {name}= is missing")))
    };
    let (m, t, p) = (get("m")?, get("t")?, get("p")?);
    check_range(scheme, "p (lanes)", p.into(), 1, ARGON2_MAX_P.into())?;
    check_range(
        scheme,
        "m (memory KiB)",
        m.into(),
        8 * u64::from(p),
        ARGON2_MAX_M_KIB.into(),
    )?;
    check_range(scheme, "t (passes)", t.into(), 1, ARGON2_MAX_T.into())?;
    check_range(
        scheme,
        "m*t (KiB-passes)",
        u64::from(m) * u64::from(t),
        1,
        ARGON2_MAX_M_T,
    )?;
    let salt = ph
        .salt
        .ok_or_else(|| malformed(scheme, "the salt is missing"))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| malformed(scheme, format!("the salt is not valid base64 ({e})")))?
        .to_vec();
    if salt.len() < 8 {
        return Err(malformed(
            scheme,
            "the salt is shorter than argon2's minimum of 8 bytes",
        ));
    }
    let hash = ph
        .hash
        .ok_or_else(|| malformed(scheme, "the hash is missing"))?
        .as_bytes()
        .to_vec();
    if hash.len() < 4 {
        return Err(malformed(
            scheme,
            "the hash is shorter than argon2's minimum of 4 bytes",
        ));
    }
    Ok(Argon2Parsed {
        algorithm,
        version,
        m,
        t,
        p,
        salt,
        hash,
    })
}

/// What verifying a PHC argon2 string costs; `None` when it does not parse.
pub fn argon2_cost(encoded: &str) -> Option<crate::Cost> {
    let p = parse_argon2("argon2", encoded).ok()?;
    Some(crate::cost::argon2(p.m, p.t))
}

pub fn verify_argon2(encoded: &str, password: &[u8]) -> bool {
    let Ok(parsed) = parse_argon2("argon2", encoded) else {
        return false;
    };
    let mut out = vec![0u8; parsed.hash.len()];
    argon2_derive(
        parsed.algorithm,
        parsed.version,
        (parsed.m, parsed.t, parsed.p),
        password,
        &parsed.salt,
        &mut out,
    ) && ct_eq(&out, &parsed.hash)
}

/// Memory up to this many 1 KiB blocks is kept per thread between hashes (64 MiB): argon2 then
/// costs no page faults on the pool's threads, which keeps two workers at twice one's rate.
/// Larger (imported) memory sizes are allocated per call and freed.
const ARGON2_REUSE_BLOCKS: usize = 64 * 1024;

fn argon2_derive(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    (m, t, p): (u32, u32, u32),
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(params) = argon2::Params::new(m, t, p, Some(out.len())) else {
        return false;
    };
    let blocks = params.block_count();
    let a2 = argon2::Argon2::new(algorithm, version, params);
    if blocks > ARGON2_REUSE_BLOCKS {
        let mut memory = vec![argon2::Block::default(); blocks];
        return a2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .is_ok();
    }
    BLOCKS.with(|cell| {
        let Ok(mut memory) = cell.try_borrow_mut() else {
            return false;
        };
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        a2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .is_ok()
    })
}

/// `argon2` (any variant) and `argon2id` (the default for new passwords). Both names verify
/// every variant; imports are stored as `argon2id` for argon2id strings and `argon2` otherwise,
/// with `factor` = t.
pub struct Argon2Family {
    pub name: &'static str,
}

impl Hasher for Argon2Family {
    fn name(&self) -> &str {
        self.name
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let parsed = parse_argon2("argon2", password)?;
        let scheme = if parsed.algorithm == argon2::Algorithm::Argon2id {
            "argon2id"
        } else {
            "argon2"
        };
        Ok(encoded_credential(scheme, parsed.t.into(), password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        verify_argon2(&credential.hash, password)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        argon2_cost(&credential.hash)
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        let t = factor.unwrap_or(ARGON2_DEFAULT_T);
        check_range("argon2id", "t (passes)", t.into(), 1, ARGON2_MAX_T.into())?;
        Ok(crate::cost::argon2(ARGON2_DEFAULT_M_KIB, t))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let t = factor.unwrap_or(ARGON2_DEFAULT_T);
        check_range("argon2id", "t (passes)", t.into(), 1, ARGON2_MAX_T.into())?;
        let salt = random_bytes::<16>();
        let mut out = [0u8; 32];
        let m = ARGON2_DEFAULT_M_KIB;
        if !argon2_derive(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            (m, t, ARGON2_DEFAULT_P),
            password,
            &salt,
            &mut out,
        ) {
            return Err(malformed("argon2id", "argon2 rejected the parameters"));
        }
        let phc = format!(
            "$argon2id$v=19$m={m},t={t},p={ARGON2_DEFAULT_P}${}${}",
            STD_NOPAD.encode(salt),
            STD_NOPAD.encode(out)
        );
        Ok(encoded_credential("argon2id", t.into(), &phc))
    }

    fn detects(&self, encoded: &str) -> bool {
        self.name == "argon2" && encoded.starts_with("$argon2")
    }

    fn needs_rehash(&self, credential: &Credential, target_factor: u32) -> bool {
        match parse_argon2("argon2", &credential.hash) {
            Ok(p) => {
                p.algorithm != argon2::Algorithm::Argon2id
                    || p.version != argon2::Version::V0x13
                    || p.m < ARGON2_DEFAULT_M_KIB
                    || p.t < target_factor
            }
            Err(_) => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// scrypt

const SCRYPT_NAME: &str = "scrypt";
/// OWASP's scrypt parameters for new passwords: N = 2^17, r = 8, p = 1.
const SCRYPT_DEFAULT_LN: u32 = 17;

pub struct ScryptParsed {
    pub ln: u32,
    pub r: u32,
    pub p: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Checks scrypt's parameters against the limits; used by the Django and Firebase forms too.
pub fn check_scrypt(scheme: &str, ln: u64, r: u64, p: u64, len: u64) -> Result<(), HashError> {
    check_range(scheme, "ln (log2 N)", ln, 1, SCRYPT_MAX_LOG_N.into())?;
    check_range(scheme, "r (block size)", r, 1, SCRYPT_MAX_R.into())?;
    check_range(scheme, "p (parallelism)", p, 1, SCRYPT_MAX_P.into())?;
    check_range(scheme, "N*r*p", (1u64 << ln) * r * p, 1, SCRYPT_MAX_NRP)?;
    check_range(scheme, "key length", len, MIN_KEY_LEN, MAX_KEY_LEN)
}

pub fn scrypt_derive(
    ln: u32,
    r: u32,
    p: u32,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let Ok(ln) = u8::try_from(ln) else {
        return false;
    };
    let Ok(params) = scrypt::Params::new(ln, r, p, out.len()) else {
        return false;
    };
    scrypt::scrypt(password, salt, &params, out).is_ok()
}

fn parse_scrypt(s: &str) -> Result<ScryptParsed, HashError> {
    let scheme = SCRYPT_NAME;
    require_ascii(scheme, s)?;
    let parts: Vec<&str> = s.split('$').collect();
    if parts.len() != 5 || !parts[0].is_empty() || parts[1] != "scrypt" {
        return Err(malformed(
            scheme,
            "expected $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>",
        ));
    }
    let (mut ln, mut r, mut p) = (None, None, None);
    for kv in parts[2].split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| malformed(scheme, format!("parameter {kv:?} is not name=value")))?;
        let v = parse_decimal(scheme, k, v)?;
        match k {
            "ln" => ln = Some(v),
            "r" => r = Some(v),
            "p" => p = Some(v),
            other => return Err(malformed(scheme, format!("unknown parameter {other}"))),
        }
    }
    let missing = |n: &str| malformed(scheme, format!("the parameter {n}= is missing"));
    let (ln, r, p) = (
        ln.ok_or_else(|| missing("ln"))?,
        r.ok_or_else(|| missing("r"))?,
        p.ok_or_else(|| missing("p"))?,
    );
    let salt =
        decode_ab64(parts[3]).ok_or_else(|| malformed(scheme, "the salt is not valid base64"))?;
    let hash =
        decode_ab64(parts[4]).ok_or_else(|| malformed(scheme, "the hash is not valid base64"))?;
    check_scrypt(scheme, ln, r, p, hash.len() as u64)?;
    check_range(scheme, "salt length", salt.len() as u64, 0, MAX_SALT_LEN)?;
    Ok(ScryptParsed {
        ln: ln as u32,
        r: r as u32,
        p: p as u32,
        salt,
        hash,
    })
}

/// `scrypt`: PHC strings `$scrypt$ln=..,r=..,p=..$salt$hash` (RustCrypto, passlib); factor = ln.
pub struct ScryptFamily;

impl Hasher for ScryptFamily {
    fn name(&self) -> &str {
        SCRYPT_NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let parsed = parse_scrypt(password)?;
        Ok(encoded_credential(SCRYPT_NAME, parsed.ln.into(), password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Ok(parsed) = parse_scrypt(&credential.hash) else {
            return false;
        };
        let mut out = vec![0u8; parsed.hash.len()];
        scrypt_derive(
            parsed.ln,
            parsed.r,
            parsed.p,
            password,
            &parsed.salt,
            &mut out,
        ) && ct_eq(&out, &parsed.hash)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let p = parse_scrypt(&credential.hash).ok()?;
        Some(crate::cost::scrypt(p.ln, p.r, p.p))
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        let ln = factor.unwrap_or(SCRYPT_DEFAULT_LN);
        check_scrypt(SCRYPT_NAME, ln.into(), 8, 1, 32)?;
        Ok(crate::cost::scrypt(ln, 8, 1))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let ln = factor.unwrap_or(SCRYPT_DEFAULT_LN);
        check_scrypt(SCRYPT_NAME, ln.into(), 8, 1, 32)?;
        let salt = random_bytes::<16>();
        let mut out = [0u8; 32];
        if !scrypt_derive(ln, 8, 1, password, &salt, &mut out) {
            return Err(malformed(SCRYPT_NAME, "scrypt rejected the parameters"));
        }
        let encoded = format!(
            "$scrypt$ln={ln},r=8,p=1${}${}",
            STD_NOPAD.encode(salt),
            STD_NOPAD.encode(out)
        );
        Ok(encoded_credential(SCRYPT_NAME, ln.into(), &encoded))
    }

    fn detects(&self, encoded: &str) -> bool {
        encoded.starts_with("$scrypt$")
    }

    fn needs_rehash(&self, credential: &Credential, target_factor: u32) -> bool {
        parse_scrypt(&credential.hash).map_or(true, |p| p.ln < target_factor)
    }
}

// ---------------------------------------------------------------------------------------------
// PBKDF2

const PBKDF2_NAME: &str = "pbkdf2";
const PBKDF2_DEFAULT_ITERATIONS: u32 = 600_000;

struct Pbkdf2Parsed {
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse_pbkdf2(s: &str) -> Result<Pbkdf2Parsed, HashError> {
    let scheme = PBKDF2_NAME;
    require_ascii(scheme, s)?;
    let parts: Vec<&str> = s.split('$').collect();
    let expected = "expected $pbkdf2-sha256$i=<iterations>$<salt>$<hash> (PHC) or $pbkdf2-sha256$<iterations>$<salt>$<hash> (passlib)";
    if parts.len() != 5 || !parts[0].is_empty() {
        return Err(malformed(scheme, expected));
    }
    let prf = match parts[1] {
        "pbkdf2" | "pbkdf2-sha1" => Prf::Sha1,
        "pbkdf2-sha256" => Prf::Sha256,
        "pbkdf2-sha512" => Prf::Sha512,
        other => {
            return Err(malformed(
                scheme,
                format!(
                "unknown digest ${other}$; expected pbkdf2-sha1, pbkdf2-sha256 or pbkdf2-sha512"
            ),
            ))
        }
    };
    let salt =
        decode_ab64(parts[3]).ok_or_else(|| malformed(scheme, "the salt is not valid base64"))?;
    let hash =
        decode_ab64(parts[4]).ok_or_else(|| malformed(scheme, "the hash is not valid base64"))?;
    let iterations = if parts[2].contains('=') {
        let mut iterations = None;
        for kv in parts[2].split(',') {
            match kv.split_once('=') {
                Some(("i", v)) => iterations = Some(parse_decimal(scheme, "i", v)?),
                Some(("l", v)) => {
                    if parse_decimal(scheme, "l", v)? != hash.len() as u64 {
                        return Err(malformed(scheme, "l= does not match the hash length"));
                    }
                }
                _ => return Err(malformed(scheme, format!("unknown parameter {kv:?}"))),
            }
        }
        iterations.ok_or_else(|| malformed(scheme, "the parameter i= is missing"))?
    } else {
        parse_decimal(scheme, "the round count", parts[2])?
    };
    check_range(scheme, "iterations", iterations, 1, MAX_ITERATIONS)?;
    check_range(
        scheme,
        "key length",
        hash.len() as u64,
        MIN_KEY_LEN,
        MAX_KEY_LEN,
    )?;
    check_range(scheme, "salt length", salt.len() as u64, 0, MAX_SALT_LEN)?;
    Ok(Pbkdf2Parsed {
        prf,
        iterations: iterations as u32,
        salt,
        hash,
    })
}

/// `pbkdf2`: `$pbkdf2-sha1|sha256|sha512$...` in PHC or passlib form; factor = iterations.
pub struct Pbkdf2Family;

impl Hasher for Pbkdf2Family {
    fn name(&self) -> &str {
        PBKDF2_NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let parsed = parse_pbkdf2(password)?;
        Ok(encoded_credential(
            PBKDF2_NAME,
            parsed.iterations.into(),
            password,
        ))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let Ok(parsed) = parse_pbkdf2(&credential.hash) else {
            return false;
        };
        let mut out = vec![0u8; parsed.hash.len()];
        parsed
            .prf
            .pbkdf2(password, &parsed.salt, parsed.iterations, &mut out);
        ct_eq(&out, &parsed.hash)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let p = parse_pbkdf2(&credential.hash).ok()?;
        Some(crate::cost::pbkdf2(
            p.prf,
            p.iterations.into(),
            p.hash.len() as u64,
        ))
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        let iterations = factor.unwrap_or(PBKDF2_DEFAULT_ITERATIONS);
        check_range(
            PBKDF2_NAME,
            "iterations",
            iterations.into(),
            1,
            MAX_ITERATIONS,
        )?;
        Ok(crate::cost::pbkdf2(Prf::Sha256, iterations.into(), 32))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let iterations = factor.unwrap_or(PBKDF2_DEFAULT_ITERATIONS);
        check_range(
            PBKDF2_NAME,
            "iterations",
            iterations.into(),
            1,
            MAX_ITERATIONS,
        )?;
        let salt = random_bytes::<16>();
        let mut out = [0u8; 32];
        Prf::Sha256.pbkdf2(password, &salt, iterations, &mut out);
        let encoded = format!(
            "$pbkdf2-sha256$i={iterations},l=32${}${}",
            STD_NOPAD.encode(salt),
            STD_NOPAD.encode(out)
        );
        Ok(encoded_credential(PBKDF2_NAME, iterations.into(), &encoded))
    }

    fn detects(&self, encoded: &str) -> bool {
        encoded.starts_with("$pbkdf2")
    }

    fn needs_rehash(&self, credential: &Credential, target_factor: u32) -> bool {
        parse_pbkdf2(&credential.hash).map_or(true, |p| {
            p.prf != Prf::Sha256 || p.iterations < target_factor
        })
    }
}
