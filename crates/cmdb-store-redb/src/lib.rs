//! `cmdb-store-redb`: the [`SetStore`] on redb 5 (its layout, savepoints and opens below).
#![doc = include_str!("../README.md")]
//!
//! [`SetStore`]: cmdb_core::ports::SetStore
#![deny(missing_docs)]

use std::fs::File;
use std::io::ErrorKind;
use std::ops::Bound::Unbounded;
use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_core::error::Detail;
use cmdb_store_group::OpenError::{self, Busy, Damaged, Foreign, Unreachable};
use cmdb_store_group::kv::{self, KvRead, KvTx, KvWrite, Visit};
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, OpenBackend, WriteError};
use redb::backends::{FileBackend, InMemoryBackend};
use redb::{Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable};
use redb::{StorageBackend, StorageError, Table, TableDefinition};

/// The format name in a store's meta space.
pub const FORMAT_NAME: &str = "cmdb-store-redb";
/// The newest layout version this engine reads, and the one it writes: that of
/// [`cmdb_store_group::kv`]. Version 2 adds the event log (`e`), version 3 the listing counters
/// (`q`); an older store gets them on its first open by this build.
pub const FORMAT_VERSION: i64 = kv::LAYOUT_VERSION;

/// The redb store: `RedbStore::open(path, RedbOptions::default()).await`, or `open_blocking`.
///
#[doc = include_str!("../doc/redb_store.md")]
pub type RedbStore = EmbeddedStore<RedbBackend>;

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedbDurability {
    /// Every commit is fsynced before it is acknowledged (redb `Durability::Immediate`): an
    /// acknowledged create survives a process crash and a power loss.
    #[default]
    Immediate,
    /// redb `Durability::None`, but the first commit after the open, one when the last durable
    /// one is [`RedbBackend::DURABLE_EVERY`] old, and the close are durable. A crash (even of
    /// the process) loses the commits since (~the last 500 ms) and reuses their ids.
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

/// The [`Backend`] of [`RedbStore`]: one redb [`Database`].
#[derive(Debug)]
pub struct RedbBackend {
    /// The database; `None` once closed.
    db: RwLock<Option<Database>>,
    durability: RedbDurability,
    /// When the last durable commit was (for [`RedbDurability::None`]); `None` before the
    /// first, which is durable.
    durable_at: Mutex<Option<Instant>>,
}

impl RedbBackend {
    /// How old the last durable commit may get under [`RedbDurability::None`].
    pub const DURABLE_EVERY: Duration = Duration::from_millis(500);

    fn db<R>(&self, f: impl FnOnce(&Database) -> R) -> Result<R, StoreError> {
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
            .durable_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| at.elapsed() >= Self::DURABLE_EVERY);
        let durable = due || self.durability == RedbDurability::Immediate;
        let done = self.db(|db| -> Result<Result<R, E>, redb::Error> {
            let mut txn = db.begin_write()?;
            if !durable {
                txn.set_durability(Durability::None)?;
            }
            let out = body(&mut KvTx::new(Data(txn.open_table(DATA)?)));
            if out.is_ok() {
                txn.commit()?;
            }
            Ok(out)
        });
        let out = match done.map_err(WriteError::Failed)? {
            Ok(out) => out.map_err(WriteError::Body)?,
            Err(e @ (redb::Error::Io(_) | redb::Error::PreviousIo)) => {
                return Err(WriteError::SyncFailed(storage(e)));
            }
            Err(e) => return Err(WriteError::Failed(storage(e))),
        };
        if durable {
            *last = Some(Instant::now());
        }
        Ok(out)
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.db(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(DATA).map_err(storage)?;
            body(&mut KvTx::new(Data(table)))
        })?
    }

    /// Closes the database (making pending commits durable) and releases the file, which can
    /// be opened again at once.
    fn close(&self) -> Result<(), StoreError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        db.take().map_or(Ok(()), |db| db.close().map_err(storage))
    }
}

impl OpenBackend for RedbBackend {
    type Options = RedbOptions;

    fn open_backend(path: &Path, options: &RedbOptions) -> Result<Self, OpenError> {
        let db = RwLock::new(Some(open(path)?));
        let (durability, durable_at) = (options.durability, Mutex::new(None));
        Ok(RedbBackend {
            db,
            durability,
            durable_at,
        })
    }

    fn group_options(options: &RedbOptions) -> GroupOptions {
        options.group
    }
}

/// The most memory redb's page cache takes.
const CACHE_BYTES: usize = 64 << 20;

fn busy(why: &str) -> OpenError {
    Busy(format!("the store is busy: {why}").into())
}

fn foreign(why: &str) -> OpenError {
    Foreign(format!("not a cmdb store: {why}").into())
}

fn damaged(why: impl std::fmt::Display) -> OpenError {
    Damaged(format!("the store is damaged: {why}").into())
}

fn io(e: std::io::Error) -> OpenError {
    Unreachable(Detail::caused_by(e.to_string(), e))
}

/// Opens the store at `path`, creating it when absent.
fn open(path: &Path) -> Result<Database, OpenError> {
    if !path.try_exists().map_err(io)? {
        create(path)?;
    }
    let locks = FileBackend::new(File::open(path).map_err(io)?);
    let held = locks.query_lock_range(Unbounded, Unbounded);
    if held.is_ok_and(|held| held) {
        return Err(busy("another process or handle has it open"));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    if !bytes.starts_with(b"redb\x1a\x0a\xa9\x0d\x0a") {
        return Err(foreign("it is not a redb file"));
    }
    let copy = InMemoryBackend::new();
    let loaded = copy
        .set_len(bytes.len() as u64)
        .and_then(|()| copy.write(0, &bytes));
    loaded.map_err(|e| OpenError::Store(storage(StorageError::from(e))))?;
    drop(bytes);
    let mut dry = Builder::new();
    dry.set_check_integrity_on_open(true);
    check(path, dry.create_with_backend(copy))?;
    let db = check(path, Builder::new().set_cache_size(CACHE_BYTES).open(path))?;
    upgrade(db.0, db.1).map_err(OpenError::Store)
}

/// Brings a store of an older format to [`FORMAT_VERSION`] in one transaction
/// ([`KvTx::upgrade`]).
fn upgrade(db: Database, version: i64) -> Res<Database> {
    if version < FORMAT_VERSION {
        let txn = db.begin_write().map_err(storage)?;
        let table = txn.open_table(DATA).map_err(storage)?;
        KvTx::new(Data(table)).upgrade(FORMAT_NAME, version)?;
        txn.commit().map_err(storage)?;
    }
    Ok(db)
}

/// The opened database, unless redb refused it or it lacks our marker or is too new.
fn check(path: &Path, db: Result<Database, DatabaseError>) -> Result<(Database, i64), OpenError> {
    let db = db.map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => busy("another handle has it open"),
        DatabaseError::Storage(e @ (StorageError::Corrupted(_) | StorageError::Io(_))) => {
            damaged(e)
        }
        e => OpenError::Store(storage(e)),
    })?;
    let txn = db.begin_read().map_err(storage)?;
    let marker = match txn.open_table(DATA) {
        Ok(table) => KvTx::new(Data(table)).marker(),
        Err(_) => Ok(None),
    };
    match marker.map_err(damaged)? {
        Some((name, found)) => {
            OpenError::check_format(path, (&name, found), FORMAT_NAME, FORMAT_VERSION)
                .map(|()| found)
        }
        None => Err(foreign("a redb database without the cmdb marker")),
    }
    .map(|found| (db, found))
}

/// Creates a store at `path` atomically: built and synced under a temporary name, then
/// hard-linked into place (never replacing a file another process created meanwhile).
fn create(path: &Path) -> Result<(), OpenError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.creating", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let built = (|| -> Res {
        let db = Database::create(&tmp).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        let table = txn.open_table(DATA).map_err(storage)?;
        KvTx::new(Data(table)).write_marker(FORMAT_NAME)?;
        txn.commit().map_err(storage)?;
        db.close().map_err(storage)
    })();
    let linked = match built.map(|()| std::fs::hard_link(&tmp, path)) {
        Err(e) => Err(OpenError::Store(e)),
        Ok(Err(e)) if e.kind() != ErrorKind::AlreadyExists => Err(io(e)),
        Ok(_) => Ok(()),
    };
    let _ = std::fs::remove_file(&tmp);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    linked
}

/// The one table: byte keys (a key space byte first) to JSON values.
const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cmdb");
type Res<V = ()> = Result<V, StoreError>;
type WriteTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

fn storage(e: impl Into<redb::Error>) -> StoreError {
    let e = e.into();
    StoreError::Backend(Detail::caused_by(format!("redb: {e}"), e))
}

/// A snapshot's or a write transaction's table, as the map [`KvTx`] lays the store out in.
struct Data<R>(R);

impl<R: ReadableTable<&'static [u8], &'static [u8]>> KvRead for Data<R> {
    fn get(&self, k: &[u8]) -> Res<Option<Vec<u8>>> {
        Ok(self.0.get(k).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    fn scan(&self, from: &[u8], visit: &mut Visit<'_>) -> Res {
        for entry in self.0.range(from..).map_err(storage)? {
            let (k, v) = entry.map_err(storage)?;
            if !visit(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }
}

impl KvWrite for Data<WriteTable<'_>> {
    fn insert(&mut self, k: &[u8], value: &[u8]) -> Res<Option<Vec<u8>>> {
        let old = self.0.insert(k, value).map_err(storage)?;
        Ok(old.map(|v| v.value().to_vec()))
    }

    fn remove(&mut self, k: &[u8]) -> Res {
        self.0.remove(k).map(drop).map_err(storage)
    }
}
