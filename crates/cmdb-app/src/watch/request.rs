//! [`WatchRequest`]: which events a watch asks for and where it starts, built in code or read
//! from the HTTP fields of spec W3 (`bk_resource`, `bk_event_types`, `bk_fields`,
//! `bk_cursor`, `bk_start_from`).

use cmdb_core::Error;
use cmdb_core::records::{Document, ResourceType};
use serde_json::Value;

use super::cursor::Cursor;

/// What happened to a resource. This engine only creates; `update` and `delete` are accepted
/// in a filter and match nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A set or module was created.
    Create,
    /// Never occurs here.
    Update,
    /// Never occurs here.
    Delete,
}

impl EventType {
    /// Its wire name.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Create => "create",
            EventType::Update => "update",
            EventType::Delete => "delete",
        }
    }

    /// The type a wire name names.
    pub fn parse(name: &str) -> Option<EventType> {
        [EventType::Create, EventType::Update, EventType::Delete]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// With what commits after the request arrived.
    Now,
    /// With the first event of the log.
    Beginning,
    /// After the event a cursor was handed out for.
    After(Cursor),
    /// With the events whose set or module was created at or after these unix seconds.
    Since(i64),
}

/// A watch: a resource, optional filters, and where to start.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchRequest {
    /// `set` or `module`.
    pub resource: ResourceType,
    /// Only these event types (empty: all).
    pub event_types: Vec<EventType>,
    /// Only these keys of each document, in the document's key order (`None`: all).
    pub fields: Option<Vec<String>>,
    /// Where it starts.
    pub start: WatchStart,
}

impl WatchRequest {
    /// Every event of `resource` from `start` on.
    pub fn new(resource: ResourceType, start: WatchStart) -> Self {
        WatchRequest {
            resource,
            event_types: Vec::new(),
            fields: None,
            start,
        }
    }

    /// The request the HTTP fields of `body` ask for; `resource` is the route's, or `None`
    /// to read `bk_resource` from the body.
    ///
    /// # Errors
    /// 1199006 naming the field: `bk_resource` other than `set`/`module`, an unknown event
    /// type, `bk_fields` not strings, a `bk_cursor` that is not a cursor, `bk_start_from` not
    /// an integer of seconds, or both `bk_cursor` and `bk_start_from`.
    pub fn from_fields(resource: Option<&str>, body: &Document) -> Result<Self, Error> {
        let resource = match resource {
            Some(r) => Some(r),
            None => body.get("bk_resource").and_then(Value::as_str),
        };
        let resource = match resource {
            Some("set") => ResourceType::Set,
            Some("module") => ResourceType::Module,
            _ => return Err(Error::invalid("bk_resource")),
        };
        let event_types = strings(body, "bk_event_types")?
            .unwrap_or_default()
            .iter()
            .map(|t| EventType::parse(t).ok_or_else(|| Error::invalid("bk_event_types")))
            .collect::<Result<_, _>>()?;
        let fields = strings(body, "bk_fields")?;
        let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
        let start = match (present("bk_cursor"), present("bk_start_from")) {
            (true, true) => return Err(Error::invalid("bk_start_from")),
            (true, false) => {
                let text = body["bk_cursor"].as_str().unwrap_or_default();
                WatchStart::After(text.parse().map_err(|_| Error::invalid("bk_cursor"))?)
            }
            (false, true) => match body["bk_start_from"].as_i64() {
                Some(seconds) if seconds >= 0 => WatchStart::Since(seconds),
                _ => return Err(Error::invalid("bk_start_from")),
            },
            (false, false) => WatchStart::Now,
        };
        Ok(WatchRequest {
            resource,
            event_types,
            fields,
            start,
        })
    }

    /// Whether events of `event_type` pass the filter.
    pub(crate) fn wants(&self, event_type: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event_type)
    }

    /// `detail` projected to the asked fields.
    pub(crate) fn project(&self, detail: Document) -> Document {
        match &self.fields {
            None => detail,
            Some(fields) => detail
                .into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        }
    }
}

/// The array of strings under `key` (`None` when absent or null).
fn strings(body: &Document, key: &str) -> Result<Option<Vec<String>>, Error> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::invalid(key))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(Error::invalid(key)),
    }
}
