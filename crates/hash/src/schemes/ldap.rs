//! OpenLDAP `userPassword` values: `{SSHA}`, `{SSHA256}`, `{SSHA512}`, `{SMD5}` (base64 of
//! digest ‖ salt, digest = H(password ‖ salt)), `{SHA}`, `{SHA256}`, `{SHA512}`, `{MD5}`
//! (base64 of H(password)), `{CRYPT}` followed by a crypt(3) string, and `{ARGON2}` followed
//! by a PHC argon2 string (OpenLDAP's argon2 module). Tags are case-insensitive.

use super::{
    check_range, crypt, ct_eq, decode_std, encoded_credential, malformed, phc, require_ascii,
};
use crate::limits::MAX_SALT_LEN;
use crate::registry::Hasher;
use crate::{Credential, HashError};

const NAME: &str = "ldap";

#[derive(Clone, Copy)]
enum Digest {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    fn len(self) -> usize {
        match self {
            Digest::Md5 => 16,
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }

    fn hash(self, password: &[u8], salt: &[u8]) -> Vec<u8> {
        fn run<D: md5::Digest>(password: &[u8], salt: &[u8]) -> Vec<u8> {
            D::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec()
        }
        match self {
            Digest::Md5 => run::<md5::Md5>(password, salt),
            Digest::Sha1 => run::<sha1::Sha1>(password, salt),
            Digest::Sha256 => run::<sha2::Sha256>(password, salt),
            Digest::Sha512 => run::<sha2::Sha512>(password, salt),
        }
    }
}

enum Parsed<'a> {
    Digest {
        digest: Digest,
        hash: Vec<u8>,
        salt: Vec<u8>,
    },
    Crypt(&'a str),
    Argon2(&'a str),
}

fn parse(s: &str) -> Result<(Parsed<'_>, u64), HashError> {
    require_ascii(NAME, s)?;
    let (tag, rest) = s
        .strip_prefix('{')
        .and_then(|s| s.split_once('}'))
        .ok_or_else(|| malformed(NAME, "expected {SCHEME}value, e.g. {SSHA}base64"))?;
    let (digest, salted) = match tag.to_ascii_uppercase().as_str() {
        "CRYPT" => return crypt::check_crypt(rest).map(|f| (Parsed::Crypt(rest), f)),
        "ARGON2" => {
            return phc::parse_argon2(NAME, rest).map(|p| (Parsed::Argon2(rest), p.t.into()))
        }
        "MD5" => (Digest::Md5, false),
        "SMD5" => (Digest::Md5, true),
        "SHA" => (Digest::Sha1, false),
        "SSHA" => (Digest::Sha1, true),
        "SHA256" => (Digest::Sha256, false),
        "SSHA256" => (Digest::Sha256, true),
        "SHA512" => (Digest::Sha512, false),
        "SSHA512" => (Digest::Sha512, true),
        other => {
            return Err(HashError::Unsupported {
                scheme: NAME.to_string(),
                reason: format!("the LDAP scheme {{{other}}} is not supported; supported are {{SSHA}}, {{SSHA256}}, {{SSHA512}}, {{SMD5}}, {{SHA}}, {{SHA256}}, {{SHA512}}, {{MD5}}, {{CRYPT}} and {{ARGON2}}"),
            })
        }
    };
    let mut bytes = decode_std(NAME, "the value after the {SCHEME} tag", rest)?;
    let len = digest.len();
    if salted {
        if bytes.len() <= len {
            return Err(malformed(
                NAME,
                format!(
                    "{{{tag}}} needs a {len}-byte digest followed by a salt; found {} bytes",
                    bytes.len()
                ),
            ));
        }
        check_range(
            NAME,
            "salt length",
            (bytes.len() - len) as u64,
            1,
            MAX_SALT_LEN,
        )?;
    } else if bytes.len() != len {
        return Err(malformed(
            NAME,
            format!(
                "{{{tag}}} is a {len}-byte digest; found {} bytes",
                bytes.len()
            ),
        ));
    }
    let salt = bytes.split_off(len);
    Ok((
        Parsed::Digest {
            digest,
            hash: bytes,
            salt,
        },
        1,
    ))
}

/// `ldap`: OpenLDAP `userPassword` values; factor = 1 (crypt rounds for `{CRYPT}`).
pub struct LdapFamily;

impl Hasher for LdapFamily {
    fn name(&self) -> &str {
        NAME
    }

    fn parse_import(
        &self,
        _factor: Option<u32>,
        _salt: Option<&str>,
        password: &str,
    ) -> Result<Credential, HashError> {
        let (_, factor) = parse(password)?;
        Ok(encoded_credential(NAME, factor, password))
    }

    fn verify(&self, credential: &Credential, password: &[u8]) -> bool {
        match parse(&credential.hash) {
            Ok((Parsed::Digest { digest, hash, salt }, _)) => {
                ct_eq(&digest.hash(password, &salt), &hash)
            }
            Ok((Parsed::Crypt(s), _)) => crypt::verify_crypt(s, password),
            Ok((Parsed::Argon2(s), _)) => phc::verify_argon2(s, password),
            Err(_) => false,
        }
    }

    fn cost(&self, credential: &Credential) -> Option<crate::Cost> {
        match parse(&credential.hash).ok()? {
            (Parsed::Digest { .. }, _) => Some(crate::cost::SINGLE_DIGEST),
            (Parsed::Crypt(s), _) => crypt::crypt_cost(s),
            (Parsed::Argon2(s), _) => phc::argon2_cost(s),
        }
    }

    fn detects(&self, encoded: &str) -> bool {
        encoded.starts_with('{')
    }
}
