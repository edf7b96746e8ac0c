//! Test support: an in-process server over a memory or SQLite store, with the worked example's
//! fixture loaded and a fixed clock, and a small HTTP client around it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cmdb_app::open::{StoreConfig, StoreKind, open_store};
use cmdb_app::{Engine, EngineBuilder};
use cmdb_core::ports::Clock;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The worked example's timestamp, the same in all four places.
pub(crate) const T: &str = "2026-11-27T20:34:01.386+08:00";
/// The worked example's tenant.
pub(crate) const TENANT: &str = "123456789";
/// The user [`Server::get`] reads as when a test names none (reads need a user).
pub(crate) const READER: &str = "reader";

/// Always [`T`].
#[derive(Debug)]
pub(crate) struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(T)
            .expect("T is RFC 3339")
            .with_timezone(&Utc)
    }
}

/// The worked example's fixture.
pub(crate) fn fixture() -> Value {
    json!({
        "bk_supplier_account": TENANT,
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    })
}

/// The seed's request, unchanged.
pub(crate) fn seed_request() -> Value {
    json!({
        "bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_username": "xxx", "bk_token": "xxx",
        "bk_supplier_account": TENANT,
        "bk_biz_id": 1,
        "data": {"bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
                 "bk_capacity": 1000, "description": "description", "set_template_id": 1}
    })
}

/// The store under the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// In memory.
    Memory,
    /// A SQLite file in a temporary directory.
    Sqlite,
}

/// Both backends.
pub(crate) const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

/// A running server.
pub(crate) struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client with keep-alive connections.
    pub client: reqwest::Client,
    /// The engine the server runs (for reading audit records).
    pub engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    dir: Option<TempDir>,
}

/// One answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `X-Request-Id` response header.
    pub request_id: Option<String>,
    /// The `Content-Type` response header.
    pub content_type: Option<String>,
    /// The `Allow` response header.
    pub allow: Option<String>,
    /// The body as text.
    pub text: String,
    /// The body as JSON (null when it is not JSON).
    pub json: Value,
}

/// Starts a server over `backend` with the worked example's fixture.
pub(crate) async fn start(backend: Backend) -> Server {
    start_with(backend, |b| b).await
}

/// Starts a server over `backend`, configuring the engine with `configure`.
pub(crate) async fn start_with(
    backend: Backend,
    configure: impl FnOnce(EngineBuilder) -> EngineBuilder,
) -> Server {
    start_serving(backend, configure, cmdb_http::ServeOptions::default()).await
}

/// Starts a server over `backend`, configuring the engine with `configure`, with `options`.
pub(crate) async fn start_serving(
    backend: Backend,
    configure: impl FnOnce(EngineBuilder) -> EngineBuilder,
    options: cmdb_http::ServeOptions,
) -> Server {
    let dir = match backend {
        Backend::Memory => None,
        Backend::Sqlite => Some(tempfile::tempdir().expect("temp dir")),
    };
    let store = open_store(&store_config(backend, dir.as_ref()))
        .expect("store opens")
        .store;
    let engine = configure(Engine::builder(store).clock(Arc::new(FixedClock))).build();
    engine
        .load_fixture(fixture(), "admin")
        .await
        .expect("fixture loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(cmdb_http::serve_with(
        engine.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    Server {
        base,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        engine,
        stop: Some(stop),
        task,
        dir,
    }
}

/// The store configuration of `backend` in `dir`.
pub(crate) fn store_config(backend: Backend, dir: Option<&TempDir>) -> StoreConfig {
    match backend {
        Backend::Memory => StoreConfig::new(StoreKind::Memory),
        Backend::Sqlite => StoreConfig {
            path: dir.map(|d| d.path().join("cmdb.sqlite")),
            ..StoreConfig::new(StoreKind::Sqlite)
        },
    }
}

impl Server {
    /// The full URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` and reads the answer.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request answered");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ASCII header").to_owned())
        };
        let status = response.status().as_u16();
        let request_id = header("x-request-id");
        let content_type = header("content-type");
        let allow = header("allow");
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            request_id,
            content_type,
            allow,
            text,
            json,
        }
    }

    /// `POST path` with a JSON body and headers.
    pub(crate) async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.post(self.url(path)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// `POST path` with raw bytes and headers (no content type unless given).
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// `GET path` with headers, as the user [`READER`] unless `headers` name a user.
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.get(self.url(path));
        let names_user = headers.iter().any(|(name, _)| {
            ["x-bkcmdb-user", "bk_user", "bk-username"]
                .contains(&name.to_ascii_lowercase().as_str())
        });
        if !names_user {
            request = request.header("X-Bkcmdb-User", READER);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Signals shutdown without waiting.
    pub(crate) fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (a readiness probe, at most 20 s) until the listener no longer accepts: the
    /// shutdown has begun.
    pub(crate) async fn listener_closed(&self) {
        let addr = self.base.trim_start_matches("http://").to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&addr).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the listener still accepts 20 s after the shutdown signal"
            );
            tokio::task::yield_now().await;
        }
    }

    /// Whether `serve` has returned.
    pub(crate) fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Signals shutdown and waits for `serve` to return; gives back the store's directory.
    pub(crate) async fn stop(mut self) -> (std::io::Result<()>, Option<TempDir>) {
        self.signal_stop();
        let result = self.task.await.expect("serve did not panic");
        (result, self.dir)
    }
}

/// `{"result": false, …}` as exact text.
pub(crate) fn failure_text(code: i64, message: &str, request_id: &str) -> String {
    format!(
        r#"{{"result":false,"code":{code},"message":{},"permission":null,"request_id":"{request_id}","data":null}}"#,
        Value::String(message.to_owned())
    )
}

/// Whether `id` is a fresh engine id: 32 lowercase hex characters.
pub(crate) fn is_fresh_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
