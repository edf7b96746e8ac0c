//! The shared conformance suite, run against `SqliteStore` in every mode: `synchronous=FULL`
//! and `NORMAL`, with group commit and without. A fresh database file in a temp dir per case,
//! and a real reopen of that file for the reopen cases.

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::GroupOptions;
use cmdb_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use tempfile::TempDir;

/// Builds SQLite stores with these options on `cmdb.sqlite` in a temp dir the guard keeps
/// alive.
struct SqliteFactory(SqliteOptions);

const FILE: &str = "cmdb.sqlite";

impl StoreFactory for SqliteFactory {
    type Guard = TempDir;

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join(FILE), self.0)
            .await
            .expect("a fresh sqlite store");
        (Arc::new(store), dir)
    }

    async fn reopen(&self, dir: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        let store = SqliteStore::open(dir.path().join(FILE), self.0)
            .await
            .expect("the sqlite store reopens");
        Some(Arc::new(store))
    }
}

mod full {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SqliteFactory(SqliteOptions::default()));
}

mod normal {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SqliteFactory(SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    }));
}

mod full_ungrouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SqliteFactory(SqliteOptions {
        group: GroupOptions::ungrouped(),
        ..SqliteOptions::default()
    }));
}
