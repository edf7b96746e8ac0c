//! `cmdb-store-sled`: the [`SetStore`](cmdb_core::ports::SetStore) port of the CMDB
//! `create_set` engine on [sled](https://docs.rs/sled/0.34.7) 0.34.
//!
//! Open a store with [`SledStore::open`]. Every write method runs the domain's write logic
//! (`commit_plan`, `apply_fixture`) inside one serializable multi-tree sled transaction through
//! the [`StoreTx`](cmdb_core::ports::StoreTx) view: ids are taken from sequences stored in the
//! same transaction (never from `Db::generate_id`, which is neither rolled back nor gapless),
//! unique indexes are checked and written there, and a domain error aborts everything.
//!
//! Durability follows [`FlushMode`]: by default a write returns only once flushed to disk.
//! The tree and key layout is described in [`layout`]; values use the versioned encoding of
//! [`codec`].

pub mod codec;
mod error;
pub mod layout;
pub mod sidecar;
mod store;
mod tx;

pub use error::map_sled_error;
pub use sidecar::SIDECAR_FILE;
pub use store::{BACKGROUND_FLUSH_MS, FlushMode, SledOptions, SledStore};
