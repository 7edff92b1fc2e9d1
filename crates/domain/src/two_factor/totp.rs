//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, -256 or -512,
//! 6 to 8 digits, any time step; a code is checked against the current step and one on either
//! side, every candidate compared in constant time.

use ring::hmac;
use subtle::ConstantTimeEq;

/// The HMAC of an authenticator, by FusionAuth's names (`HmacSHA1`, `HmacSHA256`, `HmacSHA512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().replace(['-', '_'], "").as_str() {
            "HMACSHA1" | "SHA1" => Some(Algorithm::Sha1),
            "HMACSHA256" | "SHA256" => Some(Algorithm::Sha256),
            "HMACSHA512" | "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "HmacSHA1",
            Algorithm::Sha256 => "HmacSHA256",
            Algorithm::Sha512 => "HmacSHA512",
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// An authenticator's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    /// 6 to 8.
    pub digits: u32,
    /// Seconds per step.
    pub step: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            algorithm: Algorithm::Sha1,
            digits: 6,
            step: 30,
        }
    }
}

/// The HOTP code of `counter` (RFC 4226, section 5.3), zero-padded to `digits`.
pub fn hotp(secret: &[u8], algorithm: Algorithm, digits: u32, counter: u64) -> String {
    let key = hmac::Key::new(algorithm.ring(), secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let code = bin % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The time step of `unix_seconds`.
pub fn counter_at(unix_seconds: u64, step: u64) -> u64 {
    unix_seconds / step.max(1)
}

/// The step whose code `code` is, among the current step and one on either side; every
/// candidate is computed and compared in constant time, whichever matches.
pub fn verify(secret: &[u8], params: Params, code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != params.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = counter_at(unix_seconds, params.step);
    let mut found = None;
    for c in [now.saturating_sub(1), now, now + 1] {
        let expected = hotp(secret, params.algorithm, params.digits, c);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(c);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238, appendix B: the seeds and the 8-digit codes at T = 59 and 1111111109.
    const SEED1: &[u8] = b"12345678901234567890";
    const SEED256: &[u8] = b"12345678901234567890123456789012";
    const SEED512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc_6238_vectors() {
        for (t, sha1, sha256, sha512) in [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (20000000000, "65353130", "77737706", "47863826"),
        ] {
            let c = counter_at(t, 30);
            assert_eq!(hotp(SEED1, Algorithm::Sha1, 8, c), sha1);
            assert_eq!(hotp(SEED256, Algorithm::Sha256, 8, c), sha256);
            assert_eq!(hotp(SEED512, Algorithm::Sha512, 8, c), sha512);
        }
    }

    #[test]
    fn one_step_either_side_and_no_further() {
        let p = Params::default();
        let now = 1_700_000_000;
        let c = counter_at(now, 30);
        for (d, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = hotp(SEED1, Algorithm::Sha1, 6, (c as i64 + d) as u64);
            assert_eq!(verify(SEED1, p, &code, now).is_some(), ok, "{d}");
        }
        assert_eq!(verify(SEED1, p, "12345", now), None);
        assert_eq!(verify(SEED1, p, "abcdef", now), None);
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::parse("HmacSHA256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("SHA512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::parse("md5"), None);
    }
}
