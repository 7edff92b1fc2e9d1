//! The text encodings hashes use: base64 in several alphabets, crypt's "hash64", and lowercase
//! hex (which Django's wrapped schemes hash again, and in which our stored secrets are kept).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

/// Standard base64; encodes with padding, decodes with or without.
pub const STD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
/// Standard base64 without padding (PHC strings).
pub const STD_NOPAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, LENIENT.with_encode_padding(false));
/// bcrypt's alphabet (`./A-Za-z0-9`), no padding.
pub const BCRYPT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::BCRYPT, LENIENT.with_encode_padding(false));

/// `bytes` in lowercase hex, two digits each: a table look-up per half byte, as a token grant
/// hashes two secrets and the formatting machinery per byte costs more than the digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

pub fn encode_std(bytes: &[u8]) -> String {
    STD.encode(bytes)
}

/// crypt's alphabet, in the order used by md5-crypt, sha-crypt and phpass.
pub const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn itoa64_index(c: u8) -> Option<u32> {
    ITOA64.iter().position(|&x| x == c).map(|i| i as u32)
}

/// phpass' `encode64`: little-endian groups of three bytes, partial group at the end.
pub fn hash64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    let push = |out: &mut String, v: u32| out.push(ITOA64[(v & 0x3f) as usize] as char);
    for chunk in input.chunks(3) {
        let mut value = u32::from(chunk[0]);
        push(&mut out, value);
        if chunk.len() > 1 {
            value |= u32::from(chunk[1]) << 8;
        }
        push(&mut out, value >> 6);
        if chunk.len() < 2 {
            break;
        }
        if chunk.len() > 2 {
            value |= u32::from(chunk[2]) << 16;
        }
        push(&mut out, value >> 12);
        if chunk.len() < 3 {
            break;
        }
        push(&mut out, value >> 18);
    }
    out
}

/// Passlib's "adapted base64" (`.` for `+`, no padding) or standard unpadded base64.
pub fn decode_ab64(s: &str) -> Option<Vec<u8>> {
    STD_NOPAD.decode(s.replace('.', "+")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }
}
