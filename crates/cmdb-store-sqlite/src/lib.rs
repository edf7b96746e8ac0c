//! `cmdb-store-sqlite`: the [`cmdb_core::ports::SetStore`] on SQLite (rusqlite, bundled).
//!
//! One database file in WAL mode; the schema is embedded ([`schema::MIGRATIONS`]) and versioned
//! with `PRAGMA user_version`. Each write is one `BEGIN IMMEDIATE` transaction in which the id
//! sequences are read and bumped and the domain's write logic runs through a
//! [`cmdb_core::ports::StoreTx`] view of the transaction; the unique indexes back the domain's
//! name, unique-key and built-in checks, also across processes sharing the file. Concurrent
//! creates are group-committed: the store's writer thread puts every create queued during a
//! commit into the next transaction, each inside its own `SAVEPOINT`.
//!
//! Schema version 2 keeps audit records in one B-tree keyed by `(bk_biz_id, id)` and without a
//! copy of the document they record (`cur_data` is stored as null and joined back from the
//! set's or module's row when read: sets and modules are never changed). Version 3 indexes the
//! sets of a biz in id order, so that a page of a listing is a range read (`LIMIT`/`OFFSET`
//! over an index, the count an index-only `COUNT(*)`). Older files are migrated on open.
//!
//! ```no_run
//! use cmdb_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
//!
//! # async fn run() -> Result<(), cmdb_store_group::OpenError> {
//! let store = SqliteStore::open(
//!     "cmdb.sqlite",
//!     SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() },
//! )
//! .await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod header;
pub mod schema;
mod store;
mod tx;

pub use cmdb_store_group::OpenError;
pub use schema::SCHEMA_VERSION;
pub use store::{SqliteBackend, SqliteOptions, SqliteStore, Synchronous};
