//! The shared conformance suite against a real PostgreSQL server (`CMDB_PG_URL`), at READ
//! COMMITTED and at SERIALIZABLE, and ungrouped with `CMDB_SLOW_TESTS=1`: a database of its own per store, dropped
//! after the case, and a real reconnect to it for the reopen cases.

mod common;

use std::sync::Arc;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::GroupOptions;
use cmdb_store_postgres::{Isolation, PgOptions, PgStore};
use common::{TestDb, server_missing};

/// Builds stores with these options, each on a fresh database.
struct PgFactory(PgOptions);

async fn open(url: String, options: PgOptions) -> Arc<dyn SetStore> {
    let store = PgStore::connect(&url, options)
        .await
        .expect("the PostgreSQL store opens");
    Arc::new(store)
}

impl StoreFactory for PgFactory {
    type Guard = TestDb;

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let db = TestDb::create();
        (open(db.url.clone(), self.0).await, db)
    }

    async fn reopen(&self, db: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        Some(open(db.url.clone(), self.0).await)
    }
}

mod read_committed {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(
        skip_if: server_missing(),
        PgFactory(PgOptions::default())
    );
}

mod serializable {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(
        skip_if: server_missing(),
        PgFactory(PgOptions {
            isolation: Isolation::Serializable,
            ..PgOptions::default()
        })
    );
}

/// Why the ungrouped mode skips: it needs a server, and it runs with the slow tests only
/// (`CMDB_SLOW_TESTS=1`; the two isolation levels above are the default run).
fn ungrouped_skipped() -> Option<&'static str> {
    server_missing().or_else(|| {
        (std::env::var("CMDB_SLOW_TESTS").as_deref() != Ok("1"))
            .then_some("the ungrouped mode runs with CMDB_SLOW_TESTS=1")
    })
}

mod read_committed_ungrouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(
        skip_if: ungrouped_skipped(),
        PgFactory(PgOptions {
            group: GroupOptions::ungrouped(),
            ..PgOptions::default()
        })
    );
}
