//! `cmdb-store-sled`: the [`SetStore`](cmdb_core::ports::SetStore) port of the CMDB
//! `create_set` engine on [sled](https://docs.rs/sled/0.34.7) 0.34.
//!
//! Open a store with [`SledStore::open`]. Every write runs the domain's write logic
//! (`commit_group`, `apply_fixture`) inside one serializable multi-tree sled transaction through
//! the [`StoreTx`](cmdb_core::ports::StoreTx) view: ids are taken from sequences stored in the
//! same transaction (never from `Db::generate_id`, which is neither rolled back nor gapless),
//! unique indexes are checked and written there. Concurrent creates share one transaction and
//! one flush (group commit, on the store's writer thread); a create refused inside a group
//! leaves no trace, because its writes are staged until it succeeded (sled has no savepoints);
//! any other domain error aborts the whole write.
//!
//! # Durability
//!
//! | [`FlushMode`] | a write returned `Ok`, then the process crashes | … then the power fails |
//! |---|---|---|
//! | `EveryWrite` (default) | kept | kept (the write waited for sled's fsync) |
//! | `Background` | may lose the last ~500 ms of writes | may lose the last ~500 ms of writes |
//!
//! In both modes a transaction is recovered whole or not at all, and a write that returned an
//! error left no trace. [`SetStore::close`](cmdb_core::ports::SetStore::close) flushes.
//!
//! # Locking
//!
//! A store locks its directory (and sled locks its log): a second [`SledStore::open`], from
//! another process or from this one, fails at once with `StoreError::Busy` until the first
//! handle is dropped; the drop returns once sled has let go of its files. Concurrency is
//! therefore between tasks and threads of one process, where sled serializes the
//! transactions.
//!
//! # Damage
//!
//! Opening a damaged store fails with `StoreError::Corrupt` and a one-line message; nothing
//! panics. What is detected, and whether the damaged files are left untouched, depends on how
//! the store was last shut down (details in [`sidecar`]):
//!
//! | the last handle… | damage to sled's files found at the next open | files left untouched |
//! |---|---|---|
//! | was closed ([`SetStore::close`](cmdb_core::ports::SetStore::close) `Ok`, no write after it) and dropped | any change of any file (content, length, a file removed or added), named in the message: ``… changed since the store was closed cleanly: the content of `db` changed …`` | yes: sled is not called |
//! | crashed, or was dropped without a close | sled's own refusals; a store that recovers none of its data, or any sequence below its last durable value | no: sled's recovery has rewritten the log |
//!
//! In both cases a sidecar that does not decode or names another format or layout version is
//! refused before sled runs; a sled database without our format marker (not a store of ours),
//! or with another layout version in it, is refused after sled opened it.
//!
//! Not detected: after a crash, damage that leaves every sequence where it was (a value that
//! no longer decodes is reported as `StoreError::Corrupt` naming its tree and key when it is
//! read); damage made while the store is open; a removed sidecar (the directory then opens as
//! after a crash); a deliberate forgery (the checksum is FNV-1a-64, not a signature). A handle
//! that is closed but never dropped leaves the store as after a crash.
//!
//! Cost: the open of a cleanly closed store and the drop of a closed handle each read every
//! byte of the store's files once (linear in the store size) and write the sidecar once.
//!
//! The tree and key layout is described in [`layout`]; values use the versioned encoding of
//! [`codec`].

mod catalog;
pub mod codec;
mod error;
mod fingerprint;
pub mod layout;
pub mod sidecar;
mod store;
mod tx;

pub use sidecar::SIDECAR_FILE;
pub use store::{BACKGROUND_FLUSH_MS, FlushMode, SledOptions, SledStore};
