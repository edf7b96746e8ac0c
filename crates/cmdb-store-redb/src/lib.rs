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
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::error::Detail;
use cmdb_core::ids::{AuditId, BizId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{Document, ResourceType};
use cmdb_store_group::OpenError::{self, Busy, Damaged, Foreign, Unreachable};
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, OpenBackend, WriteError};
use redb::backends::{FileBackend, InMemoryBackend};
use redb::{Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable};
use redb::{StorageBackend, StorageError, Table, TableDefinition};
use serde::de::DeserializeOwned;

/// The format name in a store's meta space.
pub const FORMAT_NAME: &str = "cmdb-store-redb";
/// The newest layout version this engine reads, and the one it writes. Version 2 adds the
/// event log (`e`), version 3 the listing counters (`q`); an older store gets them on its
/// first open by this build.
pub const FORMAT_VERSION: i64 = 3;

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
            let out = body(&mut Tx::new(txn.open_table(DATA)?));
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
            body(&mut Tx::new(table))
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
/// The key of the format marker: `[FORMAT_NAME, version]`.
const MARKER: &[u8] = b"_";

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

/// Brings a store of an older format to [`FORMAT_VERSION`] in one transaction: version 1
/// lacks the event log, the audit records' keys (`a` biz id, audit id) in id order; version 2
/// the listing counters, counted from the set (`s`) and audit (`a`) keys.
fn upgrade(db: Database, version: i64) -> Res<Database> {
    if version < FORMAT_VERSION {
        let txn = db.begin_write().map_err(storage)?;
        let mut tx = Tx::new(txn.open_table(DATA).map_err(storage)?);
        let biz = |k: &[u8]| {
            (u64::from_be_bytes(k[1..9].try_into().unwrap_or_default()) ^ (1 << 63)) as i64
        };
        let mut counts = std::collections::BTreeMap::new();
        for k in tx.keys(b"a")?.iter().filter(|k| k.len() == 17) {
            if version < 2 {
                tx.put(&key(b'e', &[&k[9..]]), &encode(&biz(k))?)?;
            }
            let of = tx.get::<Of>(k)?.map(|of| of.resource_type);
            let of = of.ok_or_else(|| StoreError::Backend("an audit key vanished".into()))?;
            *counts.entry(Counter::Audit(BizId(biz(k)), of)).or_insert(0) += 1;
        }
        for k in tx.keys(b"s")?.iter().filter(|k| k.len() == 17) {
            *counts.entry(Counter::Sets(BizId(biz(k)))).or_insert(0) += 1;
        }
        for (counter, n) in counts {
            tx.put_counter(counter, n)?;
        }
        let marker = serde_json::json!([FORMAT_NAME, FORMAT_VERSION]).to_string();
        tx.put(MARKER, marker.as_bytes())?;
        drop(tx);
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
        Ok(table) => Tx::new(table).get::<(String, i64)>(MARKER),
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
    let built = (|| -> Result<(), redb::Error> {
        let db = Database::create(&tmp)?;
        let txn = db.begin_write()?;
        let marker = serde_json::json!([FORMAT_NAME, FORMAT_VERSION]).to_string();
        txn.open_table(DATA)?.insert(MARKER, marker.as_bytes())?;
        txn.commit()?;
        Ok(db.close()?)
    })();
    let linked = match built.map(|()| std::fs::hard_link(&tmp, path)) {
        Err(e) => Err(OpenError::Store(storage(e))),
        Ok(Err(e)) if e.kind() != ErrorKind::AlreadyExists => Err(io(e)),
        Ok(_) => Ok(()),
    };
    let _ = std::fs::remove_file(&tmp);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    linked
}

/// The field of an audit record (`a`) that the reads by type look at.
#[derive(serde::Deserialize)]
struct Of {
    resource_type: ResourceType,
}

/// The one table: byte keys (a key space byte first) to JSON values.
const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cmdb");
type Res<V = ()> = Result<V, StoreError>;
/// Each write's key and the value it replaced (`None`: absent).
type Undo = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn key(space: u8, parts: &[&[u8]]) -> Vec<u8> {
    [&[space][..], &parts.concat()].concat()
}

/// The key of an index entry: `n` a name under its parent, `u` a unique key, `b` a built-in set.
fn index_key(index: IndexKey<'_>) -> Vec<u8> {
    match index {
        IndexKey::Name { biz, parent, name } => {
            key(b'n', &[&id(biz.0), &id(parent), name.as_bytes()])
        }
        IndexKey::Unique(u) => key(b'u', &[u.storage_key().as_bytes()]),
        IndexKey::Builtin(biz) => key(b'b', &[&id(biz.0)]),
    }
}

/// An id as a key part that sorts as the number does.
fn id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn json<V: DeserializeOwned>(key: &[u8], value: &[u8]) -> Res<V> {
    let corrupt = |e| StoreError::Corrupt(format!("redb key {key:02x?}: {e}").into());
    serde_json::from_slice(value).map_err(corrupt)
}

fn encode(value: &impl serde::Serialize) -> Res<Vec<u8>> {
    let failed = |e| StoreError::Backend(format!("encoding: {e}").into());
    serde_json::to_vec(value).map_err(failed)
}

fn storage(e: impl Into<redb::Error>) -> StoreError {
    let e = e.into();
    StoreError::Backend(Detail::caused_by(format!("redb: {e}"), e))
}

/// A snapshot's or a write transaction's table, and a write's [`Undo`] while a savepoint is open.
struct Tx<R> {
    table: R,
    undo: Option<Undo>,
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> Tx<R> {
    fn new(table: R) -> Self {
        Tx { table, undo: None }
    }

    fn get<V: DeserializeOwned>(&self, k: &[u8]) -> Res<Option<V>> {
        let found = self.table.get(k).map_err(storage)?;
        found.map(|v| json(k, v.value())).transpose()
    }

    /// Every value whose key starts with `prefix`, decoded, in key order.
    fn scan<V: DeserializeOwned>(&self, prefix: &[u8]) -> Res<Vec<V>> {
        Ok(self.range(prefix, (Window::ALL, None), |_| Ok(true))?.1)
    }

    /// Every key that starts with `prefix`, in order.
    fn keys(&self, prefix: &[u8]) -> Res<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        for entry in self.table.range(prefix..).map_err(storage)? {
            let k = entry.map_err(storage)?.0.value().to_vec();
            if !k.starts_with(prefix) {
                break;
            }
            keys.push(k);
        }
        Ok(keys)
    }

    /// The count of the values under `prefix` that `keep` accepts (by their bytes), and the
    /// page `window` of them, decoded (the others are not); with a `known` count, the walk
    /// stops at the page's end.
    fn range<V: DeserializeOwned>(
        &self,
        prefix: &[u8],
        (window, known): (Window, Option<usize>),
        keep: impl Fn(&[u8]) -> Res<bool>,
    ) -> Res<(usize, Vec<V>)> {
        let (mut count, mut page) = (0, Vec::new());
        let end = window.start.saturating_add(window.limit);
        for entry in self.table.range(prefix..).map_err(storage)? {
            let (k, v) = entry.map_err(storage)?;
            if !k.value().starts_with(prefix) || known.is_some() && count >= end {
                break;
            }
            if keep(v.value())? {
                if count >= window.start && page.len() < window.limit {
                    page.push(json(k.value(), v.value())?);
                }
                count += 1;
            }
        }
        Ok((known.unwrap_or(count), page))
    }
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> BackendRead for Tx<R> {
    fn catalog_get(&mut self, k: &CatalogKey) -> Res<Option<CatalogItem>> {
        self.get(&key(b'c', &[&encode(k)?]))
    }

    /// The catalog keys (JSON) starting `{"Attribute":{"supplier_account":"…"`, in order.
    fn catalog_list(&mut self, list: CatalogList<'_>) -> Res<Vec<CatalogItem>> {
        let (kind, tenant) = match list {
            CatalogList::Attributes { supplier_account } => ("Attribute", supplier_account),
            CatalogList::UniqueRules { supplier_account } => ("UniqueRule", supplier_account),
        };
        let tenant = serde_json::Value::from(tenant);
        let prefix = format!(r#"{{"{kind}":{{"supplier_account":{tenant}"#);
        self.scan(&key(b'c', &[prefix.as_bytes()]))
    }

    fn probe(&mut self, index: IndexKey<'_>) -> Res<Option<SetId>> {
        Ok(self.get(&index_key(index))?.map(SetId))
    }

    fn page(&mut self, query: DocQuery, window: Window) -> Res<DocPage> {
        let all = |_: &[u8]| Ok(true);
        let window = (window, self.listing_count(query)?);
        let (count, docs) = match query {
            DocQuery::Sets { biz, set: Some(s) } => {
                self.range(&key(b's', &[&id(biz.0), &id(s.0)]), window, all)?
            }
            DocQuery::Sets { biz, set: None } => {
                self.range(&key(b's', &[&id(biz.0)]), window, all)?
            }
            DocQuery::Modules { set } => self.range(&key(b'm', &[&id(set.0)]), window, all)?,
            DocQuery::Audit { biz, resource_type } => {
                let of_type = |v: &[u8]| -> Res<bool> {
                    let of: Of = json(b"a", v)?;
                    Ok(resource_type.is_none_or(|t| t == of.resource_type))
                };
                self.range(&key(b'a', &[&id(biz.0)]), window, of_type)?
            }
        };
        Ok(DocPage { count, docs })
    }

    /// A range of the event log (`e` audit id → biz), each record read from its `a` key.
    fn audit_after(&mut self, after: AuditId, limit: usize) -> Res<Vec<Document>> {
        let from = key(b'e', &[&id(after.0.saturating_add(1))]);
        let mut docs = Vec::new();
        for entry in self
            .table
            .range(from.as_slice()..)
            .map_err(storage)?
            .take(limit)
        {
            let (k, v) = entry.map_err(storage)?;
            let Some(audit) = k.value().strip_prefix(b"e") else {
                break;
            };
            let biz: i64 = json(k.value(), v.value())?;
            let record = self.get(&key(b'a', &[&id(biz), audit]))?;
            docs.push(record.ok_or_else(|| {
                StoreError::Corrupt(
                    format!("redb: event {k:02x?} has no audit record", k = k.value()).into(),
                )
            })?);
        }
        Ok(docs)
    }

    fn counter(&mut self, counter: Counter) -> Res<i64> {
        Ok(self
            .get(&key(b'q', &[counter.name().as_bytes()]))?
            .unwrap_or(0))
    }
}

type WriteTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

impl Tx<WriteTable<'_>> {
    /// Stores `value` under `k`, logging what it replaced while a savepoint is open.
    fn put(&mut self, k: &[u8], value: &[u8]) -> Res {
        let old = self.table.insert(k, value).map_err(storage)?;
        let old = old.map(|v| v.value().to_vec());
        if let Some(undo) = &mut self.undo {
            undo.push((k.to_vec(), old));
        }
        Ok(())
    }
}

/// The domain probed the indexes through this transaction before each insert, and there is
/// one writer: no index here can refuse one.
impl BackendTx for Tx<WriteTable<'_>> {
    fn put_counter(&mut self, counter: Counter, value: i64) -> Res {
        self.put(&key(b'q', &[counter.name().as_bytes()]), &encode(&value)?)
    }

    fn insert(&mut self, record: Record<'_>) -> Res {
        match record {
            Record::Set(r) => {
                let set = encode(&r.id.0)?;
                for index in r.index_keys() {
                    self.put(&index_key(index), &set)?;
                }
                self.put(&key(b's', &[&id(r.biz.0), &id(r.id.0)]), &encode(&*r.doc)?)
            }
            Record::Module(m) => {
                let doc = encode(&*m.doc)?;
                self.put(&key(b'm', &[&id(m.set.0), &id(m.id.0)]), &doc)
            }
            Record::Audit(a) => {
                self.put(&key(b'e', &[&id(a.id.0)]), &encode(&a.biz.0)?)?;
                self.put(&key(b'a', &[&id(a.biz.0), &id(a.id.0)]), &encode(a)?)
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Res {
        self.put(
            &key(b'c', &[&encode(&entry.key())?]),
            &encode(&entry.to_item())?,
        )
    }

    fn savepoint(&mut self) -> Res {
        self.undo = Some(Vec::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Res {
        let none = || StoreError::Backend("no savepoint to roll back to".into());
        for (k, old) in self.undo.take().ok_or_else(none)?.into_iter().rev() {
            let undone = match old {
                Some(v) => self.table.insert(k.as_slice(), v.as_slice()).map(drop),
                None => self.table.remove(k.as_slice()).map(drop),
            };
            undone.map_err(storage)?;
        }
        Ok(())
    }

    fn release_savepoint(&mut self) -> Res {
        self.undo = None;
        Ok(())
    }
}
