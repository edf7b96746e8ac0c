//! The transaction ports: [`StoreTx`], the point-call view of one open write transaction that
//! the domain's write logic runs against, and [`GroupTx`], the savepoints that let one
//! transaction hold several isolated creates (group commit).

use crate::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use crate::catalog_key::{
    CatalogEntry, CatalogItem, CatalogKey, as_attribute, as_business, as_instance, as_mainline,
    as_service_template, as_set_template, as_unique_rule,
};
use crate::error::StoreError;
use crate::ids::{BizId, IdRange, SequenceKind, SetId};
use crate::records::{AuditRecord, ModuleRecord, SetRecord, UniqueKey};

/// One open write transaction of a store.
///
/// A backend implements the eight index, id and record calls and one get/put pair for every
/// catalog kind ([`StoreTx::catalog_get`], [`StoreTx::catalog_put`]); the typed catalog calls
/// (`business`, `put_business`, …) are provided on top of that pair.
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

    /// The catalog object under `key`, `None` when none is stored.
    ///
    /// # Errors
    /// Storage failures only.
    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError>;
    /// Stores a catalog object, replacing the one under its key.
    ///
    /// # Errors
    /// Storage failures only.
    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError>;

    /// The catalog version current in this transaction, for a store that versions its catalog
    /// and checks plans against it ([`crate::facts::FactsSource`]): read under the same locks
    /// as the writes, so a catalog change cannot commit between the check and the create.
    /// `None` (the default): the store does not version its catalog, and plans are not checked.
    fn catalog_version(&self) -> Option<u64> {
        None
    }

    /// The mainline custom levels of a tenant, `None` while not yet fixed.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn mainline(&mut self, supplier_account: &str) -> Result<Option<Vec<String>>, StoreError> {
        let key = CatalogKey::Mainline(supplier_account.to_owned());
        let kind = key.kind();
        as_mainline(self.catalog_get(key)?, kind)
    }
    /// Fixes the mainline custom levels of a tenant.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_mainline(
        &mut self,
        supplier_account: &str,
        levels: &[String],
    ) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::Mainline {
            supplier_account,
            levels,
        })
    }
    /// The business with this id.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn business(&mut self, id: BizId) -> Result<Option<Business>, StoreError> {
        let key = CatalogKey::Business(id);
        let kind = key.kind();
        as_business(self.catalog_get(key)?, kind)
    }
    /// Inserts or replaces a business.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_business(&mut self, business: &Business) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::Business(business))
    }
    /// The mainline instance with this id.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn mainline_instance(&mut self, id: i64) -> Result<Option<MainlineInstance>, StoreError> {
        let key = CatalogKey::MainlineInstance(id);
        let kind = key.kind();
        as_instance(self.catalog_get(key)?, kind)
    }
    /// Inserts or replaces a mainline instance.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_mainline_instance(&mut self, instance: &MainlineInstance) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::MainlineInstance(instance))
    }
    /// The custom set attribute `property_id` of a tenant.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn attribute(
        &mut self,
        supplier_account: &str,
        property_id: &str,
    ) -> Result<Option<StoredAttribute>, StoreError> {
        let key = CatalogKey::Attribute {
            supplier_account: supplier_account.to_owned(),
            property_id: property_id.to_owned(),
        };
        let kind = key.kind();
        as_attribute(self.catalog_get(key)?, kind)
    }
    /// Inserts or replaces a custom set attribute, keyed by tenant and property id.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_attribute(&mut self, attribute: &StoredAttribute) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::Attribute(attribute))
    }
    /// The unique rule of a tenant whose [`UniqueRule::key`] is `key`.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn unique_rule(
        &mut self,
        supplier_account: &str,
        key: &str,
    ) -> Result<Option<UniqueRule>, StoreError> {
        let key = CatalogKey::UniqueRule {
            supplier_account: supplier_account.to_owned(),
            key: key.to_owned(),
        };
        let kind = key.kind();
        as_unique_rule(self.catalog_get(key)?, kind)
    }
    /// Inserts a unique rule, keyed by tenant and [`UniqueRule::key`].
    ///
    /// # Errors
    /// Storage failures only.
    fn put_unique_rule(&mut self, rule: &UniqueRule) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::UniqueRule(rule))
    }
    /// The service template with this id.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn service_template(&mut self, id: i64) -> Result<Option<ServiceTemplate>, StoreError> {
        let key = CatalogKey::ServiceTemplate(id);
        let kind = key.kind();
        as_service_template(self.catalog_get(key)?, kind)
    }
    /// Inserts or replaces a service template.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_service_template(&mut self, template: &ServiceTemplate) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::ServiceTemplate(template))
    }
    /// The set template with this id.
    ///
    /// # Errors
    /// Storage failures, or a store answering with another kind.
    fn set_template(&mut self, id: i64) -> Result<Option<SetTemplate>, StoreError> {
        let key = CatalogKey::SetTemplate(id);
        let kind = key.kind();
        as_set_template(self.catalog_get(key)?, kind)
    }
    /// Inserts or replaces a set template.
    ///
    /// # Errors
    /// Storage failures only.
    fn put_set_template(&mut self, template: &SetTemplate) -> Result<(), StoreError> {
        self.catalog_put(CatalogEntry::SetTemplate(template))
    }
}

/// A write transaction that can isolate one create among many: everything written (sequence
/// bumps included) between [`GroupTx::savepoint`] and [`GroupTx::rollback_to_savepoint`] is
/// undone, while what was written before the savepoint stays. One level is enough: the domain
/// never nests savepoints.
///
/// # Contract
/// - After `rollback_to_savepoint`, every read MUST answer as it did at `savepoint`.
/// - `release_savepoint` keeps the writes made since `savepoint` as part of the transaction.
/// - A failure of these methods fails the whole transaction (the caller rolls it back).
pub trait GroupTx: StoreTx {
    /// Marks the current state of the transaction.
    ///
    /// # Errors
    /// Storage failures only.
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps what was written since the mark, and drops the mark.
    ///
    /// # Errors
    /// Storage failures only.
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes what was written since the mark, and drops the mark.
    ///
    /// # Errors
    /// Storage failures only.
    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;
}
