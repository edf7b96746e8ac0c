//! Opening a store directory: [`OpenBackend`] for [`SledBackend`] — what happens before sled
//! sees the directory (lock, sidecar, fingerprint), sled's open, and the checks of what sled
//! recovered — with every refusal as the shared [`OpenError`].

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Mutex, RwLock};

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use cmdb_core::ids::SequenceKind;
use cmdb_store_group::{GroupOptions, OpenBackend, OpenError};

use crate::backend::{BACKGROUND_FLUSH_MS, Handles, SledBackend, SledOptions};
use crate::codec::{decode, encode};
use crate::error::map_sled_error;
use crate::fingerprint;
use crate::layout::{FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION, SLED_LOG_FILE, T};
use crate::sidecar::{self, FormatMarker, Sidecar};
use crate::upgrade;

impl OpenBackend for SledBackend {
    type Options = SledOptions;

    /// Opens (creating when absent) the store in directory `path`.
    ///
    /// Before sled sees the directory, it is locked and its [`sidecar`] read; a store that was
    /// closed cleanly has its files checked against the fingerprint taken at that close, and
    /// is refused untouched when they differ. Then sled opens the files (recovering them after
    /// a crash), and what it recovered is checked against the sidecar.
    ///
    /// # Errors
    /// - [`OpenError::Busy`] when the directory is open, in this process or another, or sled's
    ///   log is still locked by a handle letting go of it.
    /// - [`OpenError::Damaged`] when the directory holds files changed since the store was
    ///   closed cleanly (nothing is modified then), damaged sled files, a damaged sidecar, or
    ///   a store that recovered less than it had durably stored.
    /// - [`OpenError::Foreign`] for a sled database (or a sidecar) that is not of this store.
    /// - [`OpenError::TooNew`] for a store of a newer layout version (an older one is
    ///   upgraded, see the `upgrade` module).
    /// - [`OpenError::Unreachable`] when the directory or its files cannot be read;
    ///   [`OpenError::Store`] for other failures of sled.
    fn open_backend(path: &Path, options: &SledOptions) -> Result<Self, OpenError> {
        let (lock, previous) = prepare(path)?;
        let config = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS));
        // sled may panic on some damaged files instead of returning an error; contain it.
        let db = catch_unwind(AssertUnwindSafe(|| config.open()))
            .map_err(|panic| {
                OpenError::Damaged(
                    format!(
                        "sled could not open {}: {}",
                        path.display(),
                        panic_message(panic.as_ref())
                    )
                    .into(),
                )
            })?
            .map_err(|e| open_error(path, e))?;
        let trees = T::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| open_error(path, e))?;
        let handles = Handles { db, trees };
        // On a refusal sled's handles are dropped first, then the directory lock.
        check_format(&handles, path, previous)?;
        Ok(SledBackend {
            handles: RwLock::new(Some(handles)),
            lock: Mutex::new(lock),
            options: *options,
            path: path.to_owned(),
        })
    }

    fn group_options(options: &SledOptions) -> GroupOptions {
        options.group
    }
}

/// The format marker of this build.
pub(crate) fn expected_marker() -> FormatMarker {
    FormatMarker {
        format: FORMAT_NAME.to_owned(),
        version: FORMAT_VERSION,
    }
}

/// Refuses `found` unless it is this build's format ([`OpenError::check_format`]).
fn check_marker(path: &Path, found: &FormatMarker) -> Result<(), OpenError> {
    let found = (found.format.as_str(), i64::from(found.version));
    OpenError::check_format(path, found, FORMAT_NAME, i64::from(FORMAT_VERSION))
}

/// A stored value that does not decode is damage; other failures stay what they are.
fn damaged(e: StoreError) -> OpenError {
    match e {
        StoreError::Corrupt(d) => OpenError::Damaged(d),
        other => OpenError::Store(other),
    }
}

/// The refusal of a locked location.
fn busy(path: &Path, what: &str) -> OpenError {
    OpenError::Busy(
        format!(
            "cannot open {}: {what} (could not acquire lock on {})",
            path.display(),
            path.display()
        )
        .into(),
    )
}

/// Locks directory `path` (`flock`, exclusive, without waiting) for the life of a backend;
/// `None` where a directory cannot be opened or locked (not on Unix). Then checks, without
/// keeping it, that sled's log is not locked either (a handle that was dropped without a
/// close may hold it a moment longer).
///
/// # Errors
/// [`OpenError::Busy`] when another handle, in this process or another, holds either.
fn lock_dir(path: &Path) -> Result<Option<File>, OpenError> {
    let Ok(dir) = File::open(path) else {
        return Ok(None);
    };
    match dir.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(busy(path, "the store is open in another process or handle"));
        }
        Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            return Ok(None);
        }
        Err(TryLockError::Error(e)) => {
            return Err(OpenError::Unreachable(Detail::caused_by(
                format!(
                    "cannot open {}: cannot lock the directory: {e}",
                    path.display()
                ),
                e,
            )));
        }
    }
    if let Ok(log) = File::open(path.join(SLED_LOG_FILE))
        && let Err(TryLockError::WouldBlock) = log.try_lock()
    {
        return Err(busy(path, "sled's log is still held by another handle"));
    }
    Ok(Some(dir))
}

/// Everything the open does before sled sees directory `path`: creates it when absent, locks
/// it, reads the sidecar and checks its format, and, when the store was closed cleanly,
/// checks that the files are the ones closed (refusing them untouched otherwise) and marks
/// the sidecar unclean. Returns the lock and the sidecar as read.
fn prepare(path: &Path) -> Result<(Option<File>, Option<Sidecar>), OpenError> {
    match std::fs::metadata(path) {
        // Not a directory: sled reports it.
        Ok(meta) if !meta.is_dir() => return Ok((None, None)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path).map_err(|e| {
                OpenError::Unreachable(Detail::caused_by(
                    format!("cannot create {}: {e}", path.display()),
                    e,
                ))
            })?;
        }
        Err(e) => {
            return Err(OpenError::Unreachable(Detail::caused_by(
                format!("cannot open {}: {e}", path.display()),
                e,
            )));
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
    let current = fingerprint::take(path, false).map_err(|d| {
        let message = format!("cannot open {}: {d}", path.display());
        OpenError::Unreachable(d.renamed(message))
    })?;
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
        return Err(OpenError::Damaged(
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

/// The last id of every sequence, by name.
pub(crate) fn sequence_values(handles: &Handles) -> Result<BTreeMap<String, i64>, StoreError> {
    let tree = handles.tree(T::Sequences);
    SequenceKind::ALL
        .iter()
        .map(|kind| {
            let key = kind.name().as_bytes();
            let last = match tree.get(key).map_err(map_sled_error)? {
                Some(bytes) => decode::<i64>(T::Sequences.name(), key, &bytes)?,
                None => 0,
            };
            Ok((kind.name().to_owned(), last))
        })
        .collect()
}

/// Checks the format marker of an existing store, or writes it into an empty database; then
/// checks what sled recovered against the `previous` [`sidecar`] (see there for why), and
/// updates it.
fn check_format(
    handles: &Handles,
    path: &Path,
    previous: Option<Sidecar>,
) -> Result<(), OpenError> {
    let expected = expected_marker();
    let meta = handles.tree(T::Meta);
    match meta
        .get(FORMAT_KEY)
        .map_err(|e| damaged(map_sled_error(e)))?
    {
        Some(bytes) => {
            let found: FormatMarker =
                decode(T::Meta.name(), FORMAT_KEY, &bytes).map_err(damaged)?;
            check_marker(path, &found)?;
            upgrade::to_current(handles, found.version, &expected).map_err(damaged)?;
        }
        None if previous.is_some() => {
            return Err(OpenError::Damaged(
                format!(
                    "{} held a {FORMAT_NAME} store, but sled recovered none of it from its \
                     files (damaged or removed files)",
                    path.display()
                )
                .into(),
            ));
        }
        None => {
            let empty = handles.trees.iter().all(sled::Tree::is_empty) && (*handles.db).is_empty();
            if !empty {
                return Err(OpenError::Foreign(
                    format!(
                        "{} is a sled database without the {FORMAT_NAME} format marker",
                        path.display()
                    )
                    .into(),
                ));
            }
            meta.insert(FORMAT_KEY, encode(&expected)?)
                .map_err(map_sled_error)?;
            handles.flush()?;
        }
    }
    // Everything read now was recovered from disk, so it is durable.
    let sequences = sequence_values(handles).map_err(damaged)?;
    if let Some(previous) = &previous {
        for (name, &reached) in &previous.sequences {
            let recovered = sequences.get(name).copied().unwrap_or(0);
            if recovered < reached {
                return Err(OpenError::Damaged(
                    format!(
                        "{}: sled recovered the {name} sequence at {recovered}, but it had \
                         durably reached {reached} (damaged files)",
                        path.display()
                    )
                    .into(),
                ));
            }
        }
        if previous.sequences == sequences && previous.marker == expected {
            return Ok(());
        }
    }
    // What sled recovered may sit in the page cache only, written by a process that died
    // before its fsync: make it durable before the sidecar vouches for it.
    sync_file(&path.join(SLED_LOG_FILE))?;
    sidecar::write(
        path,
        &Sidecar {
            marker: expected,
            sequences,
            clean: false,
            files: Vec::new(),
        },
    )?;
    Ok(())
}

/// fsyncs `file` (all its dirty pages, whoever wrote them); a missing file is fine. The extra
/// descriptor does not disturb sled's lock: it is a `flock`, held by sled's own descriptor.
fn sync_file(file: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new().read(true).open(file) {
        Ok(f) => f.sync_all().map_err(|e| {
            StoreError::Backend(Detail::caused_by(
                format!("cannot sync {}: {e}", file.display()),
                e,
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Backend(Detail::caused_by(
            format!("cannot open {}: {e}", file.display()),
            e,
        ))),
    }
}

/// Maps an error of sled opening the database, naming the path: its refusals of its own
/// files (an unreadable `conf`, detected corruption) are [`OpenError::Damaged`], its log
/// locked by another handle [`OpenError::Busy`], other i/o failures
/// [`OpenError::Unreachable`]. The sled error is kept as the source.
fn open_error(path: &Path, error: sled::Error) -> OpenError {
    let at = path.display();
    match error {
        sled::Error::Unsupported(ref m) => OpenError::Damaged(Detail::caused_by(
            format!("cannot open {at}: sled refuses its files: {m}"),
            error,
        )),
        sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
            OpenError::Damaged(Detail::caused_by(
                format!("cannot open {at}: sled cannot read its files: {io}"),
                error,
            ))
        }
        // sled says so only in its message (`lock_dir` catches it first, unless sled's log
        // was locked in between).
        sled::Error::Io(ref io) if io.to_string().starts_with("could not acquire lock") => {
            OpenError::Busy(Detail::caused_by(
                format!("cannot open {at}: sled: {io}"),
                error,
            ))
        }
        sled::Error::Io(_) => {
            let d = map_sled_error(error).detail().clone();
            let message = format!("cannot open {at}: {d}");
            OpenError::Unreachable(d.renamed(message))
        }
        other => match map_sled_error(other) {
            StoreError::Corrupt(d) => {
                let message = format!("cannot open {at}: {d}");
                OpenError::Damaged(d.renamed(message))
            }
            e => {
                let d = e.detail().clone();
                let message = format!("cannot open {at}: {d}");
                OpenError::Store(StoreError::Backend(d.renamed(message)))
            }
        },
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
