//! `POST /api/v3/set/{bk_biz_id}/import`: a CSV or JSONL body (spec `watch-and-import.md`
//! I1–I2) imported by [`cmdb_app::Engine::import`], answered with one JSON line per row
//! (`{"line","code","message"}`, and `bk_set_id` when created) then the summary line. The
//! caller is admitted as on every native write (credentials, app, grant, rate) before the
//! body is read; the body is bounded by [`crate::ServeOptions::import_max_bytes`] and reserved
//! from the body budget.

use std::io::Write;

use axum::body::Body;
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
            Failure::from(Error::invalid("format")),
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

/// The body, at most `max` bytes, within the body timeout.
async fn read_import_body(state: &AppState, body: Body, max: usize) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            Failure::from(Error::JsonDecode {
                detail: Some(BodyProblem::TooLarge { max_bytes: max }),
            }),
        )
    };
    let declared = axum::body::HttpBody::size_hint(&body).exact();
    if declared.is_some_and(|d| d > max as u64) {
        return Err(too_large());
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
            let chunk = chunk
                .map_err(|_| Refusal::from(Failure::from(Error::JsonDecode { detail: None })))?;
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
            reserved.hold(chunk.len());
        }
        Ok(bytes)
    };
    tokio::time::timeout(state.body_timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(Refusal(
                StatusCode::REQUEST_TIMEOUT,
                Failure::from(Error::JsonDecode {
                    detail: Some(BodyProblem::TimedOut {
                        seconds: state.body_timeout.as_secs(),
                    }),
                }),
            ))
        })
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
        let state = &req.state;
        let bytes = read_import_body(state, body, state.import_max_bytes).await?;
        let lang = req.lang;
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
        Ok::<_, Refusal>(answered)
    }
    .await;
    match result {
        Ok(out) => {
            let mut response = (
                StatusCode::OK,
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                )],
                out,
            )
                .into_response();
            response.extensions_mut().insert(AnswerCode(0));
            caller.on(response)
        }
        Err(refusal) => req.answer(caller, Err(refusal)),
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
