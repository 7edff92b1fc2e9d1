//! Second factors as a user stores them: the methods (`authenticator` with its TOTP parameters
//! and its secret sealed by [`TwoFactorKeys`], `email` with its address) and the recovery codes
//! (SHA-256 only), in the user's `twoFactor`; turning what an import, a create or a legacy
//! system sends (FusionAuth's shape, plain secrets) into that stored form.
//!
//! The login step and the Two-Factor API that use them are `sessions::two_factor`.

pub mod keys;
pub mod totp;

pub use keys::TwoFactorKeys;

use crate::model::{Json, TwoFactor};
use crate::Errors;
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::Digest;

pub const AUTHENTICATOR: &str = "authenticator";
pub const EMAIL: &str = "email";
/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;
/// The stored form of a recovery code: `sha256:` and the hex digest of the normalized code.
const HASHED: &str = "sha256:";
/// The shortest authenticator secret accepted: 80 bits, what older authenticator apps made.
const MIN_SECRET_BYTES: usize = 10;
const MAX_SECRET_BYTES: usize = 128;

/// A new method id: 8 characters of base32, as short as FusionAuth's.
pub fn new_method_id() -> String {
    let mut b = [0u8; 5];
    rand::rngs::OsRng.fill_bytes(&mut b);
    data_encoding::BASE32_NOPAD.encode(&b)
}

/// A new authenticator secret: 20 random bytes (160 bits, RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    let mut b = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

pub fn base64(secret: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(secret)
}

/// A base32 secret as authenticator apps show it: any case, spaces and padding allowed.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    data_encoding::BASE32_NOPAD.decode(t.as_bytes()).ok()
}

pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
        .ok()
}

/// New recovery codes: `XXXXX-XXXXX` of base32 (50 random bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let s = data_encoding::BASE32_NOPAD.encode(&b);
            format!("{}-{}", &s[..5], &s[5..10])
        })
        .collect()
}

/// The stored form of a recovery code: upper case, without spaces or dashes, then SHA-256.
pub fn hash_recovery_code(code: &str) -> String {
    let n: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let d = sha2::Sha256::digest(n.as_bytes());
    format!("{HASHED}{}", portcullis_hash::hex(&d))
}

fn is_hashed(code: &str) -> bool {
    code.strip_prefix(HASHED)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The TOTP parameters of a stored or imported authenticator method.
pub fn params(method: &Json) -> Option<totp::Params> {
    let a = method.get(AUTHENTICATOR);
    let algorithm = match a.and_then(|a| a.get("algorithm")) {
        None | Some(Value::Null) => totp::Algorithm::Sha1,
        Some(v) => totp::Algorithm::parse(v.as_str()?)?,
    };
    let digits = match a.and_then(|a| a.get("codeLength")) {
        None | Some(Value::Null) => 6,
        Some(v) => v.as_u64().filter(|d| (6..=8).contains(d))? as u32,
    };
    let step = match a.and_then(|a| a.get("timeStep")) {
        None | Some(Value::Null) => 30,
        Some(v) => v.as_u64().filter(|s| (1..=300).contains(s))?,
    };
    Some(totp::Params {
        algorithm,
        digits,
        step,
    })
}

pub fn method_name(m: &Json) -> &str {
    m.get("method").and_then(Value::as_str).unwrap_or("")
}

pub fn method_id(m: &Json) -> &str {
    m.get("id").and_then(Value::as_str).unwrap_or("")
}

/// The stored authenticator method for `secret` with `params`, sealed.
pub fn authenticator_method(
    id: String,
    secret: &[u8],
    p: totp::Params,
    keys: &TwoFactorKeys,
) -> Json {
    let Value::Object(m) = json!({
        "id": id,
        "method": AUTHENTICATOR,
        "authenticator": {"algorithm": p.algorithm.name(), "codeLength": p.digits, "timeStep": p.step},
        "secret": keys.seal(secret),
    }) else {
        unreachable!()
    };
    m
}

/// Turns a two-factor block as a caller sends it (FusionAuth's import shape: an `authenticator`
/// method with a base64 `secret` or a `secretBase32Encoded`, an `email` method with its address,
/// recovery codes plain or `sha256:<hex>`) into the stored form: secrets sealed, recovery codes
/// hashed, ids given. Problems go to `errors` under `at` (`users[3].twoFactor`).
pub fn seal(tf: &mut TwoFactor, keys: Option<&TwoFactorKeys>, at: &str, errors: &mut Errors) {
    for (i, m) in tf.methods.iter_mut().enumerate() {
        let here = format!("{at}.methods[{i}]");
        if method_id(m).is_empty() {
            m.insert("id".into(), json!(new_method_id()));
        }
        match method_name(m) {
            AUTHENTICATOR => {
                let Some(p) = params(m) else {
                    errors.add_field(
                        &format!("{here}.authenticator"),
                        &format!("[invalid]{here}.authenticator"),
                        "The authenticator's algorithm must be HmacSHA1, HmacSHA256 or HmacSHA512, its codeLength 6 to 8 and its timeStep 1 to 300 seconds.",
                    );
                    continue;
                };
                let secret = match (
                    m.get("secret").and_then(Value::as_str),
                    m.get("secretBase32Encoded").and_then(Value::as_str),
                ) {
                    (Some(s), _) if TwoFactorKeys::is_sealed(s) => None,
                    (Some(s), _) => from_base64(s),
                    (None, Some(s)) => from_base32(s),
                    (None, None) => None,
                };
                let Some(secret) =
                    secret.filter(|s| (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&s.len()))
                else {
                    errors.add_field(
                        &format!("{here}.secret"),
                        &format!("[invalid]{here}.secret"),
                        format!("An authenticator needs its secret: [secret] in base64 or [secretBase32Encoded] in base32, {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes."),
                    );
                    continue;
                };
                let Some(keys) = keys else {
                    errors.add_field(
                        &format!("{here}.secret"),
                        "[TwoFactorKeyMissing]",
                        "No two-factor encryption key is configured (--two-factor-key or PORTCULLIS_TWO_FACTOR_KEY), so authenticator secrets cannot be stored.",
                    );
                    continue;
                };
                let id = method_id(m).to_string();
                let mut sealed = authenticator_method(id, &secret, p, keys);
                for (k, v) in m.iter() {
                    if !["secret", "secretBase32Encoded", AUTHENTICATOR].contains(&k.as_str()) {
                        sealed.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                *m = sealed;
            }
            EMAIL => {
                let ok = m
                    .get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.contains('@') && e.len() <= 320);
                if !ok {
                    errors.add_field(
                        &format!("{here}.email"),
                        &format!("[invalid]{here}.email"),
                        "An email method needs the [email] address its codes go to.",
                    );
                }
                m.remove("secret");
                m.remove("secretBase32Encoded");
            }
            _ => {
                // Kept as the caller sent it (an sms method, say), but a secret never is stored
                // in the clear.
                m.remove("secret");
                m.remove("secretBase32Encoded");
            }
        }
    }
    for code in tf.recovery_codes.iter_mut() {
        let lower = code.trim().to_ascii_lowercase();
        *code = if is_hashed(&lower) {
            lower
        } else {
            hash_recovery_code(code)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_methods_are_sealed_and_codes_hashed() {
        let (keys, _) = TwoFactorKeys::generate();
        let mut tf: TwoFactor = serde_json::from_value(json!({
            "methods": [
                {"method": "authenticator", "secretBase32Encoded": "JBSWY3DPEHPK3PXP",
                 "authenticator": {"algorithm": "HmacSHA256", "codeLength": 8, "timeStep": 60}},
                {"method": "email", "email": "a@b.c"}
            ],
            "recoveryCodes": ["abcde-fghij", format!("sha256:{}", "A".repeat(64))]
        }))
        .unwrap();
        let mut errors = Errors::default();
        seal(&mut tf, Some(&keys), "user.twoFactor", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let m = &tf.methods[0];
        let s = m["secret"].as_str().unwrap();
        assert!(TwoFactorKeys::is_sealed(s));
        assert_eq!(
            keys.open(s).unwrap(),
            from_base32("JBSWY3DPEHPK3PXP").unwrap()
        );
        assert!(m.get("secretBase32Encoded").is_none());
        assert_eq!(params(m).unwrap().digits, 8);
        assert!(!method_id(&tf.methods[1]).is_empty());
        assert_eq!(tf.recovery_codes[0], hash_recovery_code("ABCDEFGHIJ"));
        assert_eq!(tf.recovery_codes[1], format!("sha256:{}", "a".repeat(64)));
    }

    #[test]
    fn without_a_key_a_secret_is_refused_not_kept() {
        let mut tf: TwoFactor = serde_json::from_value(json!({"methods": [
            {"method": "authenticator", "secret": base64(&new_secret())}]}))
        .unwrap();
        let mut errors = Errors::default();
        seal(&mut tf, None, "user.twoFactor", &mut errors);
        assert!(!errors.is_empty());
    }
}
