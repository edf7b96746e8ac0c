//! Answers written below the router: the envelope of an HTTP-level refusal as raw bytes (503
//! over the connection limit), and [`EnvelopeIo`], which gives hyper's own protocol-error
//! answers (400, 414, 431 with an empty body) an envelope body before they reach the socket,
//! answers an HTTP/2 preface (which hyper would close on in silence) with 505, and writes the
//! access-log line of each.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use cmdb_app::Language;
use cmdb_core::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::access::{self, Who};
use crate::peer::Peer;
use crate::refusal::{HttpRefusal, Refused};

/// What a raw answer needs besides its status: a fresh request id and the message language.
pub(crate) type IdSource = std::sync::Arc<dyn Fn() -> (String, Language) + Send + Sync>;

/// A complete HTTP/1.1 response closing the connection, its body the refusal's envelope.
pub(crate) fn response_bytes(
    status: u16,
    reason: &str,
    refused: &Refused,
    (request_id, language): &(String, Language),
) -> Vec<u8> {
    let body = refused.envelope(request_id.clone(), *language).to_json();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The refusal an HTTP-level status stands for: 1199997 for 429 and 503, 1199015 naming
/// `uri` (414) or `headers` (431), 1199006 `'request'` for anything else (a malformed
/// request line or header, an HTTP/2 preface).
pub(crate) fn refusal_for_status(status: u16) -> Refused {
    let error = match status {
        429 | 503 => return HttpRefusal::TooManyRequests.into(),
        414 => Error::OverLimit {
            field: "uri".into(),
        },
        431 => Error::OverLimit {
            field: "headers".into(),
        },
        _ => Error::invalid("request"),
    };
    error.into()
}

/// The status of a response head hyper wrote by itself: an error status with
/// `content-length: 0` (every answer of the router has an envelope body, so never that).
fn own_error_status(head: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let (status_line, rest) = text.split_once("\r\n")?;
    let mut parts = status_line.splitn(3, ' ');
    let (_version, status, reason) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    let status: u16 = status.parse().ok()?;
    let empty = rest
        .split("\r\n")
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    (status >= 400 && empty && text.starts_with("HTTP/1.")).then(|| (status, reason.to_owned()))
}

/// How long, and how many bytes, a connection closing after a protocol error reads of what the
/// client still sends: closing with unread bytes would reset the connection, and the client
/// could lose the answer.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;

/// The start of the HTTP/2 connection preface (`PRI * HTTP/2.0`), as far as it tells.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2";

/// The connection's socket as hyper sees it. Reads pass through, except an HTTP/2 preface as
/// the connection's first bytes: hyper is then told the connection ended, and a 505 envelope
/// is written in its place. The first write of a response head that hyper produced itself for
/// a protocol error is swapped for the same status with an envelope body; everything else
/// passes through. Each such answer gets its access-log line. After one the shutdown drains
/// what the client still sends (bounded by [`DRAIN_TIME`] and [`DRAIN_BYTES`]).
pub(crate) struct EnvelopeIo<T> {
    inner: T,
    ids: IdSource,
    peer: Peer,
    /// The head limit: a 431 after fewer bytes than this is about the number of headers.
    head_max: usize,
    /// Bytes read since the last answer was written (the head hyper refused, about).
    read_since_answer: usize,
    /// Whether anything was read yet.
    started: bool,
    /// Bytes of a swapped answer still to be written, and how many were.
    pending: Vec<u8>,
    written: usize,
    /// Set once an answer was swapped: until when, and how much more, to drain at shutdown.
    drain: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
}

impl<T> EnvelopeIo<T> {
    /// Wraps `inner`, the connection of `peer` with heads of at most `head_max` bytes.
    pub(crate) fn new(inner: T, ids: IdSource, peer: Peer, head_max: usize) -> Self {
        EnvelopeIo {
            inner,
            ids,
            peer,
            head_max,
            read_since_answer: 0,
            started: false,
            pending: Vec::new(),
            written: 0,
            drain: None,
        }
    }

    /// Queues the envelope answer of `status` in place of hyper's (or of nothing), and logs it.
    fn answer_instead(&mut self, status: u16, reason: &str) {
        let refused = if status == 431 && self.read_since_answer <= self.head_max {
            Refused::from(HttpRefusal::TooManyHeaders { max: MAX_HEADERS })
        } else {
            refusal_for_status(status)
        };
        let id = (self.ids)();
        self.pending = response_bytes(status, reason, &refused, &id);
        self.written = 0;
        self.drain = Some((Box::pin(tokio::time::sleep(DRAIN_TIME)), DRAIN_BYTES));
        access::write(&access::Line {
            event: "malformed: answered by the HTTP layer",
            method: "-",
            route: "-",
            status,
            code: refused.code().number(),
            who: &Who::default(),
            request_id: &id.0,
            peer: Some(self.peer),
            duration_ms: 0,
        });
    }
}

/// The most headers a request may have (hyper's own limit, which it refuses with 431).
pub(crate) const MAX_HEADERS: usize = 100;

impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
    /// Writes what is pending of a swapped answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for EnvelopeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.drain.is_some() {
            // Answered in hyper's place: hyper sees the end of the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !this.started && !read.is_empty() {
            this.started = true;
            if read.len() >= H2_PREFACE.len() && read.starts_with(H2_PREFACE) {
                buf.set_filled(before);
                this.answer_instead(505, "HTTP Version Not Supported");
                return Poll::Ready(Ok(()));
            }
        }
        this.read_since_answer = this.read_since_answer.saturating_add(read.len());
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some((status, reason)) = own_error_status(buf) {
            // Swallow hyper's empty answer; ours is written in its place (then hyper closes).
            this.answer_instead(status, &reason);
            // Whatever is not written now goes out on flush or shutdown.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        this.read_since_answer = 0;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
        let this = &mut *self;
        let Some((deadline, left)) = &mut this.drain else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 4096];
        loop {
            if *left == 0 || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => *left = left.saturating_sub(buf.filled().len()),
                // The answer is out; a read error only ends the draining.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    // Not vectored: hyper then hands over each response head in one flat buffer, which is
    // what `own_error_status` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_error_answers_are_hyper_s_own() {
        let own =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(
            own_error_status(own),
            Some((431, "Request Header Fields Too Large".into()))
        );
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 120\r\n\r\n{";
        assert_eq!(own_error_status(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(own_error_status(ok), None);
        assert_eq!(own_error_status(b"{\"result\":"), None);
    }

    #[test]
    fn a_raw_answer_is_an_envelope() {
        let id = ("ab".to_owned(), Language::En);
        let bytes = response_bytes(503, "Service Unavailable", &refusal_for_status(503), &id);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(
            body,
            r#"{"result":false,"code":1199997,"message":"too many requests","permission":null,"request_id":"ab","data":null}"#
        );
    }
}
