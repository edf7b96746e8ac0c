//! [`PgOptions`]: isolation level, pool size, group commit, facts cache and failover wait of a
//! [`crate::PgStore`].

use std::time::Duration;

use cmdb_store_group::GroupOptions;

/// The isolation level of the store's write transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// `READ COMMITTED` (the default, PostgreSQL's own): the sequence-row locks serialize
    /// writers and the reads after them see every committed create.
    #[default]
    ReadCommitted,
    /// `SERIALIZABLE`: conflicting writers get serialization failures (SQLSTATE 40001), which
    /// the store retries with backoff and jitter. The level CockroachDB runs at.
    Serializable,
}

impl Isolation {
    /// The `BEGIN` statement of a write transaction.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => crate::sql::BEGIN_READ_COMMITTED,
            Isolation::Serializable => crate::sql::BEGIN_SERIALIZABLE,
        }
    }
}

/// Options of [`crate::PgStore::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// The isolation level of write transactions. Default [`Isolation::ReadCommitted`].
    pub isolation: Isolation,
    /// How many connections serve reads (default 8); writes use one more of their own.
    pub read_connections: usize,
    /// How long connecting may take before it fails (default 5 s).
    pub connect_timeout: Duration,
    /// How concurrent creates share transactions (default: grouped, see [`GroupOptions`]).
    pub group: GroupOptions,
    /// How many create-facts answers the store keeps (default 4096; 0: none, every create
    /// reads its facts). A cached answer is checked against the catalog version at commit, so
    /// the cache never lets a create commit on a catalog that changed.
    pub facts_cache_entries: usize,
    /// How long a write or a read waits for a writable primary after the store lost its
    /// connection to one (default 10 s): meanwhile the store tries the URL's hosts again with
    /// backoff (25 ms doubling to 250 ms). Past it, creates fail at once with 1199999 until a
    /// primary answers; the store keeps looking. The creates in flight on the lost
    /// connection fail at once (their outcome is unknown to the engine, see the README).
    pub failover_wait: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            isolation: Isolation::ReadCommitted,
            read_connections: 8,
            connect_timeout: Duration::from_secs(5),
            group: GroupOptions::default(),
            facts_cache_entries: 4096,
            failover_wait: Duration::from_secs(10),
        }
    }
}
