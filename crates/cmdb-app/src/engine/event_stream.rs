//! [`EventStream`]: a watch as an endless async stream of events (or one that ends when it
//! has caught up), each batch fetched with [`Engine::watch`] from where the last one ended.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use cmdb_core::plan::RequestContext;

use super::Engine;
use super::watch::From;
use crate::envelope::Failure;
use crate::watch::{Cursor, Event, WatchBatch, WatchRequest};

/// How long each long poll of a following stream waits before it asks again.
const FOLLOW_WAIT: Duration = Duration::from_secs(20);

type Fetch = Pin<Box<dyn Future<Output = Result<WatchBatch, Failure>> + Send>>;

/// The events of a watch, in commit order, each once: `futures_core::Stream` of
/// `Result<Event, Failure>`, or [`EventStream::next`] without a stream library. A refusal (a
/// bad cursor, a store failure) is its last item.
pub struct EventStream {
    engine: Engine,
    ctx: RequestContext,
    request: WatchRequest,
    /// Where the next batch starts.
    from: From,
    /// Whether it ends at the first batch that finds nothing new.
    until_caught_up: bool,
    ready: VecDeque<Event>,
    fetch: Option<Fetch>,
    ended: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("request", &self.request)
            .field("until_caught_up", &self.until_caught_up)
            .field("ready", &self.ready.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The watch `request` as a stream that follows new events until it is dropped. Where
    /// it starts is settled here (`Now` is now, a cursor is checked), not at the first poll.
    ///
    /// # Errors
    /// As [`Engine::watch`]: 1199027, 1103007, store failures.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> anyhow::Result<()> {
    /// use cmdb_app::Engine;
    /// use cmdb_app::watch::{WatchRequest, WatchStart};
    /// use cmdb_core::plan::RequestContext;
    /// use cmdb_core::records::ResourceType;
    /// use cmdb_core::typed::NewSet;
    /// use cmdb_core::BizId;
    ///
    /// let engine = Engine::open("memory:").await?;
    /// engine.load_fixture(r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}"#.parse()?, "admin").await?;
    /// let ctx = RequestContext {
    ///     user: "alice".into(), supplier_account: "0".into(),
    ///     app_code: "my_app".into(), request_id: engine.new_request_id(),
    /// };
    /// let request = WatchRequest::new(ResourceType::Set, WatchStart::Now);
    /// let mut sets = engine.watch_stream(&ctx, request).await?;
    /// engine.create(&ctx, BizId(1), NewSet::new("web", 1)).await?;
    /// let event = sets.next().await.expect("an event")?;
    /// assert_eq!(event.detail["bk_set_name"], "web");
    /// # Ok(()) }
    /// ```
    pub async fn watch_stream(
        &self,
        ctx: &RequestContext,
        request: WatchRequest,
    ) -> Result<EventStream, Failure> {
        let from = self.watch_start(ctx, &request).await?;
        Ok(EventStream {
            engine: self.clone(),
            ctx: ctx.clone(),
            request,
            from,
            until_caught_up: false,
            ready: VecDeque::new(),
            fetch: None,
            ended: false,
        })
    }
}

impl EventStream {
    /// Ends the stream at the first batch that finds nothing new, instead of waiting for more
    /// (what `cmdb watch --once` does).
    #[must_use]
    pub fn until_caught_up(mut self) -> Self {
        self.until_caught_up = true;
        self
    }

    /// The next event; `None` once the stream ended.
    pub async fn next(&mut self) -> Option<Result<Event, Failure>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Where the stream continues: after the last event it has fetched or looked past.
    pub fn cursor(&self) -> Cursor {
        self.from.cursor
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Failure>>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            let fetch = self.fetch.get_or_insert_with(|| {
                let (engine, ctx, request, from) = (
                    self.engine.clone(),
                    self.ctx.clone(),
                    self.request.clone(),
                    self.from,
                );
                let wait = if self.until_caught_up {
                    Duration::ZERO
                } else {
                    FOLLOW_WAIT
                };
                Box::pin(async move { engine.watch_from(&ctx, &request, from, wait).await })
            });
            let batch = match fetch.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(batch) => batch,
            };
            self.fetch = None;
            match batch {
                Err(refused) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(refused)));
                }
                Ok(batch) => {
                    self.from.cursor = batch.next;
                    self.ended = self.until_caught_up && !batch.watched();
                    self.ready.extend(batch.events);
                }
            }
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event, Failure>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}
