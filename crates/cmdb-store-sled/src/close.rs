//! The close of a [`SledBackend`]: flush, let go of sled, record the clean close in the
//! [`sidecar`](crate::sidecar), unlock the directory.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use cmdb_core::error::Detail;

use crate::backend::SledBackend;
use crate::fingerprint;
use crate::layout::SLED_LOG_FILE;
use crate::open::{expected_marker, sequence_values};
use crate::sidecar::{self, Sidecar};

/// How long a close waits for sled's i/o threads to let go of the log once its handles are
/// dropped.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Closes `backend`, on the store's writer thread (or a reader thread of a store that refuses
/// writes), after every write queued before it:
///
/// 1. reads the last id of every sequence, then flushes (so every value read is durable);
/// 2. drops sled's handles, once no read holds them (later calls fail: the store is closed);
/// 3. waits (up to [`RELEASE_WAIT`]) until sled's log can be locked, that is until sled's
///    threads have let go of its files (sled's `Drop` flushed and fsynced them);
/// 4. fsyncs every file, fingerprints them, and records the clean close in the sidecar;
/// 5. unlocks the directory: it can be opened again at once, in this process or another.
///
/// A failed flush leaves the store open. When sled does not let go in time or a file cannot
/// be read, the sidecar records the sequences without the clean close (the next open
/// recovers as after a crash), the directory is unlocked all the same, and the close fails.
/// Closing a closed store does nothing.
pub(crate) fn close(backend: &SledBackend) -> Result<(), StoreError> {
    let mut slot = backend
        .handles
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(handles) = slot.as_ref() else {
        return Ok(());
    };
    // Read before the flush: every value read is then durable once the flush returns.
    let sequences = sequence_values(handles)?;
    handles.flush()?;
    drop(slot.take());
    drop(slot);
    let dir = backend.path.as_path();
    let mut lock = backend.lock.lock().unwrap_or_else(PoisonError::into_inner);
    // Without a directory lock (not on Unix) nothing keeps another handle from changing the
    // files after the fingerprint: the store is never marked clean.
    let recorded = match lock.as_ref().map(|_| wait_for_release(dir)) {
        None => Ok(Vec::new()),
        Some(Ok(log)) => {
            let files = fingerprint::take(dir, true);
            drop(log);
            files.map_err(|d| {
                let message = format!("cannot record the clean close of {}: {d}", dir.display());
                StoreError::Backend(d.renamed(message))
            })
        }
        Some(Err(e)) => Err(e),
    };
    let clean = lock.is_some() && recorded.is_ok();
    let written = sidecar::write(
        dir,
        &Sidecar {
            marker: expected_marker(),
            sequences,
            clean,
            files: recorded.as_ref().cloned().unwrap_or_default(),
        },
    );
    // sled's handles are gone: the directory is free, whatever happened since.
    drop(lock.take());
    recorded.and(written)
}

/// Waits (up to [`RELEASE_WAIT`]) until the sled log of `dir` can be locked, that is until no
/// descriptor of sled holds it; returns the locked log (`None` when there is none).
///
/// # Errors
/// [`StoreError::Backend`] when it stays locked, or cannot be opened or locked.
fn wait_for_release(dir: &Path) -> Result<Option<File>, StoreError> {
    let path = dir.join(SLED_LOG_FILE);
    let log = match File::open(&path) {
        Ok(log) => log,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Backend(Detail::caused_by(
                format!("cannot open {}: {e}", path.display()),
                e,
            )));
        }
    };
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match log.try_lock() {
            Ok(()) => return Ok(Some(log)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                // On the store's own thread: the close waits, no caller's thread does.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Backend(
                    format!(
                        "sled did not let go of {} within {} s of the close; the store was not \
                         marked closed cleanly",
                        path.display(),
                        RELEASE_WAIT.as_secs()
                    )
                    .into(),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Backend(Detail::caused_by(
                    format!("cannot lock {}: {e}", path.display()),
                    e,
                )));
            }
        }
    }
}
