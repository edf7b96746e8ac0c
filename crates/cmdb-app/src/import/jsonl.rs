//! JSONL import rows: each non-blank line one create_set `data` object, under the limits and
//! strictness of a request body (size, depth, repeated keys).

use cmdb_core::records::Document;

use super::frame::{Frame, FrameBody};
use super::{Rejected, raw_rejected, too_large};
use crate::envelope::Failure;

/// The data of one line, or its refusal (1199000).
pub(crate) fn row(frame: &Frame) -> Result<Document, Rejected> {
    match &frame.body {
        FrameBody::Text(bytes) | FrameBody::Truncated(bytes) => {
            crate::request::parse_body(bytes).map_err(|e| raw_rejected(Failure::from(e), bytes))
        }
        FrameBody::TooLarge => Err(too_large()),
    }
}
