//! [`State`]: everything the memory store holds, with the indexes next to the records they
//! guard, and the reads of a snapshot over it.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, CatalogList, DocQuery, IndexKey};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::ids::{AuditId, BizId, ModuleId, SequenceKind, SetId};
use cmdb_core::records::{AuditRecord, Document, ModuleRecord, SetRecord};

/// The records and indexes of the store.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The last id of each sequence.
    pub(crate) sequences: BTreeMap<SequenceKind, i64>,
    /// Every catalog object under its key.
    pub(crate) catalog: BTreeMap<CatalogKey, CatalogItem>,
    pub(crate) sets: BTreeMap<SetId, SetRecord>,
    /// (biz, set) for reads by biz in id order.
    pub(crate) sets_by_biz: BTreeSet<(BizId, SetId)>,
    /// (biz, parent, name) → set: the name-per-parent index.
    pub(crate) set_names: BTreeMap<(BizId, i64, String), SetId>,
    /// [`cmdb_core::records::UniqueKey::storage_key`] → set.
    pub(crate) unique_keys: BTreeMap<String, SetId>,
    /// biz → its built-in set.
    pub(crate) builtin_sets: BTreeMap<BizId, SetId>,
    pub(crate) modules: BTreeMap<ModuleId, ModuleRecord>,
    /// (set, module) for reads by set in id order.
    pub(crate) modules_by_set: BTreeSet<(SetId, ModuleId)>,
    pub(crate) audits: BTreeMap<AuditId, AuditRecord>,
    /// (biz, audit id) for reads by biz in id order.
    pub(crate) audits_by_biz: BTreeSet<(BizId, AuditId)>,
}

impl BackendRead for State {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(self.catalog.get(key).cloned())
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        let (from, tenant) = match list {
            CatalogList::Attributes { supplier_account } => (
                CatalogKey::Attribute {
                    supplier_account: supplier_account.to_owned(),
                    property_id: String::new(),
                },
                supplier_account,
            ),
            CatalogList::UniqueRules { supplier_account } => (
                CatalogKey::UniqueRule {
                    supplier_account: supplier_account.to_owned(),
                    key: String::new(),
                },
                supplier_account,
            ),
        };
        Ok(self
            .catalog
            .range(&from..)
            .take_while(|(key, _)| match key {
                CatalogKey::Attribute {
                    supplier_account, ..
                } => matches!(list, CatalogList::Attributes { .. }) && supplier_account == tenant,
                CatalogKey::UniqueRule {
                    supplier_account, ..
                } => matches!(list, CatalogList::UniqueRules { .. }) && supplier_account == tenant,
                _ => false,
            })
            .map(|(_, item)| item.clone())
            .collect())
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        Ok(match key {
            IndexKey::Name { biz, parent, name } => self
                .set_names
                .get(&(biz, parent, name.to_owned()))
                .copied(),
            IndexKey::Unique(key) => self.unique_keys.get(&key.storage_key()).copied(),
            IndexKey::Builtin(biz) => self.builtin_sets.get(&biz).copied(),
        })
    }

    fn documents(&mut self, query: DocQuery) -> Result<Vec<Document>, StoreError> {
        Ok(match query {
            DocQuery::Sets { biz, set: Some(id) } => self
                .sets_by_biz
                .contains(&(biz, id))
                .then(|| (*self.sets[&id].doc).clone())
                .into_iter()
                .collect(),
            DocQuery::Sets { biz, set: None } => self
                .sets_by_biz
                .range((biz, SetId(i64::MIN))..=(biz, SetId(i64::MAX)))
                .map(|(_, id)| (*self.sets[id].doc).clone())
                .collect(),
            DocQuery::Modules { set } => self
                .modules_by_set
                .range((set, ModuleId(i64::MIN))..=(set, ModuleId(i64::MAX)))
                .map(|(_, id)| (*self.modules[id].doc).clone())
                .collect(),
            DocQuery::Audit { biz, resource_type } => self
                .audits_by_biz
                .range((biz, AuditId(i64::MIN))..=(biz, AuditId(i64::MAX)))
                .map(|(_, id)| &self.audits[id])
                .filter(|a| resource_type.is_none_or(|t| a.resource_type == t))
                .map(AuditRecord::document)
                .collect(),
        })
    }

    fn sequence(&mut self, kind: SequenceKind) -> Result<i64, StoreError> {
        Ok(self.sequences.get(&kind).copied().unwrap_or(0))
    }
}
