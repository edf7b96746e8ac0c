//! [`GroupCommitter`]: the writer thread of a store, committing queued creates in groups.
//!
//! The writer waits for a submission, then takes every further submission already queued (up
//! to the count and byte caps) and commits them all through one [`GroupBackend::commit_group`]
//! call, that is one transaction and one sync. Whatever arrives meanwhile waits in the bounded
//! queue for the next group. There is no timer: a lone create commits at once. Callers are
//! answered only after the call returned, so after the commit holding their creates.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use cmdb_core::error::Detail;
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::CommitStats;
use cmdb_core::records::CreatedSet;
use cmdb_core::{Error, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::options::GroupOptions;
use crate::size::approx_plan_bytes;

/// What a store provides to be group-committed: committing plans in one transaction.
///
/// The plans are handed over: a backend consumes them (their documents become the stored
/// records); one that may run its transaction again (sled retries on a conflict) clones them
/// per attempt.
pub trait GroupBackend: Send + Sync + 'static {
    /// Commits `plans` in one write transaction, each isolated (the store runs
    /// [`cmdb_core::plan::commit_group`] inside it), and returns only once the transaction has
    /// committed under the store's sync mode. One result per plan, in order.
    ///
    /// # Errors
    /// [`GroupError::Failed`] when the transaction could not begin or commit (nothing of it is
    /// stored); [`GroupError::SyncFailed`] when the commit's sync to disk failed.
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError>;
}

/// Why a whole group failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// The transaction failed (begin, a savepoint, the commit): nothing of it is stored and
    /// the store stays usable.
    Failed(StoreError),
    /// The sync of the commit to disk failed. What reached the disk is unknown and an fsync
    /// is not retryable, so the committer refuses every later write until the store is
    /// reopened.
    SyncFailed(StoreError),
}

/// One submission to the writer.
enum Job {
    /// Plans to commit, their estimated bytes, and where to send their results.
    Creates {
        plans: Vec<CreatePlan>,
        bytes: usize,
        reply: oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
    },
    /// Another write of the store, run alone between groups.
    Exclusive(Box<dyn FnOnce(&SyncAlarm<'_>) + Send>),
}

/// State shared by the committer handle and its writer thread.
#[derive(Debug, Default)]
struct Shared {
    /// Why writes are refused (a failed sync), once they are.
    refused: Mutex<Option<StoreError>>,
    commits: AtomicU64,
    creates: AtomicU64,
    in_flight: AtomicU64,
}

impl Shared {
    fn refusal(&self) -> Option<StoreError> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn refuse(&self, cause: &StoreError) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_none() {
            *refused = Some(StoreError::Backend(Detail::caused_by(
                format!(
                    "the store refuses writes until it is reopened: a commit failed to sync ({cause})"
                ),
                cause.clone(),
            )));
        }
    }
}

/// What a write run by [`GroupCommitter::exclusive`] uses to report that its commit failed to
/// sync: from then on the committer refuses every write, as after a group's
/// [`GroupError::SyncFailed`].
#[derive(Debug)]
pub struct SyncAlarm<'a> {
    shared: &'a Shared,
}

impl SyncAlarm<'_> {
    /// Reports that a commit failed to sync to disk because of `cause`.
    pub fn raise(&self, cause: &StoreError) {
        self.shared.refuse(cause);
    }
}

/// The writer thread of one store and the bounded queue in front of it.
///
/// Dropping it lets the queued submissions finish on the writer thread without waiting for
/// them; the thread then ends and drops its handle on the backend.
#[derive(Debug)]
pub struct GroupCommitter {
    sender: Option<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    options: GroupOptions,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Creates { plans, bytes, .. } => f
                .debug_struct("Creates")
                .field("plans", &plans.len())
                .field("bytes", bytes)
                .finish(),
            Job::Exclusive(_) => f.write_str("Exclusive"),
        }
    }
}

impl GroupCommitter {
    /// Starts the writer thread `name` over `backend`.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub fn start<B: GroupBackend>(name: &str, backend: Arc<B>, options: GroupOptions) -> Self {
        let (sender, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || write_loop(backend.as_ref(), receiver, &thread_shared, options))
            .expect("start the store's writer thread");
        GroupCommitter {
            sender: Some(sender),
            shared,
            thread: Some(thread),
            options,
        }
    }

    /// Commits `plans` (each isolated, possibly in one transaction with other callers'
    /// plans) and returns one result per plan once their transaction has committed.
    pub async fn commit(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        if plans.is_empty() {
            return Vec::new();
        }
        let count = plans.len();
        if let Some(refused) = self.shared.refusal() {
            return vec![Err(Error::Store(refused)); count];
        }
        // The byte cap only matters when submissions are grouped.
        let bytes = if self.options.enabled {
            plans.iter().map(approx_plan_bytes).sum()
        } else {
            0
        };
        let (reply, answer) = oneshot::channel();
        let job = Job::Creates {
            plans,
            bytes,
            reply,
        };
        if !self.send(job).await {
            return vec![Err(Error::Store(stopped())); count];
        }
        let in_flight = InFlight::count(&self.shared, count as u64);
        let results = match answer.await {
            Ok(results) => results,
            Err(_) => vec![Err(Error::Store(stopped())); count],
        };
        drop(in_flight);
        results
    }

    /// Runs another write of the store on the writer thread, between groups. The work gets a
    /// [`SyncAlarm`] to raise when its own commit failed to sync.
    ///
    /// # Errors
    /// The refusal after a failed sync, or [`StoreError::Backend`] when the writer stopped or
    /// the work panicked.
    pub async fn exclusive<R: Send + 'static>(
        &self,
        work: impl FnOnce(&SyncAlarm<'_>) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        if let Some(refused) = self.shared.refusal() {
            return Err(refused);
        }
        let (reply, answer) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let job = Job::Exclusive(Box::new(move |alarm| {
            let outcome = match shared.refusal() {
                Some(refused) => Err(refused),
                None => Ok(work(alarm)),
            };
            let _ = reply.send(outcome);
        }));
        if !self.send(job).await {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Why writes are refused, once they are.
    pub fn refusal(&self) -> Option<StoreError> {
        self.shared.refusal()
    }

    /// The transactions committed with at least one create, and the creates they stored.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.shared.commits.load(Ordering::Acquire),
            creates: self.shared.creates.load(Ordering::Acquire),
            in_flight: self.shared.in_flight.load(Ordering::Acquire),
        }
    }

    async fn send(&self, job: Job) -> bool {
        match &self.sender {
            Some(sender) => sender.send(job).await.is_ok(),
            None => false,
        }
    }
}

impl Drop for GroupCommitter {
    /// Closes the queue and returns at once: the writer thread commits what was queued, then
    /// ends and drops its handle on the backend there, never on the dropping thread.
    fn drop(&mut self) {
        self.sender = None;
        drop(self.thread.take());
    }
}

/// Counts creates as in flight from their submission until their caller has the answer (or
/// gave up waiting: the guard also ends with a dropped future).
struct InFlight<'a> {
    shared: &'a Shared,
    count: u64,
}

impl<'a> InFlight<'a> {
    fn count(shared: &'a Shared, count: u64) -> Self {
        shared.in_flight.fetch_add(count, Ordering::AcqRel);
        InFlight { shared, count }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .fetch_sub(self.count, Ordering::AcqRel);
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the store's writer has stopped".into())
}

/// The writer thread: one group per turn, exclusive work alone between groups.
fn write_loop<B: GroupBackend>(
    backend: &B,
    mut receiver: mpsc::Receiver<Job>,
    shared: &Shared,
    options: GroupOptions,
) {
    let mut carried: Option<Job> = None;
    loop {
        let job = match carried.take() {
            Some(job) => job,
            None => match receiver.blocking_recv() {
                Some(job) => job,
                None => return,
            },
        };
        let (plans, mut bytes, reply) = match job {
            Job::Exclusive(work) => {
                // A panic drops the work's reply channel: its caller gets an error.
                let alarm = SyncAlarm { shared };
                let _ = catch_unwind(AssertUnwindSafe(|| work(&alarm)));
                continue;
            }
            Job::Creates {
                plans,
                bytes,
                reply,
            } => (plans, bytes, reply),
        };
        let mut count = plans.len();
        let mut group = vec![(plans, reply)];
        while options.enabled && count < options.max_creates && bytes < options.max_bytes {
            match receiver.try_recv() {
                Ok(Job::Creates {
                    plans,
                    bytes: more,
                    reply,
                }) => {
                    if count + plans.len() > options.max_creates || bytes + more > options.max_bytes
                    {
                        carried = Some(Job::Creates {
                            plans,
                            bytes: more,
                            reply,
                        });
                        break;
                    }
                    count += plans.len();
                    bytes += more;
                    group.push((plans, reply));
                }
                Ok(other) => {
                    carried = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        metrics::histogram!(GROUP_SIZE).record(count as f64);
        metrics::gauge!(QUEUE_DEPTH).set(receiver.len() as f64);
        commit_one_group(backend, shared, group);
    }
}

/// The metric of how many creates each group commit holds (a histogram).
pub const GROUP_SIZE: &str = "cmdb_group_commit_size";
/// The metric of how many submissions wait in the writer's queue after a group was taken (a
/// gauge).
pub const QUEUE_DEPTH: &str = "cmdb_writer_queue_depth";

type Submission = (
    Vec<CreatePlan>,
    oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
);

/// Commits the plans of every submission in one backend call and answers each submission.
fn commit_one_group<B: GroupBackend>(backend: &B, shared: &Shared, group: Vec<Submission>) {
    let mut sizes = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    let mut plans = Vec::new();
    for (mut submitted, reply) in group {
        sizes.push(submitted.len());
        replies.push(reply);
        plans.append(&mut submitted);
    }
    let planned = plans.len();
    let outcome = match shared.refusal() {
        Some(refused) => Err(refused),
        None => match catch_unwind(AssertUnwindSafe(|| backend.commit_group(plans))) {
            Ok(Ok(results)) if results.len() == planned => Ok(results),
            Ok(Ok(results)) => Err(StoreError::Backend(
                format!(
                    "the store answered {} results for {planned} creates",
                    results.len(),
                )
                .into(),
            )),
            Ok(Err(GroupError::Failed(e))) => {
                tracing::warn!(creates = planned, error = %e, "a group commit failed");
                Err(e)
            }
            Ok(Err(GroupError::SyncFailed(e))) => {
                tracing::error!(error = %e, "a commit's sync failed: the store refuses writes until reopened");
                shared.refuse(&e);
                Err(e)
            }
            Err(_) => Err(StoreError::Backend(
                "the store's writer panicked during a commit; nothing of it was kept".into(),
            )),
        },
    };
    match outcome {
        Ok(results) => {
            let stored = results.iter().filter(|r| r.is_ok()).count() as u64;
            if stored > 0 {
                shared.creates.fetch_add(stored, Ordering::AcqRel);
                shared.commits.fetch_add(1, Ordering::AcqRel);
            }
            let mut results = results.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(results.by_ref().take(size).collect());
            }
        }
        Err(e) => {
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(vec![Err(Error::Store(e.clone())); size]);
            }
        }
    }
}
