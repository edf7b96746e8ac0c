//! The versioned value encoding: one version byte, then the value as JSON.
//!
//! A value that does not start with a known version byte, or whose JSON does not decode into
//! the expected type, is reported as [`StoreError::Corrupt`] naming the tree and key; decoding
//! never panics.

use cmdb_core::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The only encoding version written so far: JSON after the version byte.
pub const ENCODING_V1: u8 = 1;

/// Encodes `value` as [`ENCODING_V1`].
///
/// # Errors
/// [`StoreError::Backend`] when the value cannot be serialized (not expected for our types).
pub fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![ENCODING_V1];
    serde_json::to_writer(&mut bytes, value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a value: {e}").into()))?;
    Ok(bytes)
}

/// Decodes a value read from `tree` under `key`.
///
/// # Errors
/// [`StoreError::Corrupt`] for an empty value, an unknown version byte or undecodable JSON.
pub fn decode<V: DeserializeOwned>(tree: &str, key: &[u8], bytes: &[u8]) -> Result<V, StoreError> {
    let corrupt = |what: String| {
        StoreError::Corrupt(format!("tree `{tree}` key {}: {what}", hex(key)).into())
    };
    match bytes.split_first() {
        None => Err(corrupt("empty value".into())),
        Some((&ENCODING_V1, json)) => {
            serde_json::from_slice(json).map_err(|e| corrupt(format!("undecodable value: {e}")))
        }
        Some((version, _)) => Err(corrupt(format!("unknown encoding version {version}"))),
    }
}

/// Lowercase hex of `bytes`, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn round_trips_documents_exactly() {
        let doc = json!({"a": 1, "b": [1.5, "x", null], "c": {"d": -7, "e": 1e300}});
        let bytes = encode(&doc).unwrap();
        assert_eq!(bytes[0], ENCODING_V1);
        let back: Value = decode("sets", b"k", &bytes).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn bad_values_are_corrupt_not_panics() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "tree `sets` key 0001: empty value"),
            (
                b"\x02{}",
                "tree `sets` key 0001: unknown encoding version 2",
            ),
            (
                b"{\"a\":1}",
                "tree `sets` key 0001: unknown encoding version 123",
            ),
            (b"\x01[1,2", "tree `sets` key 0001: undecodable value: "),
        ];
        for (bytes, message) in cases {
            match decode::<Value>("sets", &[0, 1], bytes) {
                Err(StoreError::Corrupt(m)) => assert!(m.starts_with(message), "{m}"),
                other => panic!("expected Corrupt for {bytes:?}, got {other:?}"),
            }
        }
        // Well-formed JSON of the wrong shape is corrupt too.
        assert!(matches!(
            decode::<i64>("sequences", b"set", b"\x01\"x\""),
            Err(StoreError::Corrupt(_))
        ));
    }
}
