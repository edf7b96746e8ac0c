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

use crate::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use crate::error::{Error, StoreError};
use crate::facts::{FactsQuery, StoredFacts};
use crate::fixture::{CatalogBatch, LoadReport};
use crate::ids::{BizId, SequenceKind, SetId};
use crate::plan::CreatePlan;
use crate::records::{CreatedSet, Document, ResourceType};

pub use crate::tx::{GroupTx, StoreTx};

/// One element of an atomic batch failed; nothing of the batch was written.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFailure {
    /// The index of the failing plan. A store failure that belongs to no plan (the
    /// transaction cannot begin or cannot commit) is reported at index 0.
    pub index: usize,
    /// Why it failed.
    pub error: Error,
}

/// Durable storage of the catalog and of created sets. Used as `Arc<dyn SetStore>`.
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

    /// Everything stored that a create depends on, in one call. The default makes the point
    /// reads below; a store overrides it to answer in one round trip or one blocking job.
    ///
    /// # Errors
    /// Store failures.
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let Some(business) = self.business(query.biz).await? else {
            return Ok(StoredFacts::default());
        };
        let sup = query.supplier_account.as_str();
        let mainline = self.mainline(sup).await?;
        let parent_instance = match query.parent {
            Some(id) if !mainline.is_empty() => self.mainline_instance(id).await?,
            _ => None,
        };
        let attributes = self.set_attributes(sup, query.biz).await?;
        let unique_rules = self.unique_rules(sup).await?;
        let template = match query.template {
            Some(id) => self.set_template(id).await?,
            None => None,
        };
        let mut service_templates = Vec::new();
        if let Some(t) = &template {
            for sid in &t.service_template_ids {
                if let Some(s) = self.service_template(*sid).await? {
                    service_templates.push(s);
                }
            }
        }
        let builtin_set = self.builtin_set(query.biz).await?;
        Ok(StoredFacts {
            business: Some(business),
            mainline,
            parent_instance,
            attributes,
            unique_rules,
            template,
            service_templates,
            builtin_set,
        })
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

    /// The business with this id.
    ///
    /// # Errors
    /// Store failures.
    async fn business(&self, id: BizId) -> Result<Option<Business>, StoreError>;

    /// The mainline custom levels of a tenant, top first (empty when none).
    ///
    /// # Errors
    /// Store failures.
    async fn mainline(&self, supplier_account: &str) -> Result<Vec<String>, StoreError>;

    /// The mainline instance with this id.
    ///
    /// # Errors
    /// Store failures.
    async fn mainline_instance(&self, id: i64) -> Result<Option<MainlineInstance>, StoreError>;

    /// The custom set attributes visible in `biz` of a tenant (global ones and the biz's own),
    /// ordered by [`StoredAttribute::ordinal`].
    ///
    /// # Errors
    /// Store failures.
    async fn set_attributes(
        &self,
        supplier_account: &str,
        biz: BizId,
    ) -> Result<Vec<StoredAttribute>, StoreError>;

    /// The custom unique rules of a tenant, ordered by [`UniqueRule::key`].
    ///
    /// # Errors
    /// Store failures.
    async fn unique_rules(&self, supplier_account: &str) -> Result<Vec<UniqueRule>, StoreError>;

    /// The set template with this id.
    ///
    /// # Errors
    /// Store failures.
    async fn set_template(&self, id: i64) -> Result<Option<SetTemplate>, StoreError>;

    /// The service template with this id.
    ///
    /// # Errors
    /// Store failures.
    async fn service_template(&self, id: i64) -> Result<Option<ServiceTemplate>, StoreError>;

    /// The built-in set of a biz, if any.
    ///
    /// # Errors
    /// Store failures.
    async fn builtin_set(&self, biz: BizId) -> Result<Option<SetId>, StoreError>;

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

    /// Flushes and releases the backend; later calls MAY fail.
    ///
    /// # Errors
    /// Store failures while flushing.
    async fn close(&self) -> Result<(), StoreError>;
}

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
