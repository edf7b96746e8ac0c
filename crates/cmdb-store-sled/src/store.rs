//! [`SledStore`]: the [`SetStore`] port on a sled database, one multi-tree transaction per write.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, TryLockError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cmdb_core::catalog::{Business, SetTemplate, StoredAttribute, UniqueRule};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::plan::{CreatePlan, commit_group, commit_plan};
use cmdb_core::ports::{BatchFailure, CommitStats, SetStore, StoreTx};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};
use cmdb_store_group::{
    BlockingPool, GroupBackend, GroupCommitter, GroupError, GroupOptions, SyncAlarm,
};
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

use crate::catalog;
use crate::codec::{decode, encode};
use crate::error::map_sled_error;
use crate::fingerprint;
use crate::layout::{
    FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION, T, id_key, pair_key, tenant_prefix, trailing_id,
};
use crate::sidecar::{self, FormatMarker, Sidecar};
use crate::tx::SledTx;

/// sled's background flush interval, in milliseconds (its default, set explicitly).
pub const BACKGROUND_FLUSH_MS: u64 = 500;

/// When a committed write reaches the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlushMode {
    /// Every write method returns only after its transaction is flushed and fsynced
    /// (a blocking `flush`). A write that returned `Ok` survives a process crash and a
    /// power loss.
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

/// Options of [`SledStore::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SledOptions {
    /// When writes are flushed (default [`FlushMode::EveryWrite`]).
    pub flush: FlushMode,
    /// How concurrent creates share commits (default: grouped, see [`GroupOptions`]).
    pub group: GroupOptions,
}

/// A [`SetStore`] on a sled database directory.
///
/// Every write method is one serializable sled transaction over all the store's trees, inside
/// which the domain's write logic ([`commit_plan`], [`apply_fixture`]) runs against
/// [`StoreTx`]: sequences are read and bumped there, unique indexes are checked there, and a
/// domain error aborts the whole transaction. sled retries the transaction on conflicts, so the
/// closure has no effect outside the transaction. Reads scan the trees outside transactions.
///
/// The directory is locked: a second [`SledStore::open`] of the same path, from this process
/// or another, fails at once with [`StoreError::Busy`] until the first store is dropped. The
/// drop returns once sled has let go of its files (its i/o threads hold them a few
/// milliseconds longer at most), so the directory can be opened again as soon as it returns.
///
/// Dropping a handle whose [`SetStore::close`] returned `Ok` (and that wrote nothing since)
/// marks the store as closed cleanly, with a fingerprint of its files; see
/// [`sidecar`](crate::sidecar) for how the next open uses it.
///
/// Creates are group-committed by the store's writer thread: every create queued while the
/// previous commit was flushing goes into one sled transaction and one flush. sled has no
/// savepoints, so each create's writes are staged in the transaction view until the create
/// succeeded, and only then handed to sled's transaction; a refused create's staged writes are
/// dropped (see `SledTx`). Reads and flushes run on the store's reader threads: no async
/// method blocks the caller's executor.
pub struct SledStore {
    committer: GroupCommitter,
    readers: BlockingPool,
    inner: Arc<Inner>,
    /// Declared after every holder of sled's handles, so dropped after them: see [`Shutdown`].
    _shutdown: Shutdown,
}

/// sled's handles, shared by the writer and reader threads.
struct Inner {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    options: SledOptions,
    path: PathBuf,
    /// The sequences recorded by the last successful close (see [`Shutdown`]).
    closed: ClosedState,
}

/// The sequences recorded by the last successful [`SetStore::close`]; `None` before it, and
/// again as soon as a write starts or ends after it.
type ClosedState = Arc<Mutex<Option<BTreeMap<String, i64>>>>;

/// What a [`SledStore`] does once sled's handles are dropped: wait for sled to let go of its
/// files, record a clean close when there was one, and unlock the directory.
struct Shutdown {
    /// The store directory.
    dir: PathBuf,
    /// The directory, locked (`flock`) for the life of the handle; `None` where a directory
    /// cannot be opened (not on Unix).
    lock: Option<File>,
    /// Shared with the store's handles.
    closed: ClosedState,
}

/// How long a drop waits for sled's i/o threads to let go of the log before it gives up on
/// recording a clean close.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

impl Drop for Shutdown {
    fn drop(&mut self) {
        // sled's handles are gone; once its log can be locked, sled's last file descriptor is
        // closed: its `Drop` has flushed and fsynced, and nothing of sled writes any more.
        let Some(_log) = wait_for_release(&self.dir) else {
            return;
        };
        let closed = self
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let (Some(_), Some(sequences)) = (&self.lock, closed) {
            // On failure the sidecar keeps `"clean": false`: the next open takes the crash
            // path, which is always safe.
            let _ = fingerprint::take(&self.dir, true).and_then(|files| {
                sidecar::write(
                    &self.dir,
                    &Sidecar {
                        marker: expected_marker(),
                        sequences,
                        clean: true,
                        files,
                    },
                )
                .map_err(|e| e.to_string())
            });
        }
        // The directory lock is released when `lock` is dropped, after this.
    }
}

/// Waits (up to [`RELEASE_WAIT`]) until the sled log of `dir` can be locked, that is until no
/// descriptor of sled holds it; returns the locked log, `None` when it is missing or stays
/// locked.
fn wait_for_release(dir: &Path) -> Option<File> {
    let log = File::open(dir.join(SLED_LOG_FILE)).ok()?;
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match log.try_lock() {
            Ok(()) => return Some(log),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

/// The format marker of this build.
fn expected_marker() -> FormatMarker {
    FormatMarker {
        format: FORMAT_NAME.to_owned(),
        version: FORMAT_VERSION,
    }
}

/// Refuses `found` unless it is this build's format.
fn check_marker(path: &Path, found: &FormatMarker) -> Result<(), StoreError> {
    if *found == expected_marker() {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "{} holds format {:?} version {}; this build reads {FORMAT_NAME} version {FORMAT_VERSION}",
            path.display(),
            found.format,
            found.version
        ).into()))
    }
}

/// Locks directory `path` (`flock`, exclusive, without waiting) for the life of a handle;
/// `None` where a directory cannot be opened or locked (not on Unix).
///
/// # Errors
/// [`StoreError::Busy`] when another handle, in this process or another, holds it.
fn lock_dir(path: &Path) -> Result<Option<File>, StoreError> {
    let Ok(dir) = File::open(path) else {
        return Ok(None);
    };
    match dir.try_lock() {
        Ok(()) => Ok(Some(dir)),
        Err(TryLockError::WouldBlock) => Err(StoreError::Busy(
            format!(
                "cannot open {}: the store is open in another process or handle (could not acquire \
             lock on {})",
                path.display(),
                path.display()
            )
            .into(),
        )),
        Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::Backend(
            format!(
                "cannot open {}: cannot lock the directory: {e}",
                path.display()
            )
            .into(),
        )),
    }
}

/// Everything [`SledStore::open`] does before sled sees directory `path`: creates it when
/// absent, locks it, reads the sidecar and checks its format, and, when the store was closed
/// cleanly, checks that the files are the ones closed (refusing them untouched otherwise) and
/// marks the sidecar unclean. Returns the lock and the sidecar as read.
///
/// # Errors
/// [`StoreError::Busy`] when the directory is locked; [`StoreError::Corrupt`] for a damaged
/// sidecar, another format, or files changed since the clean close;
/// [`StoreError::Backend`] on i/o failure.
fn prepare(path: &Path) -> Result<(Option<File>, Option<Sidecar>), StoreError> {
    match std::fs::metadata(path) {
        // Not a directory: sled reports it.
        Ok(meta) if !meta.is_dir() => return Ok((None, None)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", path.display()).into())
            })?;
        }
        Err(e) => {
            return Err(StoreError::Backend(
                format!("cannot open {}: {e}", path.display()).into(),
            ));
        }
    }
    let lock = lock_dir(path)?;
    let previous = sidecar::read(path)?;
    if let Some(previous) = &previous {
        check_marker(path, &previous.marker)?;
    }
    let Some(recorded) = previous.as_ref().filter(|s| s.clean) else {
        return Ok((lock, previous));
    };
    let current = fingerprint::take(path, false)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display()).into()))?;
    let changes = fingerprint::changes(&recorded.files, &current);
    if !changes.is_empty() {
        const SHOWN: usize = 4;
        let mut listed = changes
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if changes.len() > SHOWN {
            listed.push_str(&format!(" and {} more", changes.len() - SHOWN));
        }
        return Err(StoreError::Corrupt(
            format!(
                "{} changed since the store was closed cleanly: {listed} (damaged or modified \
             files); refused without opening it, nothing was modified",
                path.display()
            )
            .into(),
        ));
    }
    sidecar::write(
        path,
        &Sidecar {
            clean: false,
            files: Vec::new(),
            ..recorded.clone()
        },
    )?;
    Ok((lock, previous))
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// How a write transaction failed.
enum TxFailure<E> {
    /// The closure returned this error: nothing was written.
    Abort(E),
    /// sled failed outside the closure (while staging or committing).
    Storage(StoreError),
}

impl SledStore {
    /// Opens (creating when absent) the store in directory `path`.
    ///
    /// Before sled sees the directory, it is locked and its [`sidecar`](crate::sidecar) read;
    /// a store that was closed cleanly has its files checked against the fingerprint taken at
    /// that close, and is refused untouched when they differ. Then sled opens the files
    /// (recovering them after a crash), and what it recovered is checked against the sidecar.
    ///
    /// # Errors
    /// - [`StoreError::Busy`] when the directory is already open, in this process or another.
    /// - [`StoreError::Corrupt`] when the directory holds files changed since the store was
    ///   closed cleanly (nothing is modified then), damaged sled files, a damaged sidecar, a
    ///   sled database that is not a store of ours, or a store of another layout version.
    /// - [`StoreError::Backend`] for other i/o failures.
    pub fn open(path: impl AsRef<Path>, options: SledOptions) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let (lock, previous) = prepare(&path)?;
        let config = sled::Config::new()
            .path(&path)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS));
        // sled may panic on some damaged files instead of returning an error; contain it.
        let db = catch_unwind(AssertUnwindSafe(|| config.open()))
            .map_err(|panic| {
                StoreError::Corrupt(
                    format!(
                        "sled could not open {}: {}",
                        path.display(),
                        panic_message(panic.as_ref())
                    )
                    .into(),
                )
            })?
            .map_err(|e| open_error(&path, e))?;
        let trees = T::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| open_error(&path, e))?;
        let closed = ClosedState::default();
        let shutdown = Shutdown {
            dir: path.clone(),
            lock,
            closed: Arc::clone(&closed),
        };
        let inner = Inner {
            db,
            trees,
            options,
            path,
            closed,
        };
        if let Err(e) = inner.check_format(previous) {
            // sled's handles first, then the directory lock.
            drop(inner);
            drop(shutdown);
            return Err(e);
        }
        let inner = Arc::new(inner);
        Ok(SledStore {
            committer: GroupCommitter::start("cmdb-sled-writer", Arc::clone(&inner), options.group),
            readers: BlockingPool::new("cmdb-sled-reader", 2),
            inner,
            _shutdown: shutdown,
        })
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> SledOptions {
        self.inner.options
    }

    /// Flushes every committed write to disk and fsyncs, whatever the [`FlushMode`]. Runs on
    /// the store's reader threads.
    ///
    /// # Errors
    /// [`StoreError::Backend`] on i/o failure.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.on_reader(Inner::flush).await
    }

    /// Runs `f` over sled's handles on the reader threads.
    async fn on_reader<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.readers.run(move || f(&inner)).await?
    }

    /// Runs `f` over sled's handles on the writer thread, between groups of creates.
    async fn on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &SyncAlarm<'_>) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.committer
            .exclusive(move |alarm| f(&inner, alarm))
            .await
    }
}

impl Inner {
    /// A write starts or ends: the store is no longer closed.
    fn written(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The blocking flush and fsync.
    fn flush(&self) -> Result<(), StoreError> {
        // The blocking flush, on purpose: in sled 0.34 concurrent `flush_async` futures can
        // deadlock, never woken (spacejam/sled#1308, #1241) — seen here as a hung
        // 16-task conformance case. It runs on a store thread, never on the caller's.
        self.db.flush().map(drop).map_err(map_sled_error)
    }

    fn tree(&self, t: T) -> &sled::Tree {
        &self.trees[t.index()]
    }

    /// Checks the format marker of an existing store, or writes it into an empty database;
    /// then checks what sled recovered against the `previous` [`sidecar`](crate::sidecar) (see
    /// there for why), and updates it.
    fn check_format(&self, previous: Option<Sidecar>) -> Result<(), StoreError> {
        let expected = expected_marker();
        let meta = self.tree(T::Meta);
        match meta.get(FORMAT_KEY).map_err(map_sled_error)? {
            Some(bytes) => {
                let found: FormatMarker = decode(T::Meta.name(), FORMAT_KEY, &bytes)?;
                check_marker(&self.path, &found)?;
            }
            None if previous.is_some() => {
                return Err(StoreError::Corrupt(
                    format!(
                        "{} held a {FORMAT_NAME} store, but sled recovered none of it from its \
                     files (damaged or removed files)",
                        self.path.display()
                    )
                    .into(),
                ));
            }
            None => {
                let empty = self.trees.iter().all(sled::Tree::is_empty) && (*self.db).is_empty();
                if !empty {
                    return Err(StoreError::Corrupt(
                        format!(
                            "{} is a sled database without the {FORMAT_NAME} format marker",
                            self.path.display()
                        )
                        .into(),
                    ));
                }
                meta.insert(FORMAT_KEY, encode(&expected)?)
                    .map_err(map_sled_error)?;
                self.db.flush().map_err(map_sled_error)?;
            }
        }
        // Everything read now was recovered from disk, so it is durable.
        let sequences = self.sequence_values()?;
        if let Some(previous) = &previous {
            for (name, &reached) in &previous.sequences {
                let recovered = sequences.get(name).copied().unwrap_or(0);
                if recovered < reached {
                    return Err(StoreError::Corrupt(
                        format!(
                            "{}: sled recovered the {name} sequence at {recovered}, but it had \
                         durably reached {reached} (damaged files)",
                            self.path.display()
                        )
                        .into(),
                    ));
                }
            }
            if previous.sequences == sequences {
                return Ok(());
            }
        }
        // What sled recovered may sit in the page cache only, written by a process that died
        // before its fsync: make it durable before the sidecar vouches for it.
        sync_file(&self.path.join(SLED_LOG_FILE))?;
        sidecar::write(
            &self.path,
            &Sidecar {
                marker: expected,
                sequences,
                clean: false,
                files: Vec::new(),
            },
        )
    }

    /// The last id of every sequence, by name.
    fn sequence_values(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        SequenceKind::ALL
            .iter()
            .map(|kind| {
                let last = self.read::<i64>(T::Sequences, kind.name().as_bytes())?;
                Ok((kind.name().to_owned(), last.unwrap_or(0)))
            })
            .collect()
    }

    /// Runs `f` in one transaction over every tree; commits on `Ok`, writes nothing on `Err`.
    ///
    /// `f` may run several times (sled retries on conflicts) and must have no other effect.
    /// A store that was closed is no longer closed once a write starts, nor once it ends.
    fn transact<R, E>(
        &self,
        f: impl Fn(&mut SledTx<'_>) -> Result<R, E>,
    ) -> Result<R, TxFailure<E>> {
        self.transact_over(T::ALL.len(), f)
    }

    /// [`Inner::transact`] over the trees a create writes only ([`T::CREATES`]): sled's
    /// transaction then locks, checks and commits 11 trees instead of 18.
    fn transact_creates<R, E>(
        &self,
        f: impl Fn(&mut SledTx<'_>) -> Result<R, E>,
    ) -> Result<R, TxFailure<E>> {
        self.transact_over(T::CREATES, f)
    }

    /// Runs `f` in one transaction over the first `trees` trees of [`T::ALL`].
    fn transact_over<R, E>(
        &self,
        trees: usize,
        f: impl Fn(&mut SledTx<'_>) -> Result<R, E>,
    ) -> Result<R, TxFailure<E>> {
        self.written();
        let result = Transactional::<E>::transaction(
            &self.trees[..trees.min(self.trees.len())],
            |views: &Vec<TransactionalTree>| {
                let mut tx = SledTx::new(views);
                match f(&mut tx) {
                    // A conflict the domain recorded as one create's failure: retry them all.
                    Ok(_) if tx.conflicted() => Err(ConflictableTransactionError::Conflict),
                    Ok(value) => Ok(value),
                    // A conflict surfaced through the domain as a store error: let sled retry.
                    Err(_) if tx.conflicted() => Err(ConflictableTransactionError::Conflict),
                    Err(e) => Err(ConflictableTransactionError::Abort(e)),
                }
            },
        );
        self.written();
        result.map_err(|e| match e {
            TransactionError::Abort(e) => TxFailure::Abort(e),
            TransactionError::Storage(e) => TxFailure::Storage(map_sled_error(e)),
        })
    }

    /// After a committed write: flushes when the mode asks for it.
    fn after_write(&self) -> Result<(), StoreError> {
        match self.options.flush {
            FlushMode::EveryWrite => self.flush().map_err(|e| {
                StoreError::Backend(format!("committed, but the flush to disk failed: {e}").into())
            }),
            FlushMode::Background => Ok(()),
        }
    }

    /// After a committed write run alone: flushes per the mode; a failed flush raises `alarm`,
    /// so the store refuses later writes as after a group's failed flush.
    fn after_exclusive_write(&self, alarm: &SyncAlarm<'_>) -> Result<(), StoreError> {
        self.after_write().inspect_err(|e| alarm.raise(e))
    }

    /// Runs a write whose error is the domain's [`Error`], then flushes per the mode.
    fn write<R>(
        &self,
        alarm: &SyncAlarm<'_>,
        f: impl Fn(&mut SledTx<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let value = self.transact(f).map_err(|e| match e {
            TxFailure::Abort(e) => e,
            TxFailure::Storage(e) => Error::Store(e),
        })?;
        self.after_exclusive_write(alarm)?;
        Ok(value)
    }

    fn read<V: DeserializeOwned>(&self, t: T, key: &[u8]) -> Result<Option<V>, StoreError> {
        match self.tree(t).get(key).map_err(map_sled_error)? {
            Some(bytes) => decode(t.name(), key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The values of `t` under `prefix`, in key order.
    fn scan<V: DeserializeOwned>(&self, t: T, prefix: &[u8]) -> Result<Vec<V>, StoreError> {
        self.tree(t)
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, bytes) = entry.map_err(map_sled_error)?;
                decode(t.name(), &key, &bytes)
            })
            .collect()
    }

    /// The ids ending the keys of index `t` under `prefix`, in key order.
    fn scan_ids(&self, t: T, prefix: &[u8]) -> Result<Vec<(i64, sled::IVec)>, StoreError> {
        self.tree(t)
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry.map_err(map_sled_error)?;
                match trailing_id(&key) {
                    Some(id) if key.len() == prefix.len() + 8 => Ok((id, value)),
                    _ => Err(StoreError::Corrupt(
                        format!(
                            "tree `{}`: malformed index key {}",
                            t.name(),
                            crate::codec::hex(&key)
                        )
                        .into(),
                    )),
                }
            })
            .collect()
    }

    /// The document stored in `t` under the id an index pointed at; a dangling index is corrupt.
    fn document(&self, t: T, index: T, id: i64) -> Result<Document, StoreError> {
        self.read(t, &id_key(id))?.ok_or_else(|| {
            StoreError::Corrupt(
                format!(
                    "tree `{}` points at id {id}, missing from tree `{}`",
                    index.name(),
                    t.name()
                )
                .into(),
            )
        })
    }
}

/// The read and write operations of the store, run on its threads.
impl Inner {
    fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        Ok(self
            .read::<i64>(T::Sequences, kind.name().as_bytes())?
            .unwrap_or(0))
    }

    fn catalog_item(&self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        let (t, raw_key) = catalog::slot(key);
        match self.tree(t).get(&raw_key).map_err(map_sled_error)? {
            Some(bytes) => catalog::decode_item(key, t, &raw_key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn mainline(&self, supplier_account: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .read(T::Mainline, supplier_account.as_bytes())?
            .unwrap_or_default())
    }

    fn set_attributes(
        &self,
        supplier_account: &str,
        biz: BizId,
    ) -> Result<Vec<StoredAttribute>, StoreError> {
        let mut attributes: Vec<StoredAttribute> = self
            .scan(T::Attributes, &tenant_prefix(supplier_account))?
            .into_iter()
            .filter(|a: &StoredAttribute| a.raw.bk_biz_id == 0 || a.raw.bk_biz_id == biz.0)
            .collect();
        attributes.sort_by_key(|a| a.ordinal);
        Ok(attributes)
    }

    fn unique_rules(&self, supplier_account: &str) -> Result<Vec<UniqueRule>, StoreError> {
        // Keys are the tenant prefix then the rule key, so key order is rule-key order.
        self.scan(T::UniqueRules, &tenant_prefix(supplier_account))
    }

    fn builtin_set(&self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        Ok(self.read::<i64>(T::BuiltinSets, &id_key(biz.0))?.map(SetId))
    }

    fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let Some(business) = self.read::<Business>(T::Businesses, &id_key(query.biz.0))? else {
            return Ok(StoredFacts::default());
        };
        let sup = query.supplier_account.as_str();
        let mainline = self.mainline(sup)?;
        let parent_instance = match query.parent {
            Some(id) if !mainline.is_empty() => self.read(T::MainlineInstances, &id_key(id))?,
            _ => None,
        };
        let template: Option<SetTemplate> = match query.template {
            Some(id) => self.read(T::SetTemplates, &id_key(id))?,
            None => None,
        };
        let mut service_templates = Vec::new();
        for id in template.iter().flat_map(|t| t.service_template_ids.iter()) {
            service_templates.extend(self.read(T::ServiceTemplates, &id_key(*id))?);
        }
        Ok(StoredFacts {
            business: Some(business),
            parent_instance,
            attributes: self.set_attributes(sup, query.biz)?,
            unique_rules: self.unique_rules(sup)?,
            template,
            service_templates,
            builtin_set: self.builtin_set(query.biz)?,
            source: cmdb_core::facts::FactsSource::Unversioned,
            mainline,
        })
    }

    fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let ids: Vec<i64> = match set {
            Some(set) => {
                let key = pair_key(biz.0, set.0);
                match self.tree(T::SetsByBiz).get(key).map_err(map_sled_error)? {
                    Some(_) => vec![set.0],
                    None => Vec::new(),
                }
            }
            None => self
                .scan_ids(T::SetsByBiz, &id_key(biz.0))?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        };
        ids.into_iter()
            .map(|id| self.document(T::Sets, T::SetsByBiz, id))
            .collect()
    }

    fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.scan_ids(T::ModulesBySet, &id_key(set.0))?
            .into_iter()
            .map(|(id, _)| self.document(T::Modules, T::ModulesBySet, id))
            .collect()
    }

    fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        let prefix = id_key(biz.0);
        let mut docs = Vec::new();
        for (id, value) in self.scan_ids(T::AuditByBiz, &prefix)? {
            let key = pair_key(biz.0, id);
            let kind: ResourceType = decode(T::AuditByBiz.name(), &key, &value)?;
            if resource_type.is_none_or(|wanted| wanted == kind) {
                docs.push(self.document(T::Audit, T::AuditByBiz, id)?);
            }
        }
        Ok(docs)
    }

    fn create_sets_atomic(
        &self,
        alarm: &SyncAlarm<'_>,
        plans: &[CreatePlan],
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        let created = self
            .transact_creates(|tx| {
                plans
                    .iter()
                    .enumerate()
                    .map(|(index, plan)| {
                        // sled may run this closure again: each attempt commits a copy.
                        commit_plan(tx, plan.clone()).map_err(|error| BatchFailure { index, error })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| match e {
                TxFailure::Abort(failure) => failure,
                // sled failed while committing the whole batch: no element is to blame, the
                // port has no other place for it than the first index.
                TxFailure::Storage(e) => BatchFailure {
                    index: 0,
                    error: Error::Store(e),
                },
            })?;
        if !created.is_empty() {
            self.after_exclusive_write(alarm)
                .map_err(|e| BatchFailure {
                    index: 0,
                    error: Error::Store(e),
                })?;
        }
        Ok(created)
    }

    fn raise_sequence(
        &self,
        alarm: &SyncAlarm<'_>,
        kind: SequenceKind,
        value: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .transact_creates(|tx| tx.raise_sequence(kind, value))
            .map_err(|e| match e {
                TxFailure::Abort(e) | TxFailure::Storage(e) => e,
            })?;
        if changed {
            self.after_exclusive_write(alarm)?;
        }
        Ok(changed)
    }

    /// Flushes and records the sequences in the sidecar; returns them.
    fn close(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        // Read before the flush: every value read is then durable once the flush returns.
        let sequences = self.sequence_values()?;
        self.flush()?;
        sidecar::write(
            &self.path,
            &Sidecar {
                marker: expected_marker(),
                sequences: sequences.clone(),
                clean: false,
                files: Vec::new(),
            },
        )?;
        Ok(sequences)
    }
}

impl GroupBackend for Inner {
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError> {
        // sled may run the closure again after a conflict: each attempt takes its own copy.
        let results = self
            .transact_creates(|tx| commit_group(tx, plans.clone()))
            .map_err(|e| match e {
                TxFailure::Abort(e) | TxFailure::Storage(e) => GroupError::Failed(e),
            })?;
        if results.iter().any(Result::is_ok) {
            self.after_write().map_err(GroupError::SyncFailed)?;
        }
        Ok(results)
    }
}

#[async_trait]
impl SetStore for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.on_writer(move |inner, alarm| inner.write(alarm, |tx| apply_fixture(tx, &batch)))
            .await?
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.committer.commit(plans).await
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.committer.stats())
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let query = query.clone();
        self.on_reader(move |inner| inner.create_facts(&query))
            .await
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        self.on_writer(move |inner, alarm| inner.create_sets_atomic(alarm, &plans))
            .await
            .map_err(|e| BatchFailure {
                index: 0,
                error: Error::Store(e),
            })?
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.on_writer(move |inner, alarm| inner.raise_sequence(alarm, kind, value))
            .await?
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.on_reader(move |inner| inner.sequence_last(kind)).await
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.on_reader(move |inner| inner.catalog_item(&key)).await
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.on_reader(move |inner| inner.sets(biz, set)).await
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.on_reader(move |inner| inner.modules(set)).await
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.on_reader(move |inner| inner.audit_records(biz, resource_type))
            .await
    }

    /// Flushes, records the sequences in the sidecar, and arms the clean close recorded when
    /// the handle is dropped (see [`sidecar`](crate::sidecar)). The handle stays usable; a
    /// write after it disarms the clean close. Runs on the writer thread, after every write
    /// queued before it.
    async fn close(&self) -> Result<(), StoreError> {
        let sequences = self.on_writer(|inner, _| inner.close()).await??;
        *self
            .inner
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sequences);
        Ok(())
    }
}

/// sled's log file inside its directory.
const SLED_LOG_FILE: &str = "db";

/// fsyncs `file` (all its dirty pages, whoever wrote them); a missing file is fine. The extra
/// descriptor does not disturb sled's lock: it is a `flock`, held by sled's own descriptor.
fn sync_file(file: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new().read(true).open(file) {
        Ok(f) => f.sync_all().map_err(|e| {
            StoreError::Backend(format!("cannot sync {}: {e}", file.display()).into())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Backend(
            format!("cannot open {}: {e}", file.display()).into(),
        )),
    }
}

/// Maps an error of opening the database, naming the path. sled's refusals of its own files
/// (an unreadable `conf`, detected corruption) are [`StoreError::Corrupt`].
fn open_error(path: &Path, error: sled::Error) -> StoreError {
    let error = match error {
        sled::Error::Unsupported(m) => {
            return StoreError::Corrupt(
                format!(
                    "cannot open {}: sled refuses its files: {m}",
                    path.display()
                )
                .into(),
            );
        }
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            return StoreError::Corrupt(
                format!(
                    "cannot open {}: sled cannot read its files: {io}",
                    path.display()
                )
                .into(),
            );
        }
        other => other,
    };
    match map_sled_error(error) {
        StoreError::Busy(m) => {
            StoreError::Busy(format!("cannot open {}: {m}", path.display()).into())
        }
        StoreError::Corrupt(m) => {
            StoreError::Corrupt(format!("cannot open {}: {m}", path.display()).into())
        }
        StoreError::Backend(m) => {
            StoreError::Backend(format!("cannot open {}: {m}", path.display()).into())
        }
        other => other,
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".to_owned()
    }
}
