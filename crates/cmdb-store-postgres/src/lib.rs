//! `cmdb-store-postgres`: the [`cmdb_core::ports::SetStore`] on PostgreSQL, for several
//! engines (processes, hosts) sharing one database.
//!
//! # The client
//! [`tokio_postgres`] with a [`deadpool_postgres`] pool for reads: tokio-postgres is the
//! maintained async driver the rest of the stack (tokio, axum) already runs on, it pipelines
//! statements sent concurrently on one connection (what keeps a create within its round-trip
//! budget), and it exposes SQLSTATEs, so errors map by code, never by message. deadpool is a
//! small, runtime-agnostic pool over it with statement caching per connection. No TLS: the
//! store connects with `NoTls` (put a local proxy or a socket in front for TLS).
//!
//! # Writes: native group commit
//! One writer owns one connection and drains a bounded queue: every create queued while the
//! previous transaction committed goes into the next one (no timer). It runs on a thread of its
//! own with a single-threaded tokio runtime, so its wake-ups never queue behind request tasks
//! on the caller's runtime; callers only wait on channels. A transaction is two
//! pipelined flights: (1) `BEGIN`, `SELECT … FOR UPDATE` of the id counter rows and the reads
//! the domain needs for the whole group (which names, unique keys and built-in sets are taken);
//! (2) the multi-row inserts of sets, unique keys, modules and audit records, the counter
//! updates and `COMMIT`. Between the flights the domain's own
//! [`cmdb_core::plan::commit_group`] decides over an in-memory view of the transaction, each
//! plan behind a savepoint of the view, so the rules are the embedded stores' rules, and a
//! refused plan leaves no trace and consumes no id. The blocking `StoreTx` never touches the
//! network, and no `block_on` is needed.
//!
//! Why not a server-side SAVEPOINT per create: each is a subtransaction, and more than 64 per
//! transaction overflow PostgreSQL's per-backend cache and slow every snapshot on the server;
//! and each would cost statements a create does not need. Why the counter rows: ids stay
//! gapless (the contract), and holding them from the first statement serializes writers of
//! all engines, so at READ COMMITTED the reads after the lock see every committed create and
//! the unique indexes only back the domain up. At SERIALIZABLE, conflicts are serialization
//! failures (40001), retried with backoff and jitter; so are deadlocks (40P01).
//!
//! A create of the seed request costs three round trips: the facts (one statement), and the
//! two flights; two when its facts are cached. Catalog loads read the whole catalog (small) in
//! the first flight.
//!
//! # The facts cache
//! The store keeps create-facts answers (`PgOptions::facts_cache_entries`), each tagged with
//! the catalog version it was read at: a counter row beside the id counters (`catalog` in
//! `sequences`), bumped by every transaction that writes catalog rows, under the same locks.
//! An answer is served while its version is the newest the store has seen, and plans carry
//! the version of their facts ([`cmdb_core::plan::CreatePlan::catalog_version`]). The writer
//! reads the current version in its first flight, under the locks, and its view answers it
//! as [`cmdb_core::ports::StoreTx::catalog_version`]; the domain's `commit_plan` refuses a plan
//! of another version with [`cmdb_core::StoreError::StaleFacts`] (only that plan: the rest of
//! the group commits); the engine then plans it again, on facts read afresh since the writer
//! has taught the cache the new version. Catalog changes made by other engines are seen at
//! the latest by the next commit, so a cached answer never lets a create commit against a
//! catalog it was not checked against; a refusal decided on cached facts is decided again by
//! the engine on a fresh read ([`cmdb_core::facts::FactsQuery::fresh`]). Sets do not bump the
//! version: the one fact creates change, a biz's built-in set, is checked again at commit.
//!
//! # Failover
//! Every connection asks for a read-write session, so with several hosts in the URL only the
//! writable primary is used. After losing it the writer and the reads try the hosts again with
//! backoff, holding jobs for up to `PgOptions::failover_wait`; a read-only server (25006) is
//! dropped like a lost one. Each reconnection of the writer starts a new epoch of the facts
//! cache, and the versions the store reports carry the epoch, so a plan made on facts read
//! before a failover is refused as stale and planned again (with asynchronous replication
//! the new primary may reuse a catalog version number with other facts).
//!
//! ```no_run
//! # async fn f() -> Result<(), cmdb_store_postgres::OpenError> {
//! use cmdb_store_postgres::{PgOptions, PgStore};
//! let store = PgStore::connect("postgres://cmdb@127.0.0.1:5432/cmdb", PgOptions::default()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod facts_cache;
mod failover;
mod listen;
mod options;
pub mod schema;
mod sql;
mod store;
mod view;
mod writer;

pub use cmdb_store_group::OpenError;
pub use options::{Isolation, PgOptions};
pub use schema::SCHEMA_VERSION;
pub use store::{FACTS_CACHE, PgStore};
