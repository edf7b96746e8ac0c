//! The route handlers: each reads the HTTP request into the engine's terms, makes one engine
//! call as a task of its own, and answers with the envelope in the caller's language.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cmdb_app::request::{parse_biz_id, parse_body};
use cmdb_app::{Envelope, Failure, Language, RequestMeta};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Error, SetId};
use serde_json::{Value, json};

use crate::AppState;
use crate::http_io::{
    RequestId, app_code, authorization, fail, failure_envelope, ok, read_body, refuse_content_type,
    run_engine, supplier_account, user,
};

/// Answers a failure of the engine's rules: HTTP 200, as bk-cmdb does.
fn refused(request_id: String, language: Language, failure: &Failure) -> Response {
    fail(StatusCode::OK, request_id, language, failure)
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
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(f) => return refused(rid, lang, &f),
    };
    let meta = RequestMeta {
        request_id: Some(rid.clone()),
        language: Some(lang),
        authorization: authorization(&headers),
    };
    let answer = run_engine(&state, move |engine| async move {
        engine.handle_create_set_with(&body, &meta).await
    })
    .await;
    match answer {
        Ok(envelope) => ok(&envelope),
        Err(f) => refused(rid, lang, &f),
    }
}

/// The body, user, tenant, app code and biz of a native write, checked in the ESB's order:
/// the body (a JSON object within the limits), the user, the biz id; then the tenant.
async fn native_request(
    state: &AppState,
    rid: &str,
    headers: &HeaderMap,
    biz: &str,
    body: Body,
) -> Result<(RequestContext, BizId, Document), Failure> {
    let body = parse_body(&read_body(body).await?)?;
    let user = user(headers, &state.engine)?;
    let biz = biz_from_path(biz)?;
    let ctx = RequestContext {
        user,
        supplier_account: supplier_account(headers)?,
        app_code: app_code(headers),
        request_id: rid.to_owned(),
    };
    Ok((ctx, biz, body))
}

/// The common path of a native write: the content type, the request read in the ESB's order,
/// then `call` as a task of its own; its envelope is the answer.
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
    let (ctx, biz, data) = match native_request(&state, &rid, &headers, &segments(path), body).await
    {
        Ok(parts) => parts,
        Err(f) => return refused(rid, lang, &f),
    };
    match run_engine(&state, move |engine| call(engine, ctx, biz, data, lang)).await {
        Ok(envelope) => ok(&envelope),
        Err(f) => refused(rid, lang, &f),
    }
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

/// A listing envelope: `data: {"count": n, "info": [...]}`.
fn listing(rid: String, lang: Language, docs: Result<Vec<Document>, Failure>) -> Response {
    match docs {
        Ok(docs) => ok(&Envelope::success(
            rid,
            json!({"count": docs.len(), "info": docs}),
        )),
        Err(f) => refused(rid, lang, &f),
    }
}

/// `GET /api/v3/set/{bk_biz_id}`: the sets of a biz, by `bk_set_id`.
pub(crate) async fn find_sets(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    let asked =
        biz_from_path(&segments(path)).and_then(|biz| Ok((biz, supplier_account(&headers)?)));
    let (biz, tenant) = match asked {
        Ok(asked) => asked,
        Err(f) => return refused(rid, lang, &f),
    };
    let sets = run_engine(&state, move |engine| async move {
        engine.find_sets(&tenant, biz, None).await
    })
    .await
    .and_then(|r| r);
    listing(rid, lang, sets)
}

/// `GET /api/v3/set/{bk_biz_id}/{bk_set_id}/modules`: the modules of a set, by `bk_module_id`.
pub(crate) async fn list_modules(
    State(state): State<AppState>,
    Extension(RequestId(rid, lang)): Extension<RequestId>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (biz, set) = segments(path);
    let asked = biz_from_path(&biz)
        .and_then(|biz| Ok((biz, set_from_path(&set)?, supplier_account(&headers)?)));
    let (biz, set, tenant) = match asked {
        Ok(asked) => asked,
        Err(f) => return refused(rid, lang, &f),
    };
    let modules = run_engine(&state, move |engine| async move {
        engine.list_modules(&tenant, biz, set).await
    })
    .await
    .and_then(|r| r);
    listing(rid, lang, modules)
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
