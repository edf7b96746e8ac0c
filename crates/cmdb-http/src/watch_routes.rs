//! The watch routes (spec W3): `POST /api/c/compapi/v2/cc/resource_watch/` (an ESB body with
//! the watch fields and `bk_resource`) and `POST /api/v3/event/watch/resource/{bk_resource}`
//! (the fields as the body, the caller in headers). The long poll runs in the request's own
//! task: it holds no thread while it waits, ends with its connection, and answers at once
//! when the server starts shutting down.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use cmdb_app::request::{credentials, esb_tenant, esb_user};
use cmdb_app::watch::WatchRequest;
use cmdb_app::{Envelope, Failure};
use cmdb_core::plan::RequestContext;

use crate::AppState;
use crate::handlers::{Req, admitted_json_body, esb_admitted, native_identity};
use crate::http_io::{Caller, Refusal, RequestId, refuse_content_type, supplier_account};
use crate::peer::Peer;

/// `POST /api/c/compapi/v2/cc/resource_watch/`: credentials as for `create_set`, then the
/// user (1199027), the tenant, the app's grant (9900403), the watch fields (1199006), the
/// watch.
pub(crate) async fn esb_watch(
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
    let result = async {
        let (body, admitted, raw_authorization) =
            esb_admitted(&req, &headers, body, &mut caller).await?;
        let named = credentials(&body, raw_authorization.as_deref())?;
        let default_user = req.state.engine.options().default_user.as_deref();
        let user = esb_user(named.user, default_user)?;
        caller.who.user.clone_from(&user);
        let tenant = esb_tenant(&body)?;
        admitted.may_watch(&tenant, &user)?;
        caller.who.user_verified = admitted.verified();
        let request = WatchRequest::from_fields(None, &body)?;
        let ctx = RequestContext {
            user,
            supplier_account: tenant,
            app_code: named.app_code.unwrap_or_default(),
            request_id: req.rid.clone(),
        };
        watch(&req, &ctx, &request).await
    }
    .await;
    req.answer(caller, result)
}

/// `POST /api/v3/event/watch/resource/{bk_resource}`: the caller from the headers as on the
/// native create route (1199045, 1199046, 1199997, 1199027, the tenant, 9900403), then the
/// body (a JSON object of the watch fields; 1199000), the fields (1199006), the watch.
pub(crate) async fn native_watch(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req = Req::new(state, id, peer);
    if let Some(refusal) = refuse_content_type(&headers, &req.rid, req.lang) {
        return refusal;
    }
    let mut caller = Caller::default();
    let result = async {
        let (admitted, user, app_code) = native_identity(&req, &headers, &mut caller)?;
        let tenant = supplier_account(&headers)?;
        admitted.may_watch(&tenant, &user)?;
        caller.who.user_verified = admitted.verified();
        let body = admitted_json_body(&req, body).await?;
        // The path's last segment as sent: `set` and `module` need no decoding, and anything
        // else is refused naming `bk_resource` (never axum's plain-text rejection).
        let resource = uri.path().rsplit('/').next().unwrap_or_default();
        let request = WatchRequest::from_fields(Some(resource), &body)?;
        let ctx = RequestContext {
            user,
            supplier_account: tenant,
            app_code,
            request_id: req.rid.clone(),
        };
        watch(&req, &ctx, &request).await
    }
    .await;
    req.answer(caller, result)
}

/// The long poll, in the request's task, answered as an envelope; a shutdown ends its wait
/// (the answer then holds what was found, and the cursor to continue from).
async fn watch(
    req: &Req,
    ctx: &RequestContext,
    request: &WatchRequest,
) -> Result<Envelope, Refusal> {
    let state = &req.state;
    let mut stopping = state.stopping.subscribe();
    let stop = async move {
        // The sender lives as long as the state; an error would mean it is gone: stop then.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    let batch = state
        .engine
        .watch_until(ctx, request, state.watch_timeout, stop)
        .await;
    let batch = batch.map_err(|f: Failure| Refusal::from(f.in_language(req.lang)))?;
    Ok(Envelope::success(req.rid.clone(), batch.to_data()))
}
