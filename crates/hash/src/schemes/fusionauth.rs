//! FusionAuth's split-field schemes: `salted-md5`, `salted-sha256`, `salted-hmac-sha256` and the
//! three `salted-pbkdf2-*` schemes. `salt` is base64 of the salt bytes, `password` is base64 of
//! the derived bytes, `factor` is the iteration count (unused by `salted-hmac-sha256`).
//!
//! (`bcrypt` and the phpass split forms live with their families.)

use super::{check_range, ct_eq, decode_std, malformed, random_bytes, Prf};
use crate::encoding::encode_std;
use crate::limits::{MAX_ITERATIONS, MAX_SALT_LEN};
use crate::registry::Hasher;
use crate::{Credential, HashError};

fn required_factor(scheme: &str, factor: Option<u32>) -> Result<u32, HashError> {
    let factor = factor.ok_or_else(|| {
        malformed(
            scheme,
            "factor (the iteration count) is required for this scheme",
        )
    })?;
    check_range(scheme, "iterations", factor.into(), 1, MAX_ITERATIONS)?;
    Ok(factor)
}

fn required_salt(scheme: &str, salt: Option<&str>) -> Result<Vec<u8>, HashError> {
    let salt = salt.ok_or_else(|| {
        malformed(
            scheme,
            "salt (base64 of the salt bytes) is required for this scheme",
        )
    })?;
    let bytes = decode_std(scheme, "the salt", salt.trim())?;
    check_range(scheme, "salt length", bytes.len() as u64, 0, MAX_SALT_LEN)?;
    Ok(bytes)
}

/// The derived bytes of `hash`: base64 as FusionAuth documents, or hex of exactly the digest's
/// length, which is how many legacy stores (PHP's `hash()`, MySQL's `SHA2()`) keep digests — and
/// how FusionAuth's own migration guide writes its example. The two cannot be confused: base64
/// of an n-byte digest is about 4n/3 characters, hex is exactly 2n.
fn decode_hash(scheme: &str, hash: &str, expected_len: usize) -> Result<Vec<u8>, HashError> {
    let hash = hash.trim();
    if hash.len() == 2 * expected_len && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        let nibble = |b: u8| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        return Ok(hash
            .as_bytes()
            .chunks(2)
            .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
            .collect());
    }
    let bytes = decode_std(scheme, "the password hash", hash)?;
    if bytes.len() != expected_len {
        return Err(malformed(
            scheme,
            format!(
                "the password hash decodes to {} bytes; this scheme produces {expected_len}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::decode_hash;

    #[test]
    fn digests_may_be_hex_of_exactly_their_length_or_base64() {
        let digest: Vec<u8> = (0u8..32).collect();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(decode_hash("salted-sha256", &hex, 32).unwrap(), digest);
        assert_eq!(
            decode_hash("salted-sha256", &hex.to_uppercase(), 32).unwrap(),
            digest
        );
        let b64 = crate::encoding::encode_std(&digest);
        assert_eq!(decode_hash("salted-sha256", &b64, 32).unwrap(), digest);
        // Hex of the wrong length is read as base64, and then fails on length.
        assert!(decode_hash("salted-sha256", &hex[..62], 32).is_err());
    }
}

fn split_credential(scheme: &str, factor: u32, salt: &str, hash: &str) -> Credential {
    Credential {
        scheme: scheme.to_string(),
        factor,
        salt: salt.trim().to_string(),
        hash: hash.to_string(),
    }
}

#[derive(Clone, Copy)]
enum Digest {
    Md5,
    Sha256,
}

/// `salted-md5` and `salted-sha256`: r = H(utf8(password) ‖ salt), then r = H(r) factor − 1
/// more times; the hash is base64(r).
///
/// Reading taken where FusionAuth's docs are ambiguous: `factor` counts *all* hash
/// applications, so factor 1 is a single H(password ‖ salt) — the common legacy
/// "md5(password + salt)" that teams import with factor 1 — and the salt is the base64-decoded
/// bytes of the `salt` field, as for every other FusionAuth scheme.
pub struct SaltedDigest {
    name: &'static str,
    digest: Digest,
}

impl SaltedDigest {
    pub const MD5: Self = Self {
        name: "salted-md5",
        digest: Digest::Md5,
    };
    pub const SHA256: Self = Self {
        name: "salted-sha256",
        digest: Digest::Sha256,
    };

    fn len(&self) -> usize {
        match self.digest {
            Digest::Md5 => 16,
            Digest::Sha256 => 32,
        }
    }

    fn cost_at(&self, factor: u32) -> crate::Cost {
        crate::cost::iterated_digest(matches!(self.digest, Digest::Sha256), factor.into())
    }

    fn derive(&self, password: &[u8], salt: &[u8], factor: u32) -> Vec<u8> {
        fn run<D: md5::Digest>(password: &[u8], salt: &[u8], factor: u32) -> Vec<u8> {
            let mut r = D::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize();
            for _ in 1..factor {
                r = D::digest(&r);
            }
            r.to_vec()
        }
        match self.digest {
            Digest::Md5 => run::<md5::Md5>(password, salt, factor),
            Digest::Sha256 => run::<sha2::Sha256>(password, salt, factor),
        }
    }
}

impl Hasher for SaltedDigest {
    fn name(&self) -> &str {
        self.name
    }

    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let factor = required_factor(self.name, factor)?;
        required_salt(self.name, salt)?;
        decode_hash(self.name, password, self.len())?;
        Ok(split_credential(
            self.name,
            factor,
            salt.unwrap_or(""),
            password,
        ))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let (Ok(factor), Ok(salt), Ok(hash)) = (
            required_factor(self.name, Some(credential.factor)),
            required_salt(self.name, Some(&credential.salt)),
            decode_hash(self.name, &credential.hash, self.len()),
        ) else {
            return false;
        };
        ct_eq(&self.derive(password, &salt, factor), &hash)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let factor = required_factor(self.name, Some(credential.factor)).ok()?;
        Some(self.cost_at(factor))
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        Ok(self.cost_at(required_factor(self.name, Some(factor.unwrap_or(1)))?))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let factor = required_factor(self.name, Some(factor.unwrap_or(1)))?;
        let salt = random_bytes::<32>();
        let hash = self.derive(password, &salt, factor);
        Ok(split_credential(
            self.name,
            factor,
            &encode_std(&salt),
            &encode_std(&hash),
        ))
    }
}

/// `salted-hmac-sha256`: base64(HMAC-SHA256(key = salt bytes, message = password)). The factor
/// is unused; it is stored as given (1 when absent) and never checked.
pub struct SaltedHmacSha256;

const HMAC_NAME: &str = "salted-hmac-sha256";

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac =
        <hmac::Hmac<sha2::Sha256>>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl Hasher for SaltedHmacSha256 {
    fn name(&self) -> &str {
        HMAC_NAME
    }

    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        required_salt(HMAC_NAME, salt)?;
        decode_hash(HMAC_NAME, password, 32)?;
        Ok(split_credential(
            HMAC_NAME,
            factor.unwrap_or(1),
            salt.unwrap_or(""),
            password,
        ))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let (Ok(salt), Ok(hash)) = (
            required_salt(HMAC_NAME, Some(&credential.salt)),
            decode_hash(HMAC_NAME, &credential.hash, 32),
        ) else {
            return false;
        };
        ct_eq(&hmac_sha256(&salt, password), &hash)
    }

    fn cost(&self, _credential: &Credential) -> Option<crate::Cost> {
        Some(crate::cost::SINGLE_DIGEST)
    }

    fn new_hash_cost(&self, _factor: Option<u32>) -> Result<crate::Cost, HashError> {
        Ok(crate::cost::SINGLE_DIGEST)
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let salt = random_bytes::<32>();
        Ok(split_credential(
            HMAC_NAME,
            factor.unwrap_or(1),
            &encode_std(&salt),
            &encode_std(&hmac_sha256(&salt, password)),
        ))
    }
}

/// `salted-pbkdf2-hmac-sha256` (32-byte key), `salted-pbkdf2-hmac-sha256-512` (64-byte key,
/// Keycloak's format) and `salted-pbkdf2-hmac-sha512-512` (SHA-512, 64-byte key).
pub struct SaltedPbkdf2 {
    name: &'static str,
    prf: Prf,
    len: usize,
    default_iterations: u32,
}

impl SaltedPbkdf2 {
    pub const SHA256: Self = Self {
        name: "salted-pbkdf2-hmac-sha256",
        prf: Prf::Sha256,
        len: 32,
        default_iterations: 600_000,
    };
    pub const SHA256_512: Self = Self {
        name: "salted-pbkdf2-hmac-sha256-512",
        prf: Prf::Sha256,
        len: 64,
        default_iterations: 600_000,
    };
    pub const SHA512_512: Self = Self {
        name: "salted-pbkdf2-hmac-sha512-512",
        prf: Prf::Sha512,
        len: 64,
        default_iterations: 210_000,
    };
}

impl Hasher for SaltedPbkdf2 {
    fn name(&self) -> &str {
        self.name
    }

    fn parse_import(
        &self,
        factor: Option<u32>,
        salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let factor = required_factor(self.name, factor)?;
        required_salt(self.name, salt)?;
        decode_hash(self.name, password, self.len)?;
        Ok(split_credential(
            self.name,
            factor,
            salt.unwrap_or(""),
            password,
        ))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        let (Ok(factor), Ok(salt), Ok(hash)) = (
            required_factor(self.name, Some(credential.factor)),
            required_salt(self.name, Some(&credential.salt)),
            decode_hash(self.name, &credential.hash, self.len),
        ) else {
            return false;
        };
        let mut out = vec![0u8; self.len];
        self.prf.pbkdf2(password, &salt, factor, &mut out);
        ct_eq(&out, &hash)
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        let factor = required_factor(self.name, Some(credential.factor)).ok()?;
        Some(crate::cost::pbkdf2(
            self.prf,
            factor.into(),
            self.len as u64,
        ))
    }

    fn new_hash_cost(&self, factor: Option<u32>) -> Result<crate::Cost, HashError> {
        let factor = required_factor(self.name, Some(factor.unwrap_or(self.default_iterations)))?;
        Ok(crate::cost::pbkdf2(
            self.prf,
            factor.into(),
            self.len as u64,
        ))
    }

    fn hash(&self, factor: Option<u32>, password: &[u8]) -> Result<Credential, HashError> {
        let factor = required_factor(self.name, Some(factor.unwrap_or(self.default_iterations)))?;
        let salt = random_bytes::<32>();
        let mut out = vec![0u8; self.len];
        self.prf.pbkdf2(password, &salt, factor, &mut out);
        Ok(split_credential(
            self.name,
            factor,
            &encode_std(&salt),
            &encode_std(&out),
        ))
    }
}
