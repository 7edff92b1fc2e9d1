//! Per-route rate limits: a token bucket per route and caller (the user's `sub` when signed in,
//! else the client's address), `requests` per `per`, refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets beyond this many are pruned of the full ones (callers gone quiet).
const PRUNE_AT: usize = 50_000;

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<(usize, String), (f64, Instant)>>,
}

impl Limiter {
    /// `Ok` to pass; `Err(wait)` when the caller's bucket is empty.
    pub fn check(
        &self,
        route: usize,
        who: &str,
        limit: crate::config::RateLimit,
    ) -> Result<(), Duration> {
        let cap = f64::from(limit.requests);
        let rate = cap / limit.per.as_secs_f64();
        let now = Instant::now();
        let mut b = self.buckets.lock().expect("not poisoned");
        if b.len() > PRUNE_AT {
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < cap
            });
        }
        let (tokens, at) = b.entry((route, who.to_string())).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimit;

    #[test]
    fn a_bucket_empties_per_caller() {
        let l = Limiter::default();
        let limit = RateLimit {
            requests: 2,
            per: Duration::from_secs(60),
        };
        assert!(l.check(0, "a", limit).is_ok());
        assert!(l.check(0, "a", limit).is_ok());
        let wait = l.check(0, "a", limit).unwrap_err();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30));
        assert!(l.check(0, "b", limit).is_ok());
        assert!(l.check(1, "a", limit).is_ok());
    }
}
