//! CSV import rows: the header (optional BOM; every column a property of the set model, none
//! repeated) and each record's cells converted by their column's attribute type.

use cmdb_core::model::AttributeType;
use cmdb_core::records::Document;
use cmdb_core::{BodyProblem, Error};

use super::frame::{Frame, FrameBody};
use super::{Rejected, SetModel, cell, raw_rejected, too_large};
use crate::envelope::Failure;

/// Why a CSV header is refused (exit 2 before anything is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file has no header line.
    #[error("the CSV file has no header line")]
    Missing,
    /// The header is not a CSV line of UTF-8 property ids.
    #[error("the CSV header (line 1) is not a line of property ids: {0}")]
    Malformed(String),
    /// A column names no property of the set model.
    #[error("the CSV header names {0:?}, which is no property of the set model")]
    UnknownColumn(String),
    /// A column is named twice.
    #[error("the CSV header names {0:?} twice")]
    RepeatedColumn(String),
    /// The file could not be read.
    #[error("cannot read the CSV header: {0}")]
    Unreadable(String),
}

/// Splits records into cells (csv-core, reused) and converts them by their columns' types.
#[derive(Debug)]
pub(crate) struct CsvRecords {
    columns: Vec<(String, AttributeType)>,
    splitter: Splitter,
}

impl CsvRecords {
    /// Checks the header frame against the model.
    pub(crate) fn new(header: Option<Frame>, model: &SetModel) -> Result<CsvRecords, HeaderError> {
        let header = header.ok_or(HeaderError::Missing)?;
        let mut bytes = match header.body {
            FrameBody::Text(bytes) | FrameBody::Truncated(bytes) => bytes,
            FrameBody::TooLarge => {
                return Err(HeaderError::Malformed("it is over 1 MiB".into()));
            }
        };
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        let mut splitter = Splitter::default();
        let cells = splitter
            .split(&bytes)
            .ok_or_else(|| HeaderError::Malformed("it is not UTF-8".into()))?;
        let mut columns: Vec<(String, AttributeType)> = Vec::with_capacity(cells.len());
        for name in cells {
            let name = name.trim();
            let kind = model
                .kind(name)
                .ok_or_else(|| HeaderError::UnknownColumn(name.to_owned()))?;
            if columns.iter().any(|(c, _)| c == name) {
                return Err(HeaderError::RepeatedColumn(name.to_owned()));
            }
            columns.push((name.to_owned(), kind));
        }
        Ok(CsvRecords { columns, splitter })
    }

    /// The create_set data of one record, or its refusal.
    pub(crate) fn row(&mut self, frame: &Frame) -> Result<Document, Rejected> {
        let bytes = match &frame.body {
            FrameBody::Text(bytes) => bytes,
            FrameBody::TooLarge => return Err(too_large()),
            FrameBody::Truncated(bytes) => {
                return Err(raw_rejected(decode(Some(BodyProblem::Truncated)), bytes));
            }
        };
        let Some(cells) = self.splitter.split(bytes) else {
            return Err(raw_rejected(decode(None), bytes));
        };
        if cells.len() != self.columns.len() {
            let problem = BodyProblem::CellCount {
                expected: self.columns.len(),
                found: cells.len(),
            };
            return Err(raw_rejected(decode(Some(problem)), bytes));
        }
        let mut data = Document::new();
        for ((name, kind), cell) in self.columns.iter().zip(cells) {
            if let Some(value) = cell::convert(*kind, cell) {
                data.insert(name.clone(), value);
            }
        }
        Ok(data)
    }
}

/// A 1199000 refusal with its detail.
fn decode(detail: Option<BodyProblem>) -> Failure {
    Failure::from(Error::JsonDecode { detail })
}

/// A reusable csv-core reader and its buffers.
#[derive(Debug)]
struct Splitter {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            // `Reader::default()` leaves the DFA unbuilt; the builder builds it.
            reader: csv_core::ReaderBuilder::new().build(),
            out: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl Splitter {
    /// The cells of one record (its bytes without the line end); `None` when a cell is not
    /// UTF-8.
    fn split(&mut self, record: &[u8]) -> Option<Vec<&str>> {
        use csv_core::ReadRecordResult as R;
        self.reader.reset();
        if self.out.len() < record.len() + 1 {
            self.out.resize(record.len() + 1, 0);
        }
        if self.ends.len() < 16 {
            self.ends.resize(16, 0);
        }
        let (mut input, mut nout, mut nend) = (record, 0, 0);
        loop {
            let (result, nin, o, e) =
                self.reader
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match result {
                R::InputEmpty => {}
                R::OutputFull => {
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                }
                R::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                R::Record | R::End => break,
            }
        }
        if nend == 0 {
            // csv-core reads no record from no bytes: an empty line is one empty cell.
            return Some(vec![""]);
        }
        let out = &self.out[..nout];
        let mut cells = Vec::with_capacity(nend);
        let mut start = 0;
        for &end in &self.ends[..nend] {
            cells.push(std::str::from_utf8(&out[start..end]).ok()?);
            start = end;
        }
        Some(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_split_as_rfc_4180() {
        let mut s = Splitter::default();
        assert_eq!(
            s.split(b"a,\"b,c\",\"d\"\"e\",").unwrap(),
            vec!["a", "b,c", "d\"e", ""]
        );
        assert_eq!(s.split(b"\"x\ny\"").unwrap(), vec!["x\ny"]);
        assert_eq!(s.split(b"").unwrap(), vec![""]);
        assert!(s.split(b"\xff").is_none());
    }
}
