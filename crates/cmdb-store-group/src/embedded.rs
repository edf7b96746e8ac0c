//! [`EmbeddedStore`]: the one [`SetStore`] of every synchronous engine — group commit on a
//! writer thread, reads on reader threads, atomic batches, catalog loads, close — over a
//! [`Backend`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use cmdb_core::backend::{BackendTx, DocQuery, SequencedTx, read_facts};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::{AuditId, BizId, SequenceKind, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::plan::{BatchFailure, CreatePlan, commit_atomic, commit_group};
use cmdb_core::ports::{CommitStats, SetStore, StoreTx};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};
use tokio::sync::oneshot;

use crate::backend::{Backend, WriteError};
use crate::committer::{GroupBackend, GroupCommitter, GroupError, SyncAlarm};
use crate::options::GroupOptions;
use crate::pool::BlockingPool;

/// How many reader threads a store runs.
const READERS: usize = 2;

/// A [`SetStore`] over a synchronous [`Backend`].
///
/// - Creates are group-committed by the store's writer thread ([`GroupCommitter`]): every
///   create queued while the previous commit was syncing goes into one
///   [`Backend::write`], each between a savepoint and its release or rollback, through the
///   domain's [`commit_group`] over [`SequencedTx`].
/// - Catalog loads, atomic batches, sequence raises and [`SetStore::close`] run on the writer
///   thread too, one at a time between groups; a failed sync of any of them makes the store
///   refuse every later write until it is reopened.
/// - Reads run on the store's reader threads over [`Backend::read`], the create facts through
///   the domain's [`read_facts`].
///
/// No async method blocks its caller: each only waits on a channel. Dropping the store never
/// waits either: the writer thread finishes what was queued, then drops the backend.
pub struct EmbeddedStore<B: Backend> {
    backend: Arc<B>,
    committer: GroupCommitter,
    readers: BlockingPool,
}

impl<B: Backend + fmt::Debug> fmt::Debug for EmbeddedStore<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The writer thread's handle on the backend.
struct Committing<B>(Arc<B>);

impl<B: Backend> GroupBackend for Committing<B> {
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError> {
        let mut plans = Plans::new(plans, self.0.may_rerun());
        transact(&*self.0, |e| e, |tx| commit_group(tx, plans.take()?)).map_err(|e| match e {
            WriteError::Body(e) | WriteError::Failed(e) => GroupError::Failed(e),
            WriteError::SyncFailed(e) => GroupError::SyncFailed(e),
        })
    }
}

/// Plans handed to a write body: moved into its only run, or copied into each run of a
/// backend that may run it again.
struct Plans {
    plans: Option<Vec<CreatePlan>>,
    rerun: bool,
}

impl Plans {
    fn new(plans: Vec<CreatePlan>, rerun: bool) -> Self {
        Plans {
            plans: Some(plans),
            rerun,
        }
    }

    fn take(&mut self) -> Result<Vec<CreatePlan>, StoreError> {
        let plans = if self.rerun {
            self.plans.clone()
        } else {
            self.plans.take()
        };
        plans.ok_or_else(|| StoreError::Backend("the backend ran a write body twice".into()))
    }
}

/// Runs `body` over the domain's view of one backend transaction, writing the sequences back
/// before the commit. `on_store` turns a storage failure of that write-back into the body's
/// error type.
fn transact<B: Backend, R, E>(
    backend: &B,
    on_store: fn(StoreError) -> E,
    mut body: impl FnMut(&mut SequencedTx<'_, dyn BackendTx + '_>) -> Result<R, E>,
) -> Result<R, WriteError<E>> {
    backend.write(|tx| {
        let mut view = SequencedTx::new(tx);
        let out = body(&mut view)?;
        view.finish().map_err(on_store)?;
        Ok(out)
    })
}

/// Runs `body` on the writer thread as a write of its own; a failed sync raises `alarm`.
/// `on_store` turns storage failures into the caller's error type.
fn exclusive_write<B: Backend, R, E>(
    backend: &B,
    alarm: &SyncAlarm<'_>,
    on_store: fn(StoreError) -> E,
    body: impl FnMut(&mut SequencedTx<'_, dyn BackendTx + '_>) -> Result<R, E>,
) -> Result<R, E> {
    transact(backend, on_store, body).map_err(|e| match e {
        WriteError::Body(e) => e,
        WriteError::Failed(e) => on_store(e),
        WriteError::SyncFailed(e) => {
            alarm.raise(&e);
            on_store(e)
        }
    })
}

impl<B: Backend> EmbeddedStore<B> {
    /// A store over `backend`, its creates grouped per `options`. Starts the writer thread and
    /// the reader threads.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub fn start(backend: B, options: GroupOptions) -> Self {
        let backend = Arc::new(backend);
        let committer = GroupCommitter::start(
            &format!("cmdb-{}-writer", B::NAME),
            Arc::new(Committing(Arc::clone(&backend))),
            options,
        );
        EmbeddedStore {
            backend,
            committer,
            readers: BlockingPool::new(&format!("cmdb-{}-reader", B::NAME), READERS),
        }
    }

    /// Runs `open` (which may block: create files, recover, migrate) on a thread of its own,
    /// then starts the store over the backend it opened. The async caller only waits.
    ///
    /// # Errors
    /// `open`'s error; [`OpenPanicked`] (through `E: From`) when it panicked.
    pub async fn open_with<E>(
        open: impl FnOnce() -> Result<B, E> + Send + 'static,
        options: GroupOptions,
    ) -> Result<Self, E>
    where
        E: From<OpenPanicked> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("cmdb-{}-open", B::NAME))
            .spawn(move || {
                let _ = reply.send(open().map(|backend| EmbeddedStore::start(backend, options)));
            });
        if spawned.is_err() {
            return Err(E::from(OpenPanicked));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(OpenPanicked)))
    }

    /// The backend, for its own methods (paths, options).
    pub fn inner(&self) -> &B {
        &self.backend
    }

    /// Runs `work` over the backend on the store's reader threads (a backend's own blocking
    /// calls, for async callers).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the work panicked or the store's threads stopped.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&B) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let backend = Arc::clone(&self.backend);
        self.readers.run(move || work(&backend)).await
    }

    /// Runs `body` over a snapshot: at once when the backend can without blocking
    /// ([`Backend::read_without_blocking`]), else on the reader threads.
    async fn read<R: Send + 'static>(
        &self,
        body: impl FnOnce(&mut dyn cmdb_core::backend::BackendRead) -> Result<R, StoreError>
        + Send
        + 'static,
    ) -> Result<R, StoreError> {
        match self.backend.read_without_blocking(body) {
            Ok(answered) => answered,
            Err(body) => self.run(move |backend| backend.read(body)).await?,
        }
    }

    /// Runs `body` as a write of its own on the writer thread, between groups.
    async fn write<R: Send + 'static, E: Send + 'static>(
        &self,
        on_store: fn(StoreError) -> E,
        body: impl FnMut(&mut SequencedTx<'_, dyn BackendTx + '_>) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let backend = Arc::clone(&self.backend);
        self.committer
            .exclusive(move |alarm| exclusive_write(&*backend, alarm, on_store, body))
            .await
            .map_err(on_store)?
    }
}

impl<B: Backend + Default> Default for EmbeddedStore<B> {
    fn default() -> Self {
        EmbeddedStore::with_options(GroupOptions::default())
    }
}

impl<B: Backend + Default> EmbeddedStore<B> {
    /// A store over a fresh default backend (an empty memory store), creates grouped.
    pub fn new() -> Self {
        EmbeddedStore::default()
    }

    /// A store over a fresh default backend (an empty memory store), its creates grouped per
    /// `options`.
    pub fn with_options(options: GroupOptions) -> Self {
        EmbeddedStore::start(B::default(), options)
    }
}

/// The thread opening a store panicked (or could not start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenPanicked;

impl fmt::Display for OpenPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread opening the store panicked or could not start")
    }
}

impl std::error::Error for OpenPanicked {}

impl From<OpenPanicked> for StoreError {
    fn from(e: OpenPanicked) -> Self {
        StoreError::Backend(e.to_string().into())
    }
}

fn batch_failure(e: StoreError) -> BatchFailure {
    BatchFailure {
        index: 0,
        error: Error::Store(e),
    }
}

#[async_trait]
impl<B: Backend + fmt::Debug> SetStore for EmbeddedStore<B> {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.write(Error::Store, move |tx| apply_fixture(tx, &batch))
            .await
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.committer.commit(plans).await
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.committer.stats())
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let query = query.clone();
        self.read(move |snapshot| read_facts(snapshot, &query))
            .await
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let mut plans = Plans::new(plans, self.backend.may_rerun());
        self.write(batch_failure, move |tx| {
            commit_atomic(tx, plans.take().map_err(batch_failure)?)
        })
        .await
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.write(|e| e, move |tx| tx.raise_sequence(kind, value))
            .await
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.read(move |snapshot| snapshot.counter(kind.into()))
            .await
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.read(move |snapshot| snapshot.catalog_get(&key)).await
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.read(move |snapshot| snapshot.documents(DocQuery::Sets { biz, set }))
            .await
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.read(move |snapshot| snapshot.documents(DocQuery::Modules { set }))
            .await
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.read(move |snapshot| snapshot.documents(DocQuery::Audit { biz, resource_type }))
            .await
    }

    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        self.read(move |snapshot| snapshot.page(query, window))
            .await
    }

    async fn audit_after(&self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        self.read(move |snapshot| snapshot.audit_after(after, limit))
            .await
    }

    /// Runs [`Backend::close`] on the writer thread, after every write queued before it; on a
    /// store that refuses writes (after a failed sync) it runs on a reader thread instead, so
    /// the files are still let go of.
    async fn close(&self) -> Result<(), StoreError> {
        let backend = Arc::clone(&self.backend);
        match self.committer.exclusive(move |_| backend.close()).await {
            Ok(closed) => closed,
            Err(_) => self.run(|backend| backend.close()).await?,
        }
    }
}
