//! The keys two-factor secrets are encrypted with at rest: ChaCha20-Poly1305 (`ring`), one
//! current key that seals and any number of older keys that still open, each named by a key id
//! (the first 8 hex digits of the key's SHA-256) that every sealed value carries, so a key can be
//! rotated without rewriting the stored secrets at once.
//!
//! A sealed value reads `tf1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`.

use base64::Engine as _;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::Digest;

const PREFIX: &str = "tf1";
/// Binds a sealed value to its use: a ciphertext of another purpose never opens as a secret.
const AAD: &[u8] = b"portcullis two-factor secret";

/// The current key (first) and the older ones that still open what they sealed.
pub struct TwoFactorKeys {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for TwoFactorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "TwoFactorKeys({kids:?})")
    }
}

/// The id of a key: the first 8 hex digits of its SHA-256 (names the key, tells nothing of it).
fn kid(key: &[u8]) -> String {
    portcullis_hash::hex(&sha2::Sha256::digest(key)[..4])
}

fn decode_key(text: &str, what: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .map_err(|_| format!("the {what} is not base64"))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "the {what} must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), not {}",
            b.len()
        )
    })
}

impl TwoFactorKeys {
    /// Keys from raw bytes: `current` seals, every key opens.
    pub fn new(current: [u8; 32], old: &[[u8; 32]]) -> Self {
        let keys = std::iter::once(&current)
            .chain(old)
            .map(|k| {
                let unbound = UnboundKey::new(&CHACHA20_POLY1305, k).expect("a 32-byte key");
                (kid(k), LessSafeKey::new(unbound))
            })
            .collect();
        Self { keys }
    }

    /// Keys from their base64 forms (the `--two-factor-key` and `--two-factor-old-keys` settings).
    pub fn parse(current: &str, old: &[String]) -> Result<Self, String> {
        let current = decode_key(current, "two-factor key")?;
        let old = old
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| decode_key(o, "old two-factor key"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(current, &old))
    }

    /// A new random key and its base64 form (to keep it somewhere).
    pub fn generate() -> (Self, String) {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        let text = base64::engine::general_purpose::STANDARD.encode(k);
        (Self::new(k, &[]), text)
    }

    /// The id of the key that seals.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].0
    }

    /// Encrypts `plain` with the current key and a random nonce.
    pub fn seal(&self, plain: &[u8]) -> String {
        let (kid, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut buf,
        )
        .expect("a secret small enough to seal");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!(
            "{PREFIX}.{kid}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    /// Whether `value` has the form of a sealed value (it may still fail to open).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with("tf1.")
    }

    /// Decrypts a sealed value with the key its id names. The error says what is wrong (the
    /// form, an unknown key id, or a key that does not open it) and never carries the secret.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, String> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(
                "the stored two-factor secret is not in the sealed form `tf1.<kid>.<data>`".into(),
            );
        };
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == kid) else {
            return Err(format!(
                "the stored two-factor secret was sealed with key [{kid}], which is not configured: add it to the old two-factor keys (configured: {:?})",
                self.keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
            ));
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| "the stored two-factor secret is not valid base64url".to_string())?;
        if raw.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err("the stored two-factor secret is too short to be a sealed value".into());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("12 bytes");
        let mut buf = ct.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(AAD), &mut buf)
            .map_err(|_| {
                format!("the stored two-factor secret does not open with key [{kid}]: the key is wrong or the value was altered")
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let (keys, _) = TwoFactorKeys::generate();
        let s = keys.seal(b"12345678901234567890");
        assert!(TwoFactorKeys::is_sealed(&s));
        assert!(!s.contains("12345678901234567890"));
        assert_eq!(keys.open(&s).unwrap(), b"12345678901234567890");
        let (other, _) = TwoFactorKeys::generate();
        let e = other.open(&s).unwrap_err();
        assert!(e.contains("not configured"), "{e}");
    }

    #[test]
    fn an_old_key_still_opens_after_rotation() {
        let (old, old_text) = TwoFactorKeys::generate();
        let sealed = old.seal(b"secret");
        let (_, new_text) = TwoFactorKeys::generate();
        let rotated = TwoFactorKeys::parse(&new_text, &[old_text]).unwrap();
        assert_eq!(rotated.open(&sealed).unwrap(), b"secret");
        assert_ne!(rotated.current_kid(), old.current_kid());
        assert!(rotated.seal(b"x").contains(rotated.current_kid()));
    }

    #[test]
    fn an_altered_value_is_a_clear_error() {
        let (keys, _) = TwoFactorKeys::generate();
        let sealed = keys.seal(b"secret");
        // A character inside the base64, not the last: a changed last character can leave
        // non-zero padding bits, which is a decoding error rather than an altered value.
        let at = sealed.len() - 8;
        let c = if &sealed[at..at + 1] == "A" { "B" } else { "A" };
        let s = format!("{}{c}{}", &sealed[..at], &sealed[at + 1..]);
        let e = keys.open(&s).unwrap_err();
        assert!(e.contains("wrong or the value was altered"), "{e}");
        assert!(keys.open("plain").unwrap_err().contains("sealed form"));
    }

    #[test]
    fn a_bad_key_setting_says_what_to_do() {
        assert!(TwoFactorKeys::parse("c2hvcnQ=", &[])
            .unwrap_err()
            .contains("32 bytes"));
        assert!(TwoFactorKeys::parse("!!", &[])
            .unwrap_err()
            .contains("base64"));
    }
}
