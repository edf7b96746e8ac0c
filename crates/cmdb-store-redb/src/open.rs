//! Opening a file (the crate doc says how): an atomic create, and refusals that never write.

use std::fs::File;
use std::io::ErrorKind;
use std::ops::Bound::Unbounded;
use std::path::Path;

use cmdb_core::error::Detail;
use cmdb_store_group::OpenError::{self, Busy, Damaged, Foreign, Unreachable};
use redb::backends::{FileBackend, InMemoryBackend};
use redb::{Builder, Database, DatabaseError, ReadableDatabase, StorageBackend, StorageError};

use crate::tx::{DATA, Tx, storage};
use crate::{FORMAT_NAME, FORMAT_VERSION};

/// The most memory redb's page cache takes.
const CACHE_BYTES: usize = 64 << 20;
/// The key of the format marker: `[FORMAT_NAME, version]`.
const MARKER: &[u8] = b"_";

fn refusal(kind: fn(Detail) -> OpenError, why: impl Into<String>) -> OpenError {
    kind(Detail::new(why))
}

fn io(e: std::io::Error) -> OpenError {
    Unreachable(Detail::caused_by(e.to_string(), e))
}

/// Opens the store at `path`, creating it when absent.
pub(crate) fn open(path: &Path) -> Result<Database, OpenError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => create(path)?,
        Err(e) => return Err(io(e)),
        Ok(m) if m.is_dir() => return Err(refusal(Unreachable, "it is a directory")),
        Ok(_) => {}
    }
    let locks = FileBackend::new(File::open(path).map_err(io)?);
    if locks
        .query_lock_range(Unbounded, Unbounded)
        .is_ok_and(|held| held)
    {
        return Err(refusal(Busy, "another process or handle has it open"));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    if !bytes.starts_with(b"redb\x1a\x0a\xa9\x0d\x0a") {
        return Err(refusal(Foreign, "it is not a redb file"));
    }
    let copy = InMemoryBackend::new();
    let loaded = copy.set_len(bytes.len() as u64);
    let loaded = loaded.and_then(|()| copy.write(0, &bytes));
    loaded.map_err(|e| OpenError::Store(storage(StorageError::from(e))))?;
    drop(bytes);
    let mut dry_run = Builder::new();
    dry_run.set_cache_size(CACHE_BYTES);
    check(
        dry_run
            .set_check_integrity_on_open(true)
            .create_with_backend(copy),
    )?;
    check(Builder::new().set_cache_size(CACHE_BYTES).open(path))
}

/// The opened database, unless redb refused it or it lacks our marker or is too new.
fn check(db: Result<Database, DatabaseError>) -> Result<Database, OpenError> {
    let db = db.map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => refusal(Busy, "another handle has it open"),
        DatabaseError::Storage(StorageError::Corrupted(m)) => refusal(Damaged, m),
        DatabaseError::Storage(e @ StorageError::Io(_)) => refusal(Damaged, e.to_string()),
        e => OpenError::Store(storage(e)),
    })?;
    let txn = db.begin_read().map_err(storage)?;
    let marker = match txn.open_table(DATA) {
        Ok(table) => Tx::new(table).get::<(String, i64)>(MARKER),
        Err(_) => Ok(None),
    };
    match marker.map_err(|e| refusal(Damaged, e.to_string()))? {
        Some((name, found)) if name == FORMAT_NAME && found > FORMAT_VERSION => {
            Err(OpenError::TooNew {
                found,
                supported: FORMAT_VERSION,
            })
        }
        Some((name, 1..)) if name == FORMAT_NAME => Ok(db),
        _ => Err(refusal(Foreign, "a redb database without the cmdb marker")),
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
