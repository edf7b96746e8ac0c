//! Fingerprints of the files of a store directory: relative path, length and an FNV-1a-64
//! checksum of the content of every regular file, recorded in the [`sidecar`](crate::sidecar)
//! when a store is closed cleanly and checked before the next open lets sled at the files.
//!
//! FNV-1a is a checksum against accidental damage (garbage written over a file, a truncated or
//! extended file, a file removed, replaced or added), not against a deliberate forgery: anyone
//! who can write the files can write a matching sidecar too.
//!
//! Taking a fingerprint reads every byte of every file once: the cost is linear in the size of
//! the store. The byte-wise checksum runs at about 650 MB/s in a release build on the
//! development machine, so a 1 GB store adds about 1.5 s to an open after a clean close and to
//! a close.

use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use cmdb_core::error::Detail;
use serde::{Deserialize, Serialize};

use crate::layout::SIDECAR_FILE;

/// The fingerprint of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilePrint {
    /// The path relative to the store directory, components joined with `/`.
    pub(crate) path: String,
    /// The length in bytes.
    pub(crate) len: u64,
    /// The FNV-1a-64 checksum of the content.
    pub(crate) fnv1a64: u64,
}

/// How the files of a directory differ from a recorded fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A recorded file is gone.
    Missing(String),
    /// A file that was not recorded is there.
    Added(String),
    /// A recorded file has another length: (path, recorded, now).
    Resized(String, u64, u64),
    /// A recorded file has its length but another content.
    Rewritten(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Missing(path) => write!(f, "`{path}` is missing"),
            Change::Added(path) => write!(f, "`{path}` was added"),
            Change::Resized(path, was, now) => {
                write!(f, "`{path}` holds {now} bytes instead of {was}")
            }
            Change::Rewritten(path) => write!(f, "the content of `{path}` changed"),
        }
    }
}

/// Whether `name`, directly in the store directory, is ours rather than sled's: the sidecar
/// and the temporary file it is written through.
fn is_sidecar(name: &str) -> bool {
    name == SIDECAR_FILE
        || name
            .strip_prefix(SIDECAR_FILE)
            .is_some_and(|rest| rest == ".tmp")
}

/// The fingerprint of every regular file under `dir` (recursively, not following symbolic
/// links to directories), the sidecar excepted, sorted by path.
///
/// With `sync`, every file and directory is also fsynced, so that what the fingerprint vouches
/// for is on the disk before a sidecar recording it is.
///
/// # Errors
/// Any i/o error, naming the file and keeping the `io::Error` as the source.
pub(crate) fn take(dir: &Path, sync: bool) -> Result<Vec<FilePrint>, Detail> {
    let mut prints = Vec::new();
    walk(dir, "", sync, &mut prints)?;
    prints.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(prints)
}

fn walk(dir: &Path, prefix: &str, sync: bool, out: &mut Vec<FilePrint>) -> Result<(), Detail> {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        Detail::caused_by(format!("cannot {what} {}: {e}", path.display()), e)
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| fail("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && is_sidecar(&name) {
            continue;
        }
        let path = entry.path();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(|e| fail("inspect", &path, e))?;
        if kind.is_dir() {
            walk(&path, &relative, sync, out)?;
        } else {
            let (len, fnv1a64) = checksum(&path, sync).map_err(|e| fail("read", &path, e))?;
            out.push(FilePrint {
                path: relative,
                len,
                fnv1a64,
            });
        }
    }
    if sync {
        // Directory entries (files created or renamed by sled) are made durable too; a
        // directory that cannot be opened (not on Unix) is skipped.
        if let Ok(d) = File::open(dir) {
            d.sync_all().map_err(|e| fail("sync", dir, e))?;
        }
    }
    Ok(())
}

/// The FNV-1a-64 offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a-64 prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a-64 of `bytes`, continuing from `hash`.
pub(crate) fn fnv1a64(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The length and FNV-1a-64 checksum of the file at `path`, read in 64 KiB chunks; fsynced
/// first with `sync`.
fn checksum(path: &Path, sync: bool) -> std::io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    if sync {
        file.sync_all()?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut hash = FNV_OFFSET;
    let mut len = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok((len, hash)),
            Ok(n) => {
                hash = fnv1a64(hash, &buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The differences between the `recorded` fingerprint and the `current` one (both sorted by
/// path), in path order.
pub(crate) fn changes(recorded: &[FilePrint], current: &[FilePrint]) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut r, mut c) = (recorded.iter().peekable(), current.iter().peekable());
    loop {
        match (r.peek(), c.peek()) {
            (None, None) => return out,
            (Some(old), None) => {
                out.push(Change::Missing(old.path.clone()));
                r.next();
            }
            (None, Some(new)) => {
                out.push(Change::Added(new.path.clone()));
                c.next();
            }
            (Some(old), Some(new)) => match old.path.cmp(&new.path) {
                std::cmp::Ordering::Less => {
                    out.push(Change::Missing(old.path.clone()));
                    r.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push(Change::Added(new.path.clone()));
                    c.next();
                }
                std::cmp::Ordering::Equal => {
                    if old.len != new.len {
                        out.push(Change::Resized(old.path.clone(), old.len, new.len));
                    } else if old.fnv1a64 != new.fnv1a64 {
                        out.push(Change::Rewritten(old.path.clone()));
                    }
                    r.next();
                    c.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
        // Chunked input gives the same result.
        assert_eq!(
            fnv1a64(fnv1a64(FNV_OFFSET, b"foo"), b"bar"),
            fnv1a64(FNV_OFFSET, b"foobar")
        );
    }

    fn print(path: &str, len: u64, fnv1a64: u64) -> FilePrint {
        FilePrint {
            path: path.to_owned(),
            len,
            fnv1a64,
        }
    }

    #[test]
    fn changes_name_every_difference_in_path_order() {
        let recorded = [print("a", 1, 1), print("b", 2, 2), print("c", 3, 3)];
        let current = [print("b", 2, 9), print("c", 4, 3), print("d", 1, 1)];
        assert_eq!(
            changes(&recorded, &current),
            [
                Change::Missing("a".into()),
                Change::Rewritten("b".into()),
                Change::Resized("c".into(), 3, 4),
                Change::Added("d".into()),
            ]
        );
        assert!(changes(&recorded, &recorded).is_empty());
        assert_eq!(
            Change::Resized("db".into(), 10, 5).to_string(),
            "`db` holds 5 bytes instead of 10"
        );
    }

    #[test]
    fn the_sidecar_is_not_fingerprinted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SIDECAR_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(format!("{SIDECAR_FILE}.tmp")), "{").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs").join("1"), "x").unwrap();
        std::fs::write(dir.path().join("db"), "foobar").unwrap();
        let prints = take(dir.path(), true).unwrap();
        assert_eq!(
            prints,
            [
                print("blobs/1", 1, fnv1a64(FNV_OFFSET, b"x")),
                print("db", 6, 0x8594_4171_f739_67e8),
            ]
        );
    }
}
