//! The HTTP plumbing under the handlers: request ids, body reading, content type, headers,
//! envelope responses, and running engine calls as tasks of their own.

use std::future::Future;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cmdb_app::request::{Credentials, check_user, credentials};
use cmdb_app::{Engine, Envelope, Failure};
use cmdb_core::catalog::DEFAULT_SUPPLIER_ACCOUNT;
use cmdb_core::error::Detail;
use cmdb_core::{Error, Language, StoreError};

use crate::AppState;
use crate::access::{self, Who};
use crate::peer::Peer;
use crate::raw::refusal_for_status;
use crate::refusal::{HttpRefusal, Refused};

/// The request and response header carrying the request id.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The acting user: ours, then the names bk-cmdb's ESB forwards (spec section 15).
const USER: [HeaderName; 3] = [
    HeaderName::from_static("x-bkcmdb-user"),
    HeaderName::from_static("bk_user"),
    HeaderName::from_static("bk-username"),
];
/// The tenant, then its legacy name.
const SUPPLIER_ACCOUNT: [HeaderName; 2] = [
    HeaderName::from_static("x-bkcmdb-supplier-account"),
    HeaderName::from_static("http_bk_supplier_account"),
];
/// The calling app's code: ours, then the name bk-cmdb's ESB forwards.
const APP_CODE: [HeaderName; 2] = [
    HeaderName::from_static("x-bkcmdb-app-code"),
    HeaderName::from_static("bk-app-code"),
];
/// The caller's credentials as the BlueKing SDKs send them (a JSON object).
const AUTHORIZATION: HeaderName = HeaderName::from_static("x-bkapi-authorization");
/// The caller's language: bk-cmdb's API server header, then the name it copies it to.
const LANGUAGE: [HeaderName; 2] = [
    HeaderName::from_static("blueking-language"),
    HeaderName::from_static("http_blueking_language"),
];
/// The longest client request id used as is.
const MAX_REQUEST_ID: usize = 64;

/// The request id of the current request and the language of its answer, put into the
/// request's extensions by [`request_id_layer`].
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String, pub(crate) Language);

/// What the access log says of an answer besides the HTTP status: its envelope code, put into
/// the response's extensions by [`respond`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerCode(pub(crate) i64);

/// The app and user a request acted as, once known, put into the response's extensions by
/// the handlers for the access log; and whether the app was admitted (authenticated, or
/// trusted without an apps file), which decides whether a refusal counts as a failed
/// authentication.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    pub(crate) who: Who,
    pub(crate) admitted: bool,
}

impl Caller {
    /// Adds this caller to `response` (for the access log).
    pub(crate) fn on(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Picks the request id (the client's if sane, else a fresh one) and the language (the
/// `Blueking-Language` or `HTTP_BLUEKING_LANGUAGE` header when it names one, else the engine's
/// default), hands them to the handlers and echoes the id in the response's `X-Request-Id`.
pub(crate) async fn request_id_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| state.engine.new_request_id());
    let language = header(request.headers(), &LANGUAGE)
        .and_then(Result::ok)
        .and_then(Language::parse)
        .unwrap_or(state.engine.options().language);
    request
        .extensions_mut()
        .insert(RequestId(id.clone(), language));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "-".to_owned(), |p| p.as_str().to_owned());
    let peer = request.extensions().get::<Peer>().copied();
    let started = Instant::now();
    let mut response = match head_over_limit(&request, state.max_header_bytes) {
        Some(status) => fail_head(status, &id, language),
        None => next.run(request).await,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let caller = response
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default();
    let code = response
        .extensions()
        .get::<AnswerCode>()
        .map_or(-1, |c| c.0);
    access::write(&access::Line {
        event: "request",
        method: method.as_str(),
        route: &route,
        status: response.status().as_u16(),
        code,
        who: &caller.who,
        request_id: &id,
        peer,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    response
}

/// 1 to 64 visible ASCII characters (no space, no control).
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let sane =
        (1..=MAX_REQUEST_ID).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic);
    sane.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// The envelope as an HTTP response with `status`.
pub(crate) fn respond(status: StatusCode, envelope: &Envelope) -> Response {
    let mut response = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        envelope.to_json(),
    )
        .into_response();
    response.extensions_mut().insert(AnswerCode(envelope.code));
    response
}

/// The envelope of an engine answer: HTTP 200, as bk-cmdb answers business errors.
pub(crate) fn ok(envelope: &Envelope) -> Response {
    respond(StatusCode::OK, envelope)
}

/// A refusal and the HTTP status it is answered with (from [`status_of`] unless said).
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) StatusCode, pub(crate) Refused);

impl From<Refused> for Refusal {
    fn from(refused: Refused) -> Self {
        Refusal(status_of(&refused), refused)
    }
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refused::from(failure).into()
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Refused::from(error).into()
    }
}

impl From<HttpRefusal> for Refusal {
    fn from(refusal: HttpRefusal) -> Self {
        Refused::from(refusal).into()
    }
}

/// The HTTP status of a refusal: 429 for too many requests (over the rate limit or the failed
/// authentications), 408 for a body that did not arrive in time, 415 for a content type that
/// is not JSON, 431 for too many header fields; 200 for every failure of a use case (bk-cmdb
/// answers refusals with 200).
pub(crate) fn status_of(refused: &Refused) -> StatusCode {
    match refused {
        Refused::Http(HttpRefusal::TooManyRequests) => StatusCode::TOO_MANY_REQUESTS,
        Refused::Http(HttpRefusal::BodyTimedOut { .. }) => StatusCode::REQUEST_TIMEOUT,
        Refused::Http(HttpRefusal::NotJsonContentType) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refused::Http(HttpRefusal::TooManyHeaders { .. }) => {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        }
        Refused::Failure(_) => StatusCode::OK,
    }
}

/// A refusal's envelope with `status`, its message in `language`.
pub(crate) fn fail(
    status: StatusCode,
    request_id: String,
    language: Language,
    refused: &Refused,
) -> Response {
    respond(status, &refused.envelope(request_id, language))
}

/// The failure envelope; the hidden cause of an internal failure goes to the log (stderr).
pub(crate) fn failure_envelope(request_id: String, failure: &Failure) -> Envelope {
    if let Some(cause) = &failure.cause() {
        eprintln!(
            "cmdb-http: request {request_id}: {} ({cause})",
            failure.message()
        );
    }
    Envelope::failure(request_id, failure)
}

/// `None` when the body may be read as JSON: no `Content-Type`, `application/json` or
/// `application/*+json` (parameters such as `charset` ignored); else the 415 answer.
pub(crate) fn refuse_content_type(
    headers: &HeaderMap,
    request_id: &str,
    language: Language,
) -> Option<Response> {
    let value = headers.get(CONTENT_TYPE)?;
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        return None;
    }
    let refused = Refused::from(HttpRefusal::NotJsonContentType);
    Some(fail(
        status_of(&refused),
        request_id.to_owned(),
        language,
        &refused,
    ))
}

/// The first of `names` that is present, as UTF-8 (`Err` when it is not UTF-8).
fn header<'a>(headers: &'a HeaderMap, names: &[HeaderName]) -> Option<Result<&'a str, ()>> {
    names
        .iter()
        .find_map(|name| headers.get(name))
        .map(|value| std::str::from_utf8(value.as_bytes()).map_err(|_| ()))
}

/// The acting user of a native request: the user header (trimmed, non-empty), else the
/// `bk_username` of `X-Bkapi-Authorization`, else the engine's default user; it must be a
/// valid user name (spec section 16).
///
/// # Errors
/// 1199027 when there is none, it is not a valid user name, or the header is not UTF-8.
pub(crate) fn user(
    headers: &HeaderMap,
    credentials: &Credentials,
    engine: &Engine,
) -> Result<String, Failure> {
    let user = match header(headers, &USER) {
        Some(Ok(user)) if !user.trim().is_empty() => user.trim().to_owned(),
        Some(Err(())) => return Err(Error::NoUser.into()),
        _ => match (&credentials.user, engine.options().default_user.as_deref()) {
            (Some(user), _) => user.clone(),
            (None, Some(user)) if !user.is_empty() => user.to_owned(),
            _ => return Err(Error::NoUser.into()),
        },
    };
    check_user(&user)?;
    Ok(user)
}

/// Refuses an identity header sent more than once (a gateway that appends its own rather
/// than replacing the client's must not be bypassed by the client's coming first): the
/// credentials or app code 1199045, the user 1199027, the tenant 1199006
/// `'bk_supplier_account'`.
///
/// # Errors
/// As above.
pub(crate) fn refuse_repeated_identity(headers: &HeaderMap) -> Result<(), Failure> {
    let repeated = |names: &[HeaderName]| {
        names
            .iter()
            .any(|name| headers.get_all(name).iter().nth(1).is_some())
    };
    if repeated(&[AUTHORIZATION]) || repeated(&APP_CODE) {
        return Err(Error::ParseAuthorize.into());
    }
    if repeated(&USER) {
        return Err(Error::NoUser.into());
    }
    if repeated(&SUPPLIER_ACCOUNT) {
        return Err(Error::invalid("bk_supplier_account").into());
    }
    Ok(())
}

/// The credentials of a native request: `X-Bkapi-Authorization` (a JSON object), with the app
/// code also from `X-Bkcmdb-App-Code` / `Bk-App-Code` when that header lacks it.
///
/// # Errors
/// 1199045 when `X-Bkapi-Authorization` is present but not a JSON object.
pub(crate) fn native_credentials(headers: &HeaderMap) -> Result<Credentials, Failure> {
    let mut found = credentials(&serde_json::Map::new(), authorization(headers).as_deref())?;
    if found.app_code.is_none() {
        found.app_code = Some(app_code(headers)).filter(|code| !code.is_empty());
    }
    Ok(found)
}

/// The tenant of a native request: the tenant header, trimmed; `"0"` when absent or blank.
///
/// # Errors
/// 1199006 `'bk_supplier_account'` when the header is not UTF-8.
pub(crate) fn supplier_account(headers: &HeaderMap) -> Result<String, Failure> {
    match header(headers, &SUPPLIER_ACCOUNT) {
        None => Ok(DEFAULT_SUPPLIER_ACCOUNT.to_owned()),
        Some(Ok(s)) if s.trim().is_empty() => Ok(DEFAULT_SUPPLIER_ACCOUNT.to_owned()),
        Some(Ok(s)) => Ok(s.trim().to_owned()),
        Some(Err(())) => Err(Error::invalid("bk_supplier_account").into()),
    }
}

/// The raw `X-Bkapi-Authorization` header, when present.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get(&AUTHORIZATION)
        .map(|value| value.as_bytes().to_vec())
}

/// The app code of a native request, `""` when absent or not UTF-8.
pub(crate) fn app_code(headers: &HeaderMap) -> String {
    match header(headers, &APP_CODE) {
        Some(Ok(code)) => code.to_owned(),
        _ => String::new(),
    }
}

/// Runs `call` with the engine as a task of its own. The engine never blocks the runtime
/// (stores do their blocking work on their own threads), so it runs directly on the async
/// workers. The call holds a read guard of the in-flight lock, so it runs to its end (and
/// `serve` waits for it) even when the client goes away and this future is dropped.
///
/// # Errors
/// A call that panicked, as the masked internal failure (1199999).
pub(crate) async fn run_engine<T, F, Fut>(state: &AppState, call: F) -> Result<T, Failure>
where
    F: FnOnce(Engine) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let guard = state.in_flight.clone().read_owned().await;
    let engine = state.engine.clone();
    tokio::spawn(async move {
        let _guard = guard;
        call(engine).await
    })
    .await
    .map_err(|e| {
        Failure::from(StoreError::Backend(Detail::caused_by(
            format!("engine call failed: {e}"),
            e,
        )))
    })
}

/// The size of `request`'s head as sent without optional whitespace: the request line and
/// each `name: value` line with their CRLFs, and the closing CRLF.
fn head_bytes(request: &Request) -> (usize, usize) {
    let uri = request.uri();
    let target = match (uri.scheme(), uri.path_and_query()) {
        (None, Some(pq)) => pq.as_str().len(),
        _ => uri.to_string().len(),
    };
    // "GET /x HTTP/1.1\r\n"
    let line = request.method().as_str().len() + 1 + target + 1 + 8 + 2;
    let fields: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    (line, line + fields + 2)
}

/// 414 when the request line alone is over `max` bytes, 431 when the whole head is; hyper
/// refuses a longer head while it is still arriving, this catches one that arrived whole in
/// one read.
fn head_over_limit(request: &Request, max: usize) -> Option<u16> {
    let (line, head) = head_bytes(request);
    if line > max {
        Some(414)
    } else if head > max {
        Some(431)
    } else {
        None
    }
}

/// The envelope answer of a head over the limit, closing the connection.
fn fail_head(status: u16, request_id: &str, language: Language) -> Response {
    let mut response = fail(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        request_id.to_owned(),
        language,
        &refusal_for_status(status),
    );
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}
