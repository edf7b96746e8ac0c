//! The route handlers: each establishes the caller (app, user, grant), reads the HTTP request
//! into the engine's terms, makes one engine call as a task of its own, and answers with the
//! envelope in the caller's language. Credentials in headers are checked before a body is read;
//! a body whose credentials are inside it is read within its peer's unauthenticated share.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use cmdb_app::paging::{Listing, Page};
use cmdb_app::request::{credentials, parse_biz_id, parse_body, parse_esb_with};
use cmdb_app::{Envelope, Failure, Language};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Code, Error, SetId};
use serde_json::{Value, json};

use crate::AppState;
use crate::body::{Reader, read_body, size_of};
use crate::gate::{Access, Admitted};
use crate::http_io::{
    Caller, Refusal, RequestId, authorization, fail, failure_envelope, native_credentials, ok,
    refuse_content_type, refuse_repeated_identity, run_engine, supplier_account, user,
};
use crate::peer::Peer;
use crate::refusal::Refused;

/// A request as the handlers see it before reading it: the shared state, its id and language,
/// and the connection's peer (when the server knows it).
pub(crate) struct Req {
    pub(crate) state: AppState,
    pub(crate) rid: String,
    pub(crate) lang: Language,
    pub(crate) peer: Option<Peer>,
}

impl Req {
    pub(crate) fn new(state: AppState, id: RequestId, peer: Option<Extension<Peer>>) -> Self {
        let RequestId(rid, lang) = id;
        Req {
            state,
            rid,
            lang,
            peer: peer.map(|Extension(p)| p),
        }
    }

    /// An engine answer or a refusal, with the caller for the access log. A refusal before
    /// the app was admitted (credentials, the app, or the body that should carry them) counts
    /// as a failed authentication of the peer and the claimed code.
    pub(crate) fn answer(&self, caller: Caller, result: Result<Envelope, Refusal>) -> Response {
        let response = match result {
            Ok(envelope) => ok(&envelope),
            Err(Refusal(status, refused)) => {
                let auth = [
                    Code::JsonDecode,
                    Code::ParseAuthorize,
                    Code::AuthorizeFailed,
                ];
                if !caller.admitted && auth.iter().any(|c| *c as i64 == refused.code().number()) {
                    self.state.gate.failed(self.peer, &caller.who.app);
                }
                fail(status, self.rid.clone(), self.lang, &refused)
            }
        };
        caller.on(response)
    }

    /// What every route checks first: no identity header repeated, and a peer that has not
    /// used up its failed authentications.
    pub(crate) fn precheck(&self, headers: &HeaderMap) -> Result<(), Refused> {
        refuse_repeated_identity(headers)?;
        self.state.gate.refuse_failing_peer(self.peer)?;
        Ok(())
    }
}

/// Reads a path segment as a biz id with the ESB's rules ("abc" 1199009, "0" 1199011).
fn biz_from_path(segment: &str) -> Result<BizId, Failure> {
    Ok(parse_biz_id(Some(&Value::String(segment.to_owned())))?)
}

/// Reads a path segment as a set id: ASCII digits within i64, else 1199009.
fn set_from_path(segment: &str) -> Result<SetId, Failure> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| segment.parse::<i64>().ok())
        .flatten()
        .map(SetId)
        .ok_or_else(|| {
            Error::NeedInt {
                field: "bk_set_id".into(),
            }
            .into()
        })
}

/// `%XX` decoded (and `+` as a space when `plus` is set); a `%` not followed by two hex
/// digits is kept as it is.
fn percent_decode(text: &str, plus: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(0));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The segments of the path after `/api/v3/set/`, each percent-decoded on its own; one that is
/// not UTF-8 once decoded is empty, so that the id rules refuse it naming its own field.
fn segments(uri: &Uri) -> Vec<String> {
    uri.path()
        .strip_prefix("/api/v3/set/")
        .unwrap_or_default()
        .split('/')
        .map(|raw| String::from_utf8(percent_decode(raw, false)).unwrap_or_default())
        .collect()
}

/// The page a query string asks for: `start` and `limit`, each at most once, ASCII digits once
/// percent-decoded (see [`Page::new`] for the defaults and bounds).
///
/// # Errors
/// 1199006 naming `start` or `limit` when it is repeated, not digits or out of bounds.
fn page_of(uri: &Uri) -> Result<Page, Failure> {
    let mut start = None;
    let mut limit = None;
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key, true), percent_decode(value, true));
        let (field, slot) = match key.as_slice() {
            b"start" => ("start", &mut start),
            b"limit" => ("limit", &mut limit),
            _ => continue,
        };
        let number = (!value.is_empty() && value.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(&value).ok()?.parse::<i64>().ok())
            .flatten();
        match (slot.is_some(), number) {
            (false, Some(n)) => *slot = Some(n),
            _ => return Err(Error::invalid(field).into()),
        }
    }
    Ok(Page::new(start, limit)?)
}

/// `POST /api/c/compapi/v2/cc/create_set/`: an ESB body, answered by the engine.
pub(crate) async fn esb_create_set(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Req::new(state, id, peer);
    if let Some(refusal) = refuse_content_type(&headers, &req.rid, req.lang) {
        return refusal;
    }
    let mut caller = Caller::default();
    let result = esb_request(&req, &headers, body, &mut caller).await;
    req.answer(caller, result)
}

/// An ESB create in this order: the caller and body of [`esb_admitted`], the envelope fields
/// (1199027, biz, data), the app's grant (9900403), then the engine.
async fn esb_request(
    req: &Req,
    headers: &HeaderMap,
    body: Body,
    caller: &mut Caller,
) -> Result<Envelope, Refusal> {
    let state = &req.state;
    let (body, admitted, raw_authorization) = esb_admitted(req, headers, body, caller).await?;
    let args = parse_esb_with(
        &body,
        raw_authorization.as_deref(),
        state.engine.options().default_user.as_deref(),
    )?;
    caller.who.user.clone_from(&args.user);
    admitted.may_act(&args.supplier_account, &args.user, args.biz, Access::Write)?;
    caller.who.user_verified = admitted.verified();
    let ctx = RequestContext {
        user: args.user,
        supplier_account: args.supplier_account,
        app_code: args.app_code,
        request_id: req.rid.clone(),
    };
    let (biz, data) = (args.biz, args.data);
    let doc = run_engine(state, move |engine| async move {
        engine.create_set(&ctx, biz, &data).await
    })
    .await??;
    Ok(Envelope::success(req.rid.clone(), Value::Object(doc)))
}

/// What every ESB request checks first, in this order: repeated identity headers, the peer's
/// failed authentications; with an apps file, `X-Bkapi-Authorization` when present (1199045)
/// and, when it holds both a code and a secret, those (1199046) before the body is read; the
/// body (1199000, within the peer's unauthenticated share unless the header authenticated),
/// the credentials (1199045), the app (1199046, 1199997). Answers the body, the admitted app
/// and the raw authorization header.
pub(crate) async fn esb_admitted<'r>(
    req: &'r Req,
    headers: &HeaderMap,
    body: Body,
    caller: &mut Caller,
) -> Result<(Document, Admitted<'r>, Option<Vec<u8>>), Refusal> {
    let state = &req.state;
    req.precheck(headers)?;
    let raw_authorization = authorization(headers);
    let mut reader = Reader::Admitted;
    if state.gate.checks() {
        reader = Reader::Unauthenticated(req.peer);
        if let Some(raw) = &raw_authorization {
            let from_header = credentials(&serde_json::Map::new(), Some(raw))?;
            caller.who.app = from_header.app_code.clone().unwrap_or_default();
            if from_header.app_code.is_some() && from_header.app_secret.is_some() {
                state.gate.authenticate(&from_header)?;
                caller.admitted = true;
                reader = Reader::Admitted;
            }
        }
    }
    let reserved = state
        .body
        .reserve(size_of(&body), reader, state.body_timeout)
        .await?;
    let bytes = read_body(body, reserved, state.body_timeout).await?;
    let body = {
        let _parsing = match reader {
            Reader::Unauthenticated(_) => state.body.unauthenticated_parse().await,
            Reader::Admitted => None,
        };
        parse_body(&bytes)?
    };
    drop(bytes);
    let credentials = credentials(&body, raw_authorization.as_deref())?;
    caller.who.app = credentials.app_code.clone().unwrap_or_default();
    let admitted = state.gate.admit(&credentials)?;
    caller.admitted = true;
    caller.who.app_verified = admitted.verified();
    Ok((body, admitted, raw_authorization))
}

/// Who a native request comes from, admitted before anything else of it is read: repeated
/// identity headers and the peer's failed authentications, its credentials from the headers
/// (1199045), the app (1199046, 1199997), the user (1199027). Answers the admitted app, the
/// user and the app code.
pub(crate) fn native_identity<'r>(
    req: &'r Req,
    headers: &HeaderMap,
    caller: &mut Caller,
) -> Result<(Admitted<'r>, String, String), Refused> {
    let state = &req.state;
    req.precheck(headers)?;
    let credentials = native_credentials(headers)?;
    caller.who.app = credentials.app_code.clone().unwrap_or_default();
    let admitted = state.gate.admit(&credentials)?;
    caller.admitted = true;
    caller.who.app_verified = admitted.verified();
    let user = user(headers, &credentials, &state.engine)?;
    caller.who.user.clone_from(&user);
    Ok((admitted, user, credentials.app_code.unwrap_or_default()))
}

/// The caller of a native request: [`native_identity`], the biz from the path, the tenant;
/// then the app's grant for them (9900403 naming the action of `access`).
pub(crate) fn native_caller(
    req: &Req,
    headers: &HeaderMap,
    biz: &str,
    access: Access,
    caller: &mut Caller,
) -> Result<(RequestContext, BizId), Refused> {
    let (admitted, user, app_code) = native_identity(req, headers, caller)?;
    let biz = biz_from_path(biz)?;
    let tenant = supplier_account(headers)?;
    admitted.may_act(&tenant, &user, biz, access)?;
    caller.who.user_verified = admitted.verified();
    let ctx = RequestContext {
        user,
        supplier_account: tenant,
        app_code,
        request_id: req.rid.clone(),
    };
    Ok((ctx, biz))
}

/// The body of a native request once its caller is admitted: a JSON object within the limits
/// (1199000), read within the body timeout.
pub(crate) async fn admitted_json_body(req: &Req, body: Body) -> Result<Document, Refusal> {
    let state = &req.state;
    let reserved = state
        .body
        .reserve(size_of(&body), Reader::Admitted, state.body_timeout)
        .await?;
    Ok(parse_body(
        &read_body(body, reserved, state.body_timeout).await?,
    )?)
}

/// The common path of a native write: the content type, the caller ([`native_caller`]),
/// then the body (a JSON object within the limits), then `call` as a task of its own; its
/// envelope is the answer.
async fn native_write<F, Fut>(
    req: Req,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    call: F,
) -> Response
where
    F: FnOnce(cmdb_app::Engine, RequestContext, BizId, Document, Language) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Envelope> + Send + 'static,
{
    if let Some(refusal) = refuse_content_type(&headers, &req.rid, req.lang) {
        return refusal;
    }
    let mut caller = Caller::default();
    let segments = segments(&uri);
    let biz = segments.first().map_or("", String::as_str);
    let result = async {
        let (ctx, biz) = native_caller(&req, &headers, biz, Access::Write, &mut caller)?;
        let data = admitted_json_body(&req, body).await?;
        let lang = req.lang;
        Ok(run_engine(&req.state, move |engine| call(engine, ctx, biz, data, lang)).await?)
    }
    .await;
    req.answer(caller, result)
}

/// `POST /api/v3/set/{bk_biz_id}`: the body is the set data.
pub(crate) async fn native_create_set(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    native_write(
        Req::new(state, id, peer),
        uri,
        headers,
        body,
        |engine, ctx, biz, data, lang| async move {
            let rid = ctx.request_id.clone();
            match engine.create_set(&ctx, biz, &data).await {
                Ok(doc) => Envelope::success(rid, Value::Object(doc)),
                Err(f) => failure_envelope(rid, &f.in_language(lang)),
            }
        },
    )
    .await
}

/// `POST /api/v3/set/{bk_biz_id}/batch`: `{"sets": […], "atomic": bool}`, answered by
/// [`cmdb_app::Engine::handle_batch`], so the batch fields and the envelope are the engine's.
pub(crate) async fn native_batch_create(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    native_write(
        Req::new(state, id, peer),
        uri,
        headers,
        body,
        |engine, ctx, biz, data, lang| async move {
            engine.handle_batch(&ctx, biz, &data, lang).await
        },
    )
    .await
}

/// A listing envelope: `data: {"count": total, "info": [the page]}`.
fn listing(listing: Listing, rid: &str) -> Envelope {
    Envelope::success(rid.to_owned(), listing.to_value())
}

/// `GET /api/v3/set/{bk_biz_id}?start=&limit=`: a page of the biz's sets, by `bk_set_id`.
pub(crate) async fn find_sets(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let req = Req::new(state, id, peer);
    let mut caller = Caller::default();
    let segments = segments(&uri);
    let result = async {
        let biz = segments.first().map_or("", String::as_str);
        let (ctx, biz) = native_caller(&req, &headers, biz, Access::Read, &mut caller)?;
        let page = page_of(&uri)?;
        let found = run_engine(&req.state, move |engine| async move {
            engine.find_sets_as(&ctx, biz, None, page).await
        })
        .await??;
        Ok(listing(found, &req.rid))
    }
    .await;
    req.answer(caller, result)
}

/// `GET /api/v3/set/{bk_biz_id}/{bk_set_id}/modules?start=&limit=`: a page of the set's
/// modules, by `bk_module_id`.
pub(crate) async fn list_modules(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let req = Req::new(state, id, peer);
    let mut caller = Caller::default();
    let segments = segments(&uri);
    let result = async {
        let biz = segments.first().map_or("", String::as_str);
        let set = segments.get(1).map_or("", String::as_str);
        let (ctx, biz) = native_caller(&req, &headers, biz, Access::Read, &mut caller)?;
        let set = set_from_path(set)?;
        let page = page_of(&uri)?;
        let found = run_engine(&req.state, move |engine| async move {
            engine.list_modules_as(&ctx, biz, set, page).await
        })
        .await??;
        Ok(listing(found, &req.rid))
    }
    .await;
    req.answer(caller, result)
}

/// `GET /healthz`: the server answers, and names its store backend; 503 with the 1199999
/// envelope while the store cannot serve (its [`cmdb_core::ports::SetStore::health`]).
pub(crate) async fn healthz(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
) -> Response {
    let store = state.engine.store();
    if let Err(e) = store.health().await {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            rid,
            lang,
            &Error::Store(e).into(),
        );
    }
    let backend = store.backend();
    ok(&Envelope::success(
        rid,
        json!({"status": "ok", "store": backend}),
    ))
}

/// `GET /metrics`: the Prometheus text of [`crate::ServeOptions::metrics`] (404 when the
/// server was given none). With apps, the caller must be an authenticated app (1199045 /
/// 1199046 otherwise), as on the native routes.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
) -> Response {
    let req = Req::new(state, id, peer);
    let Some(metrics) = req.state.metrics.clone() else {
        return fail(
            StatusCode::NOT_FOUND,
            req.rid,
            req.lang,
            &Error::NotFound.into(),
        );
    };
    let mut caller = Caller::default();
    let admitted = (|| {
        req.precheck(&headers)?;
        let credentials = native_credentials(&headers)?;
        caller.who.app = credentials.app_code.clone().unwrap_or_default();
        let admitted = req.state.gate.admit(&credentials)?;
        caller.admitted = true;
        caller.who.app_verified = admitted.verified();
        Ok::<_, Refused>(())
    })();
    if let Err(refused) = admitted {
        return req.answer(caller, Err(refused.into()));
    }
    let text = metrics.render();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    let response = ([(axum::http::header::CONTENT_TYPE, content_type)], text);
    caller.on(axum::response::IntoResponse::into_response(response))
}

/// An unknown path: 404 with the 1199019 envelope.
pub(crate) async fn not_found(Extension(RequestId(rid, lang)): Extension<RequestId>) -> Response {
    fail(StatusCode::NOT_FOUND, rid, lang, &Error::NotFound.into())
}

/// A known path with another method: 405 with the 1199019 envelope.
pub(crate) async fn method_not_allowed(
    Extension(RequestId(rid, lang)): Extension<RequestId>,
) -> Response {
    fail(
        StatusCode::METHOD_NOT_ALLOWED,
        rid,
        lang,
        &Error::NotFound.into(),
    )
}
