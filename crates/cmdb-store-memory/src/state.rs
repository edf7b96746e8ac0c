//! [`State`]: everything the memory store holds, with the indexes next to the records they
//! guard, and the reads of a snapshot over it.

use std::collections::BTreeMap;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, CatalogList, DocQuery, IndexKey};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::ids::{AuditId, BizId, ModuleId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{AuditRecord, Document, ModuleRecord, SetRecord};

use crate::tx::UndoLog;

/// The records and indexes of the store.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The last id of each sequence and the size of each counted listing.
    pub(crate) counters: BTreeMap<Counter, i64>,
    /// Every catalog object under its key.
    pub(crate) catalog: BTreeMap<CatalogKey, CatalogItem>,
    /// By (biz, set id): reads by biz come in id order.
    pub(crate) sets: BTreeMap<(BizId, SetId), SetRecord>,
    /// (biz, parent, name) → set: the name-per-parent index.
    pub(crate) set_names: BTreeMap<(BizId, i64, String), SetId>,
    /// [`cmdb_core::records::UniqueKey::storage_key`] → set.
    pub(crate) unique_keys: BTreeMap<String, SetId>,
    /// biz → its built-in set.
    pub(crate) builtin_sets: BTreeMap<BizId, SetId>,
    /// By (set, module id).
    pub(crate) modules: BTreeMap<(SetId, ModuleId), ModuleRecord>,
    /// By (biz, audit id).
    pub(crate) audits: BTreeMap<(BizId, AuditId), AuditRecord>,
    /// audit id → its biz: the event log in id order.
    pub(crate) audit_log: BTreeMap<AuditId, BizId>,
    /// How to undo the writes of the write in progress.
    pub(crate) undo: UndoLog,
}

impl BackendRead for State {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(self.catalog.get(key).cloned())
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        Ok(self
            .catalog
            .range(list.first_key()..)
            .take_while(|(key, _)| list.contains(key))
            .map(|(_, item)| item.clone())
            .collect())
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        Ok(match key {
            IndexKey::Name { biz, parent, name } => {
                self.set_names.get(&(biz, parent, name.to_owned())).copied()
            }
            IndexKey::Unique(key) => self.unique_keys.get(&key.storage_key()).copied(),
            IndexKey::Builtin(biz) => self.builtin_sets.get(&biz).copied(),
        })
    }

    /// A range of the listing's map, only the page cloned; counted by its counter, if any.
    fn page(&mut self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let ok = |doc: &Document| Ok::<_, StoreError>(doc.clone());
        let known = self.listing_count(query)?;
        match query {
            DocQuery::Sets { biz, set } => {
                let (low, high) = set.map_or((SetId(i64::MIN), SetId(i64::MAX)), |s| (s, s));
                let sets = self.sets.range((biz, low)..=(biz, high));
                window.cut_known(known, sets, |(_, s)| ok(&s.doc))
            }
            DocQuery::Modules { set } => {
                let modules = self
                    .modules
                    .range((set, ModuleId(i64::MIN))..=(set, ModuleId(i64::MAX)));
                window.cut_known(known, modules, |(_, m)| ok(&m.doc))
            }
            DocQuery::Audit { biz, resource_type } => {
                let audits = self
                    .audits
                    .range((biz, AuditId(i64::MIN))..=(biz, AuditId(i64::MAX)));
                let of_type =
                    audits.filter(|(_, a)| resource_type.is_none_or(|t| a.resource_type == t));
                window.cut_known(known, of_type, |(_, a)| Ok(a.document()))
            }
        }
    }

    fn audit_after(&mut self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        let log = self.audit_log.range(AuditId(after.0.saturating_add(1))..);
        let records = log
            .take(limit)
            .filter_map(|(id, biz)| self.audits.get(&(*biz, *id)));
        Ok(records.map(AuditRecord::document).collect())
    }

    fn counter(&mut self, counter: Counter) -> Result<i64, StoreError> {
        Ok(self.counters.get(&counter).copied().unwrap_or(0))
    }
}
