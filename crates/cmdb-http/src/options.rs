//! What `serve_with` is told besides the engine: who may call (the apps), and the timeouts
//! and limits that keep a slow or hostile client from holding the server.

use std::sync::Arc;
use std::time::Duration;

use cmdb_app::apps::AppRegistry;

/// How the server runs. [`ServeOptions::default`] is what `cmdb serve` uses without flags.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The apps that may call (spec section 16). `None`: callers are trusted (the user and
    /// app code they name are taken as they are).
    pub apps: Option<Arc<AppRegistry>>,
    /// How long a client may take to send a request's head, from the moment the server waits
    /// for it; then the connection is closed without an answer. hyper arms the same timer
    /// while a keep-alive connection waits for its next request, so it also bounds the idle
    /// time. Default 10 s.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle (no request in flight, nothing read)
    /// before it is closed. In effect the shorter of this and `header_timeout`. Default 5 s.
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body once its share of the body budget
    /// is reserved; past it the answer is 408 with a 1199000 envelope and the connection is
    /// closed. It also bounds the wait for that share. Default 30 s.
    pub body_timeout: Duration,
    /// What the bodies being read at once may hold in all, in bytes (at least one largest
    /// body, 1 MiB + 1 byte). A body reserves its whole declared length (`Content-Length`, or
    /// the 1 MiB cap for a chunked one) before any of it is read; one that finds the budget
    /// spent waits, holding none of it, up to `body_timeout` (then 503, 1199997). Memory held
    /// by requests is then bounded by about this plus `max_connections × (max_header_bytes +
    /// 64 KiB)`. What is reserved and read, and how many bodies wait, are gauges of the
    /// metrics (see [`crate::BODY_RESERVED_BYTES`]). Default 256 MiB.
    pub body_budget_bytes: usize,
    /// The most connections served at once. When all are taken, a new connection closes the
    /// idle or slow one (no request in flight: between requests or still sending its head) of
    /// the peer holding the most connections, the one quiet the longest; when every connection
    /// has a request in flight, the new one is answered 503 (a 1199997 envelope) and closed.
    /// Default 1024.
    pub max_connections: usize,
    /// The most connections one peer address (an IPv6 /64) may hold at once; one more is
    /// answered 503 (a 1199997 envelope) and closed. 0: no per-peer cap (behind a proxy every
    /// connection comes from its address). Default 256.
    pub max_connections_per_peer: usize,
    /// With `apps`: the most body bytes one peer may have in flight before its app is
    /// authenticated (ESB bodies that carry their credentials); past it a request is answered
    /// 429 (1199997) without reading its body. One body is always admitted. Default 8 MiB.
    pub unauthenticated_bytes_per_peer: usize,
    /// With `apps`: how many failed authentications (1199045, 1199046, and an unreadable
    /// body before the app was known) a peer may make a second on average; the same times ten
    /// for one claimed app code. Over it: 429 (1199997) before the body is read or a secret
    /// compared. 0 disables the limit. Default 1.
    pub auth_failures_per_second: u32,
    /// The bucket of failed authentications of a peer (ten times it for a code). Default 20.
    pub auth_failure_burst: u32,
    /// The largest request head (request line and headers) in bytes; a larger one is answered
    /// 431 (or 414 for a long request line) with an envelope. Default 64 KiB; applied within
    /// 8 KiB (hyper's minimum) and 1 MiB (it also caps hyper's read buffer, and so the size of
    /// a body chunk).
    pub max_header_bytes: usize,
    /// Requests per second each app of `apps` may send on average (a token bucket refilled at
    /// this rate; 0 disables the limit). Over it: 429 with a 1199997 envelope. Without `apps`
    /// there is no limit (callers are trusted, and a claimed app code proves nothing).
    /// Default 1000.
    pub rate_per_second: u32,
    /// The bucket's size: how many requests an app may send at once after a quiet time.
    /// Default 2000.
    pub rate_burst: u32,
    /// After shutdown is asked: how long connections in flight may take to finish; then they
    /// are closed, the engine calls already started run to their end, the store is closed
    /// and `serve` returns. Default 10 s.
    pub shutdown_deadline: Duration,
    /// What `GET /metrics` answers (the Prometheus text of the metrics recorder the program
    /// installed); `None`: no `/metrics` route (404). With `apps`, only an authenticated app
    /// may read it (credentials as on the native routes).
    pub metrics: Option<MetricsText>,
    /// How long a watch (`resource_watch`) waits for a matching event before it answers
    /// `bk_watched: false`. A waiting watch holds no thread and costs no CPU. Default 20 s.
    pub watch_timeout: Duration,
    /// The largest body of `POST /api/v3/set/{bk_biz_id}/import`, in bytes (over it: 413 with
    /// 1199000). Row by row the body is streamed, holding 2 MiB of the body budget; an atomic
    /// import's is read whole and reserved from the budget first. Default 64 MiB.
    pub import_max_bytes: usize,
}

/// Renders the metrics as Prometheus text: `MetricsText::new(move || handle.render())` over a
/// `metrics-exporter-prometheus` handle, or any function of the program's.
#[derive(Clone)]
pub struct MetricsText(Arc<dyn Fn() -> String + Send + Sync>);

impl MetricsText {
    /// Metrics rendered by `render` on every scrape.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        MetricsText(Arc::new(render))
    }

    /// The text of one scrape.
    pub fn render(&self) -> String {
        (self.0)()
    }
}

impl std::fmt::Debug for MetricsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsText(..)")
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            apps: None,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            body_budget_bytes: 256 << 20,
            max_connections: 1024,
            max_connections_per_peer: 256,
            unauthenticated_bytes_per_peer: 8 << 20,
            auth_failures_per_second: 1,
            auth_failure_burst: 20,
            max_header_bytes: 64 << 10,
            rate_per_second: 1000,
            rate_burst: 2000,
            shutdown_deadline: Duration::from_secs(10),
            metrics: None,
            watch_timeout: Duration::from_secs(20),
            import_max_bytes: 64 << 20,
        }
    }
}
