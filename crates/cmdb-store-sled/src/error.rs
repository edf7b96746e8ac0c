//! Mapping of sled's errors into the backend-neutral [`StoreError`].

use cmdb_core::StoreError;
use cmdb_core::error::Detail;

/// Maps a sled error to a [`StoreError`]: detected corruption is [`StoreError::Corrupt`], the
/// rest [`StoreError::Backend`]. A directory open elsewhere never reaches sled: the store
/// locks the directory itself first and reports [`StoreError::Busy`] from that lock's
/// `WouldBlock`, not from the text of sled's error.
/// The sled error is kept as the [`StoreError`]'s source.
pub(crate) fn map_sled_error(error: sled::Error) -> StoreError {
    match &error {
        sled::Error::Corruption { at, .. } => {
            let message = match at {
                Some(at) => format!("sled detected corrupted data at {at:?}"),
                None => "sled detected corrupted data".to_owned(),
            };
            StoreError::Corrupt(Detail::caused_by(message, error))
        }
        other => StoreError::Backend(Detail::caused_by(format!("sled: {other}"), error)),
    }
}

/// The error of every call on a store after its close.
pub(crate) fn closed(path: &std::path::Path) -> StoreError {
    StoreError::Backend(
        format!(
            "the sled store at {} is closed; open it again to use it",
            path.display()
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sled_error_is_kept_as_the_source() {
        let io = std::io::Error::other("disk on fire");
        let mapped = map_sled_error(sled::Error::Io(io));
        assert_eq!(
            mapped,
            StoreError::Backend("sled: IO error: disk on fire".into())
        );
        let source = std::error::Error::source(&mapped).expect("a source");
        assert!(matches!(
            source.downcast_ref::<sled::Error>(),
            Some(sled::Error::Io(e)) if e.to_string() == "disk on fire"
        ));
        let corrupt = map_sled_error(sled::Error::Corruption { at: None, bt: () });
        assert_eq!(
            corrupt,
            StoreError::Corrupt("sled detected corrupted data".into())
        );
        assert!(std::error::Error::source(&corrupt).is_some());
    }
}
