//! The shared conformance suite, run against `SqliteStore`: a fresh database file in a temp
//! dir per case, and a real reopen of that file for the reopen cases.

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

/// Builds SQLite stores on `cmdb.sqlite` in a temp dir the guard keeps alive.
struct SqliteFactory;

const FILE: &str = "cmdb.sqlite";

impl StoreFactory for SqliteFactory {
    type Guard = TempDir;

    fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join(FILE), SqliteOptions::default())
            .expect("a fresh sqlite store");
        (Arc::new(store), dir)
    }

    fn reopen(&self, dir: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        let store = SqliteStore::open(dir.path().join(FILE), SqliteOptions::default())
            .expect("the sqlite store reopens");
        Some(Arc::new(store))
    }
}

cmdb_store_conformance::store_conformance_tests!(SqliteFactory);
