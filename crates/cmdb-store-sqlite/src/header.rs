//! A look at a database file's 100-byte header before SQLite opens it, so that a file we refuse
//! (not SQLite, truncated, foreign, written by a newer engine) is never touched.

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::error::SqliteOpenError as OpenError;
use crate::schema::{APPLICATION_ID, SCHEMA_VERSION};

/// The magic string every SQLite 3 database starts with.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The size of the database header.
const HEADER_LEN: usize = 100;

/// Checks the header of the file at `path`, reading only. A missing or empty file is a new
/// database and passes.
///
/// # Errors
/// [`OpenError::NotADatabase`], [`OpenError::Foreign`], [`OpenError::TooNew`],
/// [`OpenError::Truncated`], or [`OpenError::Io`] when the file cannot be read.
pub(crate) fn check_header(path: &Path) -> Result<(), OpenError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(OpenError::Io(e)),
    };
    let len = file.metadata().map_err(OpenError::Io)?.len();
    if len == 0 {
        return Ok(());
    }
    if len < HEADER_LEN as u64 {
        return Err(OpenError::NotADatabase {
            reason: format!("the file holds {len} bytes, less than a database header"),
        });
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).map_err(OpenError::Io)?;
    if &header[..16] != MAGIC {
        return Err(OpenError::NotADatabase {
            reason: "the file does not start with the SQLite header".into(),
        });
    }
    let raw_page_size = u16::from_be_bytes([header[16], header[17]]);
    let page_size: u64 = if raw_page_size == 1 {
        65_536
    } else {
        u64::from(raw_page_size)
    };
    if !page_size.is_power_of_two() || page_size < 512 {
        return Err(OpenError::NotADatabase {
            reason: format!("the header declares an invalid page size {raw_page_size}"),
        });
    }
    let app_id = i32::from_be_bytes(be4(&header, 68));
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(OpenError::Foreign {
            reason: format!("application_id is {app_id:#x}"),
        });
    }
    // Versions only go up, so a header version above ours is final even when a write-ahead
    // log holds newer commits.
    let version = i64::from(i32::from_be_bytes(be4(&header, 60)));
    if version > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // The in-header size is meaningful when the change counter matches "version valid for";
    // and the file may legitimately be shorter while a log still holds pages to copy back.
    let pages = u64::from(u32::from_be_bytes(be4(&header, 28)));
    let size_valid = pages != 0 && be4(&header, 24) == be4(&header, 92);
    if size_valid
        && !has_content(&sibling(path, "-wal"))
        && !has_content(&sibling(path, "-journal"))
    {
        let expected = pages * page_size;
        if len < expected {
            return Err(OpenError::Truncated {
                expected,
                actual: len,
            });
        }
    }
    Ok(())
}

fn be4(header: &[u8; HEADER_LEN], at: usize) -> [u8; 4] {
    [header[at], header[at + 1], header[at + 2], header[at + 3]]
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn has_content(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}
