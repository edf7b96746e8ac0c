//! `cmdb-store-redb`: the [`SetStore`] on [redb] 5, a pure-Rust embedded ACID key-value store
//! with a stable file format: one file, one process at a time.
//!
//! [`RedbBackend`] is a [`Backend`] of [`EmbeddedStore`]: each write (a group of creates, an
//! atomic batch, a catalog load) is one redb write transaction, committed with the
//! [`RedbDurability`] chosen; reads run over redb's MVCC snapshots, so they never wait for a
//! commit.
//!
//! # Layout
//! Nine tables of byte keys and byte values (ids as order-preserving big-endian keys,
//! documents as their JSON, read back bit for bit): `meta` (the format marker
//! [`FORMAT_NAME`] and [`FORMAT_VERSION`]), `sequences`, `catalog` (a kind tag and the
//! object's identity, tenants length-prefixed, so a tenant's attributes and unique rules are
//! one range), `sets` by (biz, id), `modules` by (set, id) and `audit` by (biz, id) (a
//! resource type byte before the document), so every document read is one range scan; and
//! the indexes `set_names` (biz, parent, name), `unique_keys` and `builtin_sets`.
//!
//! # Savepoints
//! redb's own savepoints cannot be taken once a table is open in the transaction, so a
//! savepoint here is an undo log: while one is open every write records the value it replaced,
//! and a rollback puts those back in reverse order (all inside the one uncommitted redb
//! transaction, so nothing of it is ever on disk).
//!
//! # Opening
//! A new store is built under a temporary name and hard-linked into place, so a file at the
//! path always carries the marker. An existing file is first opened as a dry run that checks
//! the checksum of every page and keeps redb's writes (crash repair included) in memory; only a
//! file that passes is opened for real (and repaired, after a crash). So a file that is not
//! redb, a redb file of another application, a damaged or too new store, or one another
//! process or handle holds is refused ([`OpenError`]) with its bytes unchanged. The check
//! reads the whole file on every open.
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

use crate::tx::{TABLES, Tx, storage};

/// The name in a store's `meta` table.
pub const FORMAT_NAME: &[u8] = b"cmdb-store-redb";
/// The newest layout version this engine reads and the one it writes.
pub const FORMAT_VERSION: i64 = 1;

/// The redb [`SetStore`](cmdb_core::ports::SetStore):
/// `RedbStore::open(path, RedbOptions::default()).await` (or `open_blocking`).
pub type RedbStore = EmbeddedStore<RedbBackend>;

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedbDurability {
    /// Every commit is fsynced before it is acknowledged (redb `Durability::Immediate`):
    /// acknowledged creates survive a process crash and power loss.
    #[default]
    Immediate,
    /// Commits stay in redb's memory (redb `Durability::None`) until a durable one: a commit
    /// is made durable when the last durable one is [`RedbBackend::DURABLE_EVERY`] old, and
    /// closing makes them all durable. A crash of the process or the machine loses every
    /// commit since the last durable one (about the last 500 ms under load, but the last
    /// writes before an idle spell until the next write), and their ids are handed out again.
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
    /// `None` once closed. Reads and writes hold it shared (redb serialises its writers
    /// itself); [`Backend::close`] takes it.
    db: RwLock<Option<Database>>,
    durability: RedbDurability,
    /// When the last durable commit (or the open) was.
    last_durable: Mutex<Instant>,
}

impl RedbBackend {
    /// How old the last durable commit may get under [`RedbDurability::None`].
    pub const DURABLE_EVERY: Duration = Duration::from_millis(500);
    /// The most memory redb's page cache takes.
    const CACHE_BYTES: usize = 64 << 20;

    fn database<R>(&self, f: impl FnOnce(&Database) -> R) -> Result<R, StoreError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = db
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        Ok(f(db))
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
        let committed = self.database(|db| {
            let failed = |e: redb::Error| WriteError::Failed(storage(e));
            let mut txn = db.begin_write().map_err(|e| failed(e.into()))?;
            if !durable {
                txn.set_durability(Durability::None)
                    .map_err(|e| failed(e.into()))?;
            }
            let out = {
                let open = TABLES.iter().map(|def| txn.open_table(*def));
                let tables = open
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(e.into()))?;
                body(&mut Tx::new(tables)).map_err(WriteError::Body)?
            };
            txn.commit().map_err(|e| match e {
                CommitError::Storage(e @ (StorageError::Io(_) | StorageError::PreviousIo)) => {
                    WriteError::SyncFailed(storage(e))
                }
                e => failed(e.into()),
            })?;
            Ok(out)
        });
        let out = committed.map_err(WriteError::Failed)??;
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
            let open = TABLES.iter().map(|def| txn.open_table(*def));
            let tables = open.collect::<Result<_, _>>().map_err(storage)?;
            body(&mut Tx::new(tables))
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
            db: RwLock::new(Some(open::open(path, Self::CACHE_BYTES)?)),
            durability: options.durability,
            last_durable: Mutex::new(Instant::now()),
        })
    }

    fn group_options(options: &RedbOptions) -> GroupOptions {
        options.group
    }
}
