//! [`Cursor`]: a position in the event log, just after one audit record, bound to the
//! resource and tenant it was handed out for and to the record it follows.

use std::fmt;
use std::str::FromStr;

use cmdb_core::ids::AuditId;
use cmdb_core::records::{Document, ResourceType};
use serde_json::Value;

/// What every cursor's text starts with (the format's version).
const PREFIX: &str = "c1";
/// The bytes a cursor encodes: resource, tenant digest, position, record digest.
const BYTES: usize = 1 + 8 + 8 + 8;
/// The length of a cursor's text: the prefix and the bytes in hex.
pub const CURSOR_LEN: usize = PREFIX.len() + 2 * BYTES;

/// A position in the event log: after the audit record `position` (0: before the first).
///
/// Its text ([`fmt::Display`], [`FromStr`]) is 52 ASCII characters, stable across restarts and
/// across engines on one database. It carries the resource and a digest of the tenant it was
/// handed out for, and a digest of the record at its position, so that a cursor of another
/// store, tenant or resource is told apart from one of this log (1103007) instead of silently
/// continuing somewhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    resource: ResourceType,
    tenant: u64,
    position: AuditId,
    record: u64,
}

/// The text is not a cursor (wrong length, prefix or characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a watch cursor")]
pub struct MalformedCursor;

impl Cursor {
    /// The cursor just after `record` (an audit document; `None`: before the first record),
    /// for watchers of `resource` in tenant `supplier_account`.
    pub(crate) fn after(
        resource: ResourceType,
        supplier_account: &str,
        record: Option<&Document>,
    ) -> Cursor {
        let position = record.map_or(0, |r| r.get("id").and_then(Value::as_i64).unwrap_or(0));
        Cursor {
            resource,
            tenant: fnv1a(supplier_account.as_bytes()),
            position: AuditId(position),
            record: record.map_or(0, record_digest),
        }
    }

    /// The id of the audit record this cursor follows (0: none).
    pub fn position(&self) -> AuditId {
        self.position
    }

    /// The resource it was handed out for.
    pub fn resource(&self) -> ResourceType {
        self.resource
    }

    /// Whether it was handed out for watchers of `resource` in `supplier_account`.
    pub(crate) fn is_for(&self, resource: ResourceType, supplier_account: &str) -> bool {
        self.resource == resource && self.tenant == fnv1a(supplier_account.as_bytes())
    }

    /// Whether `record` (the audit document at [`Cursor::position`], `None` when there is
    /// none) is the one this cursor was handed out after.
    pub(crate) fn follows(&self, record: Option<&Document>) -> bool {
        match record {
            None => self.position.0 == 0 && self.record == 0,
            Some(r) => {
                r.get("id").and_then(Value::as_i64) == Some(self.position.0)
                    && record_digest(r) == self.record
            }
        }
    }

    fn to_bytes(self) -> [u8; BYTES] {
        let mut bytes = [0; BYTES];
        bytes[0] = match self.resource {
            ResourceType::Set => b's',
            ResourceType::Module => b'm',
        };
        bytes[1..9].copy_from_slice(&self.tenant.to_be_bytes());
        bytes[9..17].copy_from_slice(&self.position.0.to_be_bytes());
        bytes[17..].copy_from_slice(&self.record.to_be_bytes());
        bytes
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        self.to_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for Cursor {
    type Err = MalformedCursor;

    fn from_str(text: &str) -> Result<Cursor, MalformedCursor> {
        let hex = text.strip_prefix(PREFIX).ok_or(MalformedCursor)?;
        if hex.len() != 2 * BYTES || !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(MalformedCursor);
        }
        let mut bytes = [0u8; BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| MalformedCursor)?;
        }
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            w
        };
        let resource = match bytes[0] {
            b's' => ResourceType::Set,
            b'm' => ResourceType::Module,
            _ => return Err(MalformedCursor),
        };
        let position = i64::from_be_bytes(word(9));
        if position < 0 {
            return Err(MalformedCursor);
        }
        Ok(Cursor {
            resource,
            tenant: u64::from_be_bytes(word(1)),
            position: AuditId(position),
            record: u64::from_be_bytes(word(17)),
        })
    }
}

/// A digest of what identifies an audit record in every store that holds it: its id, request
/// id, time, biz, resource type, id and name (stored documents read back bit for bit). Two
/// stores can only be told apart by what they hold: records equal in all of these look alike.
fn record_digest(record: &Document) -> u64 {
    let field = |k: &str| record.get(k).map(Value::to_string).unwrap_or_default();
    let keys = [
        "id",
        "rid",
        "operation_time",
        "bk_biz_id",
        "resource_type",
        "resource_id",
        "resource_name",
    ];
    let text = keys.map(field).join("\u{1f}");
    fnv1a(text.as_bytes()).max(1)
}

/// 64-bit FNV-1a: a stable hash (the same on every build and platform), not a secure one.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
