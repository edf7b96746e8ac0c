//! `cmdb-store-group`: the one [`SetStore`](cmdb_core::ports::SetStore) of every synchronous
//! storage engine, and what it is built from.
//!
//! - [`EmbeddedStore`]: the store over a [`Backend`] (memory, SQLite, sled, redb). A backend
//!   implements two calls here ([`Backend::write`], [`Backend::read`]) and eleven in
//!   [`cmdb_core::backend`] (six reads, five writes); the store does the rest once: group
//!   commit, atomic batches, catalog loads, facts, reads, close. [`OpenBackend`] adds an async
//!   and a blocking `open` at a path, with one [`OpenError`] for every store.
//! - [`GroupCommitter`]: the writer thread that commits whatever creates queued while the
//!   previous commit was in flight in one transaction (group commit), answers each caller once
//!   that transaction has committed, and runs the store's other writes in turn. The PostgreSQL
//!   store, which has its own writer, does not use it.
//! - [`kv`]: those eleven answered once for any ordered map of byte keys (get, insert,
//!   remove, a walk in key order), so that such an engine (redb) implements four.
//! - [`BlockingPool`]: a few threads that run a store's blocking reads, so that no async
//!   worker of the caller waits on disk i/o.
#![deny(missing_docs)]

mod backend;
mod committer;
mod embedded;
pub mod kv;
mod open;
mod options;
mod pool;
mod size;

pub use backend::{Backend, WriteError};
pub use committer::{GROUP_SIZE, GroupBackend, GroupCommitter, GroupError, QUEUE_DEPTH, SyncAlarm};
pub use embedded::{EmbeddedStore, OpenPanicked};
pub use open::{OpenBackend, OpenError};
pub use options::GroupOptions;
pub use pool::BlockingPool;
pub use size::approx_plan_bytes;
