//! `cmdb-store-group`: what every store of the create-set engine shares around its backend.
//!
//! - [`GroupCommitter`]: one writer thread per store that commits whatever creates queued while
//!   the previous commit was in flight in one transaction (group commit), answers each caller
//!   once that transaction has committed, and runs the store's other writes in turn.
//! - [`BlockingPool`]: a few threads that run a store's blocking reads, so that no async
//!   worker of the caller waits on disk i/o.
//!
//! A store implements [`GroupBackend`] (commit a group of plans in one transaction, through
//! [`cmdb_core::plan::commit_group`]) and forwards its async methods to these two.

mod backend;
mod committer;
mod embedded;
mod options;
mod pool;
mod size;

pub use backend::{Backend, WriteError};
pub use committer::{GroupBackend, GroupCommitter, GroupError, SyncAlarm};
pub use embedded::{EmbeddedStore, OpenPanicked};
pub use options::GroupOptions;
pub use pool::BlockingPool;
pub use size::approx_plan_bytes;
