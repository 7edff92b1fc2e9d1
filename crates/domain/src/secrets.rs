//! Random secrets and the form they are stored in: API keys, refresh tokens, change-password ids
//! and the throw-away passwords of dummy hashes are 32 random bytes from the OS (base64url); only
//! their SHA-256 is stored and looked up.

use base64::Engine as _;
use rand::RngCore;
use sha2::Digest;

/// A new random secret: 32 bytes from the OS, base64url without padding.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The stored form of a secret: SHA-256, hex. Secrets are 256 random bits, so a fast hash is
/// enough (nothing to brute-force), and looking the hash up by a unique index compares no
/// secret bytes in our code, so no constant-time comparison is needed.
pub fn stored_hash(secret: &str) -> String {
    portcullis_hash::hex(&sha2::Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_and_hashed_in_hex() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(
            stored_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
