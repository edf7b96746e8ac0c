//! [`SqliteBackend`]: the [`Backend`] on two connections to one SQLite file (a writer, a
//! reader), its options, and opening.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, OpenBackend, OpenError, WriteError};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{SqliteOpenError, sqlite_error, store_error};
use crate::header::check_header;
use crate::schema::{check_compatible, migrate};
use crate::tx::{Begun, SqliteTx};

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

/// Options of [`SqliteStore::open`](EmbeddedStore::open).
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

/// The [`SetStore`](cmdb_core::ports::SetStore) on a SQLite database file (bundled SQLite,
/// WAL mode): `SqliteStore::open(path, options).await`, or `open_blocking` from sync code.
///
/// - Creates are group-committed: the writer thread commits every create queued while the
///   previous commit was syncing in one `BEGIN IMMEDIATE` transaction, each create inside its
///   own `SAVEPOINT`. A commit that fails with an i/o error makes the store refuse writes until
///   it is reopened.
/// - Reads run on a separate read connection, each in a read transaction (one snapshot), so
///   they do not wait for a commit's sync.
/// - Several stores (connections or processes) may share one file: writers queue on the
///   database's write lock for up to [`SqliteOptions::busy_timeout`], the id sequences are read
///   inside each `BEGIN IMMEDIATE`, and the unique indexes back the domain's checks.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cmdb_core::BizId;
/// use cmdb_core::fixture::{CatalogBatch, Fixture};
/// use cmdb_core::ports::SetStore;
/// use cmdb_store_sqlite::{SqliteOptions, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cmdb.sqlite");
/// let store = SqliteStore::open(&path, SqliteOptions::default()).await?;
/// let catalog = serde_json::json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]});
/// let now = "2026-01-01T00:00:00.000+08:00".to_owned();
/// let batch = CatalogBatch::prepare(Fixture::from_json(catalog)?, now, "admin".into())?;
/// store.apply_catalog(batch).await?;
/// store.close().await?;
///
/// // Reopened (`open_blocking` from sync code), the store holds the business's idle set.
/// let store = SqliteStore::open_blocking(&path, SqliteOptions::default())?;
/// let sets = store.sets(BizId(1), None).await?;
/// assert_eq!(sets.len(), 1);
/// assert_eq!(sets[0]["bk_set_name"], "空闲机池");
/// store.close().await?;
/// # Ok(()) }
/// ```
pub type SqliteStore = EmbeddedStore<SqliteBackend>;

/// The [`Backend`] of [`SqliteStore`]: the write connection (used by the store's writer
/// thread only) and the read connection.
pub struct SqliteBackend {
    /// The connection every write uses (`None` once closed).
    writer: Mutex<Option<Connection>>,
    /// The connection reads use (`None` once closed).
    reader: Mutex<Option<Connection>>,
    path: PathBuf,
    options: SqliteOptions,
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl OpenBackend for SqliteBackend {
    type Options = SqliteOptions;

    /// Opens the database at `path`, creating it with the current schema when it is missing
    /// or empty, and migrating an older schema.
    ///
    /// A file that is refused is left byte-for-byte as it was: its header is checked before
    /// SQLite opens it, and nothing is written until the schema is known to be ours. A file
    /// that is not SQLite, or a SQLite database of another application, is
    /// [`OpenError::Foreign`]; a truncated or damaged one [`OpenError::Damaged`]; a newer
    /// schema [`OpenError::TooNew`]; an unreadable file [`OpenError::Unreachable`]; a lock held
    /// too long [`OpenError::Busy`].
    fn open_backend(path: &Path, options: &SqliteOptions) -> Result<Self, OpenError> {
        open(path, *options).map_err(OpenError::from)
    }

    fn group_options(options: &SqliteOptions) -> GroupOptions {
        options.group
    }
}

fn open(path: &Path, options: SqliteOptions) -> Result<SqliteBackend, SqliteOpenError> {
    check_header(path)?;
    let wal = sidecar_path(path, "-wal");
    let shm = sidecar_path(path, "-shm");
    let nobody_in_wal_mode = !wal.exists() && !shm.exists();
    let started = std::time::Instant::now();
    loop {
        match open_checked(path, options) {
            // Several connections opening one new file at once can meet SQLite's
            // deadlock-avoiding BUSY (no busy handler is called for it): try again. This runs
            // on the opening thread (`SqliteStore::open` gives it one of its own).
            Err(SqliteOpenError::Store(StoreError::Busy(_)))
                if started.elapsed() < options.busy_timeout =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(refused) => {
                // Leave a refused database as we found it. The -wal and -shm files only go
                // when nobody had the file open in WAL mode before us (neither existed) and
                // the log is empty, so no other connection can be using them.
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

fn open_checked(path: &Path, options: SqliteOptions) -> Result<SqliteBackend, SqliteOpenError> {
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
        return Err(SqliteOpenError::Store(StoreError::Backend(
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
    Ok(SqliteBackend {
        writer: Mutex::new(Some(conn)),
        reader: Mutex::new(Some(reader)),
        path: path.to_owned(),
        options,
    })
}

impl SqliteBackend {
    /// The path the store was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> SqliteOptions {
        self.options
    }

    /// The schema version of the open database. It blocks on the read connection: from async
    /// code, call it through [`EmbeddedStore::run`].
    ///
    /// # Errors
    /// Store failures, or [`StoreError::Backend`] once closed.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match lock(&self.reader).as_ref() {
            Some(conn) => conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(store_error),
            None => Err(closed()),
        }
    }
}

impl Backend for SqliteBackend {
    const NAME: &'static str = "sqlite";

    fn write<R, E>(
        &self,
        mut body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        let mut guard = lock(&self.writer);
        let conn = guard.as_mut().ok_or_else(|| WriteError::Failed(closed()))?;
        // BEGIN and COMMIT through the statement cache: a lone create is a transaction of its
        // own, and must not prepare two statements every time.
        let open = Begun::begin(conn, "BEGIN IMMEDIATE")
            .map_err(|e| WriteError::Failed(store_error(e)))?;
        let out = body(&mut SqliteTx::new(conn)).map_err(WriteError::Body)?;
        open.commit().map_err(|e| {
            if is_sync_failure(&e) {
                WriteError::SyncFailed(store_error(e))
            } else {
                WriteError::Failed(store_error(e))
            }
        })?;
        Ok(out)
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let guard = lock(&self.reader);
        let conn = guard.as_ref().ok_or_else(closed)?;
        let snapshot = Begun::begin(conn, "BEGIN").map_err(store_error)?;
        let out = body(&mut SqliteTx::new(conn))?;
        // A read transaction: ending it either way releases the snapshot.
        snapshot.commit().map_err(store_error)?;
        Ok(out)
    }

    /// Closes the reader, then the writer (the last connection checkpoints the log into the
    /// database file).
    fn close(&self) -> Result<(), StoreError> {
        close_connection(&self.reader)?;
        close_connection(&self.writer)
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
fn tune(conn: &Connection) -> Result<(), SqliteOpenError> {
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(sqlite_error)?;
    Ok(())
}

fn closed() -> StoreError {
    StoreError::Backend("the sqlite store is closed".into())
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
