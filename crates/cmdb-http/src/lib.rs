//! `cmdb-http`: the inbound HTTP adapter of the create-set engine, bk-cmdb's ESB and native
//! routes over [`cmdb_app::Engine`], axum routes on hyper connections it drives itself (tokio). It holds no rules of its own: every
//! answer is an envelope the engine built, or (for what the engine never sees: an unknown
//! route, a wrong method, a body that is not JSON by its content type) an envelope carrying one
//! of the engine's error codes.
//!
//! # Routes
//!
//! | method and path | what |
//! |---|---|
//! | `POST /api/c/compapi/v2/cc/create_set/` (also without the slash) | ESB body, parsed as [`Engine::handle_create_set_with`] does, the app checked, then [`Engine::create_set`] |
//! | `POST /api/v3/set/{bk_biz_id}` | native: the body is the set data; user and tenant from headers |
//! | `POST /api/v3/set/{bk_biz_id}/batch` | native batch: `{"sets": […], "atomic": bool}` |
//! | `GET /api/v3/set/{bk_biz_id}?start=&limit=` | a page of the biz's sets, `data: {"count", "info"}` |
//! | `GET /api/v3/set/{bk_biz_id}/{bk_set_id}/modules?start=&limit=` | a page of the set's modules, same shape |
//! | `GET /healthz` | `data: {"status": "ok", "store": <backend>}` |
//!
//! Native headers: the user from `X-Bkcmdb-User` (or bk-cmdb's forwarded `BK_User`,
//! `Bk-Username`), else `bk_username` of `X-Bkapi-Authorization`, else the engine's default
//! user, else 1199027 (also for a name that is not a valid user name); the tenant from
//! `X-Bkcmdb-Supplier-Account` (or `HTTP_BK_SUPPLIER_ACCOUNT`), default `"0"`; the app code
//! from `X-Bkapi-Authorization`, else `X-Bkcmdb-App-Code` (or `Bk-App-Code`), default `""`. Our name wins over bk-cmdb's when
//! both are sent.
//!
//! ESB credentials (spec section 15): the `X-Bkapi-Authorization` header, a JSON object as
//! BlueKing's SDKs send it, supplies each of `bk_app_code`, `bk_app_secret` and `bk_username`
//! the body lacks; a header that is not a JSON object is 1199045. The native routes read the
//! same header (its `bk_username` after the user headers).
//!
//! # Callers (spec section 16)
//!
//! With [`ServeOptions::apps`], every route but `/healthz` needs a listed app code with its
//! secret (else 1199046), and the tenant and user must be in the app's grant (else 9900403
//! with the `permission` object). Reads need a user (1199027) and the view permission
//! ([`cmdb_app::auth::ViewAuthorizer`], 9900403 naming `find_business_resource`). Each app
//! has a token bucket ([`ServeOptions::rate_per_second`]; over it HTTP 429, 1199997), and
//! failed authentications are limited per peer and per claimed code
//! ([`ServeOptions::auth_failures_per_second`]). Credentials in headers are checked before the
//! body is read (all of the native routes'; on the ESB route an `X-Bkapi-Authorization` with a
//! code and a secret); a body carrying its own credentials is read within its peer's
//! [`ServeOptions::unauthenticated_bytes_per_peer`]. Order on the ESB route: repeated identity
//! headers, the peer's failures (429), the header credentials (1199045, 1199046), the body
//! (1199000), credentials (1199045), app (1199046, 1199997), user, biz, data (1199027, …),
//! grant (9900403), then the engine. Codes and secrets are compared exactly as sent.
//!
//! # Language
//!
//! `Blueking-Language` (or `HTTP_BLUEKING_LANGUAGE`) selects the language of `message` on every
//! route and every failure, the HTTP layer's own included: `en`, or `zh-cn` / `zh` / `cn` for
//! bk-cmdb's Chinese templates. Without it (or with a tag it does not know) the engine's
//! default language applies (`cmdb serve --default-language`).
//!
//! # Status codes
//!
//! Every response body is an envelope (`result, code, message, permission, request_id, data`).
//! Whatever the engine answers, success or refusal, is HTTP 200, as bk-cmdb does; that includes
//! 1199000 for a body that is not a JSON object, nested deeper than 64 levels or over 1 MiB.
//! Only what the engine never sees gets another status, still with an envelope body:
//! - a body that does not arrive within [`ServeOptions::body_timeout`]: 408, 1199000;
//! - over the rate limit: 429, 1199997; over [`ServeOptions::max_connections`]: 503, 1199997;
//! - a head hyper refuses (malformed: 400, 1199006 `'request'`; too large: 431, 1199015
//!   `'headers'`; request line too long: 414, 1199015 `'uri'`): hyper writes these itself
//!   with an empty body, and the connection's writer swaps in the envelope;
//! - an unknown path: 404, code 1199019 `No relevant data found`;
//! - a known path with another method: 405 (with `Allow`), code 1199019;
//! - a `POST` whose `Content-Type` is not JSON (`application/json` or `application/*+json`,
//!   any parameters): 415, code 1199000 `Deserializing JSON data failed: content type must be
//!   application/json`. A missing `Content-Type` is read as JSON, so that `curl --data-binary`
//!   style clients without headers work.
//!
//! # Timeouts, limits, shutdown, log
//!
//! See [`ServeOptions`] and `README.md` ("Running it in production"). Each answer, and each
//! refusal of the HTTP layer (503, hyper's 400/414/431, a 505 for an HTTP/2 preface, a head
//! timeout), writes one `tracing` event (target `cmdb_http::access`): event, method, route,
//! status, code, app and user (verified only), claimed app and user, request id, peer,
//! duration; every text field a string (quoted and escaped in the text format) of at most 128
//! characters; never a secret or a body.
//!
//! # Request ids
//!
//! An `X-Request-Id` of 1 to 64 visible ASCII characters is used as the envelope's
//! `request_id` (and so in audit records); anything else is replaced by a fresh engine id. The
//! id used is echoed in the `X-Request-Id` response header of every response.
//!
//! # Blocking
//!
//! None: the stores run their blocking i/o on their own threads (a writer thread that
//! group-commits, reader threads) and their `async fn`s only wait on channels, so every engine
//! call runs as an ordinary task on the caller's runtime, current-thread or multi-thread, and
//! the async workers stay free to accept and parse while writers wait on the disk.
#![deny(missing_docs)]

mod access;
mod body;
mod gate;
mod handlers;
mod http_io;
mod idle;
mod import;
mod options;
mod peer;
mod rate;
mod raw;
mod refusal;
mod server;
mod slots;
mod watch_routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use access::{HTTP_DURATION, HTTP_REQUESTS};
pub use body::{BODY_HELD_BYTES, BODY_RESERVATIONS, BODY_RESERVED_BYTES, BODY_WAITING};
pub use options::{MetricsText, ServeOptions};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cmdb_app::Engine;
use tokio::net::TcpListener;
use tokio::sync::RwLock;

/// Describes the server's own metrics (the body budget's gauges, see [`BODY_RESERVED_BYTES`]
/// and its neighbours) to the installed recorder. Call it once after installing a recorder.
pub fn describe_metrics() {
    body::describe();
}

/// The ESB route of `create_set`, with its trailing slash.
pub const ESB_CREATE_SET_PATH: &str = "/api/c/compapi/v2/cc/create_set/";

/// The ESB route of `resource_watch`, with its trailing slash.
pub const ESB_WATCH_PATH: &str = "/api/c/compapi/v2/cc/resource_watch/";

/// What every handler shares: the engine, a lock each engine call holds for reading (so that
/// [`serve`] can wait for calls whose client went away before it closes the store), the gate
/// that admits callers, the body budget and timeout, and the head limit.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    pub(crate) in_flight: Arc<RwLock<()>>,
    pub(crate) gate: Arc<gate::Gate>,
    pub(crate) body_timeout: Duration,
    /// What all bodies being read may hold at once, and each peer's unauthenticated share.
    pub(crate) body: Arc<body::BodyBudget>,
    /// The largest request head, in bytes.
    pub(crate) max_header_bytes: usize,
    /// What `GET /metrics` answers, when served.
    pub(crate) metrics: Option<MetricsText>,
    /// How long a watch waits for an event.
    pub(crate) watch_timeout: Duration,
    /// Set once [`serve_with`]'s shutdown began: waiting watches answer at once.
    pub(crate) stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// The largest import body, in bytes.
    pub(crate) import_max_bytes: usize,
}

impl AppState {
    fn new(engine: Engine, options: &ServeOptions) -> Self {
        AppState {
            engine,
            in_flight: Arc::new(RwLock::new(())),
            gate: Arc::new(gate::Gate::new(options)),
            body_timeout: options.body_timeout,
            body: Arc::new(body::BodyBudget::new(
                options.body_budget_bytes,
                options.unauthenticated_bytes_per_peer,
            )),
            max_header_bytes: server::head_limit(options.max_header_bytes),
            metrics: options.metrics.clone(),
            watch_timeout: options.watch_timeout,
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            import_max_bytes: options.import_max_bytes,
        }
    }
}

/// The application's routes over `engine`, with the request-id layer and the envelope
/// fallbacks (see the crate docs for the routes and status codes).
///
/// Use it to mount the routes into a larger service, or to drive them without a socket; to
/// listen on a socket with graceful shutdown, use [`serve`], which also waits for detached
/// engine calls and closes the store.
pub fn router(engine: Engine) -> Router {
    router_with(engine, &ServeOptions::default())
}

/// [`router`] with the apps, rate limit and body timeout of `options` (its connection-level
/// limits need [`serve_with`]).
pub fn router_with(engine: Engine, options: &ServeOptions) -> Router {
    build(AppState::new(engine, options))
}

fn build(state: AppState) -> Router {
    Router::new()
        .route(ESB_CREATE_SET_PATH, post(handlers::esb_create_set))
        .route(
            ESB_CREATE_SET_PATH.trim_end_matches('/'),
            post(handlers::esb_create_set),
        )
        .route(
            "/api/v3/set/{bk_biz_id}",
            post(handlers::native_create_set).get(handlers::find_sets),
        )
        .route(
            "/api/v3/set/{bk_biz_id}/batch",
            post(handlers::native_batch_create),
        )
        .route(
            "/api/v3/set/{bk_biz_id}/import",
            post(import::native_import),
        )
        .route(
            "/api/v3/set/{bk_biz_id}/{bk_set_id}/modules",
            get(handlers::list_modules),
        )
        .route(ESB_WATCH_PATH, post(watch_routes::esb_watch))
        .route(
            ESB_WATCH_PATH.trim_end_matches('/'),
            post(watch_routes::esb_watch),
        )
        .route(
            "/api/v3/event/watch/resource/{bk_resource}",
            post(watch_routes::native_watch),
        )
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // Bodies are read by `body::read_body`, which stops past 1 MiB and lets the engine's
        // `parse_body` refuse with its envelope; axum's own limit would answer in plain text.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_io::request_id_layer,
        ))
        .with_state(state)
}

/// Serves [`router`]`(engine)` on `listener` until `shutdown` completes, then shuts down
/// gracefully and closes the store.
///
/// Graceful: once `shutdown` completes, no new connection is accepted, requests in flight
/// finish and are answered, idle keep-alive connections are closed. Then it waits for any
/// engine call still running whose client went away, and closes the store
/// (`engine.store().close()`), also when serving failed.
///
/// Any tokio runtime will do (current-thread or multi-thread). A typical `cmdb serve`:
///
/// ```no_run
/// # async fn run(engine: cmdb_app::Engine) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// cmdb_http::serve(engine, listener, cmdb_http::shutdown_signal()).await
/// # }
/// ```
///
/// # Errors
/// An I/O error of the listener, or a store that fails to close (its cause in the message).
pub async fn serve(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(engine, listener, shutdown, ServeOptions::default()).await
}

/// [`serve`] with `options`: the apps that may call, the timeouts and the limits (see
/// [`ServeOptions`]). Once `shutdown` completes, connections get
/// `options.shutdown_deadline` to finish; those still open are then closed (an engine call
/// already started still runs to its end: its create is stored whole or not at all), and the
/// store is closed.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let state = AppState::new(engine, &options);
    let ids_engine = state.engine.clone();
    let ids: raw::IdSource =
        Arc::new(move || (ids_engine.new_request_id(), ids_engine.options().language));
    let stopping = Arc::clone(&state.stopping);
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
    };
    let served = server::run(listener, build(state.clone()), &options, ids, shutdown).await;
    // Every engine call holds a read guard until it finishes, even when its client is gone.
    let quiet = state.in_flight.write().await;
    let closed = state
        .engine
        .store()
        .close()
        .await
        .map_err(|e| std::io::Error::other(CloseFailed(e)));
    drop(quiet);
    served.and(closed)
}

/// Completes on SIGTERM or ctrl-c (SIGINT), whichever comes first: the usual `shutdown`
/// argument of [`serve`]. The handlers are installed when this is called (so a signal that
/// arrives before the future is first polled is not lost, nor does it kill the process); it
/// must be called inside a tokio runtime. A signal whose handler cannot be installed is never
/// awaited (it does not end the server).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The store did not close cleanly when the server stopped: the `io::Error` [`serve_with`]
/// answers then carries this, the store's error kept as its source.
#[derive(Debug)]
struct CloseFailed(cmdb_core::StoreError);

impl std::fmt::Display for CloseFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "closing the store: {}", self.0)
    }
}

impl std::error::Error for CloseFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
