//! A tokio service that embeds the engine: axum handlers calling it, answering bk-cmdb
//! envelopes with REST statuses (201 created, 409 duplicate name, 403 denied, 500 internal,
//! 400 for the other refusals).
//!
//! `POST /sets/{biz}` creates a set from the JSON body (the set's data, as bk-cmdb's
//! `POST /api/v3/set/{bk_biz_id}`), acting as the `X-User` header's user for the
//! `X-Supplier-Account` header's tenant; `GET /sets/{biz}` lists the biz's sets.
//!
//! `cargo run -p cmdb-app --example axum_service` serves on a free loopback port with the seed's
//! catalog in memory, sends itself the seed's create twice and a list, checks and prints the
//! answers, and exits. With `-- --listen 127.0.0.1:3000 [--db sqlite://cmdb.sqlite]` it serves
//! until ctrl-c, then closes the store.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use cmdb_app::{Engine, Envelope, Failure};
use cmdb_core::plan::RequestContext;
use cmdb_core::{BizId, Code};
use serde_json::{Value, json};

/// The routes, over one engine (an `Engine` is a cheap clone).
fn app(engine: Engine) -> Router {
    Router::new()
        .route("/sets/{biz}", post(create_set).get(list_sets))
        .with_state(engine)
}

/// A header's value as text, `""` when absent or not text.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The caller, as the headers name it (the engine refuses an empty user with 1199027).
fn caller(engine: &Engine, headers: &HeaderMap) -> RequestContext {
    RequestContext {
        user: header_text(headers, "x-user").to_owned(),
        supplier_account: match header_text(headers, "x-supplier-account") {
            "" => "0".to_owned(),
            tenant => tenant.to_owned(),
        },
        app_code: "axum_service".to_owned(),
        request_id: engine.new_request_id(),
    }
}

/// The HTTP status of an engine's answer.
fn status(result: &Result<Value, Failure>) -> StatusCode {
    match result {
        Ok(_) => StatusCode::OK,
        Err(f) if f.is(Code::SetNameDuplicated) => StatusCode::CONFLICT,
        Err(f) if f.is(Code::PermissionDenied) => StatusCode::FORBIDDEN,
        Err(f) if f.is(Code::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// The answer: the status, and the bk-cmdb envelope as the body.
fn answer(request_id: String, ok: StatusCode, result: Result<Value, Failure>) -> impl IntoResponse {
    let status = match status(&result) {
        StatusCode::OK => ok,
        refused => refused,
    };
    let envelope = match result {
        Ok(data) => Envelope::success(request_id, data),
        Err(failure) => Envelope::failure(request_id, &failure),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        envelope.to_json(),
    )
}

async fn create_set(
    State(engine): State<Engine>,
    Path(biz): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let ctx = caller(&engine, &headers);
    let created = async {
        // Strict JSON: a repeated key or a body that is no object is 1199000.
        let data = cmdb_app::request::parse_body(&body).map_err(Failure::from)?;
        let doc = engine.create_set(&ctx, BizId(biz), &data).await?;
        Ok(Value::Object(doc))
    };
    let result = created.await;
    answer(ctx.request_id, StatusCode::CREATED, result)
}

async fn list_sets(
    State(engine): State<Engine>,
    Path(biz): Path<i64>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let ctx = caller(&engine, &headers);
    let sets = engine.sets(&ctx.supplier_account, BizId(biz), None).await;
    let result = sets.map(|sets| json!(sets));
    answer(ctx.request_id, StatusCode::OK, result)
}

/// The value after `flag` on the command line.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = arg("--listen");
    let engine = Engine::open(&arg("--db").unwrap_or_else(|| "memory:".to_owned())).await?;
    engine
        .load_fixture(include_str!("fixture.json").parse()?, "admin")
        .await?;
    let listener =
        tokio::net::TcpListener::bind(listen.as_deref().unwrap_or("127.0.0.1:0")).await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, app(engine.clone())).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    let server = tokio::spawn(async move { serve.await });

    if listen.is_some() {
        tokio::signal::ctrl_c().await?;
    } else {
        demo(&format!("http://{addr}")).await?;
    }
    let _ = stop.send(());
    server.await??;
    engine.close().await?;
    Ok(())
}

/// The seed's create twice and once with no user, then the list, each answer checked.
async fn demo(base: &str) -> anyhow::Result<()> {
    let seed: Value = include_str!("create_set.json").parse()?;
    let client = reqwest::Client::new();
    let create = |user: &str| {
        client
            .post(format!("{base}/sets/1"))
            .header("X-User", user)
            .header("X-Supplier-Account", "123456789")
            .json(&seed["data"])
    };
    let created = send("create", create("xxx"), StatusCode::CREATED, 0).await?;
    anyhow::ensure!(created["bk_set_id"] == json!(4780), "create: not set 4780");
    send(
        "create again",
        create("xxx"),
        StatusCode::CONFLICT,
        1_101_108,
    )
    .await?;
    send("no user", create(""), StatusCode::BAD_REQUEST, 1_199_027).await?;
    let list = client
        .get(format!("{base}/sets/1"))
        .header("X-Supplier-Account", "123456789");
    let sets = send("list", list, StatusCode::OK, 0).await?;
    let ids: Vec<&Value> = sets
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| &s["bk_set_id"])
        .collect();
    anyhow::ensure!(ids == [&json!(1), &json!(4780)], "list: ids {ids:?}");
    Ok(())
}

/// Sends `request`, prints the answer, checks its status and envelope code; its data.
async fn send(
    what: &str,
    request: reqwest::RequestBuilder,
    status: StatusCode,
    code: i64,
) -> anyhow::Result<Value> {
    let response = request.send().await?;
    let got = response.status();
    let text = response.text().await?;
    println!("{what}: {got} {text}");
    let mut envelope: Value = text.parse()?;
    anyhow::ensure!(got == status, "{what}: status {got}, expected {status}");
    anyhow::ensure!(
        envelope["code"] == json!(code),
        "{what}: expected code {code}"
    );
    Ok(envelope["data"].take())
}
