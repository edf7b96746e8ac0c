//! The writer: one connection, one task on a thread of its own, draining a bounded queue.
//! Every create queued while the previous transaction was committing goes into the next one
//! (group commit), and every other write (fixtures, atomic batches, sequence raises) runs
//! alone between groups.
//!
//! A transaction is two pipelined flights: `BEGIN`, the sequence-row locks and the reads the
//! domain needs (names, unique keys, built-in sets of the group's plans); then the domain
//! decides in memory over a [`View`](crate::view::View) (each plan isolated by the view's
//! savepoints, exactly as [`cmdb_core::plan::commit_group`] does on the embedded stores), and
//! the writes, the sequence bumps and `COMMIT` go out as the second flight. Serialization failures and
//! deadlocks are retried with backoff and jitter.
//!
//! Split by job: this file holds the queue (grouping the queued creates, running every other
//! job alone) and what each job commits; `writer/transaction.rs` runs one transaction with its
//! retries; `writer/read_flight.rs` and `writer/write_flight.rs` are its two flights;
//! `writer/conn.rs` the connection, its prepared statements and the background warm-up. The
//! SQL text is in `sql.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::SequenceKind;
use cmdb_core::plan::{CreatePlan, commit_atomic, commit_group};
use cmdb_core::ports::{BatchFailure, StoreTx};
use cmdb_core::records::CreatedSet;
use cmdb_core::{Error, StoreError};
use cmdb_store_group::GroupOptions;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Config;

use crate::facts_cache::FactsCache;
use crate::failover::Backoff;
use crate::options::{Isolation, PgOptions};

mod conn;
mod read_flight;
mod transaction;
mod write_flight;

use conn::Conn;
pub(crate) use conn::{connect, warm_up};
use transaction::{Prefetch, TxError};

/// One submission to the writer.
pub(crate) enum Job {
    /// Creates to group-commit, their estimated bytes, and where their results go.
    Creates {
        plans: Vec<CreatePlan>,
        bytes: usize,
        reply: oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
    },
    /// An all-or-nothing batch.
    Atomic {
        plans: Vec<CreatePlan>,
        reply: oneshot::Sender<Result<Vec<CreatedSet>, BatchFailure>>,
    },
    /// A fixture load.
    Catalog {
        batch: Box<CatalogBatch>,
        reply: oneshot::Sender<Result<LoadReport, Error>>,
    },
    /// A sequence raise.
    Raise {
        kind: SequenceKind,
        value: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// One caller's creates and where their results go.
type Submission = (
    Vec<CreatePlan>,
    oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
);

/// Counters and state the store handle reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub commits: AtomicU64,
    pub creates: AtomicU64,
    pub in_flight: AtomicU64,
    /// Transactions run again after a serialization failure, a deadlock or a unique violation.
    pub retries: AtomicU64,
    /// Whether the schema is known to be in place (migrated by this store, or found current).
    pub ready: AtomicBool,
    /// Why the database can never be used (a schema too new, a foreign database).
    pub fatal: std::sync::Mutex<Option<StoreError>>,
    /// Create facts kept for the store's reads, and the newest catalog version seen (the
    /// writer reports every version it reads under the locks).
    pub facts: FactsCache,
    /// Plans refused because the catalog changed after their facts were read.
    pub stale_plans: AtomicU64,
}

impl Shared {
    /// Fresh state with a facts cache of `cache_entries` answers.
    pub(crate) fn new(cache_entries: usize) -> Self {
        Shared {
            commits: AtomicU64::new(0),
            creates: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            fatal: std::sync::Mutex::new(None),
            facts: FactsCache::new(cache_entries),
            stale_plans: AtomicU64::new(0),
        }
    }
}

/// The writer: its connection (reconnected on demand, to whichever host is the writable
/// primary) and its options.
pub(crate) struct Writer {
    config: Config,
    isolation: Isolation,
    conn: Option<Conn>,
    shared: Arc<Shared>,
    /// The hosts of the URL, for messages.
    target: String,
    /// When to try connecting again after losing the primary, and how long jobs wait for one.
    backoff: Backoff,
    /// The address of the server the last connection reached (for the failover's log line).
    server: Option<String>,
}

impl Writer {
    /// A writer with no connection yet (it connects on its first job); after losing its
    /// primary it holds jobs for up to `failover_wait` while it looks for one.
    pub(crate) fn new(
        config: Config,
        target: String,
        options: &PgOptions,
        shared: Arc<Shared>,
    ) -> Self {
        Writer {
            config,
            isolation: options.isolation,
            conn: None,
            shared,
            target,
            backoff: Backoff::new(options.failover_wait),
            server: None,
        }
    }

    /// Drains the queue until every sender is gone.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Job>, options: GroupOptions) {
        let mut pending: Option<Job> = None;
        loop {
            let job = match pending.take() {
                Some(job) => job,
                None => match rx.recv().await {
                    Some(job) => job,
                    None => break,
                },
            };
            match job {
                Job::Creates {
                    plans,
                    bytes,
                    reply,
                } => {
                    let mut count = plans.len();
                    let mut total = bytes;
                    let mut group: Vec<Submission> = vec![(plans, reply)];
                    while options.enabled
                        && count < options.max_creates
                        && total < options.max_bytes
                    {
                        match rx.try_recv() {
                            Ok(Job::Creates {
                                plans,
                                bytes,
                                reply,
                            }) => {
                                count += plans.len();
                                total += bytes;
                                group.push((plans, reply));
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_creates(group).await;
                }
                Job::Atomic { plans, reply } => {
                    let _ = reply.send(self.atomic(&plans).await);
                }
                Job::Catalog { batch, reply } => {
                    let result = self
                        .transaction(Prefetch::Catalog, |view| apply_fixture(view, &batch))
                        .await;
                    let _ = reply.send(result.map_err(|e| match e {
                        TxError::Store(e) => Error::Store(e),
                        TxError::Body(e) => e,
                    }));
                }
                Job::Raise { kind, value, reply } => {
                    let result = self
                        .transaction(Prefetch::Sequences, |view| view.raise_sequence(kind, value))
                        .await;
                    let _ = reply.send(result.map_err(|e| match e {
                        TxError::Store(e) | TxError::Body(e) => e,
                    }));
                }
            }
        }
    }

    /// Commits a group of submissions in one transaction and answers each. A group failing
    /// for a reason of its data (not the connection, not a conflict) is split: each
    /// submission then commits alone, so one create's storage error stays its own.
    async fn commit_creates(&mut self, group: Vec<Submission>) {
        let mut all: Vec<CreatePlan> = Vec::new();
        let mut replies = Vec::with_capacity(group.len());
        for (plans, reply) in group {
            replies.push((plans.len(), reply));
            all.extend(plans);
        }
        let mut results = self.commit_plans(&all).await;
        if matches!(results, Err((_, true))) && replies.len() > 1 {
            let mut split = Vec::with_capacity(all.len());
            let mut rest = all.as_slice();
            for (count, _) in &replies {
                let (plans, after) = rest.split_at(*count);
                rest = after;
                match self.commit_plans(plans).await {
                    Ok(r) => split.extend(r),
                    Err((e, _)) => {
                        split.extend(plans.iter().map(|_| Err(Error::Store(e.clone()))));
                    }
                }
            }
            results = Ok(split);
        }
        let mut results = match results {
            Ok(r) => r.into_iter(),
            Err((e, _)) => vec![Err(Error::Store(e)); all.len()].into_iter(),
        };
        for (count, reply) in replies {
            let answers: Vec<_> = results.by_ref().take(count).collect();
            self.shared
                .in_flight
                .fetch_sub(count as u64, Ordering::Relaxed);
            let _ = reply.send(answers);
        }
    }

    /// One transaction of plans, each isolated. `Err((e, data))`: the whole transaction
    /// failed, `data` when it failed on its own data rather than the connection or a conflict.
    async fn commit_plans(
        &mut self,
        plans: &[CreatePlan],
    ) -> Result<Vec<Result<CreatedSet, Error>>, (StoreError, bool)> {
        match self
            .transaction(Prefetch::Plans(plans), |view| {
                commit_group(view, plans.to_vec())
            })
            .await
        {
            Ok(results) => {
                let stale = results
                    .iter()
                    .filter(|r| r.as_ref().is_err_and(is_stale))
                    .count() as u64;
                self.shared.stale_plans.fetch_add(stale, Ordering::Relaxed);
                let stored = results.iter().filter(|r| r.is_ok()).count() as u64;
                if stored > 0 {
                    self.shared.commits.fetch_add(1, Ordering::Relaxed);
                    self.shared.creates.fetch_add(stored, Ordering::Relaxed);
                }
                Ok(results)
            }
            Err(TxError::Body(e)) => Err((e, false)),
            Err(TxError::Store(e)) => {
                let data = !matches!(e, StoreError::Busy(_)) && self.conn.is_some();
                Err((e, data))
            }
        }
    }

    async fn atomic(&mut self, plans: &[CreatePlan]) -> Result<Vec<CreatedSet>, BatchFailure> {
        let result = self
            // The transaction may run again (a retried serialization failure): each run
            // commits its own copy of the plans.
            .transaction(Prefetch::Plans(plans), |view| {
                commit_atomic(view, plans.to_vec())
            })
            .await;
        match result {
            Ok(created) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .creates
                    .fetch_add(created.len() as u64, Ordering::Relaxed);
                Ok(created)
            }
            Err(TxError::Body(e)) => {
                if is_stale(&e.error) {
                    self.shared.stale_plans.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
            }
            Err(TxError::Store(e)) => Err(BatchFailure {
                index: 0,
                error: Error::Store(e),
            }),
        }
    }
}

/// Whether the domain refused a plan as checked against another catalog version.
fn is_stale(error: &Error) -> bool {
    matches!(error, Error::Store(StoreError::StaleFacts(_)))
}
