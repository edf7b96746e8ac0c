//! `cmdb-store-redb`: the [`SetStore`] on redb 5 (its layout, savepoints and opens below).
#![doc = include_str!("../README.md")]
//!
//! [`SetStore`]: cmdb_core::ports::SetStore

mod open;
#[cfg(test)]
mod tests;
mod tx;

use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, OpenBackend, OpenError, WriteError};
use redb::{CommitError, Database, Durability, ReadableDatabase, StorageError};

use crate::tx::{DATA, Tx, storage};

/// The format name in a store's meta space.
pub const FORMAT_NAME: &str = "cmdb-store-redb";
/// The newest layout version this engine reads, and the one it writes.
pub const FORMAT_VERSION: i64 = 1;

/// The redb store: `RedbStore::open(path, RedbOptions::default()).await`, or `open_blocking`.
pub type RedbStore = EmbeddedStore<RedbBackend>;

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedbDurability {
    /// Every commit is fsynced before it is acknowledged (redb `Durability::Immediate`): an
    /// acknowledged create survives a process crash and a power loss.
    #[default]
    Immediate,
    /// Commits stay in redb's memory (`Durability::None`) until a durable one: a commit is
    /// durable when the last durable one is [`RedbBackend::DURABLE_EVERY`] old, and a close
    /// makes all durable. A crash, of the process too, loses every commit since the last
    /// durable one (the last ~500 ms under load; before an idle spell, all since) and hands
    /// their ids out again.
    None,
}

/// How a [`RedbStore`] commits and groups its creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedbOptions {
    /// When commits reach the disk.
    pub durability: RedbDurability,
    /// How concurrent creates share commits.
    pub group: GroupOptions,
}

/// The [`Backend`] of [`RedbStore`]: one redb [`Database`] (`None` once closed), and when the
/// last durable commit was.
#[derive(Debug)]
pub struct RedbBackend(RwLock<Option<Database>>, RedbDurability, Mutex<Instant>);

fn failed<E>(e: impl Into<redb::Error>) -> WriteError<E> {
    WriteError::Failed(storage(e))
}

impl RedbBackend {
    /// How old the last durable commit may get under [`RedbDurability::None`].
    pub const DURABLE_EVERY: Duration = Duration::from_millis(500);

    fn db<R>(&self, f: impl FnOnce(&Database) -> R) -> Result<R, StoreError> {
        let db = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let closed = || StoreError::Backend("the store is closed".into());
        Ok(f(db.as_ref().ok_or_else(closed)?))
    }
}

impl Backend for RedbBackend {
    const NAME: &'static str = "redb";

    fn write<R, E>(
        &self,
        mut body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        let mut last = self.2.lock().unwrap_or_else(PoisonError::into_inner);
        let durable = self.1 == RedbDurability::Immediate || last.elapsed() >= Self::DURABLE_EVERY;
        let out = self.db(|db| {
            let mut txn = db.begin_write().map_err(failed)?;
            if !durable {
                txn.set_durability(Durability::None).map_err(failed)?;
            }
            let table = txn.open_table(DATA).map_err(failed)?;
            let out = body(&mut Tx::new(table)).map_err(WriteError::Body)?;
            txn.commit().map_err(|e| match e {
                CommitError::Storage(e @ (StorageError::Io(_) | StorageError::PreviousIo)) => {
                    WriteError::SyncFailed(storage(e))
                }
                e => failed(e),
            })?;
            Ok(out)
        });
        let out = out.map_err(WriteError::Failed)??;
        if durable {
            *last = Instant::now();
        }
        Ok(out)
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.db(|db| {
            let txn = db.begin_read().map_err(storage)?;
            body(&mut Tx::new(txn.open_table(DATA).map_err(storage)?))
        })?
    }

    /// Closes the database (making pending commits durable) and releases the file, which can
    /// be opened again at once.
    fn close(&self) -> Result<(), StoreError> {
        let db = self
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        db.map_or(Ok(()), |db| db.close().map_err(storage))
    }
}

impl OpenBackend for RedbBackend {
    type Options = RedbOptions;

    fn open_backend(path: &Path, options: &RedbOptions) -> Result<Self, OpenError> {
        let db = RwLock::new(Some(open::open(path)?));
        Ok(RedbBackend(
            db,
            options.durability,
            Mutex::new(Instant::now()),
        ))
    }

    fn group_options(options: &RedbOptions) -> GroupOptions {
        options.group
    }
}
