//! [`Backend`]: what a synchronous storage engine implements to become a [`SetStore`] through
//! [`crate::EmbeddedStore`] — open a write transaction, open a snapshot, and the eleven calls of
//! [`BackendTx`] and [`BackendRead`] inside them.
//!
//! [`SetStore`]: cmdb_core::ports::SetStore

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};

/// A synchronous storage engine: memory, SQLite, sled, redb.
///
/// It is called on the store's own threads only (the writer thread for [`Backend::write`] and
/// [`Backend::close`], the reader threads for [`Backend::read`]), never on an async caller's:
/// it may block on disk i/o and locks.
///
/// # Contract
/// - [`Backend::write`] is one transaction: committed when the body returns `Ok` (and the
///   commit succeeded), no trace otherwise. It returns only once the commit is durable under
///   the backend's documented sync mode.
/// - Writes come from one thread at a time (the writer thread); a backend shared by several
///   processes (SQLite) serialises them itself.
/// - [`Backend::read`] answers from one consistent snapshot of committed state.
pub trait Backend: Send + Sync + 'static {
    /// A short name (`memory`, `sqlite`, `sled`, `redb`): [`SetStore::backend`] and the
    /// store's thread names.
    ///
    /// [`SetStore::backend`]: cmdb_core::ports::SetStore::backend
    const NAME: &'static str;

    /// Runs `body` in one write transaction and commits it when the body returns `Ok`; rolls
    /// back otherwise. A backend that may run the body again (a transaction retried after a
    /// conflict) says so with [`Backend::may_rerun`].
    ///
    /// # Errors
    /// [`WriteError::Body`] with the body's error (rolled back); [`WriteError::Failed`] when the
    /// transaction could not begin or commit (nothing stored); [`WriteError::SyncFailed`] when
    /// the commit's sync to disk failed (what reached the disk is unknown).
    fn write<R, E>(
        &self,
        body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>>;

    /// Runs `body` over one snapshot of committed state.
    ///
    /// # Errors
    /// The body's error, or a storage failure opening the snapshot.
    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError>;

    /// Runs `body` over a snapshot at once on the calling thread (an async caller's) when
    /// that cannot block — no disk i/o, no waiting for a lock — and hands it back otherwise;
    /// the store then runs it on its reader threads. The default always hands it back. The
    /// memory backend answers while its lock is free (`try_lock`), saving two thread hops.
    fn read_without_blocking<R, F>(&self, body: F) -> Result<Result<R, StoreError>, F>
    where
        F: FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    {
        Err(body)
    }

    /// Whether [`Backend::write`] may run its body more than once (sled retries a transaction
    /// after a conflict); the store then hands each run its own copy of the plans. Default
    /// `false`.
    fn may_rerun(&self) -> bool {
        false
    }

    /// Flushes and lets go of the files; later calls may fail. Runs on the writer thread after
    /// every write queued before it. The default does nothing.
    ///
    /// # Errors
    /// Storage failures while flushing.
    fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How a [`Backend::write`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The body refused: nothing was stored.
    Body(E),
    /// The transaction could not begin or commit: nothing was stored, the store stays usable.
    Failed(StoreError),
    /// The commit's sync to disk failed: the store refuses every later write until reopened.
    SyncFailed(StoreError),
}
