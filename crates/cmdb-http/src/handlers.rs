//! The route handlers: each establishes the caller (app, user, grant), reads the HTTP request
//! into the engine's terms, makes one engine call as a task of its own, and answers with the
//! envelope in the caller's language.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use cmdb_app::paging::{Listing, Page};
use cmdb_app::request::{credentials, parse_biz_id, parse_body, parse_esb_with};
use cmdb_app::{Envelope, Failure, Language};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Error, SetId};
use serde_json::{Value, json};

use crate::AppState;
use crate::gate::Access;
use crate::http_io::{
    Caller, RequestId, authorization, fail, failure_envelope, native_credentials, ok, read_body,
    refuse_content_type, run_engine, status_of, supplier_account, user,
};

/// Answers a refusal: HTTP 200 as bk-cmdb does, except 429 (rate) and 408 (body timeout).
fn refused(request_id: String, language: Language, failure: &Failure) -> Response {
    fail(status_of(failure), request_id, language, failure)
}

/// An engine answer or a refusal, with the caller for the access log.
fn answer(
    rid: String,
    lang: Language,
    caller: Caller,
    result: Result<Envelope, Failure>,
) -> Response {
    let response = match result {
        Ok(envelope) => ok(&envelope),
        Err(f) => refused(rid, lang, &f),
    };
    caller.on(response)
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

/// The path segments, or a segment the id rules refuse when they cannot be decoded.
fn segments<T: Default>(path: Result<Path<T>, axum::extract::rejection::PathRejection>) -> T {
    // Only a segment that is not UTF-8 after percent-decoding is rejected here; the empty
    // default is then refused by the id rules as not integral.
    path.map(|Path(p)| p).unwrap_or_default()
}

/// The page a query string asks for: `start` and `limit`, each at most once, ASCII digits
/// (see [`Page::new`] for the defaults and bounds).
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
        let slot = match key {
            "start" => &mut start,
            "limit" => &mut limit,
            _ => continue,
        };
        let number = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.parse::<i64>().ok())
            .flatten();
        match (slot.is_some(), number) {
            (false, Some(n)) => *slot = Some(n),
            _ => return Err(Error::invalid(key).into()),
        }
    }
    Ok(Page::new(start, limit)?)
}

/// `POST /api/c/compapi/v2/cc/create_set/`: an ESB body, answered by the engine.
pub(crate) async fn esb_create_set(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refusal) = refuse_content_type(&headers, &rid, lang) {
        return refusal;
    }
    let mut caller = Caller::default();
    let result = esb_request(&state, &rid, &headers, body, &mut caller).await;
    answer(rid, lang, caller, result)
}

/// An ESB create in the spec's order: the body (1199000), the credentials (1199045), the app
/// (1199046, 1199997), the envelope fields (1199027, biz, data), the app's grant (9900403),
/// then the engine.
async fn esb_request(
    state: &AppState,
    rid: &str,
    headers: &HeaderMap,
    body: Body,
    caller: &mut Caller,
) -> Result<Envelope, Failure> {
    let body = parse_body(&read_body(body, state.body_timeout, &state.body_budget).await?)?;
    let raw_authorization = authorization(headers);
    let credentials = credentials(&body, raw_authorization.as_deref())?;
    caller.app = credentials.app_code.clone().unwrap_or_default();
    let admitted = state.gate.admit(&credentials)?;
    let args = parse_esb_with(
        &body,
        raw_authorization.as_deref(),
        state.engine.options().default_user.as_deref(),
    )?;
    caller.user.clone_from(&args.user);
    admitted.may_act(&args.supplier_account, &args.user, args.biz, Access::Write)?;
    let ctx = RequestContext {
        user: args.user,
        supplier_account: args.supplier_account,
        app_code: args.app_code,
        request_id: rid.to_owned(),
    };
    let (biz, data) = (args.biz, args.data);
    let doc = run_engine(state, move |engine| async move {
        engine.create_set(&ctx, biz, &data).await
    })
    .await??;
    Ok(Envelope::success(rid.to_owned(), Value::Object(doc)))
}

/// The caller of a native request, admitted: its credentials from the headers (1199045), the
/// app (1199046, 1199997), the user (1199027), the biz from the path, the tenant; then the
/// app's grant for them (9900403 naming the action of `access`).
fn native_caller(
    state: &AppState,
    rid: &str,
    headers: &HeaderMap,
    biz: &str,
    access: Access,
    caller: &mut Caller,
) -> Result<(RequestContext, BizId), Failure> {
    let credentials = native_credentials(headers)?;
    caller.app = credentials.app_code.clone().unwrap_or_default();
    let admitted = state.gate.admit(&credentials)?;
    let user = user(headers, &credentials, &state.engine)?;
    caller.user.clone_from(&user);
    let biz = biz_from_path(biz)?;
    let tenant = supplier_account(headers)?;
    admitted.may_act(&tenant, &user, biz, access)?;
    let ctx = RequestContext {
        user,
        supplier_account: tenant,
        app_code: credentials.app_code.unwrap_or_default(),
        request_id: rid.to_owned(),
    };
    Ok((ctx, biz))
}

/// The common path of a native write: the content type, the body (a JSON object within the
/// limits), the caller ([`native_caller`]), then `call` as a task of its own; its envelope is
/// the answer.
async fn native_write<F, Fut>(
    state: AppState,
    rid: String,
    lang: Language,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
    call: F,
) -> Response
where
    F: FnOnce(cmdb_app::Engine, RequestContext, BizId, Document, Language) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Envelope> + Send + 'static,
{
    if let Some(refusal) = refuse_content_type(&headers, &rid, lang) {
        return refusal;
    }
    let mut caller = Caller::default();
    let result = async {
        let data = parse_body(&read_body(body, state.body_timeout, &state.body_budget).await?)?;
        let (ctx, biz) = native_caller(
            &state,
            &rid,
            &headers,
            &segments(path),
            Access::Write,
            &mut caller,
        )?;
        run_engine(&state, move |engine| call(engine, ctx, biz, data, lang)).await
    }
    .await;
    answer(rid, lang, caller, result)
}

/// `POST /api/v3/set/{bk_biz_id}`: the body is the set data.
pub(crate) async fn native_create_set(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    native_write(
        state,
        rid,
        lang,
        path,
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
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    native_write(
        state,
        rid,
        lang,
        path,
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
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut caller = Caller::default();
    let result = async {
        let (ctx, biz) = native_caller(
            &state,
            &rid,
            &headers,
            &segments(path),
            Access::Read,
            &mut caller,
        )?;
        let page = page_of(&uri)?;
        let found = run_engine(&state, move |engine| async move {
            engine.find_sets_as(&ctx, biz, None, page).await
        })
        .await??;
        Ok(listing(found, &rid))
    }
    .await;
    answer(rid, lang, caller, result)
}

/// `GET /api/v3/set/{bk_biz_id}/{bk_set_id}/modules?start=&limit=`: a page of the set's
/// modules, by `bk_module_id`.
pub(crate) async fn list_modules(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut caller = Caller::default();
    let (biz, set) = segments(path);
    let result = async {
        let (ctx, biz) = native_caller(&state, &rid, &headers, &biz, Access::Read, &mut caller)?;
        let set = set_from_path(&set)?;
        let page = page_of(&uri)?;
        let found = run_engine(&state, move |engine| async move {
            engine.list_modules_as(&ctx, biz, set, page).await
        })
        .await??;
        Ok(listing(found, &rid))
    }
    .await;
    answer(rid, lang, caller, result)
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
