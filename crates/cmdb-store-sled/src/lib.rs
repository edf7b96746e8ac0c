//! `cmdb-store-sled`: the [`SetStore`](cmdb_core::ports::SetStore) port of the CMDB
//! `create_set` engine on [sled](https://docs.rs/sled/0.34.7) 0.34.
//!
//! Open a store with [`SledStore::open`]. Every write method runs the domain's write logic
//! (`commit_plan`, `apply_fixture`) inside one serializable multi-tree sled transaction through
//! the [`StoreTx`](cmdb_core::ports::StoreTx) view: ids are taken from sequences stored in the
//! same transaction (never from `Db::generate_id`, which is neither rolled back nor gapless),
//! unique indexes are checked and written there, and a domain error aborts everything.
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
//! # Locking and damage
//!
//! sled holds an exclusive lock on its directory: a second [`SledStore::open`], from another
//! process or from this one, fails at once with `StoreError::Busy`. Concurrency is therefore
//! between tasks and threads of one process, where sled serializes the transactions. A damaged
//! directory is refused with `StoreError::Corrupt` (see [`sidecar`]), and a stored value that
//! does not decode is reported as `StoreError::Corrupt` naming its tree and key; nothing
//! panics.
//!
//! The tree and key layout is described in [`layout`]; values use the versioned encoding of
//! [`codec`].

pub mod codec;
mod error;
pub mod layout;
pub mod sidecar;
mod store;
mod tx;

pub use sidecar::SIDECAR_FILE;
pub use store::{BACKGROUND_FLUSH_MS, FlushMode, SledOptions, SledStore};
