//! The ports: what the domain needs from the outside world (storage, time, permission, ids).
//!
//! Stores implement [`SetStore`], the coarse, async, use-case-sized port the application calls,
//! and hand the domain's write logic ([`crate::plan::commit_group`],
//! [`crate::fixture::apply_fixture`]) the synchronous view of one open transaction
//! ([`crate::tx::StoreTx`], [`crate::tx::GroupTx`]), so that every rule stays in the domain and
//! every store applies it the same way.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::backend::DocQuery;
use crate::catalog::{Business, MainlineInstance, ServiceTemplate, SetTemplate};
use crate::catalog_key::{
    CatalogItem, CatalogKey, as_business, as_instance, as_mainline, as_service_template,
    as_set_template,
};
use crate::error::{Error, StoreError};
use crate::facts::{FactsQuery, StoredFacts};
use crate::fixture::{CatalogBatch, LoadReport};
use crate::ids::{AuditId, BizId, SequenceKind, SetId};
use crate::listing::{DocPage, Window};
pub use crate::plan::BatchFailure;
use crate::plan::CreatePlan;
use crate::records::{CreatedSet, Document, ResourceType};

pub use crate::tx::{GroupTx, StoreTx};

/// Durable storage of the catalog and of created sets. Used as `Arc<dyn SetStore>`.
///
/// A store implements thirteen methods: its name, the four writes (each running the domain's
/// write logic over the backend's [`StoreTx`]), `sequence_last`, the two catalog reads
/// (`create_facts`, `catalog_get`), the three document reads, the event log's read
/// (`audit_after`) and `close`; `page` (a paged
/// read, which stores override with an indexed one), `health` and `commit_stats` are provided
/// for it to answer. One create and the typed catalog reads (`business`, `mainline`, …) are
/// [`SetStoreExt`]'s, for every store. An embedded engine
/// implements none of this: it is a `Backend` of `cmdb_store_group::EmbeddedStore`.
///
/// Write methods run the domain's write logic inside one transaction of the backend.
///
/// # Contract
/// - Each write method MUST be atomic: fully applied, or no trace (ids included) on any error.
/// - Ids MUST be allocated inside the write transaction: strictly increasing, never reused,
///   also across crashes and reopen; a failed write consumes none.
/// - Set names MUST be unique per (biz, parent) and custom unique keys unique per tenant, also
///   under concurrent writers (threads, and processes where the backend allows several).
/// - Once a write method returns `Ok`, the data MUST survive a process crash, unless the store
///   was opened in a documented opt-in mode that trades that for speed (sled's background
///   flush); whether it survives power loss is the backend's documented durability option.
/// - Reads MUST return documents exactly as written, ordered by id.
#[async_trait]
pub trait SetStore: Send + Sync + Debug + 'static {
    /// A short backend name: `memory`, `sqlite`, `sled`.
    fn backend(&self) -> &'static str;

    /// Applies a catalog batch (a fixture) in one transaction via
    /// [`crate::fixture::apply_fixture`].
    ///
    /// # Errors
    /// The domain error the batch is refused with, or a store failure; nothing is written.
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error>;

    /// Persists planned sets, each with its modules and audit records, via
    /// [`crate::plan::commit_group`]: one result per plan, in order.
    ///
    /// Each plan is isolated: a plan refused by the domain (1101108, 1199014, 1199054) or by a
    /// storage error of its own leaves no trace (ids included), and the others are stored.
    /// Plans of one call, and of calls made concurrently, MAY share one transaction (group
    /// commit); later plans of a transaction see the earlier ones, so of two plans of one
    /// name the first wins. A call returns only once the transaction holding its plans has
    /// committed under the store's sync mode; a failed commit fails every plan in it.
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>>;

    /// Everything stored that a create depends on, in one call (one round trip, one blocking
    /// job): the business, the tenant's mainline, the parent instance when the mainline has
    /// custom levels, the attributes visible in the biz, the tenant's unique rules, the template
    /// with its service templates, and the biz's built-in set. An unknown business answers
    /// [`StoredFacts::default`].
    ///
    /// # Errors
    /// Store failures.
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError>;

    /// Whether the store can serve requests now (a health hook for `/healthz`). The default
    /// answers `Ok`: an embedded store that opened is healthy; a networked store answers
    /// whether its server is reachable and its schema in place.
    ///
    /// # Errors
    /// Why the store cannot serve now.
    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How many write transactions holding creates the store has committed, and how many
    /// creates they held; `None` for a store that does not count (a test and tuning hook).
    fn commit_stats(&self) -> Option<CommitStats> {
        None
    }

    /// Persists every plan in order in one transaction: all or nothing.
    ///
    /// # Errors
    /// The first failing plan's index and error; nothing is written.
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure>;

    /// Raises a sequence so the next id is above `value` (never lowers). Returns whether it changed.
    ///
    /// # Errors
    /// Store failures.
    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError>;

    /// The last id handed out by a sequence (0 when none).
    ///
    /// # Errors
    /// Store failures.
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError>;

    /// The catalog object under `key`, `None` when none is stored.
    ///
    /// # Errors
    /// Store failures.
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError>;

    /// The sets of a biz ordered by `bk_set_id`; only `set` when given (empty when absent).
    ///
    /// # Errors
    /// Store failures.
    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError>;

    /// The modules of a set ordered by `bk_module_id`.
    ///
    /// # Errors
    /// Store failures.
    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError>;

    /// The audit records of a biz ordered by `id`, optionally of one resource type.
    ///
    /// # Errors
    /// Store failures.
    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError>;

    /// One page of the sets, modules or audit records `query` names, with the count of the
    /// whole listing (a `Sets` query with one set counts that one). The default reads the
    /// whole listing through the methods above and cuts it; stores override it with an indexed
    /// range read, so that a page's cost does not grow with the listing.
    ///
    /// # Errors
    /// Store failures.
    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let all = match query {
            DocQuery::Sets { biz, set } => self.sets(biz, set).await?,
            DocQuery::Modules { set } => self.modules(set).await?,
            DocQuery::Audit { biz, resource_type } => {
                self.audit_records(biz, resource_type).await?
            }
        };
        Ok(window.cut(all))
    }

    /// The audit records whose id is above `after`, of every biz, tenant and resource type, in
    /// id order, at most `limit`: what the engine's watch reads its events from.
    ///
    /// # Contract
    /// - One range read of an index in id order: its cost grows with `limit`, not with the log.
    /// - Audit ids MUST be allocated in commit order (under the lock that orders commits), so
    ///   that every snapshot holds a prefix of the log in id order: a reader that continues
    ///   after the last id it saw never skips a record that commits later.
    ///
    /// # Errors
    /// Store failures.
    async fn audit_after(&self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError>;

    /// Asks the store to call `wake` whenever creates commit to its database, also from other
    /// processes or engines (a wake-up only: what committed is read with
    /// [`SetStore::audit_after`]), for as long as the store lives. Answers whether it will.
    /// The default answers `false`: the engine then learns of others' commits by polling.
    fn on_commits(&self, wake: CommitWaker) -> bool {
        let _ = wake;
        false
    }

    /// Flushes and releases the backend; later calls MAY fail.
    ///
    /// # Errors
    /// Store failures while flushing.
    async fn close(&self) -> Result<(), StoreError>;
}

/// What [`SetStore::on_commits`] calls when creates commit.
pub type CommitWaker = std::sync::Arc<dyn Fn() + Send + Sync>;

/// What every [`SetStore`] answers on top of its own methods (implemented for all of them):
/// one create, and the typed catalog reads. A store implements [`SetStore`] only.
#[async_trait]
pub trait SetStoreExt: SetStore {
    /// Persists one planned set: [`SetStore::create_sets`] of one plan.
    ///
    /// # Errors
    /// 1101108 / 1199014 / 1199054 from the domain, or a store failure; nothing is written.
    async fn create_set(&self, plan: CreatePlan) -> Result<CreatedSet, Error> {
        self.create_sets(vec![plan]).await.pop().unwrap_or_else(|| {
            Err(Error::Store(StoreError::Backend(
                "the store answered no result for one create".into(),
            )))
        })
    }

    /// The business with this id.
    ///
    /// # Errors
    /// Store failures, or a store answering with another kind.
    async fn business(&self, id: BizId) -> Result<Option<Business>, StoreError> {
        let key = CatalogKey::Business(id);
        let kind = key.kind();
        as_business(self.catalog_get(key).await?, kind)
    }

    /// The mainline custom levels of a tenant, top first (empty when none).
    ///
    /// # Errors
    /// Store failures, or a store answering with another kind.
    async fn mainline(&self, supplier_account: &str) -> Result<Vec<String>, StoreError> {
        let key = CatalogKey::Mainline(supplier_account.to_owned());
        let kind = key.kind();
        Ok(as_mainline(self.catalog_get(key).await?, kind)?.unwrap_or_default())
    }

    /// The mainline instance with this id.
    ///
    /// # Errors
    /// Store failures, or a store answering with another kind.
    async fn mainline_instance(&self, id: i64) -> Result<Option<MainlineInstance>, StoreError> {
        let key = CatalogKey::MainlineInstance(id);
        let kind = key.kind();
        as_instance(self.catalog_get(key).await?, kind)
    }

    /// The set template with this id.
    ///
    /// # Errors
    /// Store failures, or a store answering with another kind.
    async fn set_template(&self, id: i64) -> Result<Option<SetTemplate>, StoreError> {
        let key = CatalogKey::SetTemplate(id);
        let kind = key.kind();
        as_set_template(self.catalog_get(key).await?, kind)
    }

    /// The service template with this id.
    ///
    /// # Errors
    /// Store failures, or a store answering with another kind.
    async fn service_template(&self, id: i64) -> Result<Option<ServiceTemplate>, StoreError> {
        let key = CatalogKey::ServiceTemplate(id);
        let kind = key.kind();
        as_service_template(self.catalog_get(key).await?, kind)
    }
}

impl<S: SetStore + ?Sized> SetStoreExt for S {}

/// Counters of a store's create commits (see [`SetStore::commit_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions that committed at least one create.
    pub commits: u64,
    /// Creates those transactions stored (refused ones not counted).
    pub creates: u64,
    /// Creates submitted (queued or being committed) and not yet answered.
    pub in_flight: u64,
}

/// The source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// Now, in UTC. The engine renders it in its configured offset.
    fn now(&self) -> DateTime<Utc>;
}

/// The actions an [`Authorizer`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `create_biz_topology`: create sets (and their modules) in a biz.
    CreateBizTopology,
}

impl Action {
    /// The IAM action id.
    pub fn id(self) -> &'static str {
        match self {
            Action::CreateBizTopology => "create_biz_topology",
        }
    }

    /// The IAM action display name.
    pub fn display_name(self) -> &'static str {
        match self {
            Action::CreateBizTopology => "Create business topology",
        }
    }
}

/// Decides whether a user may perform an action on a biz.
///
/// It is called on the caller's async executor, so it must answer without blocking (no i/o,
/// no waiting on locks held across i/o): look decisions up in memory.
pub trait Authorizer: Send + Sync + Debug {
    /// Whether `user` may perform `action` on `biz`.
    fn allows(&self, user: &str, action: Action, biz: BizId) -> bool;
}

/// Hands out request ids for requests that bring none.
pub trait RequestIdSource: Send + Sync + Debug {
    /// A fresh id: 32 lowercase hex characters.
    fn next_id(&self) -> String;
}
