//! The cost model: what verifying one credential costs, in one unit across every scheme.
//!
//! The parameter [`limits`](crate::limits) bound each parameter alone; a credential at several
//! of them at once still costs seconds of CPU (a PBKDF2 at the iteration limit computes its whole
//! iteration run once per output block of its digest, so a 128-byte key of PBKDF2-SHA1 costs
//! seven runs). The import compares a credential's total cost with the tenant's own scheme
//! ([`new_hash_cost`](crate::new_hash_cost)) to refuse the far costlier ones, and the pool runs
//! verifies costlier than the tenant's scheme on a smaller lane of their own
//! ([`HashPool::for_verify`](crate::HashPool::for_verify)).
//!
//! The unit is about one nanosecond of one core of the 2-core machine the weights below were
//! measured on (release build, the RustCrypto implementations this crate uses): a wrong guess
//! against PBKDF2-SHA1 at 10 M iterations and a 128-byte key took 8.8 s (model: 9.1 s), bcrypt
//! cost 16 took 4.4 s (4.4 s), argon2id m = 1 GiB, t = 4 took 4.3 s (4.2 s); argon2id at our
//! defaults models as 39 ms. Only ratios matter: a figure is right within a factor of about two
//! across schemes, which is why a lane or a budget never turns on a small difference.

use crate::schemes::Prf;

/// Work of verifying one credential, in reference nanoseconds (see the module docs).
pub type Cost = u64;

/// One PBKDF2-HMAC iteration computing one output block, per digest.
const PBKDF2_SHA1: Cost = 130;
const PBKDF2_SHA256: Cost = 190;
const PBKDF2_SHA512: Cost = 450;
/// One iterated digest of a short input (`salted-md5`, `salted-sha256`, phpass rounds).
const DIGEST_MD5: Cost = 80;
const DIGEST_SHA256: Cost = 100;
const DIGEST_SHA512: Cost = 250;
/// One round of sha256-crypt and sha512-crypt (several digests of password and salt each).
const SHA256_CRYPT_ROUND: Cost = 150;
const SHA512_CRYPT_ROUND: Cost = 350;
/// md5-crypt's fixed 1000 rounds.
const MD5_CRYPT: Cost = 400_000;
/// One of bcrypt's 2^cost expensive key-schedule rounds.
const BCRYPT_ROUND: Cost = 67_000;
/// argon2: one pass over one KiB of memory.
const ARGON2_KIB_PASS: Cost = 1_000;
/// scrypt: one unit of N·r·p (two passes over 128 bytes of memory).
const SCRYPT_NRP: Cost = 450;
/// A single keyed or salted digest (`salted-hmac-sha256`, LDAP `{SSHA}`, Django `sha1`).
pub const SINGLE_DIGEST: Cost = 1_000;

/// PBKDF2 with `prf` at `iterations`, deriving `key_len` bytes: one iteration run per output
/// block of the digest.
pub fn pbkdf2(prf: Prf, iterations: u64, key_len: u64) -> Cost {
    let (block, per) = match prf {
        Prf::Sha1 => (20, PBKDF2_SHA1),
        Prf::Sha256 => (32, PBKDF2_SHA256),
        Prf::Sha512 => (64, PBKDF2_SHA512),
    };
    let blocks = key_len.div_ceil(block).max(1);
    iterations.saturating_mul(blocks).saturating_mul(per)
}

/// `salted-md5` / `salted-sha256`: `iterations` digests.
pub fn iterated_digest(sha256: bool, iterations: u64) -> Cost {
    let per = if sha256 { DIGEST_SHA256 } else { DIGEST_MD5 };
    iterations.saturating_mul(per)
}

/// bcrypt at `cost`: 2^cost rounds.
pub fn bcrypt(cost: u32) -> Cost {
    (1u64 << cost.min(40)).saturating_mul(BCRYPT_ROUND)
}

/// argon2 with `m_kib` KiB of memory and `t` passes (its lanes share the same total work).
pub fn argon2(m_kib: u32, t: u32) -> Cost {
    u64::from(m_kib)
        .saturating_mul(u64::from(t))
        .saturating_mul(ARGON2_KIB_PASS)
}

/// scrypt with N = 2^`ln`, block size `r` and parallelism `p`.
pub fn scrypt(ln: u32, r: u32, p: u32) -> Cost {
    (1u64 << ln.min(40))
        .saturating_mul(u64::from(r))
        .saturating_mul(u64::from(p))
        .saturating_mul(SCRYPT_NRP)
}

/// sha256-crypt or sha512-crypt at `rounds`.
pub fn sha_crypt(sha512: bool, rounds: u64) -> Cost {
    let per = if sha512 {
        SHA512_CRYPT_ROUND
    } else {
        SHA256_CRYPT_ROUND
    };
    rounds.saturating_mul(per)
}

/// md5-crypt (and `$apr1$`): always 1000 rounds.
pub fn md5_crypt() -> Cost {
    MD5_CRYPT
}

/// phpass: 2^`log2` digests of MD5 or SHA-512.
pub fn phpass(sha512: bool, log2: u32) -> Cost {
    let per = if sha512 { DIGEST_SHA512 } else { DIGEST_MD5 };
    (1u64 << log2.min(40)).saturating_mul(per)
}
