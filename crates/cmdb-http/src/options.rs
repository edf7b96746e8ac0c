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
    /// How long a client may take to send a request's body once its head arrived; past it the
    /// answer is 408 with a 1199000 envelope and the connection is closed. Default 30 s.
    pub body_timeout: Duration,
    /// What the bodies being read at once may hold in all, in bytes (at least 1 MiB, one
    /// largest body); a body that finds the budget spent waits for it within its
    /// `body_timeout`. Memory held by requests is then bounded by about this plus
    /// `max_connections × (max_header_bytes + 64 KiB)`. Default 256 MiB.
    pub body_budget_bytes: usize,
    /// The most connections served at once; one more is answered 503 (a 1199997 envelope)
    /// and closed. Default 1024.
    pub max_connections: usize,
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
            max_header_bytes: 64 << 10,
            rate_per_second: 1000,
            rate_burst: 2000,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}
