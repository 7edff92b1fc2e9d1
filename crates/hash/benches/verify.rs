//! Verify time per scheme at its common factor.
//!
//! `cargo bench -p portcullis-hash --bench verify -- --warm-up-time 1 --measurement-time 3`
//!
//! A wrong password costs exactly what a right one does, so credentials the crate cannot
//! produce itself (Django, phpass, crypt, ...) are well-formed strings with the real
//! parameters and arbitrary hash bytes.

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_hash::{hash_password, parse_import, verify, Credential};

fn cases() -> Vec<(&'static str, Credential)> {
    let hashed = |scheme, factor| hash_password(scheme, Some(factor), b"bench password").unwrap();
    let imported = |scheme, encoded: &str| parse_import(scheme, None, None, encoded).unwrap();
    let h43 = "ISMvKXpXpadDiUoOSoAfwyISMvKXpXpadDiUoOSoAfw";
    vec![
        ("argon2id m=19MiB t=2 p=1 (default)", hash_password("argon2id", None, b"pw").unwrap()),
        ("bcrypt cost 10", hashed("bcrypt", 10)),
        ("bcrypt cost 12", hashed("bcrypt", 12)),
        ("scrypt N=2^17 r=8 p=1", hashed("scrypt", 17)),
        ("salted-pbkdf2-hmac-sha256 27,500", hashed("salted-pbkdf2-hmac-sha256", 27_500)),
        ("salted-pbkdf2-hmac-sha256 600,000", hashed("salted-pbkdf2-hmac-sha256", 600_000)),
        ("salted-pbkdf2-hmac-sha512-512 210,000", hashed("salted-pbkdf2-hmac-sha512-512", 210_000)),
        ("salted-md5 1", hashed("salted-md5", 1)),
        ("salted-sha256 1", hashed("salted-sha256", 1)),
        ("salted-hmac-sha256", hashed("salted-hmac-sha256", 1)),
        ("django pbkdf2_sha256 1,000,000 (Django 5.2 default)", imported("django", &format!("pbkdf2_sha256$1000000$saltsaltsalt${h43}="))),
        ("phpass $P$B (WordPress, 8192)", imported("phpass", "$P$BabcdefghISMvKXpXpadDiUoOSoAfw.")),
        ("phpass $S$D (Drupal 7, 32768)", imported("phpass", &format!("$S$Dabcdefgh{h43}"))),
        ("sha512-crypt 5000", imported("crypt", &format!("$6$saltsalt${h43}{h43}"))),
        ("md5-crypt", imported("crypt", "$1$saltsalt$ISMvKXpXpadDiUoOSoAfw.")),
        ("ldap {SSHA}", imported("ldap", "{SSHA}ISMvKXpXpadDiUoOSoAfwyISMvKXpXpa")),
        ("aspnet-identity V3 (SHA-512, 100,000)", imported("aspnet-identity", &aspnet_v3())),
        ("firebase-scrypt m=14 r=8", imported("firebase-scrypt", "$firebase-scrypt$m=14,r=8,ss=Bw==,sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==")),
    ]
}

/// .NET 7+ default: PBKDF2-HMAC-SHA512, 100,000 iterations, 16-byte salt, 32-byte subkey.
fn aspnet_v3() -> String {
    use base64::Engine as _;
    let mut blob = vec![1u8];
    blob.extend_from_slice(&2u32.to_be_bytes());
    blob.extend_from_slice(&100_000u32.to_be_bytes());
    blob.extend_from_slice(&16u32.to_be_bytes());
    blob.extend_from_slice(&[7u8; 48]);
    base64::engine::general_purpose::STANDARD.encode(blob)
}

fn verify_per_scheme(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    for (name, credential) in cases() {
        group.bench_function(name, |b| b.iter(|| verify(&credential, b"bench password")));
    }
    group.finish();
}

criterion_group!(benches, verify_per_scheme);
criterion_main!(benches);
