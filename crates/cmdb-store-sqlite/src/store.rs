//! [`SqliteStore`]: the [`SetStore`] on one SQLite connection, its options, and opening.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
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
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use crate::error::{OpenError, sqlite_error, store_error};
use crate::header::check_header;
use crate::schema::{check_compatible, migrate};
use crate::tx::{self, Begun, SqliteTx};

/// How hard SQLite pushes each commit to stable storage (`PRAGMA synchronous`). The database
/// always runs in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// `FULL` (the default): every commit is synced to disk before the write returns. A
    /// commit survives a process crash and power loss.
    #[default]
    Full,
    /// `NORMAL`: the log is synced at checkpoints only. It may lose the last commits on power
    /// loss, never on a process crash; the database is never corrupted either way.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Options of [`SqliteStore::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of each commit. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// How long a write waits for another connection's write lock before failing with
    /// [`StoreError::Busy`]. Default 5 s.
    pub busy_timeout: Duration,
    /// How concurrent creates share commits (default: grouped, see [`GroupOptions`]).
    pub group: GroupOptions,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            group: GroupOptions::default(),
        }
    }
}

/// A [`SetStore`] on a SQLite database file (bundled SQLite, WAL mode).
///
/// - Creates are group-committed: the store's writer thread owns the write connection and
///   commits every create queued while the previous commit was syncing in one
///   `BEGIN IMMEDIATE` transaction, each create inside its own `SAVEPOINT` (see
///   [`cmdb_store_group::GroupCommitter`]). Callers are answered after that commit returned
///   under [`SqliteOptions::synchronous`]. A commit that fails with an i/o error makes the store
///   refuse writes until it is reopened.
/// - Other writes (fixtures, sequence raises) run on the writer thread too, one transaction
///   each. Reads run on a separate read connection on the store's reader threads, so they do
///   not wait for a commit's sync. No async method blocks the caller's executor.
/// - Several stores (connections or processes) may share one file: writers queue on the
///   database's write lock for up to [`SqliteOptions::busy_timeout`], and the unique indexes
///   back the domain's checks.
pub struct SqliteStore {
    inner: Arc<Inner>,
    committer: GroupCommitter,
    readers: BlockingPool,
}

/// The two connections, shared by the writer thread and the reader threads.
struct Inner {
    /// The connection every write uses (`None` once closed).
    writer: Mutex<Option<Connection>>,
    /// The connection reads use (`None` once closed).
    reader: Mutex<Option<Connection>>,
    path: PathBuf,
    options: SqliteOptions,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it with the current schema when it is missing
    /// or empty, and migrating an older schema.
    ///
    /// A file that is refused is left byte-for-byte as it was: its header is checked before
    /// SQLite opens it, and nothing is written until the schema is known to be ours.
    ///
    /// # Errors
    /// - [`OpenError::NotADatabase`]: the file is not SQLite (wrong header, too short);
    /// - [`OpenError::Truncated`]: the file is shorter than its header declares;
    /// - [`OpenError::TooNew`]: its schema version is above [`crate::SCHEMA_VERSION`];
    /// - [`OpenError::Foreign`]: a SQLite database of another application;
    /// - [`OpenError::Io`]: the file cannot be read;
    /// - [`OpenError::Store`]: SQLite failed (a damaged file is [`StoreError::Corrupt`], a
    ///   lock held too long [`StoreError::Busy`]).
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, OpenError> {
        let path = path.as_ref();
        check_header(path)?;
        let wal = sidecar_path(path, "-wal");
        let shm = sidecar_path(path, "-shm");
        let nobody_in_wal_mode = !wal.exists() && !shm.exists();
        let started = std::time::Instant::now();
        loop {
            match Self::open_checked(path, options) {
                // Several connections opening one new file at once can meet SQLite's
                // deadlock-avoiding BUSY (no busy handler is called for it): try again.
                Err(OpenError::Store(StoreError::Busy(_)))
                    if started.elapsed() < options.busy_timeout =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(refused) => {
                    // Leave a refused database as we found it. The -wal and -shm files only
                    // go when nobody had the file open in WAL mode before us (neither existed)
                    // and the log is empty, so no other connection can be using them.
                    let empty_log = std::fs::metadata(&wal).is_ok_and(|m| m.len() == 0);
                    if nobody_in_wal_mode && empty_log {
                        let _ = std::fs::remove_file(&wal);
                        let _ = std::fs::remove_file(&shm);
                    }
                    return Err(refused);
                }
                Ok(store) => return Ok(store),
            }
        }
    }

    fn open_checked(path: &Path, options: SqliteOptions) -> Result<Self, OpenError> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_error)?;
        // Until the file is known to be ours, closing must not checkpoint a log into it.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(sqlite_error)?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(sqlite_error)?;
        check_compatible(&conn)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(sqlite_error)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sqlite_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::Store(StoreError::Backend(
                format!("cannot switch the database to WAL mode (it stays in {mode} mode)").into(),
            )));
        }
        conn.pragma_update(None, "synchronous", options.synchronous.pragma())
            .map_err(sqlite_error)?;
        migrate(&mut conn)?;
        tune(&conn)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_error)?;
        reader
            .busy_timeout(options.busy_timeout)
            .map_err(sqlite_error)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(sqlite_error)?;
        tune(&reader)?;
        let inner = Arc::new(Inner {
            writer: Mutex::new(Some(conn)),
            reader: Mutex::new(Some(reader)),
            path: path.to_owned(),
            options,
        });
        let committer =
            GroupCommitter::start("cmdb-sqlite-writer", Arc::clone(&inner), options.group);
        Ok(SqliteStore {
            inner,
            committer,
            readers: BlockingPool::new("cmdb-sqlite-reader", 2),
        })
    }

    /// The path the store was opened at.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> SqliteOptions {
        self.inner.options
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// Store failures, or [`StoreError::Backend`] once closed.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.inner.read(|conn| {
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(store_error)
        })
    }

    /// Runs a read on the reader threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        self.readers.run(move || inner.read(f)).await?
    }

    /// Runs a write on the writer thread, between groups of creates. `on_store` turns store
    /// failures outside the body (begin, commit, a refused store) into the caller's error.
    async fn write<T: Send + 'static, E: Send + 'static>(
        &self,
        on_store: fn(StoreError) -> E,
        body: impl FnOnce(&mut SqliteTx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let inner = Arc::clone(&self.inner);
        self.committer
            .exclusive(move |alarm| inner.write(alarm, on_store, body))
            .await
            .map_err(on_store)?
    }
}

impl Inner {
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match lock(&self.reader).as_ref() {
            Some(conn) => f(conn),
            None => Err(closed()),
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: commits when it returns `Ok`, rolls
    /// back otherwise. `on_store` turns store failures before and after the body into the
    /// caller's error type; a commit that failed to sync raises `alarm` (no later write).
    fn write<T, E>(
        &self,
        alarm: &SyncAlarm<'_>,
        on_store: fn(StoreError) -> E,
        body: impl FnOnce(&mut SqliteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(body).map_err(|e| match e {
            TxError::Store(e) => on_store(e),
            TxError::Commit(e) => {
                let failed_sync = is_sync_failure(&e);
                let e = store_error(e);
                if failed_sync {
                    alarm.raise(&e);
                }
                on_store(e)
            }
            TxError::Body(e) => e,
        })
    }

    fn transaction<T, E>(
        &self,
        body: impl FnOnce(&mut SqliteTx<'_>) -> Result<T, E>,
    ) -> Result<T, TxError<E>> {
        let mut guard = lock(&self.writer);
        let Some(conn) = guard.as_mut() else {
            return Err(TxError::Store(closed()));
        };
        // BEGIN and COMMIT through the statement cache: a lone create is a transaction of its
        // own, and must not prepare two statements every time.
        let open =
            Begun::begin(conn, "BEGIN IMMEDIATE").map_err(|e| TxError::Store(store_error(e)))?;
        let mut view = SqliteTx::new(conn);
        let out = body(&mut view).map_err(TxError::Body)?;
        view.flush().map_err(TxError::Store)?;
        open.commit().map_err(TxError::Commit)?;
        Ok(out)
    }
}

/// How a transaction of [`Inner::transaction`] failed.
enum TxError<E> {
    /// Beginning it, or a statement of the store's own, failed: rolled back.
    Store(StoreError),
    /// `COMMIT` failed.
    Commit(rusqlite::Error),
    /// The body refused: rolled back.
    Body(E),
}

impl GroupBackend for Inner {
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError> {
        self.transaction(|tx| commit_group(tx, plans))
            .map_err(|e| match e {
                TxError::Store(e) | TxError::Body(e) => GroupError::Failed(e),
                TxError::Commit(e) if is_sync_failure(&e) => GroupError::SyncFailed(store_error(e)),
                TxError::Commit(e) => GroupError::Failed(store_error(e)),
            })
    }
}

/// Whether a failed `COMMIT` was an i/o error (the WAL write or its fsync): what reached the
/// disk is then unknown, so the store stops writing until reopened.
fn is_sync_failure(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::SystemIoFailure)
}

/// Locks a connection. A panic while holding the lock dropped (rolled back) any open
/// transaction, so the connection is still usable.
fn lock(conn: &Mutex<Option<Connection>>) -> MutexGuard<'_, Option<Connection>> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The per-connection settings: a statement cache, and stable query plans (without it,
/// SQLite re-prepares statements with ORDER BY and bound parameters on every run, a third of
/// a create's CPU).
fn tune(conn: &Connection) -> Result<(), OpenError> {
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(sqlite_error)?;
    Ok(())
}

fn closed() -> StoreError {
    StoreError::Backend("the sqlite store is closed".into())
}

#[async_trait]
impl SetStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.write(Error::Store, move |txn| apply_fixture(txn, &batch))
            .await
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.committer.commit(plans).await
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.committer.stats())
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let query = query.clone();
        self.read(move |conn| tx::create_facts(conn, &query)).await
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        self.write(
            |e| BatchFailure {
                index: 0,
                error: Error::Store(e),
            },
            move |txn| {
                plans
                    .into_iter()
                    .enumerate()
                    .map(|(index, plan)| {
                        commit_plan(txn, plan).map_err(|error| BatchFailure { index, error })
                    })
                    .collect()
            },
        )
        .await
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.write(|e| e, move |txn| StoreTx::raise_sequence(txn, kind, value))
            .await
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.read(move |conn| tx::sequence_last(conn, kind)).await
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.read(move |conn| tx::catalog_item(conn, &key)).await
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.read(move |conn| match set {
            None => tx::documents(conn, tx::SELECT_SETS, [biz.0], "set"),
            Some(id) => tx::documents(conn, tx::SELECT_ONE_SET, [biz.0, id.0], "set"),
        })
        .await
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.read(move |conn| tx::documents(conn, tx::SELECT_MODULES, [set.0], "module"))
            .await
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.read(move |conn| match resource_type {
            None => tx::documents(conn, tx::SELECT_AUDIT, [biz.0], "audit record"),
            Some(rt) => tx::documents(
                conn,
                tx::SELECT_AUDIT_OF_TYPE,
                params![biz.0, rt.name()],
                "audit record",
            ),
        })
        .await
    }

    async fn close(&self) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        // The reader first, so the writer's close (the last connection) checkpoints the log.
        close_connection(&inner.reader)?;
        match self
            .committer
            .exclusive(move |_| close_connection(&inner.writer))
            .await
        {
            Ok(closed) => closed,
            // A store refusing writes after a failed sync still lets go of its file.
            Err(_) => close_connection(&self.inner.writer),
        }
    }
}

/// Closes a connection (once); on failure it stays open.
fn close_connection(conn: &Mutex<Option<Connection>>) -> Result<(), StoreError> {
    let mut guard = lock(conn);
    let Some(open) = guard.take() else {
        return Ok(());
    };
    open.close().map_err(|(open, e)| {
        *guard = Some(open);
        store_error(e)
    })
}

/// `path` with `suffix` appended to its file name (SQLite's `-wal` and `-shm` files).
fn sidecar_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn only_an_io_error_at_commit_is_a_failed_sync() {
        assert!(is_sync_failure(&failure(rusqlite::ffi::SQLITE_IOERR)));
        assert!(is_sync_failure(&failure(rusqlite::ffi::SQLITE_IOERR_FSYNC)));
        assert!(!is_sync_failure(&failure(rusqlite::ffi::SQLITE_BUSY)));
        assert!(!is_sync_failure(&failure(rusqlite::ffi::SQLITE_FULL)));
        assert!(!is_sync_failure(&rusqlite::Error::InvalidQuery));
    }
}
