//! Mapping of sled's errors into the backend-neutral [`StoreError`].

use cmdb_core::StoreError;

/// Maps a sled error to a [`StoreError`]: the lock held by another opener is
/// [`StoreError::Busy`], detected corruption is [`StoreError::Corrupt`], the rest
/// [`StoreError::Backend`].
pub(crate) fn map_sled_error(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Busy(format!(
                "the sled database is open in another process or handle ({io})"
            ))
        }
        sled::Error::Corruption { at, .. } => StoreError::Corrupt(match at {
            Some(at) => format!("sled detected corrupted data at {at:?}"),
            None => "sled detected corrupted data".to_owned(),
        }),
        other => StoreError::Backend(format!("sled: {other}")),
    }
}
