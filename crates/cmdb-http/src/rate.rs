//! The per-app request rate limit: one token bucket per app code.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets by key (an authenticated app code).
///
/// The number of keys is bounded by the apps file: unauthenticated callers never get a bucket.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` tokens a second into buckets of `burst`; `per_second == 0` never limits.
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket; `false` when it is empty.
    pub(crate) fn admit(&self, key: &str) -> bool {
        self.admit_at(key, Instant::now())
    }

    fn admit_at(&self, key: &str, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        // A poisoned lock only means another request panicked mid-update: the map is still
        // a map of buckets.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_and_refills_per_key() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        let admitted = (0..5).filter(|_| limiter.admit_at("a", t0)).count();
        assert_eq!(admitted, 3);
        // Another app has its own bucket.
        assert!(limiter.admit_at("b", t0));
        // Half a second later: one token (2 per second).
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.admit_at("a", t1));
        assert!(!limiter.admit_at("a", t1));
        // Never above the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| limiter.admit_at("a", later)).count(), 3);
    }

    #[test]
    fn zero_never_limits() {
        let limiter = RateLimiter::new(0, 0);
        assert!((0..10_000).all(|_| limiter.admit("a")));
    }
}
