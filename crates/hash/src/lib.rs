//! Password credentials: the stored form of a password, verifying it, and hashing new ones.
//!
//! This crate has no I/O. It owns every hash scheme Portcullis accepts from a legacy system
//! (`docs/hashes.md`), the schemes it writes new passwords with, and the bounded worker pool that keeps
//! CPU-heavy hashing off the async runtime.
//!
//! The free functions ([`hash_password`], [`verify`], [`parse_import`], [`needs_rehash`]) use the
//! built-in [`Registry`]. A team with a scheme of its own builds a registry with
//! [`Registry::with_builtin`] and [`Registry::register`]s a [`Hasher`] (see `docs/hashes.md`),
//! then hands it to the server's [`HashPool`] ([`HashPool::with_registry`]): everything the
//! server hashes, verifies or prices goes through the pool's registry.
//!
//! Rules every scheme follows:
//! - derived bytes are compared in constant time ([`subtle`]);
//! - a credential that does not parse, or whose parameters are over the [`limits`], never
//!   verifies, and nothing here panics on any input;
//! - imported parameters are checked against the [`limits`] so a crafted hash cannot make a
//!   login cost minutes of CPU or gigabytes of memory.

pub mod cost;
mod encoding;
pub mod limits;
mod pool;
mod registry;
mod schemes;

use std::sync::OnceLock;

pub use cost::Cost;
pub use encoding::hex;
pub use pool::{HashPool, Lane, PoolBusy, COSTLY_ABOVE, INLINE_BELOW};
pub use registry::{Hasher, Registry};

/// A stored password credential: FusionAuth's split form (scheme, factor, salt, hash).
///
/// - FusionAuth split schemes (`salted-md5`, `salted-pbkdf2-hmac-sha256`, `phpass-md5`, ...):
///   `scheme` is FusionAuth's name, `factor` its factor, `salt` and `hash` as FusionAuth stores
///   them (base64 of the bytes, except phpass whose salt and hash are phpass' own characters).
/// - Self-describing schemes (`argon2`, `scrypt`, `django`, `crypt`, `ldap`, ..., and `bcrypt`
///   in either import form): `scheme` is the family name, `hash` holds the whole encoded string,
///   `salt` is empty and `factor` is the string's main cost (informational).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub scheme: String,
    pub factor: u32,
    pub salt: String,
    pub hash: String,
}

/// Why a password hash could not be imported or produced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    #[error(
        "unknown password hash scheme [{0}]; use one of FusionAuth's encryptionScheme names \
         (salted-md5, salted-sha256, salted-hmac-sha256, salted-pbkdf2-hmac-sha256, \
         salted-pbkdf2-hmac-sha256-512, salted-pbkdf2-hmac-sha512-512, bcrypt, phpass-md5, \
         phpass-sha512), a family name (argon2, scrypt, pbkdf2, django, crypt, phpass, ldap, \
         aspnet-identity, firebase-scrypt) or auto, or register a custom Hasher"
    )]
    UnknownScheme(String),
    #[error("malformed {scheme} hash: {reason}")]
    Malformed { scheme: String, reason: String },
    #[error(
        "{scheme} {parameter} = {value} is over Portcullis' limit of {limit} (a guard against \
         denial of service by a crafted hash); rehash it with a lower cost in the legacy system \
         or import this user without a password"
    )]
    ParameterTooLarge {
        scheme: String,
        parameter: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("{scheme} {parameter} = {value} is below the minimum of {minimum} the scheme allows")]
    ParameterTooSmall {
        scheme: String,
        parameter: &'static str,
        value: u64,
        minimum: u64,
    },
    #[error(
        "{0} is accepted for import and verification only; hash new passwords with argon2id, \
         bcrypt, scrypt, pbkdf2 or one of FusionAuth's salted-* schemes"
    )]
    CannotHash(String),
    #[error("{scheme}: {reason}")]
    Unsupported { scheme: String, reason: String },
}

/// The scheme new passwords get unless a tenant chooses another.
pub const DEFAULT_SCHEME: &str = "argon2id";

/// The built-in schemes, for the free functions below (tools, tests, benchmarks). A server
/// hashes and verifies through its [`HashPool`]'s registry instead, which may hold more.
fn builtin() -> &'static Registry {
    static BUILTIN: OnceLock<Registry> = OnceLock::new();
    BUILTIN.get_or_init(Registry::with_builtin)
}

/// Hashes `password` with `scheme` (a scheme we write) at `factor` (scheme default when `None`).
///
/// Factors: argon2id = t (m = 19 MiB, p = 1), bcrypt = cost, scrypt = log2(N) (r = 8, p = 1),
/// pbkdf2 and the salted-* schemes = iterations.
pub fn hash_password(
    scheme: &str,
    factor: Option<u32>,
    password: &[u8],
) -> Result<Credential, HashError> {
    builtin().hash_password(scheme, factor, password)
}

/// Verifies `password` against `credential`, comparing the derived bytes in constant time.
/// A credential that cannot be parsed, or is over the limits, never verifies. Never panics.
pub fn verify(credential: &Credential, password: &[u8]) -> bool {
    builtin().verify(credential, password)
}

/// Parses a credential from import input: FusionAuth's split fields, or a self-describing
/// encoded string when `scheme` names a family (`docs/hashes.md`) or is `auto`. Validates fully
/// (syntax, lengths and parameter limits) so an import can report the error per user.
pub fn parse_import(
    scheme: &str,
    factor: Option<u32>,
    salt: Option<&str>,
    password: &str,
) -> Result<Credential, HashError> {
    builtin().parse_import(scheme, factor, salt, password)
}

/// True when `credential` should be rehashed to `target_scheme` at `target_factor` after a
/// successful login: another scheme, a weaker factor, or a credential that does not parse.
pub fn needs_rehash(credential: &Credential, target_scheme: &str, target_factor: u32) -> bool {
    builtin().needs_rehash(credential, target_scheme, target_factor)
}

/// What verifying `credential` costs, in [`mod@cost`]'s unit; `None` when it does not parse.
pub fn cost(credential: &Credential) -> Option<Cost> {
    builtin().cost(credential)
}

/// What verifying a password hashed with `scheme` at `factor` (the scheme's default when
/// `None`) costs. An error when `scheme` is unknown, writes no new passwords, or `factor` is out
/// of its range: the check a tenant's `passwordEncryptionConfiguration` gets on save.
pub fn new_hash_cost(scheme: &str, factor: Option<u32>) -> Result<Cost, HashError> {
    builtin().new_hash_cost(scheme, factor)
}
