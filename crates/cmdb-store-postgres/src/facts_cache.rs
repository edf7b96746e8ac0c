//! [`FactsCache`]: create-facts answers kept in the engine, each tagged with the catalog
//! version it was read at, and served only while that version is the newest the store has
//! seen. A served answer is still checked at commit (the writer compares the plan's version
//! with the one it reads under the counter-row locks), so a stale entry costs a re-plan, never
//! a wrong create.
//!
//! After a failover the cache starts over ([`FactsCache::start_over`]): with asynchronous
//! replication the new primary may lack a catalog change whose version the cache has seen,
//! and the next change there reuses that version number with other facts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use cmdb_core::facts::{FactsQuery, FactsSource, StoredFacts};

/// How many low bits of a version the store reports hold the database's catalog version; the
/// bits above hold the cache's epoch (see [`tagged`]).
const VERSION_BITS: u32 = 40;
const VERSION_MASK: u64 = (1 << VERSION_BITS) - 1;

/// The version the store reports for the database's catalog version `version` read during
/// `epoch`: the epoch in the high bits, so that facts read before a failover never match a
/// transaction after it, even where the new primary (asynchronous replication) reached the
/// same version number with other facts; such a plan is refused as stale and planned again.
/// `None` for a version past 2^40 (not one of ours).
pub(crate) fn tagged(epoch: u64, version: u64) -> Option<u64> {
    (version <= VERSION_MASK).then_some(((epoch % (1 << 23)) << VERSION_BITS) | version)
}

/// The database's catalog version of a [`tagged`] one.
pub(crate) fn untagged(version: u64) -> u64 {
    version & VERSION_MASK
}

/// What an answer depends on: the query without its `fresh` flag.
type Key = (String, i64, Option<i64>, Option<i64>);

fn key(query: &FactsQuery) -> Key {
    (
        query.supplier_account.clone(),
        query.biz.0,
        query.parent,
        query.template,
    )
}

/// Cached create facts and the newest catalog version the store has seen.
#[derive(Debug)]
pub(crate) struct FactsCache {
    entries: Mutex<HashMap<Key, StoredFacts>>,
    capacity: usize,
    /// The newest catalog version read by the writer (under the locks) or by a facts read.
    newest: AtomicU64,
    /// How many times the cache started over; an answer read before the last start is not
    /// kept.
    epoch: AtomicU64,
}

impl FactsCache {
    /// A cache of at most `capacity` answers (0: it keeps none).
    pub(crate) fn new(capacity: usize) -> Self {
        FactsCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
            newest: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// The current epoch: pass it to [`FactsCache::put`] with an answer read after this call.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Forgets every answer and every version seen (after a failover: the new primary's
    /// catalog versions are learned again); answers being read meanwhile are not kept.
    pub(crate) fn start_over(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.newest.store(0, Ordering::Release);
    }

    /// The cached answer to `query`, if it was read at the newest version seen; marked
    /// [`FactsSource::Cached`].
    pub(crate) fn get(&self, query: &FactsQuery) -> Option<StoredFacts> {
        if self.capacity == 0 || query.fresh {
            return None;
        }
        let newest = self.newest.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(&key(query))?;
        (entry.source == FactsSource::Read(newest)).then(|| StoredFacts {
            source: FactsSource::Cached(newest),
            ..entry.clone()
        })
    }

    /// Keeps an answer read from the database since `epoch` was taken (and learns its
    /// version); an answer whose read straddled a [`FactsCache::start_over`] is dropped. When
    /// full, the cache empties: answers are cheap to read again, and a bound matters more
    /// than a hit rate for clients that name many parents.
    pub(crate) fn put(&self, query: &FactsQuery, facts: &StoredFacts, epoch: u64) {
        let Some(version) = facts.source.catalog_version() else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        self.saw(version);
        if self.capacity == 0 {
            return;
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key(query), facts.clone());
    }

    /// Learns that the catalog is at `version` (or newer): older answers stop being served.
    pub(crate) fn saw(&self, version: u64) {
        self.newest.fetch_max(version, Ordering::AcqRel);
    }

    /// The newest catalog version seen.
    #[cfg(test)]
    fn newest(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    /// How many answers are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_core::ids::{BizId, SetId};

    fn query(biz: i64, parent: i64) -> FactsQuery {
        FactsQuery {
            supplier_account: "0".into(),
            biz: BizId(biz),
            parent: Some(parent),
            template: None,
            fresh: false,
        }
    }

    fn read(version: u64, builtin: i64) -> StoredFacts {
        StoredFacts {
            builtin_set: Some(SetId(builtin)),
            source: FactsSource::Read(version),
            ..StoredFacts::default()
        }
    }

    #[test]
    fn an_answer_is_served_while_its_version_is_the_newest_seen() {
        let cache = FactsCache::new(16);
        assert_eq!(cache.get(&query(1, 1)), None);
        cache.put(&query(1, 1), &read(3, 7), 0);
        assert_eq!(cache.newest(), 3);
        let hit = cache.get(&query(1, 1)).expect("a hit");
        assert_eq!(hit.source, FactsSource::Cached(3));
        assert_eq!(hit.builtin_set, Some(SetId(7)));
        // Another parent, another biz, another template: other answers.
        assert_eq!(cache.get(&query(1, 2)), None);
        assert_eq!(cache.get(&query(2, 1)), None);
        let mut templated = query(1, 1);
        templated.template = Some(5);
        assert_eq!(cache.get(&templated), None);
        // A fresh query is never answered from the cache.
        assert_eq!(cache.get(&query(1, 1).fresh()), None);
        // A newer version (seen by the writer or another read) retires it.
        cache.saw(4);
        assert_eq!(cache.get(&query(1, 1)), None);
        // An older version never moves the newest back.
        cache.saw(2);
        assert_eq!(cache.newest(), 4);
        cache.put(&query(1, 1), &read(4, 8), 0);
        assert_eq!(
            cache.get(&query(1, 1)).map(|f| (f.source, f.builtin_set)),
            Some((FactsSource::Cached(4), Some(SetId(8))))
        );
        // An answer read at an older version than the newest is kept but never served.
        cache.put(&query(9, 9), &read(3, 1), 0);
        assert_eq!(cache.get(&query(9, 9)), None);
    }

    #[test]
    fn after_a_failover_nothing_read_before_it_is_served_nor_kept() {
        let cache = FactsCache::new(16);
        let before = cache.epoch();
        // Version 5 on the old primary, lost with it (asynchronous replication).
        cache.put(&query(1, 1), &read(5, 7), before);
        assert!(cache.get(&query(1, 1)).is_some());
        // A read that started on the old primary and ends after the failover.
        let straddling = cache.epoch();
        cache.start_over();
        assert_eq!((cache.len(), cache.newest()), (0, 0));
        cache.put(&query(1, 2), &read(5, 7), straddling);
        assert_eq!((cache.len(), cache.newest()), (0, 0));
        // The new primary is at version 4; its next catalog change is version 5 again, with
        // other facts: only what was read there is served.
        let now = cache.epoch();
        assert_ne!(now, before);
        cache.put(&query(1, 1), &read(4, 8), now);
        assert_eq!(cache.newest(), 4);
        cache.saw(5);
        assert_eq!(cache.get(&query(1, 1)), None);
        assert_eq!(cache.get(&query(1, 2)), None);
        cache.put(&query(1, 1), &read(5, 9), now);
        assert_eq!(
            cache.get(&query(1, 1)).map(|f| f.builtin_set),
            Some(Some(SetId(9)))
        );
    }

    #[test]
    fn a_tagged_version_keeps_the_database_version_and_differs_across_epochs() {
        assert_eq!(tagged(0, 7), Some(7));
        let after = tagged(1, 7).expect("in range");
        assert_ne!(after, 7);
        assert_eq!(untagged(after), 7);
        assert_eq!(
            untagged(tagged(3, VERSION_MASK).expect("in range")),
            VERSION_MASK
        );
        assert_eq!(tagged(0, VERSION_MASK + 1), None);
        // Within an epoch the order of versions is kept (the cache serves the newest).
        assert!(tagged(2, 8) > tagged(2, 7));
    }

    #[test]
    fn it_holds_at_most_its_capacity_and_none_when_disabled() {
        let cache = FactsCache::new(2);
        cache.put(&query(1, 1), &read(0, 1), 0);
        cache.put(&query(1, 2), &read(0, 1), 0);
        assert_eq!(cache.len(), 2);
        cache.put(&query(1, 3), &read(0, 1), 0);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&query(1, 3)).is_some());
        assert_eq!(cache.get(&query(1, 1)), None);

        let off = FactsCache::new(0);
        off.put(&query(1, 1), &read(5, 1), 0);
        assert_eq!((off.len(), off.newest()), (0, 5));
        assert_eq!(off.get(&query(1, 1)), None);
        // Unversioned answers (not this store's) are not kept.
        let cache = FactsCache::new(2);
        cache.put(&query(1, 1), &StoredFacts::default(), 0);
        assert_eq!(cache.len(), 0);
    }
}
