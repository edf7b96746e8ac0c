//! The shared conformance suite, run against the in-memory store, with group commit and
//! without.

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::GroupOptions;
use cmdb_store_memory::MemoryStore;

mod grouped {
    cmdb_store_conformance::store_conformance_tests!(cmdb_store_conformance::MemoryFactory);
}

/// Memory stores that commit every submission alone.
struct Ungrouped;

impl StoreFactory for Ungrouped {
    type Guard = ();

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        (
            Arc::new(MemoryStore::with_options(GroupOptions::ungrouped())),
            (),
        )
    }

    async fn reopen(&self, _guard: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        None
    }
}

mod ungrouped {
    cmdb_store_conformance::store_conformance_tests!(super::Ungrouped);
}
