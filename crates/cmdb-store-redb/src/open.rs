//! Opening a file (the crate doc says how): an atomic create, and refusals that never write.

use std::fs::File;
use std::ops::Bound::Unbounded;
use std::path::Path;

use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use redb::backends::{FileBackend, InMemoryBackend};
use redb::{Builder, Database, DatabaseError, ReadableDatabase, StorageBackend, StorageError};

use crate::tx::{DATA, Tx, key, storage};
use crate::{FORMAT_NAME, FORMAT_VERSION};

/// The most memory redb's page cache takes.
const CACHE_BYTES: usize = 64 << 20;

fn refusal(kind: fn(Detail) -> OpenError, why: impl Into<String>) -> OpenError {
    kind(Detail::new(why))
}

/// Opens the store at `path`, creating it when absent.
pub(crate) fn open(path: &Path) -> Result<Database, OpenError> {
    let io = |e: std::io::Error| OpenError::Unreachable(Detail::caused_by(e.to_string(), e));
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
        Err(e) => return Err(io(e)),
        Ok(m) if m.is_dir() => return Err(refusal(OpenError::Unreachable, "it is a directory")),
        Ok(_) => {}
    }
    let locks = FileBackend::new(File::open(path).map_err(io)?);
    if locks
        .query_lock_range(Unbounded, Unbounded)
        .unwrap_or(false)
    {
        return Err(refusal(
            OpenError::Busy,
            "another process or handle has it open",
        ));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    if !bytes.starts_with(b"redb\x1a\x0a\xa9\x0d\x0a") {
        return Err(refusal(OpenError::Foreign, "it is not a redb file"));
    }
    let copy = InMemoryBackend::new();
    let loaded = copy
        .set_len(bytes.len() as u64)
        .and_then(|()| copy.write(0, &bytes));
    loaded.map_err(|e| OpenError::Store(storage(StorageError::from(e))))?;
    drop(bytes);
    let mut builder = Builder::new();
    builder
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true);
    check_marker(builder.create_with_backend(copy))?;
    check_marker(Builder::new().set_cache_size(CACHE_BYTES).open(path))
}

/// The opened database, unless redb refused it or it lacks our marker or is too new.
fn check_marker(db: Result<Database, DatabaseError>) -> Result<Database, OpenError> {
    let db = db.map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => refusal(OpenError::Busy, "another handle has it"),
        DatabaseError::Storage(StorageError::Corrupted(m)) => refusal(OpenError::Damaged, m),
        DatabaseError::Storage(e @ StorageError::Io(_)) => {
            refusal(OpenError::Damaged, e.to_string())
        }
        e => OpenError::Store(storage(e)),
    })?;
    let foreign = || {
        refusal(
            OpenError::Foreign,
            "a redb database without the cmdb marker",
        )
    };
    let txn = db.begin_read().map_err(storage)?;
    let Ok(table) = txn.open_table(DATA) else {
        return Err(foreign());
    };
    let (table, damaged) = (Tx::new(table), |e: cmdb_core::StoreError| {
        refusal(OpenError::Damaged, e.to_string())
    });
    let format: Option<String> = table.get(&key(b'_', &[b"format"])).map_err(damaged)?;
    if format.as_deref() != Some(FORMAT_NAME) {
        return Err(foreign());
    }
    match table.get(&key(b'_', &[b"version"])).map_err(damaged)? {
        Some(found) if found > FORMAT_VERSION => Err(OpenError::TooNew {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(1..) => Ok(db),
        _ => Err(refusal(OpenError::Damaged, "no format version")),
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
        let format = serde_json::Value::from(FORMAT_NAME).to_string();
        table.insert(&*key(b'_', &[b"format"]), format.as_bytes())?;
        let version = FORMAT_VERSION.to_string();
        table.insert(&*key(b'_', &[b"version"]), version.as_bytes())?;
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
