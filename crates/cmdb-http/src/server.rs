//! The accept loop under the router: hyper's HTTP/1 connections driven one task each, with the
//! header timeout, the head size limit, the keep-alive idle limit, the connection cap (503
//! beyond it), and a shutdown
//! that lets connections finish until a deadline and then closes them.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::ServeOptions;
use crate::idle::{Activity, Tracked, Watched};
use crate::raw::{EnvelopeIo, IdSource, failure_for_status, response_bytes};

/// The largest head limit applied: hyper's read buffer (and so the largest body chunk) never
/// exceeds the smallest body budget (1 MiB), so one chunk can always get its share.
pub(crate) const MAX_HEAD_LIMIT: usize = 1 << 20;

/// How long a refused connection's 503 answer may take to write (and the client's request
/// to drain).
const REFUSAL_WRITE: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks every
/// connection to finish its request in flight and close, and closes those still open after
/// `options.shutdown_deadline`.
///
/// # Errors
/// None today: accept errors (e.g. out of file descriptors) are logged and retried.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    options: &ServeOptions,
    ids: IdSource,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    // half_close: a client that shuts its sending side after a request still gets the answer.
    http.timer(TokioTimer::new())
        .half_close(true)
        .header_read_timeout(options.header_timeout)
        .max_buf_size(options.max_header_bytes.clamp(8192, MAX_HEAD_LIMIT));
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let (closing, closing_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // EMFILE and friends: give other connections a moment to close.
                        tracing::warn!(target: "cmdb_http", "accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    let answer = response_bytes(503, "Service Unavailable", &failure_for_status(503), &ids);
                    connections.spawn(async move {
                        let mut stream = stream;
                        let _ = tokio::time::timeout(REFUSAL_WRITE, async {
                            stream.write_all(&answer).await?;
                            stream.shutdown().await?;
                            // Read what the client sent before closing: closing a socket
                            // with unread bytes resets it, and the client may lose the answer.
                            let mut sink = [0u8; 4096];
                            while stream.read(&mut sink).await? > 0 {}
                            std::io::Result::Ok(())
                        })
                        .await;
                    });
                    continue;
                };
                let activity = Activity::new();
                let io = TokioIo::new(EnvelopeIo::new(Watched::new(stream, activity.clone()), ids.clone()));
                let service = Tracked::new(TowerToHyperService::new(router.clone()), activity.clone());
                let connection = http.serve_connection(io, service);
                let mut closing_seen = closing_seen.clone();
                let idle = options.idle_timeout;
                connections.spawn(async move {
                    let _slot = slot;
                    tokio::pin!(connection);
                    let mut asked = false;
                    loop {
                        tokio::select! {
                            _ = connection.as_mut() => break,
                            _ = closing_seen.changed(), if !asked => {
                                asked = true;
                                connection.as_mut().graceful_shutdown();
                            }
                            () = activity.idle_for(idle), if !asked => {
                                // Idle: hyper closes a connection between requests at once.
                                asked = true;
                                connection.as_mut().graceful_shutdown();
                            }
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let finished = tokio::time::timeout(options.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            target: "cmdb_http",
            open = connections.len(),
            "shutdown deadline passed: closing the connections still open"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}
