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

/// What one connection did last: requests in flight, and when it last read or answered.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds since `origin` of the last read or finished request.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    /// A connection that was just accepted.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
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
                // Checked again one limit later (a request ending touches `last`).
                tokio::time::sleep(limit).await;
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
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket whose reads mark the connection active.
pub(crate) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps `inner`, reporting reads to `activity`.
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
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
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A hyper service that counts its requests in flight on the connection's [`Activity`].
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner` for the connection of `activity`.
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        let in_flight = InFlight::start(&self.activity);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(in_flight);
            answered
        })
    }
}
