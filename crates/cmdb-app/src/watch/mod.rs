//! Watch: every created set and module as an ordered event stream that never expires
//! (bk-cmdb's `resource_watch`): what a watch asks ([`WatchRequest`]), what it answers
//! ([`WatchBatch`] of [`Event`]s), cursors, and the signal that wakes waiting watchers.
//!
//! The events are read from the audit log: one record per created set and module, written in
//! the create's transaction and numbered in commit order, so a watcher that continues after
//! the last record it saw sees every later commit exactly once.

mod cursor;
mod request;
mod signal;
mod signalling;

use cmdb_core::records::{Document, ResourceType};
use serde_json::{Value, json};

pub use cursor::{CURSOR_LEN, Cursor, MalformedCursor};
pub use request::{EventType, WatchRequest, WatchStart};
pub use signal::BACKSTOP_POLL;
pub(crate) use signal::CommitSignal;
pub use signalling::Signalling;

/// The most events one answer holds.
pub const MAX_EVENTS: usize = 200;

/// One created set or module.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Where a watch continues from to get the events after this one.
    pub cursor: Cursor,
    /// `set` or `module`.
    pub resource: ResourceType,
    /// What happened (this engine only creates).
    pub event_type: EventType,
    /// The stored document (or the keys `bk_fields` asked for, in the document's order).
    pub detail: Document,
}

impl Event {
    /// The event as the HTTP answer and `cmdb watch` show it:
    /// `{"bk_cursor", "bk_resource", "bk_event_type", "bk_detail"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "bk_cursor": self.cursor.to_string(),
            "bk_resource": self.resource.name(),
            "bk_event_type": self.event_type.name(),
            "bk_detail": self.detail,
        })
    }
}

/// One answer of a watch: the events (1 to [`MAX_EVENTS`], oldest first), or none when the
/// wait ended first; and where the next watch continues.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchBatch {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Where the next watch continues from (after the last event, or after everything read
    /// when there was none): no event is skipped by continuing from it.
    pub next: Cursor,
}

impl WatchBatch {
    /// Whether it holds events (`bk_watched`).
    pub fn watched(&self) -> bool {
        !self.events.is_empty()
    }

    /// The envelope's `data`: `{"bk_watched": true, "bk_events": [...]}`, or, with no event,
    /// `bk_watched: false` and one element holding only the cursor to continue from.
    pub fn to_data(&self) -> Value {
        let events: Vec<Value> = if self.events.is_empty() {
            vec![json!({
                "bk_cursor": self.next.to_string(),
                "bk_resource": self.next.resource().name(),
                "bk_event_type": "",
                "bk_detail": {},
            })]
        } else {
            self.events.iter().map(Event::to_json).collect()
        };
        json!({"bk_watched": self.watched(), "bk_events": events})
    }
}
