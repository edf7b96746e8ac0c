//! The ports: what the domain needs from the outside world (storage, time, permission, ids).
//!
//! Stores implement two traits. [`SetStore`] is the coarse, async, use-case-sized port the
//! application calls. [`StoreTx`] is the small synchronous view of *one open transaction* that a
//! store hands to the domain's write logic ([`crate::plan::commit_plan`],
//! [`crate::fixture::apply_fixture`]), so that every rule stays in the domain and every store
//! applies it the same way.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use crate::error::{Error, StoreError};
use crate::fixture::{CatalogBatch, LoadReport};
use crate::ids::{BizId, IdRange, SequenceKind, SetId};
use crate::plan::CreatePlan;
use crate::records::{
    AuditRecord, CreatedSet, Document, ModuleRecord, ResourceType, SetRecord, UniqueKey,
};

/// One open write transaction of a store.
///
/// # Contract
/// - Every read MUST see the writes made earlier through the same transaction.
/// - Nothing written through it is visible to others until the store commits, and the store
///   MUST roll everything back (sequences included) when the domain returns an error.
/// - Methods MUST only fail for storage reasons; domain rules are the caller's.
pub trait StoreTx {
    /// Hands out the next `count` ids of `kind` as one range, bumping the stored sequence.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the sequence is exhausted or cannot be written.
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError>;
    /// Raises the sequence of `kind` so the next id is above `value`; never lowers it.
    /// Returns whether it changed.
    ///
    /// # Errors
    /// Storage failures only.
    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError>;
    /// Whether a set of `biz` under `parent` is named exactly `name`.
    ///
    /// # Errors
    /// Storage failures only.
    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError>;
    /// Whether a stored set occupies `key`.
    ///
    /// # Errors
    /// Storage failures only.
    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError>;
    /// The built-in set of `biz`, if it has one.
    ///
    /// # Errors
    /// Storage failures only.
    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError>;
    /// Inserts a set with its name index, unique keys and (when built-in) its built-in marker.
    /// The domain checks those indexes through this same transaction before inserting, so a
    /// store MAY rely on that; a store whose indexes refuse a duplicate anyway reports it.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when an index of the backend refuses it.
    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError>;
    /// Inserts a module.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] for a taken id; storage failures.
    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError>;
    /// Inserts an audit record.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] for a taken id; storage failures.
    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError>;

    /// The mainline custom levels of a tenant, `None` while not yet fixed.
    ///
    /// # Errors
    /// Storage failures only.
    fn mainline(&mut self, supplier_account: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Fixes the mainline custom levels of a tenant.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_mainline(&mut self, supplier_account: &str, levels: &[String])
    -> Result<(), StoreError>;
    /// The business with this id.
    ///
    /// # Errors
    /// Storage failures only.
    fn business(&mut self, id: BizId) -> Result<Option<Business>, StoreError>;
    /// Inserts or replaces a business.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_business(&mut self, business: &Business) -> Result<(), StoreError>;
    /// The mainline instance with this id.
    ///
    /// # Errors
    /// Storage failures only.
    fn mainline_instance(&mut self, id: i64) -> Result<Option<MainlineInstance>, StoreError>;
    /// Inserts or replaces a mainline instance.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_mainline_instance(&mut self, instance: &MainlineInstance) -> Result<(), StoreError>;
    /// The custom set attribute `property_id` of a tenant.
    ///
    /// # Errors
    /// Storage failures only.
    fn attribute(
        &mut self,
        supplier_account: &str,
        property_id: &str,
    ) -> Result<Option<StoredAttribute>, StoreError>;
    /// Inserts or replaces a custom set attribute, keyed by tenant and property id.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_attribute(&mut self, attribute: &StoredAttribute) -> Result<(), StoreError>;
    /// The unique rule of a tenant whose [`UniqueRule::key`] is `key`.
    ///
    /// # Errors
    /// Storage failures only.
    fn unique_rule(
        &mut self,
        supplier_account: &str,
        key: &str,
    ) -> Result<Option<UniqueRule>, StoreError>;
    /// Inserts a unique rule, keyed by tenant and [`UniqueRule::key`].
    ///
    /// # Errors
    /// Storage failures only.
    fn put_unique_rule(&mut self, rule: &UniqueRule) -> Result<(), StoreError>;
    /// The service template with this id.
    ///
    /// # Errors
    /// Storage failures only.
    fn service_template(&mut self, id: i64) -> Result<Option<ServiceTemplate>, StoreError>;
    /// Inserts or replaces a service template.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_service_template(&mut self, template: &ServiceTemplate) -> Result<(), StoreError>;
    /// The set template with this id.
    ///
    /// # Errors
    /// Storage failures only.
    fn set_template(&mut self, id: i64) -> Result<Option<SetTemplate>, StoreError>;
    /// Inserts or replaces a set template.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_set_template(&mut self, template: &SetTemplate) -> Result<(), StoreError>;
}

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

    /// Persists one planned set, its modules and audit records via
    /// [`crate::plan::commit_plan`], in one transaction.
    ///
    /// # Errors
    /// 1101108 / 1199014 / 1199054 from the domain, or a store failure; nothing is written.
    async fn create_set(&self, plan: CreatePlan) -> Result<CreatedSet, Error>;

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
pub trait Authorizer: Send + Sync + Debug {
    /// Whether `user` may perform `action` on `biz`.
    fn allows(&self, user: &str, action: Action, biz: BizId) -> bool;
}

/// Hands out request ids for requests that bring none.
pub trait RequestIdSource: Send + Sync + Debug {
    /// A fresh id: 32 lowercase hex characters.
    fn next_id(&self) -> String;
}
