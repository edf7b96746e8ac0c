//! The shared conformance suite, run against `SledStore` in every mode: flush on every write
//! and background flush, with group commit and without. A fresh sled directory in a temp dir
//! per case, and a real reopen of that directory (previous handle closed and dropped) for the
//! reopen cases: it must succeed at once, since the close unlocked the directory.

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::GroupOptions;
use cmdb_store_sled::{FlushMode, SledOptions, SledStore};
use tempfile::TempDir;

/// The sled directory inside the temp dir.
const DIR: &str = "db";

/// Builds sled stores with these options in a temp dir the guard keeps.
struct SledFactory(SledOptions);

impl StoreFactory for SledFactory {
    type Guard = TempDir;

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SledStore::open(dir.path().join(DIR), self.0)
            .await
            .expect("a fresh sled store");
        (Arc::new(store), dir)
    }

    async fn reopen(&self, dir: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        // The previous handle was closed: no wait, no retry.
        let store = SledStore::open(dir.path().join(DIR), self.0)
            .await
            .unwrap_or_else(|e| panic!("the sled store reopens at once after its close: {e}"));
        Some(Arc::new(store))
    }
}

mod every_write {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SledFactory(SledOptions::default()));
}

mod background {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SledFactory(SledOptions {
        flush: FlushMode::Background,
        ..SledOptions::default()
    }));
}

mod every_write_ungrouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(SledFactory(SledOptions {
        group: GroupOptions::ungrouped(),
        ..SledOptions::default()
    }));
}
