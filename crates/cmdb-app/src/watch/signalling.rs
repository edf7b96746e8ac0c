//! [`Signalling`]: the engine's view of its store, which signals a [`CommitSignal`] after
//! every write that committed creates (whoever calls it: the engine, a batch, an import, or a
//! program through [`crate::Engine::store`]).

use std::sync::Arc;

use async_trait::async_trait;
use cmdb_core::backend::DocQuery;
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::ids::{AuditId, BizId, SequenceKind, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{BatchFailure, CommitStats, CommitWaker, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};

use super::signal::CommitSignal;

/// A store whose committed creates wake the engine's waiting watchers. Every other
/// method is the inner store's.
#[derive(Debug)]
pub struct Signalling {
    inner: Arc<dyn SetStore>,
    signal: Arc<CommitSignal>,
}

impl Signalling {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn SetStore>) -> Self {
        let signal: Arc<CommitSignal> = Arc::default();
        let woken = Arc::downgrade(&signal);
        // A store that hears of other engines' commits (PostgreSQL's LISTEN) wakes the
        // watchers too; the poll stays as the backstop.
        inner.on_commits(Arc::new(move || {
            if let Some(signal) = woken.upgrade() {
                signal.committed();
            }
        }));
        Signalling { inner, signal }
    }

    /// The signal its commits bump.
    pub(crate) fn signal(&self) -> &Arc<CommitSignal> {
        &self.signal
    }
}

#[async_trait]
impl SetStore for Signalling {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.inner.apply_catalog(batch).await
    }
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let results = self.inner.create_sets(plans).await;
        if results.iter().any(Result::is_ok) {
            self.signal.committed();
        }
        results
    }
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        self.inner.create_facts(query).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
    fn commit_stats(&self) -> Option<CommitStats> {
        self.inner.commit_stats()
    }
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        let created = self.inner.create_sets_atomic(plans).await;
        if created.as_ref().is_ok_and(|c| !c.is_empty()) {
            self.signal.committed();
        }
        created
    }
    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.inner.raise_sequence(kind, value).await
    }
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.inner.sequence_last(kind).await
    }
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.inner.catalog_get(key).await
    }
    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.inner.sets(biz, set).await
    }
    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.inner.modules(set).await
    }
    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.audit_records(biz, resource_type).await
    }
    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        self.inner.page(query, window).await
    }
    async fn audit_after(&self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        self.inner.audit_after(after, limit).await
    }
    fn on_commits(&self, wake: CommitWaker) -> bool {
        self.inner.on_commits(wake)
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}
