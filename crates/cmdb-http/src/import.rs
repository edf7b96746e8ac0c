//! `POST /api/v3/set/{bk_biz_id}/import`: a CSV or JSONL body (spec `watch-and-import.md`
//! I1–I2) imported by [`cmdb_app::Engine::import`], answered with one JSON line per row
//! (`{"line","code","message"}`, and `bk_set_id` when created) then the summary line. The
//! caller is admitted as on every native write (credentials, app, grant, rate) before the
//! body is read; the body is bounded by [`crate::ServeOptions::import_max_bytes`].
//!
//! Row by row (the default), the body is streamed: this task forwards its chunks through a
//! small channel to the import, which reads, plans and commits rows on a blocking thread as
//! they arrive, so an import holds [`STREAM_WINDOW`] of the body budget (not its size) and its
//! first groups commit before its last bytes arrive. When the body fails midway (too large,
//! too slow, cut off), the rows before the failure stay imported: the answer has the
//! failure's status (413, 408, 400), their lines and the summary with `stopped_after_line` and
//! the `skip` that resumes. An atomic import reads its body whole first (its rows commit all or
//! none, never from a body that did not arrive whole), reserved from the body budget.

use std::io::{BufReader, Read, Write};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cmdb_app::import::{Format, ImportError, ImportOptions, RowResult, Rows};
use cmdb_app::{Failure, Language};
use cmdb_core::{BodyProblem, Error};
use futures::StreamExt;
use serde_json::json;

use crate::AppState;
use crate::body::Reader;
use crate::gate::Access;
use crate::handlers::{Req, native_caller};
use crate::http_io::{AnswerCode, Caller, Refusal, run_engine};
use crate::peer::Peer;
use crate::refusal::HttpRefusal;

/// The format a request names: `?format=csv|jsonl`, else its content type (`text/csv`;
/// `application/x-ndjson`, `application/jsonl` or `application/json-lines`).
fn format_of(uri: &Uri, headers: &HeaderMap) -> Result<Format, Refusal> {
    let asked = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("format="));
    let unsupported = || {
        Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::from(Error::invalid("format")).into(),
        )
    };
    if let Some(asked) = asked {
        return match asked {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            _ => Err(unsupported()),
        };
    }
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
            Ok(Format::Jsonl)
        }
        _ => Err(unsupported()),
    }
}

/// 413 with 1199000 naming `max`.
fn too_large(max: usize) -> Refusal {
    Refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        Failure::from(Error::JsonDecode {
            detail: Some(BodyProblem::TooLarge { max_bytes: max }),
        })
        .into(),
    )
}

/// 408 with 1199000: the body did not arrive within `timeout`.
fn timed_out(timeout: Duration) -> Refusal {
    let seconds = timeout.as_secs();
    Refusal(
        StatusCode::REQUEST_TIMEOUT,
        HttpRefusal::BodyTimedOut { seconds }.into(),
    )
}

/// A body that broke off: 1199000.
fn broken_off() -> Refusal {
    Refusal::from(Failure::from(Error::JsonDecode { detail: None }))
}

/// The body, at most `max` bytes, within the body timeout (an atomic import's).
async fn read_import_body(state: &AppState, body: Body, max: usize) -> Result<Vec<u8>, Refusal> {
    let declared = HttpBody::size_hint(&body).exact();
    if declared.is_some_and(|d| d > max as u64) {
        return Err(too_large(max));
    }
    let hint = declared.map_or(max, |d| usize::try_from(d).unwrap_or(max));
    let mut reserved = state
        .body
        .reserve(hint, Reader::Admitted, state.body_timeout)
        .await?;
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::with_capacity(hint.min(max));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| broken_off())?;
            if bytes.len() + chunk.len() > max {
                return Err(too_large(max));
            }
            bytes.extend_from_slice(&chunk);
            reserved.hold(chunk.len());
        }
        Ok(bytes)
    };
    tokio::time::timeout(state.body_timeout, read)
        .await
        .unwrap_or_else(|_| Err(timed_out(state.body_timeout)))
}

/// What a streamed import holds of the body budget: the chunks in flight and the longest row.
pub(crate) const STREAM_WINDOW: usize = 2 * cmdb_app::request::MAX_BODY_BYTES;
/// Chunks in flight between the body and the import.
const STREAM_CHUNKS: usize = 8;

/// The import's end of a streamed body: a [`Read`] over the chunks the request's task sends
/// (it blocks, so it is read on a blocking thread only).
struct StreamedBody {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for StreamedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match futures::executor::block_on(self.chunks.recv()) {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Forwards `body` to the import, at most `max` bytes; the time spent waiting for the client
/// (not for the import to take the chunks) is bounded by `timeout`. A failure is sent on as a
/// read error (the import stops there) and answered. An import that stopped reading (a bad
/// header) ends the forwarding.
async fn forward_body(
    body: Body,
    chunks: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    max: usize,
    timeout: Duration,
) -> Result<(), Refusal> {
    let mut stream = body.into_data_stream();
    let (mut total, mut waited) = (0usize, Duration::ZERO);
    let failed = loop {
        let asked = Instant::now();
        let next = tokio::time::timeout(timeout.saturating_sub(waited), stream.next()).await;
        waited += asked.elapsed();
        let chunk = match next {
            Err(_) => break timed_out(timeout),
            Ok(None) => return Ok(()),
            Ok(Some(Err(_))) => break broken_off(),
            Ok(Some(Ok(chunk))) => chunk,
        };
        total += chunk.len();
        if total > max {
            break too_large(max);
        }
        if chunks.send(Ok(chunk)).await.is_err() {
            return Ok(());
        }
    };
    let cut = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the body broke off");
    let _ = chunks.send(Err(cut)).await;
    Err(failed)
}

/// A row-by-row import of a streamed body, on the blocking thread it reads on: the lines of
/// the rows, then the summary (with `stopped_after_line` when the body broke off).
async fn import_streamed(
    engine: cmdb_app::Engine,
    ctx: cmdb_core::plan::RequestContext,
    biz: cmdb_core::BizId,
    (format, body, lang): (Format, StreamedBody, Language),
) -> Result<Vec<u8>, Failure> {
    let model = engine.import_model(&ctx.supplier_account, biz).await?;
    let mut rows = Rows::new(BufReader::new(body), format, &model)
        .map_err(|e| Failure::from(header_error(&e)))?;
    let (mut out, mut last_line) = (Vec::new(), 0);
    let mut sink = |results: &[RowResult]| {
        for result in results {
            last_line = result.line;
            row_line(&mut out, result, lang);
        }
    };
    let imported = engine
        .import(
            &ctx,
            biz,
            rows.by_ref(),
            &ImportOptions::default(),
            &mut sink,
        )
        .await;
    let mut summary = imported.map_err(|ImportError::AtomicTooLarge { max_rows, .. }| {
        Failure::from(Error::ExceedLimit { limit: max_rows })
    })?;
    if rows.take_error().is_some() {
        summary.stopped_after_line = Some(last_line);
        summary.skip = Some(last_line);
    }
    let _ = writeln!(out, "{}", summary.to_json());
    Ok(out)
}

/// One row's answer line.
fn row_line(out: &mut Vec<u8>, result: &RowResult, lang: Language) {
    let line = match &result.outcome {
        Ok(doc) => json!({"line": result.line, "code": 0, "message": "",
                          "bk_set_id": doc.get("bk_set_id")}),
        Err(rejected) => {
            let failure = rejected.failure.clone().in_language(lang);
            json!({"line": result.line, "code": failure.code().number(),
                   "message": failure.message()})
        }
    };
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// `POST /api/v3/set/{bk_biz_id}/import[?format=csv|jsonl][&atomic=true]`.
pub(crate) async fn native_import(
    State(state): State<AppState>,
    Extension(id): Extension<crate::http_io::RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Req::new(state, id, peer);
    let mut caller = Caller::default();
    let biz = uri
        .path()
        .strip_prefix("/api/v3/set/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let atomic = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "atomic=true");
    let result = async {
        let (ctx, biz) = native_caller(&req, &headers, &biz, Access::Write, &mut caller)?;
        let format = format_of(&uri, &headers)?;
        let (state, lang) = (&req.state, req.lang);
        if !atomic {
            return import_body_streamed(state, body, (ctx, biz, format, lang)).await;
        }
        let bytes = read_import_body(state, body, state.import_max_bytes).await?;
        let answered = run_engine(state, move |engine| async move {
            let model = engine.import_model(&ctx.supplier_account, biz).await?;
            let rows = Rows::new(std::io::Cursor::new(bytes), format, &model)
                .map_err(|e| Failure::from(header_error(&e)))?;
            let mut out = Vec::new();
            let options = ImportOptions {
                atomic,
                ..ImportOptions::default()
            };
            let mut sink = |results: &[RowResult]| {
                for result in results {
                    row_line(&mut out, result, lang);
                }
            };
            let summary = engine
                .import(&ctx, biz, rows, &options, &mut sink)
                .await
                .map_err(|ImportError::AtomicTooLarge { max_rows, .. }| {
                    Failure::from(Error::ExceedLimit { limit: max_rows })
                })?;
            let _ = writeln!(out, "{}", summary.to_json());
            Ok::<_, Failure>(out)
        })
        .await??;
        Ok::<_, Refusal>((StatusCode::OK, 0, answered))
    }
    .await;
    match result {
        Ok((status, code, out)) => {
            let mut response = (
                status,
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                )],
                out,
            )
                .into_response();
            response.extensions_mut().insert(AnswerCode(code));
            caller.on(response)
        }
        Err(refusal) => req.answer(caller, Err(refusal)),
    }
}

/// A row-by-row import of a streamed body: the body forwarded to [`import_streamed`] on a
/// blocking thread. Answers the status (200, or the body's failure when rows were imported
/// before it), the answer's code for the access log, and the lines.
async fn import_body_streamed(
    state: &AppState,
    body: Body,
    (ctx, biz, format, lang): (
        cmdb_core::plan::RequestContext,
        cmdb_core::BizId,
        Format,
        Language,
    ),
) -> Result<(StatusCode, i64, Vec<u8>), Refusal> {
    let max = state.import_max_bytes;
    if HttpBody::size_hint(&body)
        .exact()
        .is_some_and(|d| d > max as u64)
    {
        return Err(too_large(max));
    }
    let window = STREAM_WINDOW.min(max);
    let _reserved = state
        .body
        .reserve(window, Reader::Admitted, state.body_timeout)
        .await?;
    let (sender, chunks) = tokio::sync::mpsc::channel(STREAM_CHUNKS);
    let reader = StreamedBody {
        chunks,
        current: Bytes::new(),
    };
    let imported = run_engine(state, move |engine| async move {
        let runtime = tokio::runtime::Handle::current();
        let work =
            move || runtime.block_on(import_streamed(engine, ctx, biz, (format, reader, lang)));
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            Failure::from(cmdb_core::StoreError::Backend(
                cmdb_core::error::Detail::caused_by(format!("the import failed: {e}"), e),
            ))
        })?
    });
    let forwarded = forward_body(body, sender, max, state.body_timeout);
    match tokio::join!(forwarded, imported) {
        (Ok(()), imported) => Ok((StatusCode::OK, 0, imported??)),
        (Err(Refusal(status, refused)), Ok(Ok(out))) => Ok((status, refused.code().number(), out)),
        (Err(refusal), _) => Err(refusal),
    }
}

/// A CSV header refusal as create_set's code for a parameter: 1199006 naming the column.
fn header_error(e: &cmdb_app::import::HeaderError) -> Error {
    use cmdb_app::import::HeaderError as H;
    match e {
        H::UnknownColumn(column) | H::RepeatedColumn(column) => Error::invalid(column.as_str()),
        H::Missing | H::Malformed(_) | H::Unreadable(_) => Error::JsonDecode { detail: None },
    }
}
