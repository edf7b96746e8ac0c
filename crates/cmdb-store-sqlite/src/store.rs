//! [`SqliteStore`]: the [`SetStore`] on one SQLite connection, its options, and opening.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::plan::{CreatePlan, commit_plan};
use cmdb_core::ports::{BatchFailure, SetStore, StoreTx};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::error::{OpenError, sqlite_error, store_error};
use crate::header::check_header;
use crate::schema::{check_compatible, migrate};
use crate::tx::{self, SqliteTx};

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
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A [`SetStore`] on a SQLite database file (bundled SQLite, WAL mode).
///
/// - Every write method is one `BEGIN IMMEDIATE` transaction: it takes the database's write
///   lock up front, reads and bumps the id sequences, runs the domain's write logic
///   ([`commit_plan`], [`apply_fixture`]) through the transaction, and commits, or rolls back
///   on any error. Several stores (connections or processes) may share one file: writers queue
///   on the lock for up to [`SqliteOptions::busy_timeout`], and the unique indexes back the
///   domain's checks.
/// - It holds one connection behind a mutex, so it is `Send + Sync`; calls from several
///   threads are serialised.
/// - The async methods do their blocking work inline on the calling task (a write may wait
///   for the lock up to the busy timeout). Callers that must not block an async worker can
///   wrap calls in their runtime's blocking facility.
pub struct SqliteStore {
    conn: Mutex<Option<Connection>>,
    path: PathBuf,
    options: SqliteOptions,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("options", &self.options)
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
            return Err(OpenError::Store(StoreError::Backend(format!(
                "cannot switch the database to WAL mode (it stays in {mode} mode)"
            ))));
        }
        conn.pragma_update(None, "synchronous", options.synchronous.pragma())
            .map_err(sqlite_error)?;
        migrate(&mut conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        // Keep cached statements' plans stable: without it, SQLite re-prepares statements
        // with ORDER BY and bound parameters on every run (a third of a create's CPU).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(sqlite_error)?;
        Ok(SqliteStore {
            conn: Mutex::new(Some(conn)),
            path: path.to_owned(),
            options,
        })
    }

    /// The path the store was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> SqliteOptions {
        self.options
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// Store failures, or [`StoreError::Backend`] once closed.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(store_error)
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic while holding the lock dropped (rolled back) any open transaction, so the
        // connection is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.lock().as_ref() {
            Some(conn) => f(conn),
            None => Err(closed()),
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: commits when it returns `Ok`, rolls
    /// back otherwise. `on_begin` and `on_commit` turn store failures before and after the body
    /// into the caller's error type.
    fn write<T, E>(
        &self,
        on_begin: impl FnOnce(StoreError) -> E,
        body: impl FnOnce(&mut SqliteTx<'_>) -> Result<T, E>,
        on_commit: impl FnOnce(StoreError) -> E,
    ) -> Result<T, E> {
        let mut guard = self.lock();
        let Some(conn) = guard.as_mut() else {
            return Err(on_begin(closed()));
        };
        let txn = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| on_begin(store_error(e)))?;
        let mut view = SqliteTx::new(&txn);
        let out = body(&mut view)?;
        if let Err(e) = view.flush() {
            return Err(on_commit(e));
        }
        txn.commit().map_err(|e| on_commit(store_error(e)))?;
        Ok(out)
    }
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
        self.write(Error::Store, |txn| apply_fixture(txn, &batch), Error::Store)
    }

    async fn create_set(&self, plan: CreatePlan) -> Result<CreatedSet, Error> {
        self.write(Error::Store, |txn| commit_plan(txn, &plan), Error::Store)
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
            |txn| {
                plans
                    .iter()
                    .enumerate()
                    .map(|(index, plan)| {
                        commit_plan(txn, plan).map_err(|error| BatchFailure { index, error })
                    })
                    .collect()
            },
            |e| BatchFailure {
                index: 0,
                error: Error::Store(e),
            },
        )
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.write(
            |e| e,
            |txn| StoreTx::raise_sequence(txn, kind, value),
            |e| e,
        )
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.read(|conn| tx::sequence_last(conn, kind))
    }

    async fn business(&self, id: BizId) -> Result<Option<Business>, StoreError> {
        self.read(|conn| tx::business(conn, id))
    }

    async fn mainline(&self, supplier_account: &str) -> Result<Vec<String>, StoreError> {
        self.read(|conn| tx::mainline(conn, supplier_account).map(Option::unwrap_or_default))
    }

    async fn mainline_instance(&self, id: i64) -> Result<Option<MainlineInstance>, StoreError> {
        self.read(|conn| tx::mainline_instance(conn, id))
    }

    async fn set_attributes(
        &self,
        supplier_account: &str,
        biz: BizId,
    ) -> Result<Vec<StoredAttribute>, StoreError> {
        self.read(|conn| {
            tx::all_json(
                conn,
                tx::SELECT_SET_ATTRIBUTES,
                params![supplier_account, biz.0],
                "set attribute",
            )
        })
    }

    async fn unique_rules(&self, supplier_account: &str) -> Result<Vec<UniqueRule>, StoreError> {
        self.read(|conn| {
            tx::all_json(
                conn,
                tx::SELECT_UNIQUE_RULES,
                [supplier_account],
                "unique rule",
            )
        })
    }

    async fn set_template(&self, id: i64) -> Result<Option<SetTemplate>, StoreError> {
        self.read(|conn| tx::set_template(conn, id))
    }

    async fn service_template(&self, id: i64) -> Result<Option<ServiceTemplate>, StoreError> {
        self.read(|conn| tx::service_template(conn, id))
    }

    async fn builtin_set(&self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        self.read(|conn| tx::builtin_set(conn, biz))
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.read(|conn| match set {
            None => tx::documents(conn, tx::SELECT_SETS, [biz.0], "set"),
            Some(id) => tx::documents(conn, tx::SELECT_ONE_SET, [biz.0, id.0], "set"),
        })
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.read(|conn| tx::documents(conn, tx::SELECT_MODULES, [set.0], "module"))
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.read(|conn| match resource_type {
            None => tx::documents(conn, tx::SELECT_AUDIT, [biz.0], "audit record"),
            Some(rt) => tx::documents(
                conn,
                tx::SELECT_AUDIT_OF_TYPE,
                params![biz.0, rt.name()],
                "audit record",
            ),
        })
    }

    async fn close(&self) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let Some(conn) = guard.take() else {
            return Ok(());
        };
        conn.close().map_err(|(conn, e)| {
            *guard = Some(conn);
            store_error(e)
        })
    }
}

/// `path` with `suffix` appended to its file name (SQLite's `-wal` and `-shm` files).
fn sidecar_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
