//! [`SledBackend`]: the [`Backend`] of [`SledStore`](crate::SledStore) — sled's handles, the
//! directory lock, and one serializable multi-tree sled transaction per write.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_store_group::{Backend, GroupOptions, WriteError};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::error::{closed, map_sled_error};
use crate::layout::T;
use crate::tx::SledTx;

/// sled's background flush interval, in milliseconds (its default, set explicitly).
pub const BACKGROUND_FLUSH_MS: u64 = 500;

/// When a committed write reaches the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlushMode {
    /// Every write returns only after its transaction is flushed and fsynced (a blocking
    /// `flush`, after every commit that wrote something). A write that returned `Ok` survives
    /// a process crash and a power loss.
    #[default]
    EveryWrite,
    /// Writes return once committed in memory; sled flushes in the background every
    /// [`BACKGROUND_FLUSH_MS`] ms. A process crash or power loss may lose the writes of the
    /// last ~500 ms (sled's flush interval); the store stays consistent: every transaction is
    /// recovered whole or not at all, in commit order, with the sequences it bumped. The ids
    /// of lost writes may be handed out again after the restart (the lost sets are gone).
    /// This mode does not meet the port's "survives a process crash" contract: opt in.
    Background,
}

/// Options of [`SledStore::open`](cmdb_store_group::EmbeddedStore::open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SledOptions {
    /// When writes are flushed (default [`FlushMode::EveryWrite`]).
    pub flush: FlushMode,
    /// How concurrent creates share commits (default: grouped, see [`GroupOptions`]).
    pub group: GroupOptions,
}

/// sled's handles: the database and its trees, indexed by [`T::index`].
pub(crate) struct Handles {
    pub(crate) db: sled::Db,
    pub(crate) trees: Vec<sled::Tree>,
}

impl Handles {
    pub(crate) fn tree(&self, t: T) -> &sled::Tree {
        &self.trees[t.index()]
    }

    /// The blocking flush and fsync.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        // The blocking flush, on purpose: in sled 0.34 concurrent `flush_async` futures can
        // deadlock, never woken (spacejam/sled#1308, #1241). It runs on a store thread, never
        // on an async caller's.
        self.db.flush().map(drop).map_err(map_sled_error)
    }
}

/// The [`Backend`] of [`SledStore`](crate::SledStore): a sled database directory, locked for
/// the life of the backend (or until its close).
///
/// - [`Backend::write`] is one serializable sled transaction, at first over the 11 trees a
///   create writes (meta, sequences, sets, modules, audit and their indexes, see
///   [`layout`](crate::layout)), so sled locks, checks and commits 11 trees instead of 18;
///   when the body touches a catalog tree, that attempt is dropped and the body runs again
///   over every tree. sled runs the body again after a conflict ([`Backend::may_rerun`]). In
///   [`FlushMode::EveryWrite`] a commit that wrote something is flushed before `write`
///   returns; a failed flush is [`WriteError::SyncFailed`].
/// - [`Backend::read`] reads the trees outside transactions: each point read and each scan
///   is atomic with respect to commits, but a read of several trees may see a commit that
///   ended between two of them (writes only add, so it sees less, never a torn record).
/// - [`Backend::close`] is the clean close (see [`crate::sidecar`]); afterwards every call
///   fails with a [`StoreError::Backend`] saying the store is closed.
///
/// sled's handles sit behind a lock taken only by the store's own threads: shared by the
/// writer and readers, exclusively by the close. Dropping the backend (on the store's writer
/// thread, see [`EmbeddedStore`](cmdb_store_group::EmbeddedStore)) drops sled's handles and
/// then unlocks the directory, without waiting for sled's threads to let go of the files and
/// without marking the store closed: the next open may find sled's log still locked for a
/// moment ([`OpenError::Busy`](cmdb_store_group::OpenError::Busy)) and recovers as after a
/// crash.
pub struct SledBackend {
    /// sled's handles; `None` once closed. Declared before `lock`, so dropped before it.
    pub(crate) handles: RwLock<Option<Handles>>,
    /// The directory, locked (`flock`) until the close; `None` where a directory cannot be
    /// opened (not on Unix), and after the close.
    pub(crate) lock: Mutex<Option<File>>,
    pub(crate) options: SledOptions,
    pub(crate) path: PathBuf,
}

impl fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledBackend")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SledBackend {
    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> SledOptions {
        self.options
    }

    /// Flushes every committed write to disk and fsyncs, whatever the [`FlushMode`]. It
    /// blocks: from async code run it on the store's threads,
    /// `store.run(|sled| sled.flush()).await`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] on i/o failure or when the store is closed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.handles()
            .as_ref()
            .map_or_else(|| Err(closed(&self.path)), Handles::flush)
    }

    /// The handles, shared; `None` inside once closed.
    fn handles(&self) -> RwLockReadGuard<'_, Option<Handles>> {
        // A panic while the lock was held (a read or a write) left sled's handles as they
        // were: sled is consistent on its own.
        self.handles.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why an attempt of a sled transaction stopped.
enum Abort<E> {
    /// The body refused.
    Body(E),
    /// The body touched a tree the transaction was not opened over: run it over all of them.
    Widen,
}

impl Backend for SledBackend {
    const NAME: &'static str = "sled";

    fn write<R, E>(
        &self,
        body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        let guard = self.handles();
        let handles = guard
            .as_ref()
            .ok_or_else(|| WriteError::Failed(closed(&self.path)))?;
        // sled's transaction takes an `Fn`: each attempt borrows the body in turn.
        let body = RefCell::new(body);
        let mut trees = T::CREATES;
        loop {
            let wrote = Cell::new(false);
            let result = Transactional::<Abort<E>>::transaction(
                &handles.trees[..trees],
                |views: &Vec<sled::transaction::TransactionalTree>| {
                    let mut tx = SledTx::new(views);
                    let out = (body.borrow_mut())(&mut tx);
                    if tx.needs_every_tree() {
                        return Err(ConflictableTransactionError::Abort(Abort::Widen));
                    }
                    if tx.conflicted() {
                        // A conflict the domain saw as a store error (or as one create's
                        // failure): let sled run every create again.
                        return Err(ConflictableTransactionError::Conflict);
                    }
                    wrote.set(tx.wrote());
                    out.map_err(|e| ConflictableTransactionError::Abort(Abort::Body(e)))
                },
            );
            return match result {
                Ok(out) => {
                    if wrote.get() && self.options.flush == FlushMode::EveryWrite {
                        handles.flush().map_err(|e| {
                            WriteError::SyncFailed(StoreError::Backend(
                                e.detail().clone().renamed(format!(
                                    "committed, but the flush to disk failed: {e}"
                                )),
                            ))
                        })?;
                    }
                    Ok(out)
                }
                Err(TransactionError::Abort(Abort::Widen)) if trees < T::ALL.len() => {
                    trees = T::ALL.len();
                    continue;
                }
                Err(TransactionError::Abort(Abort::Widen)) => Err(WriteError::Failed(
                    StoreError::Backend("a write touched a tree the store does not have".into()),
                )),
                Err(TransactionError::Abort(Abort::Body(e))) => Err(WriteError::Body(e)),
                Err(TransactionError::Storage(e)) => Err(WriteError::Failed(map_sled_error(e))),
            };
        }
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let guard = self.handles();
        let handles = guard.as_ref().ok_or_else(|| closed(&self.path))?;
        body(&mut crate::read::Reader(handles))
    }

    fn may_rerun(&self) -> bool {
        true
    }

    fn close(&self) -> Result<(), StoreError> {
        crate::close::close(self)
    }
}
