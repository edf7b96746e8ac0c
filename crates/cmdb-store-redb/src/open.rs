//! Opening a file: creating a store atomically, and refusing a file that is not one of ours,
//! damaged, too new or busy without writing a byte to it.
//!
//! redb writes whenever it opens a file for writing (it marks the file open, repairs it after a
//! crash, and an open that checks integrity commits), so an existing file is first opened as a
//! dry run: a copy in memory ([`InMemoryBackend`]), checked page by page and for the format
//! marker, after a look at the file's locks refused a file another handle holds. Only a file
//! that passes is opened for real.

use std::fs::File;
use std::io::Read;
use std::ops::Bound::Unbounded;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use redb::backends::{FileBackend, InMemoryBackend};
use redb::{
    Builder, Database, DatabaseError, ReadableDatabase, StorageBackend, StorageError, TableError,
};

use crate::tx::{DATA, S, Tx, key, storage};
use crate::{FORMAT_NAME, FORMAT_VERSION};

/// The most memory redb's page cache takes.
const CACHE_BYTES: usize = 64 << 20;
/// What every redb file starts with.
const MAGIC: &[u8; 9] = b"redb\x1a\x0a\xa9\x0d\x0a";

/// Opens the store at `path`, creating it when absent.
pub(crate) fn open(path: &Path) -> Result<Database, OpenError> {
    let unreachable =
        |e: std::io::Error| OpenError::Unreachable(Detail::caused_by(e.to_string(), e));
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
        Err(e) => return Err(unreachable(e)),
        Ok(m) if m.is_dir() => {
            return Err(OpenError::Unreachable(Detail::new("it is a directory")));
        }
        Ok(_) => {}
    }
    let mut head = Vec::new();
    File::open(path)
        .and_then(|f| f.take(9).read_to_end(&mut head))
        .map_err(unreachable)?;
    if head.as_slice() != MAGIC {
        let why = if head.is_empty() {
            "the file is empty"
        } else {
            "it is not a redb file"
        };
        return Err(OpenError::Foreign(Detail::new(why)));
    }
    // Another handle holds a lock over the file: refused before reading it.
    let probe = FileBackend::new(File::open(path).map_err(unreachable)?);
    if probe
        .query_lock_range(Unbounded, Unbounded)
        .unwrap_or(false)
    {
        let why = "another process or handle has the redb file open";
        return Err(OpenError::Busy(Detail::new(why)));
    }
    drop(probe);
    let copy = InMemoryBackend::new();
    let bytes = std::fs::read(path).map_err(unreachable)?;
    let loaded = copy
        .set_len(bytes.len() as u64)
        .and_then(|()| copy.write(0, &bytes));
    loaded.map_err(|e| OpenError::Store(storage(redb::StorageError::from(e))))?;
    drop(bytes);
    let dry = guarded(|| {
        let mut builder = Builder::new();
        builder
            .set_check_integrity_on_open(true)
            .set_cache_size(CACHE_BYTES);
        builder.create_with_backend(copy)
    })?;
    check_marker(&dry)?;
    drop(dry);
    let db = guarded(|| Builder::new().set_cache_size(CACHE_BYTES).open(path))?;
    check_marker(&db)?;
    Ok(db)
}

/// Runs a redb open, turning its errors and panics into [`OpenError`]s.
fn guarded<D>(open: impl FnOnce() -> Result<D, DatabaseError>) -> Result<D, OpenError> {
    let damaged = |m: String| OpenError::Damaged(Detail::new(m));
    match catch_unwind(AssertUnwindSafe(open)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(match e {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                OpenError::Busy(Detail::new(
                    "another process or handle has the redb file open",
                ))
            }
            DatabaseError::UpgradeRequired(v) => {
                OpenError::Foreign(Detail::new(format!("a redb file of the old format {v}")))
            }
            DatabaseError::Storage(StorageError::Corrupted(m)) => damaged(m),
            DatabaseError::Storage(StorageError::Io(e)) => damaged(format!("redb: {e}")),
            e => OpenError::Store(storage(e)),
        }),
        Err(_) => Err(damaged("redb failed reading the file".into())),
    }
}

/// Refuses a database without our format marker, or of a newer format version.
fn check_marker(db: &impl ReadableDatabase) -> Result<(), OpenError> {
    let foreign = || OpenError::Foreign(Detail::new("a redb database without the cmdb marker"));
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(DATA) {
        Err(TableError::TableDoesNotExist(_) | TableError::TableTypeMismatch(_)) => {
            return Err(foreign());
        }
        table => Tx::new(table.map_err(storage)?),
    };
    let damaged = |e: StoreError| OpenError::Damaged(Detail::new(e.to_string()));
    let format: Option<String> = table.get(&key(S::Meta, &[b"format"])).map_err(damaged)?;
    if format.as_deref() != Some(FORMAT_NAME) {
        return Err(foreign());
    }
    match table.get(&key(S::Meta, &[b"version"])).map_err(damaged)? {
        Some(found) if found > FORMAT_VERSION => Err(OpenError::TooNew {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(1..) => Ok(()),
        _ => Err(OpenError::Damaged(Detail::new("no format version"))),
    }
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
        let mut table = txn.open_table(DATA)?;
        let format = serde_json::to_vec(FORMAT_NAME).unwrap_or_default();
        table.insert(&*key(S::Meta, &[b"format"]), &*format)?;
        table.insert(
            &*key(S::Meta, &[b"version"]),
            FORMAT_VERSION.to_string().as_bytes(),
        )?;
        drop(table);
        txn.commit()?;
        Ok(db.close()?)
    })();
    let linked = built
        .map_err(|e| OpenError::Store(storage(e)))
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                Err(OpenError::Unreachable(Detail::caused_by(e.to_string(), e)))
            }
            _ => Ok(()),
        });
    let _ = std::fs::remove_file(&tmp);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    linked
}
