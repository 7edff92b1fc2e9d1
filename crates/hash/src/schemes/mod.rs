//! The built-in schemes, one module per family, and the helpers they share.

mod aspnet;
mod bcrypt;
mod crypt;
mod django;
mod firebase;
mod fusionauth;
mod ldap;
mod phc;
mod phpass;

use subtle::ConstantTimeEq as _;

use crate::registry::Hasher;
use crate::HashError;

/// Every built-in hasher, in the order `auto` detection asks them.
pub fn builtin() -> Vec<Box<dyn Hasher>> {
    vec![
        Box::new(bcrypt::Bcrypt),
        Box::new(phc::Argon2Family { name: "argon2" }),
        Box::new(phc::Argon2Family { name: "argon2id" }),
        Box::new(phc::ScryptFamily),
        Box::new(phc::Pbkdf2Family),
        Box::new(firebase::FirebaseScrypt),
        Box::new(crypt::CryptFamily),
        Box::new(phpass::PhpassFamily),
        Box::new(ldap::LdapFamily),
        Box::new(django::DjangoFamily),
        Box::new(aspnet::AspNetIdentity),
        Box::new(fusionauth::SaltedDigest::MD5),
        Box::new(fusionauth::SaltedDigest::SHA256),
        Box::new(fusionauth::SaltedHmacSha256),
        Box::new(fusionauth::SaltedPbkdf2::SHA256),
        Box::new(fusionauth::SaltedPbkdf2::SHA256_512),
        Box::new(fusionauth::SaltedPbkdf2::SHA512_512),
        Box::new(phpass::PhpassSplit::MD5),
        Box::new(phpass::PhpassSplit::SHA512),
    ]
}

pub fn is_argon2_name(name: &str) -> bool {
    name == "argon2" || name == "argon2id"
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn malformed(scheme: &str, reason: impl Into<String>) -> HashError {
    HashError::Malformed {
        scheme: scheme.to_string(),
        reason: reason.into(),
    }
}

/// `value` must be in `min..=max`; the error names the parameter and the bound.
pub fn check_range(
    scheme: &str,
    parameter: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), HashError> {
    if value < min {
        return Err(HashError::ParameterTooSmall {
            scheme: scheme.to_string(),
            parameter,
            value,
            minimum: min,
        });
    }
    if value > max {
        return Err(HashError::ParameterTooLarge {
            scheme: scheme.to_string(),
            parameter,
            value,
            limit: max,
        });
    }
    Ok(())
}

/// Encoded hashes are ASCII; checking once lets parsers slice strings without panicking.
pub fn require_ascii(scheme: &str, s: &str) -> Result<(), HashError> {
    if s.is_ascii() {
        Ok(())
    } else {
        Err(malformed(scheme, "the hash contains non-ASCII characters"))
    }
}

pub fn parse_decimal(scheme: &str, what: &str, s: &str) -> Result<u64, HashError> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            scheme,
            format!("{what} must be a decimal number, found {s:?}"),
        ));
    }
    s.parse()
        .map_err(|_| malformed(scheme, format!("{what} {s:?} is not a number")))
}

pub fn decode_std(scheme: &str, what: &str, s: &str) -> Result<Vec<u8>, HashError> {
    use base64::Engine as _;
    crate::encoding::STD
        .decode(s)
        .map_err(|e| malformed(scheme, format!("{what} is not valid base64 ({e})")))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore as _;
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A simple self-describing credential: family name, main cost, the whole string.
pub fn encoded_credential(scheme: &str, factor: u64, encoded: &str) -> crate::Credential {
    crate::Credential {
        scheme: scheme.to_string(),
        factor: u32::try_from(factor).unwrap_or(u32::MAX),
        salt: String::new(),
        hash: encoded.to_string(),
    }
}

/// PBKDF2 with a digest chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Prf {
    pub fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        match self {
            Prf::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out),
            Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
            Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
        }
    }
}
