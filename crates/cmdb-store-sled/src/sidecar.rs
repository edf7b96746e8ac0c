//! The sidecar file: a record, outside sled's own files, that the directory holds a store of
//! ours, how far its sequences had durably reached, and whether it was closed cleanly.
//!
//! sled recovers a damaged log by dropping what it cannot read, from the first bad entry on,
//! and then opens normally: garbage written over its files can turn a store into an empty
//! database, or into an older state of itself, without any error. Starting over would hand
//! out ids again. Worse, sled's recovery *writes*: it rewrites and zero-fills the log (and
//! writes a new snapshot) before anything can look at what it recovered, so a damaged store
//! that is refused after sled opened it has already been modified. The sidecar lets
//! [`SledStore::open`](cmdb_store_group::EmbeddedStore::open) refuse such a directory in two ways.
//!
//! # After a clean close: the files are checked before sled opens them
//!
//! [`SetStore::close`](cmdb_core::ports::SetStore::close) flushes, reads the last id of every
//! sequence, drops sled's handles and waits until sled has let go of its files (sled's own
//! `Drop` flushes and fsyncs the log); then it fsyncs every file and records in the sidecar
//! `"clean": true`, the sequences, and a fingerprint of every file of the directory but the
//! sidecar: its path, length and FNV-1a-64 checksum. Only then does it unlock the directory.
//!
//! The next [`SledStore::open`](cmdb_store_group::EmbeddedStore::open) takes the same fingerprint *before*
//! sled sees the directory. Any difference (a file with garbage inside, truncated, extended,
//! removed, or a file added) is refused with [`OpenError::Damaged`] naming the files
//! (``… changed since the store was closed cleanly: `db` holds 1000 bytes instead of 524287 …``),
//! and sled is never called: the directory is left exactly as it was. Only when the files
//! match is the sidecar rewritten with `"clean": false` (durably), and then sled opens them.
//!
//! # After a crash: sled recovers, then the sequences are checked
//!
//! A store that was not closed cleanly (the process was killed, or dropped the store without
//! closing it) may have a torn tail in its log, which sled's recovery is there to repair: it
//! runs as usual. What it recovered is then checked against the format marker and the last id
//! of every sequence recorded in the sidecar at the last open or close; a store that recovers
//! less than that is [`OpenError::Damaged`]. In this case sled has already rewritten the
//! files when the store refuses them.
//!
//! # What is not detected
//!
//! - After a crash: damage that leaves every sequence at or above the recorded value (a
//!   damaged value that sled does not drop is still reported when it is read, naming its tree
//!   and key), and damage to writes made after the last open or close; in
//!   [`FlushMode::EveryWrite`](crate::FlushMode::EveryWrite) those writes are fsynced, so only
//!   damage to the disk itself loses them.
//! - Damage made while the store is open (sled owns the files then).
//! - A deliberate forgery: FNV-1a is a checksum, not a signature; whoever can rewrite the
//!   files can rewrite the sidecar. A sidecar that does not decode is refused as damaged; a
//!   removed sidecar makes the directory a bare sled database of ours, opened as after a crash.
//! - A store that is dropped without a close, or whose close failed (sled did not let go of
//!   its files in time, a file could not be read), leaves the sidecar unclean: the next open
//!   takes the crash path.
//! - Where a directory cannot be opened and locked (not on Unix), stores are never marked
//!   clean.
//!
//! The cost: the open of a cleanly closed store and a close each read every byte of the
//! store's files once (linear in the store size), and write the sidecar once (a temporary
//! file, fsynced, renamed, the directory fsynced).
//!
//! [`OpenError::Damaged`]: cmdb_store_group::OpenError::Damaged
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use serde::{Deserialize, Serialize};

use crate::fingerprint::FilePrint;
pub use crate::layout::SIDECAR_FILE;

/// The format marker, stored in the `meta` tree and in the sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FormatMarker {
    /// Always [`crate::layout::FORMAT_NAME`].
    pub(crate) format: String,
    /// The layout version.
    pub(crate) version: u32,
}

/// The content of the sidecar file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    /// The format of the store.
    #[serde(flatten)]
    pub(crate) marker: FormatMarker,
    /// The last id of each sequence (by name) known to be durable.
    #[serde(default)]
    pub(crate) sequences: BTreeMap<String, i64>,
    /// Whether the store was closed cleanly and has not been opened since; sidecars written
    /// before this field existed read as `false`.
    #[serde(default)]
    pub(crate) clean: bool,
    /// The fingerprint of every file of the directory but the sidecar, taken at the clean
    /// close; empty unless `clean`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<FilePrint>,
}

/// Reads the sidecar of `dir`, `None` when there is none.
///
/// # Errors
/// [`OpenError::Damaged`] when it does not decode; [`OpenError::Unreachable`] when it cannot
/// be read.
pub(crate) fn read(dir: &Path) -> Result<Option<Sidecar>, OpenError> {
    let path = dir.join(SIDECAR_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            OpenError::Damaged(Detail::caused_by(
                format!("{} is damaged: {e}", path.display()),
                e,
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpenError::Unreachable(Detail::caused_by(
            format!("cannot read {}: {e}", path.display()),
            e,
        ))),
    }
}

/// Replaces the sidecar of `dir` durably: a temporary file, fsynced, renamed over the old one,
/// then the directory fsynced.
///
/// # Errors
/// [`StoreError::Backend`] on i/o failure, the `io::Error` kept as the source.
pub(crate) fn write(dir: &Path, sidecar: &Sidecar) -> Result<(), StoreError> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Backend(Detail::caused_by(
            format!("cannot {what} {SIDECAR_FILE} in {}: {e}", dir.display()),
            e,
        ))
    };
    let mut bytes = serde_json::to_vec(sidecar).map_err(|e| {
        StoreError::Backend(Detail::caused_by(
            format!("cannot encode {SIDECAR_FILE}: {e}"),
            e,
        ))
    })?;
    bytes.push(b'\n');
    let tmp = dir.join(format!("{SIDECAR_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, dir.join(SIDECAR_FILE)).map_err(|e| io("rename", e))?;
    // Make the rename durable where a directory can be opened (Unix).
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().map_err(|e| io("sync the directory of", e))?;
    }
    Ok(())
}
