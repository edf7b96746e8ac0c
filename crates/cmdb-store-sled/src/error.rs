//! Mapping of sled's errors into the backend-neutral [`StoreError`].

use cmdb_core::StoreError;

/// Maps a sled error to a [`StoreError`]: detected corruption is [`StoreError::Corrupt`], the
/// rest [`StoreError::Backend`]. A directory open elsewhere never reaches sled: the store
/// locks the directory itself first and reports [`StoreError::Busy`] from that lock's
/// `WouldBlock`, not from the text of sled's error.
pub(crate) fn map_sled_error(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Corruption { at, .. } => StoreError::Corrupt(match at {
            Some(at) => format!("sled detected corrupted data at {at:?}"),
            None => "sled detected corrupted data".to_owned(),
        }),
        other => StoreError::Backend(format!("sled: {other}")),
    }
}
