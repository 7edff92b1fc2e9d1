//! Logins/s at the tenant's default hash, against the hash-bound limit: as many logins a second
//! as the hash pool's workers, one per core, can verify passwords.

use super::drive::logins;
use super::fixture::{Fixture, PASSWORD};
use portcullis_hash::Credential;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hash-bound limit and the verify it is made of.
pub(super) struct HashLimit {
    /// The password's credential at the default scheme.
    pub(super) credential: Credential,
    /// One verify, alone on one thread.
    pub(super) verify: Duration,
    /// `cores / verify`: logins/s.
    pub(super) per_second: f64,
}

impl HashLimit {
    pub(super) fn measure(cores: usize) -> Result<HashLimit, String> {
        // One verify, alone on one thread: the unit the hash-bound limit is made of.
        let cred = portcullis_hash::hash_password(
            portcullis_hash::DEFAULT_SCHEME,
            None,
            PASSWORD.as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let rounds = 10;
        for _ in 0..rounds {
            assert!(portcullis_hash::verify(&cred, PASSWORD.as_bytes()));
        }
        let verify = t0.elapsed() / rounds;
        Ok(HashLimit {
            credential: cred,
            verify,
            per_second: cores as f64 / verify.as_secs_f64(),
        })
    }
}

/// Logins/s on `cores × 4` concurrent loops, beside `limit`.
pub(super) async fn measure(
    f: &Arc<Fixture>,
    name: &str,
    cores: usize,
    limit: f64,
    secs: u64,
) -> Result<(), String> {
    let (n, wall, _) = logins(f, cores * 4, secs).await?;
    let rate = n as f64 / wall.as_secs_f64();
    println!(
        "{name:<9} {:<46} {:>12.1}/s   ≥ 90% of {limit:.1}/s: {:.0}%",
        "logins, default hash",
        rate,
        100.0 * rate / limit
    );
    Ok(())
}
