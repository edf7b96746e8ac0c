//! `cmdb-store-redb`: the [`SetStore`] on [redb] 5, a pure-Rust embedded ACID store with a
//! stable file format: one file, one process at a time.
//!
//! [`RedbBackend`] is a [`Backend`] of [`EmbeddedStore`]: each write (a group of creates, an
//! atomic batch, a catalog load) is one redb write transaction, committed per the
//! [`RedbDurability`]; reads run on redb's MVCC snapshots and never wait for a commit.
//!
//! **Layout**: one table, `cmdb`, of byte keys and values; a key starts with its space byte:
//! `meta` (`format` → [`FORMAT_NAME`], `version` → [`FORMAT_VERSION`]), `sequences` (kind →
//! last id), `sets` (biz, id), `set_names` (biz, parent, name → set), `unique_keys` (storage
//! key → set), `builtin_sets` (biz → set), `modules` (set, id), `audit` (biz, id; a resource
//! type byte, then the document) and `catalog` (a kind byte, a length-prefixed tenant or an id,
//! the name: a tenant's attributes or unique rules are one range). Ids are big-endian with the
//! sign bit flipped, so key order is id order; documents are their JSON, read back bit for bit.
//!
//! **Savepoints**: redb refuses a savepoint once a table is open in the transaction, so one
//! here is an undo log: while it is open every write records the value it replaced, and a
//! rollback puts those back, newest first, inside the same uncommitted redb transaction.
//!
//! **Opening**: a new store is built under a temporary name and hard-linked into place, so a
//! file at the path always carries the marker. An existing file is first opened as a dry run
//! on a copy in memory (with every page's checksum checked; redb writes even when it only
//! opens), so a file that is not redb, a redb file of another application, a damaged or too
//! new store, and one that another process or handle holds are refused ([`OpenError`]) with
//! their bytes unchanged. The check reads the whole file, and holds a copy of it in memory,
//! on every open.
//!
//! [`SetStore`]: cmdb_core::ports::SetStore
//! [redb]: https://www.redb.org

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

/// The name in a store's `meta` space.
pub const FORMAT_NAME: &str = "cmdb-store-redb";
/// The newest layout version this engine reads, and the one it writes.
pub const FORMAT_VERSION: i64 = 1;

/// The redb [`SetStore`](cmdb_core::ports::SetStore):
/// `RedbStore::open(path, RedbOptions::default()).await`, or `open_blocking`.
pub type RedbStore = EmbeddedStore<RedbBackend>;

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedbDurability {
    /// Every commit is fsynced before it is acknowledged (redb `Durability::Immediate`): an
    /// acknowledged create survives a process crash and a power loss.
    #[default]
    Immediate,
    /// Commits stay in redb's memory (`Durability::None`) until a durable one: a commit is made
    /// durable once the last durable one is [`RedbBackend::DURABLE_EVERY`] old, and a close
    /// makes all durable. A crash (of the process too) loses every commit since the last
    /// durable one (the last ~500 ms under load; before an idle spell, until the next write)
    /// and hands their ids out again.
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

/// The [`Backend`] of [`RedbStore`]: one redb [`Database`], let go of at close.
#[derive(Debug)]
pub struct RedbBackend {
    /// `None` once closed; reads and writes share it (redb serialises writers itself).
    db: RwLock<Option<Database>>,
    durability: RedbDurability,
    /// When the last durable commit (or the open) was.
    last_durable: Mutex<Instant>,
}

/// A redb failure before or during a commit: nothing was stored.
fn failed<E>(e: impl Into<redb::Error>) -> WriteError<E> {
    WriteError::Failed(storage(e))
}

impl RedbBackend {
    /// How old the last durable commit may get under [`RedbDurability::None`].
    pub const DURABLE_EVERY: Duration = Duration::from_millis(500);

    fn database<R>(&self, f: impl FnOnce(&Database) -> R) -> Result<R, StoreError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
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
        let mut last = self
            .last_durable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let durable =
            self.durability == RedbDurability::Immediate || last.elapsed() >= Self::DURABLE_EVERY;
        let out = self.database(|db| {
            let mut txn = db.begin_write().map_err(failed)?;
            if !durable {
                txn.set_durability(Durability::None).map_err(failed)?;
            }
            let out = body(&mut Tx::new(txn.open_table(DATA).map_err(failed)?));
            let out = out.map_err(WriteError::Body)?;
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
        self.database(|db| {
            let txn = db.begin_read().map_err(storage)?;
            body(&mut Tx::new(txn.open_table(DATA).map_err(storage)?))
        })?
    }

    /// Closes the database (which makes pending non-durable commits durable) and releases the
    /// file: it can be opened again at once.
    fn close(&self) -> Result<(), StoreError> {
        let db = self
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        db.map_or(Ok(()), |db| db.close().map_err(storage))
    }
}

impl OpenBackend for RedbBackend {
    type Options = RedbOptions;

    fn open_backend(path: &Path, options: &RedbOptions) -> Result<Self, OpenError> {
        Ok(RedbBackend {
            db: RwLock::new(Some(open::open(path)?)),
            durability: options.durability,
            last_durable: Mutex::new(Instant::now()),
        })
    }

    fn group_options(options: &RedbOptions) -> GroupOptions {
        options.group
    }
}
