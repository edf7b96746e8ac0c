//! The shared conformance suite, run against `RedbStore` in both durability modes redb offers
//! (`Immediate` and `None`) and ungrouped. A fresh file in a temp dir per case, and a real
//! reopen of that file (after `close`) for the reopen cases.

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::GroupOptions;
use cmdb_store_redb::{RedbDurability, RedbOptions, RedbStore};
use tempfile::TempDir;

/// Builds redb stores with these options on `cmdb.redb` in a temp dir the guard keeps alive.
struct RedbFactory(RedbOptions);

const FILE: &str = "cmdb.redb";

impl StoreFactory for RedbFactory {
    type Guard = TempDir;

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = RedbStore::open(dir.path().join(FILE), self.0)
            .await
            .expect("a fresh redb store");
        (Arc::new(store), dir)
    }

    async fn reopen(&self, dir: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        let store = RedbStore::open(dir.path().join(FILE), self.0)
            .await
            .expect("the redb store reopens");
        Some(Arc::new(store))
    }
}

mod immediate {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(RedbFactory(RedbOptions::default()));
}

mod none {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(RedbFactory(RedbOptions {
        durability: RedbDurability::None,
        ..RedbOptions::default()
    }));
}

mod immediate_ungrouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(RedbFactory(RedbOptions {
        group: GroupOptions::ungrouped(),
        ..RedbOptions::default()
    }));
}
