//! Limits on the parameters of imported hashes.
//!
//! A legacy export is untrusted input: one crafted hash with bcrypt cost 31 or argon2 m = 64 GiB
//! would make each login attempt a denial of service. Every limit here is far above what any
//! real system uses, and each violation is a [`crate::HashError::ParameterTooLarge`] naming it.

/// bcrypt cost (log2 of rounds). Real systems use 10-13.
pub const BCRYPT_MAX_COST: u32 = 16;
/// bcrypt's own minimum cost.
pub const BCRYPT_MIN_COST: u32 = 4;
/// Iterations of any iterated scheme: PBKDF2 (all variants, Django, ASP.NET Identity),
/// salted-md5/sha256, sha-crypt rounds and phpass loop counts.
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// phpass log2(loop count): 2^23 is the largest power of two under [`MAX_ITERATIONS`].
pub const PHPASS_MAX_LOG2: u32 = 23;
/// scrypt log2(N).
pub const SCRYPT_MAX_LOG_N: u32 = 20;
/// scrypt r (block size).
pub const SCRYPT_MAX_R: u32 = 32;
/// scrypt p (parallelism).
pub const SCRYPT_MAX_P: u32 = 16;
/// scrypt N·r·p: bounds both memory (128·N·r bytes) and time. 2^23 = N 2^20 with r 8, p 1.
pub const SCRYPT_MAX_NRP: u64 = 1 << 23;
/// argon2 m in KiB (1 GiB).
pub const ARGON2_MAX_M_KIB: u32 = 1024 * 1024;
/// argon2 t (passes).
pub const ARGON2_MAX_T: u32 = 64;
/// argon2 p (lanes).
pub const ARGON2_MAX_P: u32 = 64;
/// argon2 m·t in KiB-passes (4 GiB-passes, e.g. 1 GiB at t = 4).
pub const ARGON2_MAX_M_T: u64 = 4 * 1024 * 1024;
/// Length of a derived key we will compute, in bytes.
pub const MAX_KEY_LEN: u64 = 128;
/// Shortest derived key we accept where the format lets the length vary (PBKDF2, scrypt).
pub const MIN_KEY_LEN: u64 = 16;
/// Length of a salt, in bytes.
pub const MAX_SALT_LEN: u64 = 1024;
/// Length of an encoded hash string, in bytes.
pub const MAX_ENCODED_LEN: usize = 4096;
