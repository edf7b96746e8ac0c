//! Token buckets by key: the per-app request rate, and the per-peer and per-code budget of
//! failed authentications.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// The most keys a limiter tracks; past it, buckets that are full again (they hold nothing a
/// full new bucket would not) are dropped, and a new key finding the map still full gets no
/// bucket (it is not limited) rather than memory without end.
const MAX_KEYS: usize = 16_384;

/// Token buckets by key (an authenticated app code, a peer address, a claimed code).
#[derive(Debug)]
pub(crate) struct RateLimiter<K = String> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The bucket refilled up to `now`.
    fn refilled(self, now: Instant, per_second: f64, burst: f64) -> Bucket {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        Bucket {
            tokens: (self.tokens + elapsed * per_second).min(burst),
            at: now,
        }
    }
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `per_second` tokens a second into buckets of `burst`; `per_second == 0` never limits.
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket; `false` when it is empty.
    pub(crate) fn admit<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.take_at(key, Instant::now(), false)
    }

    /// Whether `key`'s bucket holds a token (a key never seen has a full bucket).
    pub(crate) fn has_token<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.has_token_at(key, Instant::now())
    }

    /// Takes one token of `key`'s bucket if it has one (a failure being counted: an empty
    /// bucket stays empty).
    pub(crate) fn charge<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.take_at(key, Instant::now(), true);
    }

    fn has_token_at<Q>(&self, key: &Q, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.per_second <= 0.0 {
            return true;
        }
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .get(key)
            .is_none_or(|bucket| bucket.refilled(now, self.per_second, self.burst).tokens >= 1.0)
    }

    fn take_at<Q>(&self, key: &Q, now: Instant, charge: bool) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.per_second <= 0.0 {
            return true;
        }
        // A poisoned lock only means another request panicked mid-update: the map is still
        // a map of buckets.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.refilled(now, per_second, burst).tokens < burst);
            if buckets.len() >= MAX_KEYS {
                return !charge;
            }
        }
        let full = Bucket {
            tokens: self.burst,
            at: now,
        };
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.entry(key.to_owned()).or_insert(full),
        };
        *bucket = bucket.refilled(now, self.per_second, self.burst);
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
        let limiter = RateLimiter::<String>::new(2, 3);
        let t0 = Instant::now();
        let admitted = (0..5).filter(|_| limiter.take_at("a", t0, false)).count();
        assert_eq!(admitted, 3);
        // Another app has its own bucket.
        assert!(limiter.take_at("b", t0, false));
        // Half a second later: one token (2 per second).
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.take_at("a", t1, false));
        assert!(!limiter.take_at("a", t1, false));
        // Never above the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(
            (0..10)
                .filter(|_| limiter.take_at("a", later, false))
                .count(),
            3
        );
    }

    #[test]
    fn charges_empty_a_bucket_that_has_token_then_reports() {
        let limiter = RateLimiter::<String>::new(1, 2);
        let t0 = Instant::now();
        assert!(limiter.has_token_at("p", t0));
        limiter.take_at("p", t0, true);
        assert!(limiter.has_token_at("p", t0));
        limiter.take_at("p", t0, true);
        assert!(!limiter.has_token_at("p", t0));
        // A third failure while empty keeps it empty; a second later one token is back.
        limiter.take_at("p", t0, true);
        assert!(!limiter.has_token_at("p", t0 + Duration::from_millis(900)));
        assert!(limiter.has_token_at("p", t0 + Duration::from_millis(1000)));
        assert!(limiter.has_token_at("other", t0));
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = RateLimiter::<u64>::new(1, 1);
        let t0 = Instant::now();
        for key in 0..(MAX_KEYS as u64 + 10) {
            limiter.take_at(&key, t0, true);
        }
        assert_eq!(limiter.buckets.lock().unwrap().len(), MAX_KEYS);
        // Once the buckets refill, new keys find room again.
        let later = t0 + Duration::from_secs(5);
        limiter.take_at(&u64::MAX, later, true);
        assert!(!limiter.has_token_at(&u64::MAX, later));
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn zero_never_limits() {
        let limiter = RateLimiter::<String>::new(0, 0);
        assert!((0..10_000).all(|_| limiter.admit("a")));
    }
}
