//! The accept loop under the router: hyper's HTTP/1 connections driven one task each, with the
//! header timeout, the head size limit, the keep-alive idle limit, the connection slots (a
//! server-wide and a per-peer cap, 503 beyond them, an idle connection closed for a new one
//! when full), an access-log line for each refusal, and a shutdown that lets connections
//! finish until a deadline and then closes them.

use std::future::Future;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ServeOptions;
use crate::access::{self, Who};
use crate::idle::{Activity, Tracked, Watched};
use crate::peer::Peer;
use crate::raw::{EnvelopeIo, IdSource, refusal_for_status, response_bytes};
use crate::slots::{Full, Slots};

/// The largest head limit applied (it also bounds hyper's read buffer, and so what each
/// connection holds besides its body).
pub(crate) const MAX_HEAD_LIMIT: usize = 1 << 20;
/// hyper's smallest read buffer.
const MIN_HEAD_LIMIT: usize = 8192;

/// The head limit applied for `asked`: within 8 KiB (hyper's minimum) and 1 MiB.
pub(crate) fn head_limit(asked: usize) -> usize {
    asked.clamp(MIN_HEAD_LIMIT, MAX_HEAD_LIMIT)
}

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
        // One byte more than the limit: hyper refuses a head still incomplete at that size
        // (so never one within the limit); the router refuses one over it that arrived whole.
        .max_buf_size(head_limit(options.max_header_bytes) + 1);
    let head_max = head_limit(options.max_header_bytes);
    let slots = Slots::new(options.max_connections, options.max_connections_per_peer);
    let (closing, closing_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok((stream, addr)) => (stream, Peer::of(addr.ip())),
                    Err(e) => {
                        // EMFILE and friends: give other connections a moment to close.
                        tracing::warn!(target: "cmdb_http", "accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let activity = Activity::new();
                let slot = match slots.take(peer, activity.clone()) {
                    Ok(slot) => slot,
                    Err(full) => {
                        connections.spawn(refuse(stream, peer, full, ids.clone()));
                        continue;
                    }
                };
                let eviction = slot.eviction();
                let io = TokioIo::new(EnvelopeIo::new(
                    Watched::new(stream, activity.clone(), slot),
                    ids.clone(),
                    peer,
                    head_max,
                ));
                let service = Tracked::new(TowerToHyperService::new(router.clone()), activity.clone(), peer);
                let connection = http.serve_connection(io, service);
                let mut closing_seen = closing_seen.clone();
                let idle = options.idle_timeout;
                let (ids, header_timeout) = (ids.clone(), options.header_timeout);
                connections.spawn(async move {
                    tokio::pin!(connection);
                    let mut asked = false;
                    loop {
                        tokio::select! {
                            served = connection.as_mut() => {
                                if let Err(e) = served
                                    && e.is_timeout()
                                    && activity.partial_head()
                                {
                                    head_timed_out(peer, header_timeout, &ids);
                                }
                                break;
                            }
                            _ = closing_seen.changed(), if !asked => {
                                asked = true;
                                connection.as_mut().graceful_shutdown();
                            }
                            () = activity.idle_for(idle), if !asked => {
                                // Idle: hyper closes a connection between requests at once.
                                asked = true;
                                connection.as_mut().graceful_shutdown();
                            }
                            // Closed for another connection (it had no request in flight).
                            () = eviction.notified() => break,
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

/// Answers a connection that got no slot: 503 with a 1199997 envelope, logged, then closed.
async fn refuse(mut stream: tokio::net::TcpStream, peer: Peer, full: Full, ids: IdSource) {
    let refused = refusal_for_status(503);
    let (request_id, language) = ids();
    let answer = response_bytes(
        503,
        "Service Unavailable",
        &refused,
        &(request_id.clone(), language),
    );
    access::write(&access::Line {
        event: match full {
            Full::Peer => "refused: the peer holds its most connections",
            Full::Server => "refused: every connection has a request in flight",
        },
        method: "-",
        route: "-",
        status: 503,
        code: refused.code().number(),
        who: &Who::default(),
        request_id: &request_id,
        peer: Some(peer),
        duration_ms: 0,
    });
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Read what the client sent before closing: closing a socket with unread bytes
        // resets it, and the client may lose the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// The access-log line of a head that did not arrive within the header timeout (the
/// connection is closed without an answer).
fn head_timed_out(peer: Peer, timeout: std::time::Duration, ids: &IdSource) {
    let (request_id, _) = ids();
    access::write(&access::Line {
        event: "head timeout: closed without an answer",
        method: "-",
        route: "-",
        status: 408,
        code: -1,
        who: &Who::default(),
        request_id: &request_id,
        peer: Some(peer),
        duration_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    });
}
