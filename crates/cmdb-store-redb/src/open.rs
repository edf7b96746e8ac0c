//! Opening a file: creating a store atomically, and refusing a file that is not one of ours,
//! damaged, too new or busy without writing a byte to it.
//!
//! redb writes while it opens (it repairs after a crash, and an open that checks integrity
//! commits), so a file is first opened as a dry run: over [`DryRun`], which keeps every write
//! in memory, with the whole-file integrity check and the format marker check. Only a file that
//! passes is opened for real.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use redb::backends::FileBackend;
use redb::{
    BackendError, Builder, Database, DatabaseError, ReadableDatabase, ReadableTable,
    StorageBackend, StorageError, TableError,
};

use crate::tx::{T, TABLES};
use crate::{FORMAT_NAME, FORMAT_VERSION};

/// What every redb file starts with.
const MAGIC: &[u8; 9] = b"redb\x1a\x0a\xa9\x0d\x0a";

/// Opens the store at `path`, creating it when absent.
pub(crate) fn open(path: &Path, cache_bytes: usize) -> Result<Database, OpenError> {
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
        let why = match head.len() {
            0 => "the file is empty".to_owned(),
            _ => "the file does not start with the redb header".to_owned(),
        };
        return Err(OpenError::Foreign(Detail::new(why)));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(unreachable)?;
    let dry = guarded(|| {
        let mut builder = Builder::new();
        builder
            .set_check_integrity_on_open(true)
            .set_cache_size(cache_bytes);
        builder.create_with_backend(DryRun::new(file))
    })?;
    check_marker(&dry)?;
    drop(dry);
    let db = guarded(|| Builder::new().set_cache_size(cache_bytes).open(path))?;
    check_marker(&db)?;
    Ok(db)
}

/// Runs a redb open, turning its errors and panics into [`OpenError`]s.
fn guarded(open: impl FnOnce() -> Result<Database, DatabaseError>) -> Result<Database, OpenError> {
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
            e => OpenError::Store(crate::tx::storage(e)),
        }),
        Err(_) => Err(damaged("redb failed reading the file".into())),
    }
}

/// Refuses a database without our format marker, or of a newer format version.
fn check_marker(db: &impl ReadableDatabase) -> Result<(), OpenError> {
    let foreign = || OpenError::Foreign(Detail::new("a redb database without the cmdb marker"));
    let txn = db.begin_read().map_err(crate::tx::storage)?;
    let meta = match txn.open_table(TABLES[T::Meta as usize]) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_) | TableError::TableTypeMismatch(_)) => {
            return Err(foreign());
        }
        Err(e) => return Err(crate::tx::storage(e).into()),
    };
    let get = |key: &[u8]| meta.get(key).map(|v| v.map(|v| v.value().to_vec()));
    if get(b"format").map_err(crate::tx::storage)?.as_deref() != Some(FORMAT_NAME) {
        return Err(foreign());
    }
    let version = get(b"version").map_err(crate::tx::storage)?;
    match version
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(i64::from_be_bytes)
    {
        Some(found) if found > FORMAT_VERSION => Err(OpenError::TooNew {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(found) if found >= 1 => Ok(()),
        _ => Err(OpenError::Damaged(Detail::new(
            "the format version is unreadable",
        ))),
    }
}

/// Creates a store at `path` atomically: built and synced under a temporary name, then
/// hard-linked into place (never replacing a file another process created meanwhile).
fn create(path: &Path) -> Result<(), OpenError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!("{name}.{}.creating", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let built = (|| -> Result<(), redb::Error> {
        let db = Database::create(&tmp)?;
        let txn = db.begin_write()?;
        for def in TABLES {
            txn.open_table(def)?;
        }
        let mut meta = txn.open_table(TABLES[T::Meta as usize])?;
        meta.insert(b"format".as_slice(), FORMAT_NAME)?;
        meta.insert(
            b"version".as_slice(),
            FORMAT_VERSION.to_be_bytes().as_slice(),
        )?;
        drop(meta);
        txn.commit()?;
        Ok(db.close()?)
    })();
    let linked = built
        .map_err(|e| OpenError::Store(crate::tx::storage(e)))
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

/// A file seen through a dry run: reads see the file and the writes made so far; writes, length
/// changes and syncs stay in memory. Locks are the file's own, so a busy file is refused.
#[derive(Debug)]
struct DryRun {
    file: FileBackend,
    /// The length as the dry run sees it, and the length below which the file's own bytes
    /// still show (beyond it, a shrink dropped them).
    len: Mutex<(u64, u64)>,
    writes: Mutex<Vec<(u64, Vec<u8>)>>,
}

impl DryRun {
    fn new(file: File) -> Self {
        let len = file.metadata().map_or(0, |m| m.len());
        DryRun {
            file: FileBackend::new(file),
            len: Mutex::new((len, len)),
            writes: Mutex::new(Vec::new()),
        }
    }
}

impl StorageBackend for DryRun {
    fn len(&self) -> Result<u64, BackendError> {
        Ok(self.len.lock().unwrap_or_else(PoisonError::into_inner).0)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        let (len, shown) = *self.len.lock().unwrap_or_else(PoisonError::into_inner);
        if offset + out.len() as u64 > len {
            let eof = std::io::ErrorKind::UnexpectedEof;
            return Err(std::io::Error::new(eof, "read past the end").into());
        }
        let from_file = shown.saturating_sub(offset).min(out.len() as u64) as usize;
        self.file.read(offset, &mut out[..from_file])?;
        out[from_file..].fill(0);
        for (at, data) in self
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let start = offset.max(*at);
            let end = (offset + out.len() as u64).min(at + data.len() as u64);
            if start < end {
                let (o, d) = ((start - offset) as usize, (start - at) as usize);
                let n = (end - start) as usize;
                out[o..o + n].copy_from_slice(&data[d..d + n]);
            }
        }
        Ok(())
    }

    fn set_len(&self, new: u64) -> Result<(), BackendError> {
        let mut len = self.len.lock().unwrap_or_else(PoisonError::into_inner);
        *len = (new, len.1.min(new));
        let mut writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        writes.retain(|(at, _)| *at < new);
        for (at, data) in writes.iter_mut() {
            data.truncate((new - *at) as usize);
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendError> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut len = self.len.lock().unwrap_or_else(PoisonError::into_inner);
        len.0 = len.0.max(offset + data.len() as u64);
        let mut writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        writes.push((offset, data.to_vec()));
        Ok(())
    }

    fn close(&self) -> Result<(), BackendError> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(s, e)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
