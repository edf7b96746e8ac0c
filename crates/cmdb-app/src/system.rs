//! Production implementations of the time and request-id ports.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use cmdb_core::ports::{Clock, RequestIdSource};

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Random 32-hex-character request ids, from the standard library's per-process random keys
/// mixed with a counter and the time (unique per process, unpredictable enough for tracing).
#[derive(Debug, Default)]
pub struct RandomRequestIds {
    state: RandomState,
    counter: AtomicU64,
}

impl RandomRequestIds {
    fn word(&self, salt: u64) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        h.write_u64(salt);
        h.write_i64(Utc::now().timestamp_nanos_opt().unwrap_or_default());
        h.finish()
    }
}

impl RequestIdSource for RandomRequestIds {
    fn next_id(&self) -> String {
        format!("{:016x}{:016x}", self.word(1), self.word(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_distinct() {
        let ids = RandomRequestIds::default();
        let a = ids.next_id();
        let b = ids.next_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
