//! Errors of the SQLite store: why a database cannot be opened, and the mapping of SQLite's
//! own errors into the backend-neutral [`StoreError`] at the seam.

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use rusqlite::ffi;
use thiserror::Error;

/// Why opening a database failed, as the open path finds it; it becomes the shared
/// [`OpenError`] at the crate's edge, message unchanged. Opening never modifies a file it
/// refuses.
#[derive(Debug, Error)]
pub(crate) enum SqliteOpenError {
    /// The file is not a SQLite database at all.
    #[error("not a SQLite database: {reason}")]
    NotADatabase {
        /// What is wrong with the file.
        reason: String,
    },
    /// The file is shorter than its own header says.
    #[error(
        "database file is truncated: its header declares {expected} bytes but the file holds {actual} bytes"
    )]
    Truncated {
        /// The size the header declares (page count × page size).
        expected: u64,
        /// The size of the file.
        actual: u64,
    },
    /// The database was written by a newer engine.
    #[error("database schema version {found} is newer than this engine supports ({supported})")]
    TooNew {
        /// The stored `user_version`.
        found: i64,
        /// The newest version this crate knows.
        supported: i64,
    },
    /// A SQLite database, but not one of ours.
    #[error("not a cmdb database: {reason}")]
    Foreign {
        /// Why it is not ours.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the database file: {0}")]
    Io(#[source] std::io::Error),
    /// SQLite refused to open or read it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SqliteOpenError> for OpenError {
    /// Not SQLite or not ours: [`OpenError::Foreign`]; truncated or damaged:
    /// [`OpenError::Damaged`]; a newer schema: [`OpenError::TooNew`]; unreadable:
    /// [`OpenError::Unreachable`] (the `io::Error` as its source); a lock held too long:
    /// [`OpenError::Busy`].
    fn from(e: SqliteOpenError) -> Self {
        let message = e.to_string();
        match e {
            SqliteOpenError::NotADatabase { .. } | SqliteOpenError::Foreign { .. } => {
                OpenError::Foreign(message.into())
            }
            SqliteOpenError::Truncated { .. } => OpenError::Damaged(message.into()),
            SqliteOpenError::TooNew { found, supported } => OpenError::TooNew {
                what: "database schema",
                found,
                supported,
            },
            SqliteOpenError::Io(io) => OpenError::Unreachable(Detail::caused_by(message, io)),
            SqliteOpenError::Store(StoreError::Busy(d)) => OpenError::Busy(d.renamed(message)),
            SqliteOpenError::Store(StoreError::Corrupt(d)) => {
                OpenError::Damaged(d.renamed(message))
            }
            SqliteOpenError::Store(other) => OpenError::Store(other),
        }
    }
}

/// Maps a SQLite error into a [`StoreError`]: a unique or primary key violation is
/// `AlreadyExists`, a lock timeout `Busy`, a damaged or foreign file `Corrupt`, a value of the
/// wrong type in a column `Corrupt`, anything else `Backend`. The rusqlite error is kept as
/// the [`StoreError`]'s source.
pub(crate) fn store_error(e: rusqlite::Error) -> StoreError {
    let kind: fn(Detail) -> StoreError = match &e {
        rusqlite::Error::SqliteFailure(err, _) => match err.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::AlreadyExists
            }
            _ => match err.code {
                ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => StoreError::Busy,
                ffi::ErrorCode::DatabaseCorrupt | ffi::ErrorCode::NotADatabase => {
                    StoreError::Corrupt
                }
                _ => StoreError::Backend,
            },
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt,
        _ => StoreError::Backend,
    };
    kind(Detail::caused_by(e.to_string(), e))
}

/// [`store_error`] wrapped for the open path.
pub(crate) fn sqlite_error(e: rusqlite::Error) -> SqliteOpenError {
    SqliteOpenError::Store(store_error(e))
}

/// A stored JSON text that does not decode: [`StoreError::Corrupt`] naming where it was.
pub(crate) fn decode_error(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(Detail::caused_by(
        format!("{what}: stored JSON does not decode: {e}"),
        e,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn the_rusqlite_error_is_kept_as_the_source() {
        let mapped = store_error(failure(ffi::SQLITE_BUSY));
        assert_eq!(mapped, StoreError::Busy("detail".into()));
        let source = std::error::Error::source(&mapped).expect("a source");
        match source.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(err, Some(msg))) => {
                assert_eq!(err.code, ffi::ErrorCode::DatabaseBusy);
                assert_eq!(msg, "detail");
            }
            other => panic!("expected the rusqlite failure, got {other:?}"),
        }
        // No text matching decides the kind: the code does.
        assert!(matches!(
            store_error(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_LOCKED),
                Some("anything at all".into())
            )),
            StoreError::Busy(_)
        ));
    }

    #[test]
    fn sqlite_codes_map_to_store_errors() {
        assert!(matches!(
            store_error(failure(ffi::SQLITE_CONSTRAINT_UNIQUE)),
            StoreError::AlreadyExists(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_CONSTRAINT_PRIMARYKEY)),
            StoreError::AlreadyExists(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_CONSTRAINT_CHECK)),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_BUSY)),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_BUSY_SNAPSHOT)),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_LOCKED)),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_CORRUPT)),
            StoreError::Corrupt(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_NOTADB)),
            StoreError::Corrupt(_)
        ));
        assert!(matches!(
            store_error(failure(ffi::SQLITE_IOERR)),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            store_error(rusqlite::Error::QueryReturnedNoRows),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn open_errors_keep_their_message_in_the_shared_shape() {
        let too_new = OpenError::from(SqliteOpenError::TooNew {
            found: 7,
            supported: 1,
        });
        assert_eq!(
            too_new,
            OpenError::TooNew {
                what: "database schema",
                found: 7,
                supported: 1
            }
        );
        assert_eq!(
            too_new.to_string(),
            "database schema version 7 is newer than this engine supports (1)"
        );
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let unreadable = OpenError::from(SqliteOpenError::Io(denied));
        assert_eq!(
            unreadable.to_string(),
            "cannot read the database file: denied"
        );
        let OpenError::Unreachable(detail) = &unreadable else {
            panic!("an unreadable file is unreachable: {unreadable:?}")
        };
        assert!(detail.backend_error().is_some(), "the io::Error is kept");
        assert_eq!(
            OpenError::from(SqliteOpenError::Store(StoreError::Busy("x".into()))),
            OpenError::Busy("store busy: x".into())
        );
        assert_eq!(
            OpenError::from(SqliteOpenError::Truncated {
                expected: 2,
                actual: 1
            }),
            OpenError::Damaged(
                "database file is truncated: its header declares 2 bytes but the file holds 1 bytes"
                    .into()
            )
        );
    }
}
