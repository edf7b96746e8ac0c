//! The sidecar file: a record, outside sled's own files, that the directory holds a store of
//! ours and how far its sequences had durably reached.
//!
//! sled recovers a damaged log by dropping what it cannot read, from the first bad entry on,
//! and then opens normally: garbage written over its files can turn a store into an empty
//! database, or into an older state of itself, without any error. Starting over would hand
//! out ids again. The sidecar lets [`SledStore::open`](crate::SledStore::open) refuse such a
//! directory: it holds the format marker and the last id of every sequence as known durable at
//! the last open or close, and a store that recovers less than that is
//! [`StoreError::Corrupt`].
//!
//! Damage to writes made after the last open or close cannot be detected this way; in
//! [`FlushMode::EveryWrite`](crate::FlushMode::EveryWrite) those writes are fsynced, so only
//! damage to the disk itself loses them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use cmdb_core::StoreError;
use serde::{Deserialize, Serialize};

/// The file, next to sled's own, that records that the directory holds a store of ours.
pub const SIDECAR_FILE: &str = "cmdb-store-sled.json";

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
}

/// Reads the sidecar of `dir`, `None` when there is none.
///
/// # Errors
/// [`StoreError::Corrupt`] when it does not decode; [`StoreError::Backend`] on i/o failure.
pub(crate) fn read(dir: &Path) -> Result<Option<Sidecar>, StoreError> {
    let path = dir.join(SIDECAR_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Replaces the sidecar of `dir` durably: a temporary file, fsynced, renamed over the old one,
/// then the directory fsynced.
///
/// # Errors
/// [`StoreError::Backend`] on i/o failure.
pub(crate) fn write(dir: &Path, sidecar: &Sidecar) -> Result<(), StoreError> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Backend(format!(
            "cannot {what} {SIDECAR_FILE} in {}: {e}",
            dir.display()
        ))
    };
    let mut bytes = serde_json::to_vec(sidecar)
        .map_err(|e| StoreError::Backend(format!("cannot encode {SIDECAR_FILE}: {e}")))?;
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
