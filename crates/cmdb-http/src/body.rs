//! Request bodies: the server's body budget, which a body reserves whole before any of it is
//! read (so that partly read bodies can never hold the budget between them and wait for each
//! other), the per-peer share of bodies read before their app is known, and the read itself.
//!
//! The budget is observable through four gauges (the `metrics` facade; `GET /metrics`):
//!
//! | metric | what it counts now |
//! |---|---|
//! | [`BODY_RESERVED_BYTES`] | bytes reserved from the pool (a body's size, in whole KiB) |
//! | [`BODY_RESERVATIONS`] | bodies holding a reservation from the pool |
//! | [`BODY_WAITING`] | bodies waiting for their reservation, holding none of the pool |
//! | [`BODY_HELD_BYTES`] | bytes read into the buffers of bodies that hold a reservation |
//!
//! Each is raised when its state begins and lowered when a guard of that state is dropped, so
//! a cancelled wait or a body whose client went away leaves nothing behind.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::StatusCode;
use cmdb_app::Failure;
use cmdb_app::request::MAX_BODY_BYTES;
use cmdb_core::Error;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http_io::Refusal;
use crate::peer::{Peer, PeerBytes, PeerShare};
use crate::refusal::HttpRefusal;

/// Bytes reserved from the body pool now (each body's size rounded up to whole KiB).
pub const BODY_RESERVED_BYTES: &str = "cmdb_http_body_reserved_bytes";
/// Bodies holding a reservation from the body pool now.
pub const BODY_RESERVATIONS: &str = "cmdb_http_body_reservations";
/// Bodies waiting for their reservation from the body pool now.
pub const BODY_WAITING: &str = "cmdb_http_body_waiting";
/// Bytes read so far into the buffers of bodies holding a reservation.
pub const BODY_HELD_BYTES: &str = "cmdb_http_body_held_bytes";

/// Describes the body budget's gauges to the installed recorder.
pub(crate) fn describe() {
    metrics::describe_gauge!(
        BODY_RESERVED_BYTES,
        metrics::Unit::Bytes,
        "bytes reserved from the body budget by bodies being read"
    );
    metrics::describe_gauge!(
        BODY_RESERVATIONS,
        "bodies holding a reservation from the body budget"
    );
    metrics::describe_gauge!(
        BODY_WAITING,
        "bodies waiting for a reservation from the body budget"
    );
    metrics::describe_gauge!(
        BODY_HELD_BYTES,
        metrics::Unit::Bytes,
        "bytes read into the buffers of bodies holding a reservation"
    );
}

/// One body waiting for the pool, from before the wait until the guard is dropped (the
/// reservation came, the wait timed out, or the request was cancelled).
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!(BODY_WAITING).increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!(BODY_WAITING).decrement(1.0);
    }
}

/// A reservation from the pool as the gauges see it: its bytes and the bytes read under it,
/// both given back when it is dropped.
#[derive(Debug)]
struct Accounted {
    reserved: u64,
    held: u64,
}

impl Accounted {
    fn start(kib: u32) -> Self {
        let reserved = u64::from(kib) * 1024;
        metrics::gauge!(BODY_RESERVED_BYTES).increment(reserved as f64);
        metrics::gauge!(BODY_RESERVATIONS).increment(1.0);
        Accounted { reserved, held: 0 }
    }

    fn hold(&mut self, bytes: usize) {
        let bytes = bytes as u64;
        self.held += bytes;
        metrics::gauge!(BODY_HELD_BYTES).increment(bytes as f64);
    }
}

impl Drop for Accounted {
    fn drop(&mut self) {
        metrics::gauge!(BODY_RESERVED_BYTES).decrement(self.reserved as f64);
        metrics::gauge!(BODY_RESERVATIONS).decrement(1.0);
        metrics::gauge!(BODY_HELD_BYTES).decrement(self.held as f64);
    }
}

/// The most a body reserves: one byte past the limit, enough for `parse_body` to refuse it.
const MAX_RESERVED: usize = MAX_BODY_BYTES + 1;

/// What all bodies being read at once may hold, in KiB, and the per-peer share of
/// unauthenticated ones.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    pool: Arc<Semaphore>,
    pool_kib: usize,
    unauthenticated: PeerBytes,
    /// Parses of bodies whose app is not yet known: at most half the cores at once.
    parses: Arc<Semaphore>,
}

/// Who reads a body: an admitted caller, or one whose credentials are in the body (its peer,
/// when known, is charged the body's share).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// The app (or a trusted caller) was admitted before the body was read.
    Admitted,
    /// The body carries the credentials: its bytes count against the peer's share.
    Unauthenticated(Option<Peer>),
}

/// A body's reservation: its size, its share of the pool and, unauthenticated, of its peer.
#[derive(Debug)]
pub(crate) struct Reserved {
    bytes: usize,
    /// What the gauges count of it (`None` for an empty body, which reserves nothing).
    accounted: Option<Accounted>,
    _pool: Option<OwnedSemaphorePermit>,
    _peer: Option<PeerShare>,
}

impl Reserved {
    /// Counts `bytes` more read into the buffer of this reservation's body (in
    /// [`BODY_HELD_BYTES`], until the reservation is dropped).
    pub(crate) fn hold(&mut self, bytes: usize) {
        if let Some(accounted) = &mut self.accounted {
            accounted.hold(bytes);
        }
    }
}

/// A request body as read, holding its reservation until dropped.
#[derive(Debug)]
pub(crate) struct BodyBytes {
    bytes: Vec<u8>,
    _reserved: Reserved,
}

impl std::ops::Deref for BodyBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl BodyBudget {
    /// A budget of `bytes` (at least one largest body), `per_peer` bytes of unauthenticated
    /// bodies for each peer.
    pub(crate) fn new(bytes: usize, per_peer: usize) -> Self {
        let pool_kib = (bytes / 1024)
            .max(MAX_RESERVED.div_ceil(1024))
            .min(Semaphore::MAX_PERMITS);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        BodyBudget {
            pool: Arc::new(Semaphore::new(pool_kib)),
            pool_kib,
            unauthenticated: PeerBytes::new(per_peer),
            parses: Arc::new(Semaphore::new((cores / 2).max(1))),
        }
    }

    /// Reserves the whole of a body of `hint` (its declared length, or the cap when it has
    /// none; see [`size_of`]) for `reader`, waiting at most `wait` for the pool without
    /// holding any of it.
    ///
    /// # Errors
    /// 429 (1199997) when an unauthenticated peer is past its share; 503 (1199997) when the
    /// pool did not free enough within `wait`.
    pub(crate) async fn reserve(
        &self,
        bytes: usize,
        reader: Reader,
        wait: Duration,
    ) -> Result<Reserved, Refusal> {
        if bytes == 0 {
            return Ok(Reserved {
                bytes,
                accounted: None,
                _pool: None,
                _peer: None,
            });
        }
        let peer = match reader {
            Reader::Unauthenticated(Some(peer)) => Some(
                self.unauthenticated
                    .take(peer, bytes)
                    .ok_or_else(|| Refusal::from(HttpRefusal::TooManyRequests))?,
            ),
            _ => None,
        };
        let kib = bytes.div_ceil(1024).min(self.pool_kib);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        let waiting = Waiting::start();
        let pool = tokio::time::timeout(wait, self.pool.clone().acquire_many_owned(kib))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    HttpRefusal::TooManyRequests.into(),
                )
            })?;
        drop(waiting);
        Ok(Reserved {
            bytes,
            accounted: Some(Accounted::start(kib)),
            _pool: Some(pool),
            _peer: peer,
        })
    }

    /// A permit to parse a body whose app is not yet known (at most half the cores at once,
    /// so that admitted work always has a core).
    pub(crate) async fn unauthenticated_parse(&self) -> Option<OwnedSemaphorePermit> {
        self.parses.clone().acquire_owned().await.ok()
    }
}

/// What `body` reserves: its declared length, or the cap when it has none (chunked), at most
/// the cap.
pub(crate) fn size_of(body: &Body) -> usize {
    match body.size_hint().exact() {
        Some(exact) => usize::try_from(exact).unwrap_or(usize::MAX),
        None => MAX_RESERVED,
    }
    .min(MAX_RESERVED)
}

/// Reads the reserved body within `timeout`, stopping once it is known to be over
/// [`MAX_BODY_BYTES`]: then the first `MAX_BODY_BYTES + 1` bytes are returned, enough for
/// `parse_body` to refuse it with its own message. A body that cannot be read (the client went
/// away) is answered as not JSON; one that does not arrive in time as 408, 1199000 naming the
/// timeout.
pub(crate) async fn read_body(
    body: Body,
    reserved: Reserved,
    timeout: Duration,
) -> Result<BodyBytes, Refusal> {
    let mut reserved = reserved;
    let bytes = match tokio::time::timeout(timeout, read_all(body, &mut reserved)).await {
        Ok(read) => read?,
        Err(_) => {
            return Err(HttpRefusal::BodyTimedOut {
                seconds: timeout.as_secs(),
            }
            .into());
        }
    };
    Ok(BodyBytes {
        bytes,
        _reserved: reserved,
    })
}

/// The body's bytes, in a buffer of exactly the `reserved` size (the most it takes), each
/// piece counted as held by the reservation.
async fn read_all(body: Body, reserved: &mut Reserved) -> Result<Vec<u8>, Failure> {
    let mut stream = body.into_data_stream();
    let mut read = Vec::with_capacity(reserved.bytes);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Failure::from(Error::JsonDecode { detail: None }))?;
        let room = MAX_RESERVED - read.len();
        let piece = &chunk[..chunk.len().min(room)];
        read.extend_from_slice(piece);
        reserved.hold(piece.len());
        if read.len() >= MAX_RESERVED {
            break;
        }
    }
    Ok(read)
}
