//! Importing sets from a file (spec `watch-and-import.md` I1–I2): CSV or JSONL rows read with
//! their physical line numbers ([`Rows`]), and what [`Engine::import`](crate::Engine::import)
//! takes and answers: [`ImportRow`]s in, a [`RowResult`] per row and an [`ImportSummary`] out.
//!
//! Split by job: `frame` cuts the file into rows (line numbers, the body limit, a truncated
//! last row), `cell` converts a CSV cell by its attribute's type, `csv` reads the header and
//! the records, `jsonl` the JSON lines.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use cmdb_core::model::AttributeType;
use cmdb_core::records::Document;
use serde::Serialize;

use crate::envelope::Failure;

mod cell;
mod csv;
mod frame;
mod jsonl;

pub use self::csv::HeaderError;

/// The rows one group of a (non-atomic) import commits in one transaction, by default.
pub const GROUP_ROWS: usize = 1024;
/// The most rows [`ImportOptions::group_rows`] may ask for.
pub const MAX_GROUP_ROWS: usize = 8192;
/// The most rows an `--atomic` import may hold (all in one transaction).
pub const ATOMIC_MAX_ROWS: usize = 50_000;
/// The most bytes of rows an `--atomic` import may hold.
pub const ATOMIC_MAX_BYTES: usize = 32 << 20;

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV, UTF-8, optional BOM; a header of property ids.
    Csv,
    /// One create_set `data` object a line.
    Jsonl,
}

impl Format {
    /// The format a file name's extension says (`.csv`; `.jsonl` or `.json`).
    pub fn from_extension(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// The set model's properties a CSV header may name, with their types: the built-in
/// attributes and the business's custom attributes.
#[derive(Debug, Clone, Default)]
pub struct SetModel {
    columns: HashMap<String, AttributeType>,
}

impl SetModel {
    /// The built-in attributes only.
    pub fn builtin() -> SetModel {
        use AttributeType::*;
        let builtins = [
            ("bk_set_name", Singlechar),
            ("bk_set_desc", Singlechar),
            ("bk_set_env", Enum),
            ("bk_service_status", Enum),
            ("description", Longchar),
            ("bk_capacity", Int),
            ("bk_parent_id", Int),
            ("set_template_id", Int),
            ("set_template_version", Int),
            ("bk_created_at", Time),
            ("bk_updated_at", Time),
            ("bk_created_by", Objuser),
            ("bk_updated_by", Objuser),
        ];
        SetModel {
            columns: builtins
                .into_iter()
                .map(|(id, kind)| (id.to_owned(), kind))
                .collect(),
        }
    }

    /// The model with a custom attribute added.
    pub fn with(mut self, id: &str, kind: AttributeType) -> SetModel {
        self.columns.insert(id.to_owned(), kind);
        self
    }

    /// The type of property `id`, if the model has it.
    pub fn kind(&self, id: &str) -> Option<AttributeType> {
        self.columns.get(id).copied()
    }
}

/// One row of an import: its physical line, its size, and its data (or why it has none).
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The physical line (1-based) the row starts on.
    pub line: u64,
    /// The row's size in the file, in bytes.
    pub bytes: usize,
    /// The create_set `data` of the row, or its refusal with what the row held.
    pub data: Result<Document, Rejected>,
}

/// A refused row: why, and what it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The refusal, as create_set gives it.
    pub failure: Failure,
    /// The row's data, or its raw text when it had none.
    pub input: RejectedInput,
}

/// What a refused row held.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectedInput {
    /// The row's create_set `data`.
    Row(Document),
    /// The row's text (at most [`RAW_KEPT_BYTES`] of it), when it was no data.
    Raw(String),
}

/// The most bytes of a refused row's text kept for its report.
pub const RAW_KEPT_BYTES: usize = 4096;

/// The outcome of one row, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    /// The physical line the row starts on.
    pub line: u64,
    /// The stored set, or why the row was refused.
    pub outcome: Result<Arc<Document>, Rejected>,
}

/// How an import runs.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// All rows or none, in one transaction (at most [`ATOMIC_MAX_ROWS`] rows and
    /// [`ATOMIC_MAX_BYTES`] bytes).
    pub atomic: bool,
    /// Rows per group (at most [`MAX_GROUP_ROWS`]; 0 means [`GROUP_ROWS`]).
    pub group_rows: usize,
    /// Set to stop: the group in flight commits, nothing after it starts.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What an import did: the summary printed at its end (keys in the spec's order).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Rows read and answered.
    pub read: u64,
    /// Rows created.
    pub created: u64,
    /// Rows refused.
    pub refused: u64,
    /// Refused rows by code.
    pub refused_by_code: BTreeMap<String, u64>,
    /// Seconds the import took.
    pub seconds: f64,
    /// Rows read a second.
    pub rows_per_second: f64,
    /// When stopped early: the last line of the last group committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_after_line: Option<u64>,
    /// When stopped early: the `--skip` value that resumes after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<u64>,
}

impl ImportSummary {
    /// Counts one row's outcome.
    pub fn count(&mut self, result: &RowResult) {
        self.read += 1;
        match &result.outcome {
            Ok(_) => self.created += 1,
            Err(rejected) => {
                self.refused += 1;
                let code = rejected.failure.code().number().to_string();
                *self.refused_by_code.entry(code).or_default() += 1;
            }
        }
    }

    /// Records the time taken.
    pub fn finish(&mut self, elapsed: Duration) {
        self.seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        self.rows_per_second = if elapsed.is_zero() {
            0.0
        } else {
            (self.read as f64 / elapsed.as_secs_f64()).round()
        };
    }

    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why an import did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// An atomic import over the limit: nothing was written.
    #[error(
        "an atomic import holds at most {max_rows} rows and {} MiB: this one has more; import it without --atomic or split it",
        max_bytes >> 20
    )]
    AtomicTooLarge {
        /// The row limit.
        max_rows: usize,
        /// The byte limit.
        max_bytes: usize,
    },
}

/// The rows of an import file, CSV or JSONL, read as they are asked for: memory holds one row
/// at a time, whatever the file's size.
#[derive(Debug)]
pub struct Rows<R> {
    frames: frame::Frames<R>,
    reader: Reader,
    skip: u64,
}

#[derive(Debug)]
enum Reader {
    Csv(Box<csv::CsvRecords>),
    Jsonl,
}

impl<R: BufRead> Rows<R> {
    /// JSONL rows of `reader`.
    pub fn jsonl(reader: R) -> Rows<R> {
        Rows {
            frames: frame::Frames::new(reader, false, crate::request::MAX_BODY_BYTES),
            reader: Reader::Jsonl,
            skip: 0,
        }
    }

    /// CSV rows of `reader`, its header read and checked against `model` first.
    ///
    /// # Errors
    /// A missing header, a column that is no property of the model, or a repeated column.
    pub fn csv(reader: R, model: &SetModel) -> Result<Rows<R>, HeaderError> {
        let mut frames = frame::Frames::new(reader, true, crate::request::MAX_BODY_BYTES);
        let header = frames.next_frame();
        if let Some(e) = frames.take_error() {
            return Err(HeaderError::Unreadable(e.to_string()));
        }
        let records = csv::CsvRecords::new(header, model)?;
        Ok(Rows {
            frames,
            reader: Reader::Csv(Box::new(records)),
            skip: 0,
        })
    }

    /// The rows, in `format`, of `reader` (CSV checks its header against `model`).
    ///
    /// # Errors
    /// As [`Rows::csv`].
    pub fn new(reader: R, format: Format, model: &SetModel) -> Result<Rows<R>, HeaderError> {
        match format {
            Format::Csv => Rows::csv(reader, model),
            Format::Jsonl => Ok(Rows::jsonl(reader)),
        }
    }

    /// The same rows without those starting on lines up to `line` (to resume an import).
    pub fn skip_through(mut self, line: u64) -> Rows<R> {
        self.skip = line;
        self
    }

    /// The bytes read so far, updated as rows are read (for a progress display).
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.frames.consumed()
    }

    /// The read error that ended the rows early, if one did.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.frames.take_error()
    }
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = ImportRow;

    fn next(&mut self) -> Option<ImportRow> {
        loop {
            let frame = self.frames.next_frame()?;
            if frame.line <= self.skip {
                continue;
            }
            let data = match &mut self.reader {
                Reader::Csv(records) => records.row(&frame),
                Reader::Jsonl => jsonl::row(&frame),
            };
            return Some(ImportRow {
                line: frame.line,
                bytes: frame.bytes,
                data,
            });
        }
    }
}

/// A refusal of a row whose bytes were no data: the failure, with the row's text.
fn raw_rejected(failure: Failure, bytes: &[u8]) -> Rejected {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_KEPT_BYTES)]).into_owned();
    Rejected {
        failure,
        input: RejectedInput::Raw(text),
    }
}

/// The refusal of a row over the body limit.
fn too_large() -> Rejected {
    Rejected {
        failure: Failure::from(cmdb_core::Error::JsonDecode {
            detail: Some(cmdb_core::BodyProblem::TooLarge {
                max_bytes: crate::request::MAX_BODY_BYTES,
            }),
        }),
        input: RejectedInput::Raw(String::new()),
    }
}
