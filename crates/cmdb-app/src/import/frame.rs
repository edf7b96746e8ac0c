//! Framing an import file into rows: physical line numbers, rows over the body limit skipped
//! without being held in memory, and a file that ends inside a quoted CSV cell.

use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One row of the file as bytes: where it starts and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The physical line (1-based) the row starts on.
    pub line: u64,
    /// The row's size in bytes, without its line end.
    pub bytes: usize,
    /// The row's content.
    pub body: FrameBody,
}

/// What a frame holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameBody {
    /// The row's bytes, without the line end.
    Text(Vec<u8>),
    /// The row was larger than the limit; its bytes were skipped, not kept.
    TooLarge,
    /// The file ended inside a quoted CSV cell: the row's bytes as far as they go.
    Truncated(Vec<u8>),
}

/// Splits a reader into rows: at every `\n` (JSONL), or at every `\n` outside a quoted cell
/// (CSV, RFC 4180: `""` inside a quoted cell toggles twice). Blank rows are skipped. Memory
/// holds at most one row of at most `limit` bytes, whatever the size of the file.
#[derive(Debug)]
pub(crate) struct Frames<R> {
    reader: R,
    quoted_cells: bool,
    limit: usize,
    /// The physical line the next row starts on.
    line: u64,
    /// Bytes consumed so far (shared with a progress display).
    consumed: Arc<AtomicU64>,
    /// The read error that ended the file early, if any.
    error: Option<io::Error>,
    done: bool,
}

impl<R: BufRead> Frames<R> {
    /// Rows of `reader`; `quoted_cells` for CSV; rows over `limit` bytes are [`FrameBody::TooLarge`].
    pub(crate) fn new(reader: R, quoted_cells: bool, limit: usize) -> Self {
        Frames {
            reader,
            quoted_cells,
            limit,
            line: 1,
            consumed: Arc::default(),
            error: None,
            done: false,
        }
    }

    /// The count of bytes consumed so far, updated as rows are read.
    pub(crate) fn consumed(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// The read error that ended the rows early, if one did.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The next row, blank ones skipped; `None` at the end of the file or after a read error.
    pub(crate) fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_raw()?;
            let blank =
                matches!(&frame.body, FrameBody::Text(t) if t.iter().all(u8::is_ascii_whitespace));
            if !blank {
                return Some(frame);
            }
        }
    }

    fn next_raw(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        let line = self.line;
        let mut kept = Vec::new();
        let mut size = 0usize;
        let mut too_large = false;
        let mut in_quotes = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    return None;
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if size == 0 {
                    return None;
                }
                return Some(self.frame(line, kept, size, too_large, in_quotes));
            }
            let mut end = None;
            if self.quoted_cells {
                let mut from = 0;
                while let Some(at) = memchr::memchr2(b'\n', b'"', &chunk[from..]) {
                    let at = from + at;
                    if chunk[at] == b'"' {
                        in_quotes = !in_quotes;
                    } else {
                        self.line += 1;
                        if !in_quotes {
                            end = Some(at);
                            break;
                        }
                    }
                    from = at + 1;
                }
            } else if let Some(at) = memchr::memchr(b'\n', chunk) {
                self.line += 1;
                end = Some(at);
            }
            let take = end.map_or(chunk.len(), |at| at + 1);
            size += take;
            if !too_large {
                // Room for the line end beyond the limit.
                if size > self.limit.saturating_add(2) {
                    too_large = true;
                    kept = Vec::new();
                } else {
                    kept.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(take);
            self.consumed.fetch_add(take as u64, Ordering::Relaxed);
            if end.is_some() {
                return Some(self.frame(line, kept, size, too_large, false));
            }
        }
    }

    fn frame(
        &self,
        line: u64,
        mut kept: Vec<u8>,
        size: usize,
        too_large: bool,
        truncated: bool,
    ) -> Frame {
        let mut bytes = size;
        if !too_large {
            if kept.last() == Some(&b'\n') {
                kept.pop();
                if kept.last() == Some(&b'\r') {
                    kept.pop();
                }
            }
            bytes = kept.len();
        }
        let body = if too_large || bytes > self.limit {
            FrameBody::TooLarge
        } else if truncated {
            FrameBody::Truncated(kept)
        } else {
            FrameBody::Text(kept)
        };
        Frame { line, bytes, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &[u8], csv: bool, limit: usize) -> Vec<Frame> {
        let mut f = Frames::new(io::BufReader::with_capacity(4, text), csv, limit);
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn text(line: u64, body: &str) -> Frame {
        Frame {
            line,
            bytes: body.len(),
            body: FrameBody::Text(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn jsonl_rows_carry_their_physical_lines() {
        let got = frames(b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\"", false, 100);
        assert_eq!(
            got,
            vec![
                text(1, "{\"a\":1}"),
                text(4, "{\"b\":2}"),
                text(5, "{\"c\"")
            ]
        );
    }

    #[test]
    fn a_quoted_csv_cell_spans_lines_and_counts_from_its_first() {
        let got = frames(b"h1,h2\n\"a\nb\",\"x\"\"y\"\nc,d\n", true, 100);
        assert_eq!(
            got,
            vec![
                text(1, "h1,h2"),
                text(2, "\"a\nb\",\"x\"\"y\""),
                text(4, "c,d")
            ]
        );
    }

    #[test]
    fn a_row_over_the_limit_is_skipped_and_the_next_row_read() {
        let big = format!("{}\nok\n", "x".repeat(50));
        let got = frames(big.as_bytes(), false, 10);
        assert_eq!(
            got,
            vec![
                Frame {
                    line: 1,
                    bytes: 51,
                    body: FrameBody::TooLarge
                },
                text(2, "ok")
            ]
        );
        // Exactly at the limit is kept.
        assert_eq!(
            frames(b"0123456789\n", false, 10),
            vec![text(1, "0123456789")]
        );
    }

    #[test]
    fn the_file_ending_inside_quotes_is_a_truncated_row() {
        let got = frames(b"h\n\"abc\ndef", true, 100);
        assert_eq!(got[1].line, 2);
        assert_eq!(got[1].body, FrameBody::Truncated(b"\"abc\ndef".to_vec()));
    }
}
