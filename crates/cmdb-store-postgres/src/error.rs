//! Errors of the PostgreSQL store: the mapping of the server's errors (by SQLSTATE, never by
//! message text) into [`StoreError`] at the seam, and into the shared [`OpenError`] when
//! opening.

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use cmdb_store_group::OpenError;
use tokio_postgres::error::SqlState;

/// How a failed statement should be handled by the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A serialization failure or deadlock: run the transaction again.
    Transaction,
    /// The connection is gone: reconnect, then the caller decides.
    Reconnect,
    /// Anything else.
    No,
}

/// Classifies a server error for the writer's retry loop.
pub(crate) fn retry_kind(e: &tokio_postgres::Error) -> Retry {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Retry::Transaction
        }
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => Retry::Reconnect,
        // A read-only server (a standby, or a primary set read-only): never written to; the
        // writer drops the connection and looks for a writable primary.
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => Retry::Reconnect,
        Some(_) => Retry::No,
        // A closed connection, an i/o error or an unexpected end of stream: no SQLSTATE.
        None => Retry::Reconnect,
    }
}

/// Maps a server error into a [`StoreError`]: a unique violation is `AlreadyExists`, a lock
/// or serialization conflict `Busy`, data corruption `Corrupt`, a lost connection
/// `Unavailable` naming it (so is a read-only server, SQLSTATE 25006), anything else `Backend`. The driver error is kept as the source.
pub(crate) fn store_error(e: tokio_postgres::Error) -> StoreError {
    let kind: fn(Detail) -> StoreError = match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::AlreadyExists,
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            StoreError::Busy
        }
        Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
            StoreError::Corrupt
        }
        _ if retry_kind(&e) == Retry::Reconnect => StoreError::Unavailable,
        _ => StoreError::Backend,
    };
    let message = match retry_kind(&e) {
        _ if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => format!(
            "the PostgreSQL server is read-only (SQLSTATE 25006: a standby, or a primary set \
             read-only), nothing was written; looking for a writable primary: {}",
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned())
        ),
        Retry::Reconnect => format!("lost the connection to the PostgreSQL server: {e}"),
        _ => match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        },
    };
    kind(Detail::caused_by(message, e))
}

/// [`store_error`] for the open path: an unreachable server is [`OpenError::Unreachable`], a
/// lock held too long [`OpenError::Busy`] (messages unchanged, the driver's error kept).
pub(crate) fn pg_error(e: tokio_postgres::Error) -> OpenError {
    open_error(store_error(e))
}

/// A store failure while opening, in the shared [`OpenError`] shape.
pub(crate) fn open_error(e: StoreError) -> OpenError {
    let message = e.to_string();
    match e {
        StoreError::Unavailable(d) => OpenError::Unreachable(d.renamed(message)),
        StoreError::Busy(d) => OpenError::Busy(d.renamed(message)),
        other => OpenError::Store(other),
    }
}

/// A connection string that does not parse.
pub(crate) fn bad_url(e: tokio_postgres::Error) -> OpenError {
    OpenError::Invalid(Detail::caused_by(format!("invalid PostgreSQL URL: {e}"), e))
}

/// A stored JSON text that does not decode: [`StoreError::Corrupt`] naming where it was, the
/// decoder's error kept as the source.
pub(crate) fn decode_error(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(Detail::caused_by(
        format!("{what}: stored JSON does not decode: {e}"),
        e,
    ))
}

/// A value that cannot be encoded as JSON text (the encoder's error kept as the source).
pub(crate) fn encode_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(Detail::caused_by(format!("encode json: {e}"), e))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn json_errors_keep_the_decoder_as_the_source() {
        let e = serde_json::from_str::<i64>("nope").unwrap_err();
        let text = e.to_string();
        let decoded = decode_error("set", e);
        assert_eq!(
            decoded.to_string(),
            format!("corrupt store: set: stored JSON does not decode: {text}")
        );
        let source = decoded.source().expect("the decoder's error is kept");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
        let e = serde_json::from_str::<i64>("[").unwrap_err();
        assert!(encode_error(e).source().is_some());
    }

    #[test]
    fn a_bad_url_keeps_the_driver_error_into_the_store_error() {
        let e = "postgres://h:notaport/db"
            .parse::<tokio_postgres::Config>()
            .unwrap_err();
        let text = e.to_string();
        let open = bad_url(e);
        assert_eq!(open.to_string(), format!("invalid PostgreSQL URL: {text}"));
        let store = StoreError::from(open);
        assert_eq!(
            store.to_string(),
            format!("backend failure: invalid PostgreSQL URL: {text}")
        );
        let source = store.source().expect("the driver's error is kept");
        assert!(source.downcast_ref::<tokio_postgres::Error>().is_some());
    }
}
