//! The watch use case: the events after a cursor, read from the audit log in id order (commit
//! order), filtered by tenant, resource, type, permission and time; a long poll that answers
//! as soon as a matching event commits; and the watch as an endless stream.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::DateTime;
use cmdb_core::Error;
use cmdb_core::ids::{AuditId, SequenceKind};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::{Document, ResourceType};
use serde_json::Value;
use tokio::time::Instant;

use super::Engine;
use crate::envelope::Failure;
use crate::request::check_user;
use crate::watch::{Cursor, Event, EventType, MAX_EVENTS, WatchBatch, WatchRequest, WatchStart};

/// How many audit records one read of the log asks for.
const CHUNK: usize = 256;
/// The most audit records one answer looks at (records of other tenants, resources or
/// unreadable businesses are looked at and passed over): past it, the answer holds what it
/// found, and its cursor continues after the last record looked at.
const MAX_SCAN: usize = 16 * CHUNK;

/// Where a scan of the log starts, and the time filter of a [`WatchStart::Since`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct From {
    /// After this record.
    pub(crate) cursor: Cursor,
    /// Only sets and modules created at or after these unix seconds.
    pub(crate) since: Option<i64>,
}

impl Engine {
    /// One watch (spec W3): the events of `request` (oldest first, at most 200) that the
    /// acting user may read. When none is there yet it waits, up to `wait`, and answers as
    /// soon as a matching event commits (in this process at once; from other processes or
    /// engines within [`crate::watch::BACKSTOP_POLL`]); when none came, an answer without
    /// events whose cursor continues where this one stopped. Needs a tokio runtime with
    /// timers (the blocking engine's has one).
    ///
    /// # Errors
    /// 1199027 for a bad user name; 1103007 for a cursor of another store, tenant or
    /// resource; store failures.
    pub async fn watch(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        wait: Duration,
    ) -> Result<WatchBatch, Failure> {
        self.watch_until(ctx, request, wait, std::future::pending())
            .await
    }

    /// [`Engine::watch`] that also ends its wait when `stop` completes (a server shutting
    /// down): it then answers what it found so far, with the cursor to continue from.
    ///
    /// # Errors
    /// As [`Engine::watch`].
    pub async fn watch_until(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        wait: Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<WatchBatch, Failure> {
        let from = self.watch_start(ctx, request).await?;
        let polled = self.long_poll(ctx, request, from, wait, stop).await;
        self.localized(polled)
    }

    /// How many watches wait for an event now.
    pub fn watchers_waiting(&self) -> usize {
        self.signal.waiting_now()
    }

    /// [`Engine::watch`] from a start already resolved.
    pub(crate) async fn watch_from(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        from: From,
        wait: Duration,
    ) -> Result<WatchBatch, Failure> {
        let polled = self.long_poll(ctx, request, from, wait, std::future::pending());
        self.localized(polled.await)
    }

    /// Checks the user and resolves where a watch starts: `Now` becomes the cursor after the
    /// last record, a cursor is checked against the log.
    pub(crate) async fn watch_start(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
    ) -> Result<From, Failure> {
        let start = async {
            check_user(&ctx.user)?;
            self.resolve_start(ctx, request).await
        };
        self.localized(start.await)
    }

    async fn resolve_start(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
    ) -> Result<From, Failure> {
        let tenant = ctx.supplier_account.as_str();
        let at = |record: Option<&Document>| Cursor::after(request.resource, tenant, record);
        let from = |cursor| From {
            cursor,
            since: None,
        };
        Ok(match request.start {
            WatchStart::Beginning => from(at(None)),
            WatchStart::Since(seconds) => From {
                cursor: at(None),
                since: Some(seconds),
            },
            WatchStart::Now => {
                let last = self.store.sequence_last(SequenceKind::Audit).await?;
                from(at(self.audit_record(last).await?.as_ref()))
            }
            WatchStart::After(cursor) => {
                let record = self.audit_record(cursor.position().0).await?;
                if !cursor.is_for(request.resource, tenant) || !cursor.follows(record.as_ref()) {
                    return Err(Error::EventChainNodeMissing.into());
                }
                from(cursor)
            }
        })
    }

    /// The audit record with id `id` (`None` for 0 or an id no record has).
    async fn audit_record(&self, id: i64) -> Result<Option<Document>, Failure> {
        if id <= 0 {
            return Ok(None);
        }
        let found = self.store.audit_after(AuditId(id - 1), 1).await?;
        Ok(found.into_iter().next().filter(|r| record_id(r) == id))
    }

    /// Scans from `from`; while nothing matched, waits for a commit (or the deadline) and scans
    /// on from where the last scan stopped.
    async fn long_poll(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        mut from: From,
        wait: Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<WatchBatch, Failure> {
        let deadline = Instant::now() + wait;
        tokio::pin!(stop);
        let signal = &self.signal;
        let mut commits = signal.subscribe();
        let mut readable = HashMap::new();
        loop {
            commits.borrow_and_update();
            let batch = self.scan(ctx, request, from, &mut readable).await?;
            if batch.watched() || Instant::now() >= deadline {
                return Ok(batch);
            }
            from.cursor = batch.next;
            let _waiting = signal.waiting(&self.store, self.options.watch_poll);
            // Woken by a commit, or the deadline passed: scan once more either way.
            tokio::select! {
                _ = tokio::time::timeout_at(deadline, commits.changed()) => {}
                () = &mut stop => return Ok(batch),
            }
        }
    }

    /// The matching events after `from` (up to [`MAX_EVENTS`], looking at up to [`MAX_SCAN`]
    /// records), and the cursor after the last record looked at.
    async fn scan(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        from: From,
        readable: &mut HashMap<i64, bool>,
    ) -> Result<WatchBatch, Failure> {
        let mut batch = WatchBatch {
            events: Vec::new(),
            next: from.cursor,
        };
        // A time filter looks at the log up to its end: an answer that stopped early would
        // hand out a cursor that continues without the filter.
        let cap = if from.since.is_some() {
            usize::MAX
        } else {
            MAX_SCAN
        };
        let mut looked = 0;
        while looked < cap {
            let records = self.store.audit_after(batch.next.position(), CHUNK).await?;
            for record in &records {
                batch.next = Cursor::after(request.resource, &ctx.supplier_account, Some(record));
                looked += 1;
                if let Some(event) = self.event_of(ctx, request, from, record, readable) {
                    batch.events.push(Event {
                        cursor: batch.next,
                        ..event
                    });
                    if batch.events.len() == MAX_EVENTS {
                        return Ok(batch);
                    }
                }
            }
            if records.len() < CHUNK {
                break;
            }
        }
        Ok(batch)
    }

    /// The event `record` is for this watcher, if it is one.
    fn event_of(
        &self,
        ctx: &RequestContext,
        request: &WatchRequest,
        from: From,
        record: &Document,
        readable: &mut HashMap<i64, bool>,
    ) -> Option<Event> {
        let text = |k: &str| record.get(k).and_then(Value::as_str);
        let resource = match text("resource_type")? {
            "set" => ResourceType::Set,
            "module" => ResourceType::Module,
            _ => return None,
        };
        let tenant = text("bk_supplier_account")?;
        if resource != request.resource
            || tenant != ctx.supplier_account
            || !request.wants(EventType::Create)
        {
            return None;
        }
        let biz = record.get("bk_biz_id").and_then(Value::as_i64)?;
        let may_read = *readable
            .entry(biz)
            .or_insert_with(|| self.viewer.may_view(&ctx.user, cmdb_core::BizId(biz)));
        if !may_read {
            return None;
        }
        let detail = record
            .get("operation_detail")?
            .get("details")?
            .get("cur_data")?
            .as_object()?;
        if let Some(since) = from.since {
            let created = detail.get("create_time").and_then(Value::as_str)?;
            let created = DateTime::parse_from_rfc3339(created).ok()?.timestamp();
            if created < since {
                return None;
            }
        }
        Some(Event {
            cursor: from.cursor,
            resource,
            event_type: EventType::Create,
            detail: request.project(detail.clone()),
        })
    }
}

fn record_id(record: &Document) -> i64 {
    record.get("id").and_then(Value::as_i64).unwrap_or(0)
}
