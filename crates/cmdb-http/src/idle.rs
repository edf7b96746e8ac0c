//! The keep-alive idle limit: a connection with no request in flight that has read nothing for
//! the idle time is asked to close. hyper's header timer also runs while an idle connection
//! waits for its next head, so the idle time in effect is the shorter of the two.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::peer::Peer;

/// What one connection did last: requests in flight, and when it last read or answered.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds since `origin` of the last read or finished request.
    last: AtomicU64,
    in_flight: AtomicUsize,
    /// Bytes read while no request was in flight since the last one started: a head being
    /// received.
    head_bytes: AtomicUsize,
    /// Signalled when a request ends, so that a connection with a long request in flight (a
    /// watch) is not woken by a timer while it waits.
    ended: tokio::sync::Notify,
}

impl Activity {
    /// A connection that was just accepted.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            head_bytes: AtomicUsize::new(0),
            ended: tokio::sync::Notify::new(),
        })
    }

    fn touch(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// Whether no request is in flight (between requests, or a head still arriving).
    pub(crate) fn is_quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// When the connection last read or answered, in ms since it was accepted.
    pub(crate) fn last_active(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// Whether part of a head has arrived that was not yet handed over as a request.
    pub(crate) fn partial_head(&self) -> bool {
        self.head_bytes.load(Ordering::Relaxed) > 0
    }

    fn read(&self, bytes: usize) {
        self.touch();
        if self.is_quiet() {
            self.head_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Completes once the connection has been idle (nothing in flight, nothing read) for
    /// `limit`.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        loop {
            let due = self.last() + limit;
            tokio::time::sleep_until(due.into()).await;
            if self.in_flight.load(Ordering::Relaxed) == 0 && self.last() + limit <= Instant::now()
            {
                return;
            }
            if self.in_flight.load(Ordering::Relaxed) > 0 {
                // Checked again when a request ends (which touches `last`): no timer runs
                // while a request is in flight. A request that ended since the check left a
                // permit, so this returns at once.
                self.ended.notified().await;
            }
        }
    }
}

/// Counts a request as in flight until dropped, then marks the connection active.
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    /// Counts one more request of `activity`.
    pub(crate) fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head_bytes.store(0, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.ended.notify_one();
    }
}

/// A socket whose reads mark the connection active, holding a guard (the connection's slot)
/// that is let go of when the server starts closing the socket — before the client can see
/// the close, so a client that reconnects at once finds the slot free — or when the socket is
/// dropped.
pub(crate) struct Watched<T, G> {
    inner: T,
    activity: Arc<Activity>,
    held: Option<G>,
}

impl<T, G> Watched<T, G> {
    /// Wraps `inner`, reporting reads to `activity`, holding `held`.
    pub(crate) fn new(inner: T, activity: Arc<Activity>, held: G) -> Self {
        Watched {
            inner,
            activity,
            held: Some(held),
        }
    }
}

impl<T: AsyncRead + Unpin, G: Unpin> AsyncRead for Watched<T, G> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.activity.read(read);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin, G: Unpin> AsyncWrite for Watched<T, G> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        drop(self.held.take());
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A hyper service that counts its requests in flight on the connection's [`Activity`], and
/// tells each request its connection's [`Peer`].
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    peer: Peer,
}

impl<S> Tracked<S> {
    /// Wraps `inner` for the connection of `activity` from `peer`.
    pub(crate) fn new(inner: S, activity: Arc<Activity>, peer: Peer) -> Self {
        Tracked {
            inner,
            activity,
            peer,
        }
    }
}

impl<S, B> hyper::service::Service<hyper::Request<B>> for Tracked<S>
where
    S: hyper::service::Service<hyper::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, mut request: hyper::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        let in_flight = InFlight::start(&self.activity);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(in_flight);
            answered
        })
    }
}
