//! `cmdb-store-memory`: the simplest correct [`SetStore`], kept in process memory.
//!
//! All state sits in one [`std::sync::Mutex`] of ordered maps. A write locks it, opens a
//! transaction over it, hands that to the domain's write logic
//! ([`cmdb_core::plan::commit_group`], [`cmdb_core::fixture::apply_fixture`]) and commits on
//! `Ok`. Creates go through a [`GroupCommitter`] like every store's, so concurrent creates
//! share one transaction; savepoints are marks in the undo log.
//! The transaction writes in place and keeps an undo log; on `Err` (and on a panic, through
//! `Drop`) it replays the log backwards, so a failed write leaves no trace, sequences included.
//! Only the values a write replaces are kept, never a copy of the state.
//!
//! Nothing survives the process: `close` is a no-op and there is nothing to reopen. It is also
//! the reference model of the conformance suite's differential test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::error::{Error, StoreError};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::{AuditId, BizId, IdRange, ModuleId, Sequence, SequenceKind, SetId};
use cmdb_core::plan::{CreatePlan, commit_group, commit_plan};
use cmdb_core::ports::{BatchFailure, CommitStats, GroupTx, SetStore, StoreTx};
use cmdb_core::records::{
    AuditRecord, CreatedSet, Document, ModuleRecord, ResourceType, SetRecord, UniqueKey,
};
use cmdb_store_group::{GroupBackend, GroupCommitter, GroupError, GroupOptions};

/// Everything the store holds. Indexes are kept next to the records they guard.
#[derive(Debug, Default)]
struct State {
    sequences: BTreeMap<SequenceKind, Sequence>,
    mainlines: BTreeMap<String, Vec<String>>,
    businesses: BTreeMap<BizId, Business>,
    instances: BTreeMap<i64, MainlineInstance>,
    /// Keyed by (tenant, property id).
    attributes: BTreeMap<(String, String), StoredAttribute>,
    /// Keyed by (tenant, rule key).
    unique_rules: BTreeMap<(String, String), UniqueRule>,
    service_templates: BTreeMap<i64, ServiceTemplate>,
    set_templates: BTreeMap<i64, SetTemplate>,
    sets: BTreeMap<SetId, SetRecord>,
    /// (biz, set) for reads by biz in id order.
    sets_by_biz: BTreeSet<(BizId, SetId)>,
    /// (biz, parent, name) → set: the name-per-parent index.
    set_names: BTreeMap<(BizId, i64, String), SetId>,
    /// [`UniqueKey::storage_key`] → set.
    unique_keys: BTreeMap<String, SetId>,
    /// biz → its built-in set.
    builtin_sets: BTreeMap<BizId, SetId>,
    modules: BTreeMap<ModuleId, ModuleRecord>,
    /// (set, module) for reads by set in id order.
    modules_by_set: BTreeSet<(SetId, ModuleId)>,
    audits: BTreeMap<AuditId, AuditRecord>,
    /// (biz, audit id) for reads by biz in id order.
    audits_by_biz: BTreeSet<(BizId, AuditId)>,
}

impl State {
    /// The catalog object under `key`.
    fn catalog_item(&self, key: CatalogKey) -> Option<CatalogItem> {
        match key {
            CatalogKey::Mainline(tenant) => self
                .mainlines
                .get(&tenant)
                .cloned()
                .map(CatalogItem::Mainline),
            CatalogKey::Business(id) => {
                self.businesses.get(&id).cloned().map(CatalogItem::Business)
            }
            CatalogKey::MainlineInstance(id) => self
                .instances
                .get(&id)
                .cloned()
                .map(CatalogItem::MainlineInstance),
            CatalogKey::Attribute {
                supplier_account,
                property_id,
            } => self
                .attributes
                .get(&(supplier_account, property_id))
                .cloned()
                .map(CatalogItem::Attribute),
            CatalogKey::UniqueRule {
                supplier_account,
                key,
            } => self
                .unique_rules
                .get(&(supplier_account, key))
                .cloned()
                .map(CatalogItem::UniqueRule),
            CatalogKey::ServiceTemplate(id) => self
                .service_templates
                .get(&id)
                .cloned()
                .map(CatalogItem::ServiceTemplate),
            CatalogKey::SetTemplate(id) => self
                .set_templates
                .get(&id)
                .cloned()
                .map(CatalogItem::SetTemplate),
        }
    }

    /// The custom set attributes visible in `biz` of a tenant, by ordinal.
    fn set_attributes(&self, supplier_account: &str, biz: BizId) -> Vec<StoredAttribute> {
        let mut found: Vec<StoredAttribute> = self
            .attributes
            .values()
            .filter(|a| {
                a.bk_supplier_account == supplier_account
                    && (a.raw.bk_biz_id == 0 || a.raw.bk_biz_id == biz.0)
            })
            .cloned()
            .collect();
        found.sort_by_key(|a| a.ordinal);
        found
    }

    /// The unique rules of a tenant. Keys are (tenant, rule key), so they come out ordered by
    /// rule key.
    fn unique_rules(&self, supplier_account: &str) -> Vec<UniqueRule> {
        self.unique_rules
            .iter()
            .filter(|((tenant, _), _)| tenant == supplier_account)
            .map(|(_, rule)| rule.clone())
            .collect()
    }
}

/// One step back: restores what a write replaced.
type Undo = Box<dyn FnOnce(&mut State) + Send>;

/// Puts `previous` back under `key`: re-inserts it, or removes the key when there was none.
fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, previous: Option<V>) {
    match previous {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// A write transaction over the locked state: writes in place, undoes them unless committed.
///
/// Dropping it without [`MemoryTx::commit`] rolls every write back, so an error or a panic in
/// the domain code leaves the state as it was.
struct MemoryTx<'a> {
    state: MutexGuard<'a, State>,
    undo: Vec<Undo>,
    /// The length of `undo` at the open savepoint.
    savepoint: Option<usize>,
}

impl std::fmt::Debug for MemoryTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTx")
            .field("pending_writes", &self.undo.len())
            .finish_non_exhaustive()
    }
}

impl<'a> MemoryTx<'a> {
    fn begin(state: MutexGuard<'a, State>) -> Self {
        MemoryTx {
            state,
            undo: Vec::new(),
            savepoint: None,
        }
    }

    /// Keeps every write made through this transaction.
    fn commit(mut self) {
        self.undo.clear();
    }

    fn rollback(&mut self) {
        self.rollback_to(0);
    }

    /// Undoes the writes logged after the first `len` steps.
    fn rollback_to(&mut self, len: usize) {
        while self.undo.len() > len {
            if let Some(step) = self.undo.pop() {
                step(&mut self.state);
            }
        }
    }

    fn log(&mut self, step: impl FnOnce(&mut State) + Send + 'static) {
        self.undo.push(Box::new(step));
    }

    fn sequence(&self, kind: SequenceKind) -> Sequence {
        self.state.sequences.get(&kind).copied().unwrap_or_default()
    }

    fn put_sequence(&mut self, kind: SequenceKind, value: Sequence) {
        let previous = self.state.sequences.insert(kind, value);
        self.log(move |s| restore(&mut s.sequences, kind, previous));
    }
}

impl Drop for MemoryTx<'_> {
    fn drop(&mut self) {
        self.rollback();
    }
}

impl GroupTx for MemoryTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = Some(self.undo.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = None;
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let mark = self
            .savepoint
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        self.rollback_to(mark);
        Ok(())
    }
}

impl StoreTx for MemoryTx<'_> {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        let mut seq = self.sequence(kind);
        if count == 0 {
            // Nothing to hand out. (`Sequence::take(0)` computes `last + 1`, which overflows
            // when the sequence is at `i64::MAX`.)
            return Ok(IdRange {
                first: seq.last().saturating_add(1),
                len: 0,
            });
        }
        let range = seq
            .take(count)
            .map_err(|e| StoreError::Backend(format!("{} {e}", kind.name()).into()))?;
        self.put_sequence(kind, seq);
        Ok(range)
    }

    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        let mut seq = self.sequence(kind);
        let changed = seq.raise_to(value);
        if changed {
            self.put_sequence(kind, seq);
        }
        Ok(changed)
    }

    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .state
            .set_names
            .contains_key(&(biz, parent, name.to_owned())))
    }

    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError> {
        Ok(self.state.unique_keys.contains_key(&key.storage_key()))
    }

    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        Ok(self.state.builtin_sets.get(&biz).copied())
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        let id = record.id;
        let name_key = (record.biz, record.parent, record.name.clone());
        let unique: Vec<String> = record
            .unique_keys
            .iter()
            .map(UniqueKey::storage_key)
            .collect();
        // Check every index before touching any, so a refused insert changes nothing.
        if self.state.sets.contains_key(&id) {
            return Err(StoreError::AlreadyExists(format!("set {id}").into()));
        }
        if self.state.set_names.contains_key(&name_key) {
            return Err(StoreError::AlreadyExists(
                format!(
                    "set name {:?} under parent {} of biz {}",
                    record.name, record.parent, record.biz
                )
                .into(),
            ));
        }
        for (i, key) in unique.iter().enumerate() {
            if self.state.unique_keys.contains_key(key) || unique[..i].contains(key) {
                return Err(StoreError::AlreadyExists(
                    format!(
                        "unique key [{}] {}",
                        record.unique_keys[i].fields.join(","),
                        record.unique_keys[i].values
                    )
                    .into(),
                ));
            }
        }
        if record.builtin && self.state.builtin_sets.contains_key(&record.biz) {
            return Err(StoreError::AlreadyExists(
                format!("built-in set of biz {}", record.biz).into(),
            ));
        }

        let biz = record.biz;
        self.state.sets.insert(id, record.clone());
        self.state.sets_by_biz.insert((biz, id));
        self.state.set_names.insert(name_key.clone(), id);
        for key in &unique {
            self.state.unique_keys.insert(key.clone(), id);
        }
        if record.builtin {
            self.state.builtin_sets.insert(biz, id);
        }
        let builtin = record.builtin;
        self.log(move |s| {
            s.sets.remove(&id);
            s.sets_by_biz.remove(&(biz, id));
            s.set_names.remove(&name_key);
            for key in &unique {
                s.unique_keys.remove(key);
            }
            if builtin {
                s.builtin_sets.remove(&biz);
            }
        });
        Ok(())
    }

    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError> {
        let id = record.id;
        if self.state.modules.contains_key(&id) {
            return Err(StoreError::AlreadyExists(format!("module {id}").into()));
        }
        let set = record.set;
        self.state.modules.insert(id, record.clone());
        self.state.modules_by_set.insert((set, id));
        self.log(move |s| {
            s.modules.remove(&id);
            s.modules_by_set.remove(&(set, id));
        });
        Ok(())
    }

    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        let id = record.id;
        if self.state.audits.contains_key(&id) {
            return Err(StoreError::AlreadyExists(
                format!("audit record {id}").into(),
            ));
        }
        let biz = record.biz;
        self.state.audits.insert(id, record.clone());
        self.state.audits_by_biz.insert((biz, id));
        self.log(move |s| {
            s.audits.remove(&id);
            s.audits_by_biz.remove(&(biz, id));
        });
        Ok(())
    }

    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(self.state.catalog_item(key))
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        let state = &mut *self.state;
        let undo: Undo = match entry {
            CatalogEntry::Mainline {
                supplier_account,
                levels,
            } => {
                let key = supplier_account.to_owned();
                let previous = state.mainlines.insert(key.clone(), levels.to_vec());
                Box::new(move |s| restore(&mut s.mainlines, key, previous))
            }
            CatalogEntry::Business(business) => {
                let key = business.bk_biz_id;
                let previous = state.businesses.insert(key, business.clone());
                Box::new(move |s| restore(&mut s.businesses, key, previous))
            }
            CatalogEntry::MainlineInstance(instance) => {
                let key = instance.bk_inst_id;
                let previous = state.instances.insert(key, instance.clone());
                Box::new(move |s| restore(&mut s.instances, key, previous))
            }
            CatalogEntry::Attribute(attribute) => {
                let key = (
                    attribute.bk_supplier_account.clone(),
                    attribute.raw.bk_property_id.clone(),
                );
                let previous = state.attributes.insert(key.clone(), attribute.clone());
                Box::new(move |s| restore(&mut s.attributes, key, previous))
            }
            CatalogEntry::UniqueRule(rule) => {
                let key = (rule.bk_supplier_account.clone(), rule.key());
                let previous = state.unique_rules.insert(key.clone(), rule.clone());
                Box::new(move |s| restore(&mut s.unique_rules, key, previous))
            }
            CatalogEntry::ServiceTemplate(template) => {
                let key = template.id;
                let previous = state.service_templates.insert(key, template.clone());
                Box::new(move |s| restore(&mut s.service_templates, key, previous))
            }
            CatalogEntry::SetTemplate(template) => {
                let key = template.id;
                let previous = state.set_templates.insert(key, template.clone());
                Box::new(move |s| restore(&mut s.set_templates, key, previous))
            }
        };
        self.undo.push(undo);
        Ok(())
    }
}

/// The state behind its mutex: what the writer thread commits groups into.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state. A panic while it was locked left it consistent (the transaction undid
    /// its writes in `Drop`, and reads do not write), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `write` in one transaction: commits on `Ok`, rolls back on `Err`.
    fn write<T, E>(&self, write: impl FnOnce(&mut MemoryTx<'_>) -> Result<T, E>) -> Result<T, E> {
        let mut tx = MemoryTx::begin(self.lock());
        let result = write(&mut tx);
        if result.is_ok() {
            tx.commit();
        }
        result
    }
}

impl GroupBackend for Shared {
    fn commit_group(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<Result<CreatedSet, Error>>, GroupError> {
        self.write(|tx| commit_group(tx, plans))
            .map_err(GroupError::Failed)
    }
}

/// A [`SetStore`] in process memory: one mutex over ordered maps, all-or-nothing writes.
///
/// Writers are serialised by the mutex, which makes the name and unique-key checks of
/// [`commit_plan`] race-free. Creates are group-committed by a writer thread of the store;
/// other calls run on the caller (they only hold the mutex briefly, no i/o). Nothing is
/// persisted; `close` does nothing.
#[derive(Debug)]
pub struct MemoryStore {
    shared: Arc<Shared>,
    committer: GroupCommitter,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_options(GroupOptions::default())
    }
}

impl MemoryStore {
    /// An empty store: no catalog, no sets, every sequence at 0.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// An empty store whose creates are grouped per `options`.
    pub fn with_options(options: GroupOptions) -> Self {
        let shared = Arc::new(Shared::default());
        let committer = GroupCommitter::start("cmdb-memory-writer", Arc::clone(&shared), options);
        MemoryStore { shared, committer }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    fn write<T, E>(&self, write: impl FnOnce(&mut MemoryTx<'_>) -> Result<T, E>) -> Result<T, E> {
        self.shared.write(write)
    }
}

#[async_trait]
impl SetStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.write(|tx| apply_fixture(tx, &batch))
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.committer.commit(plans).await
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.committer.stats())
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let state = self.lock();
        let Some(business) = state.businesses.get(&query.biz).cloned() else {
            return Ok(StoredFacts::default());
        };
        let sup = query.supplier_account.as_str();
        let mainline = state.mainlines.get(sup).cloned().unwrap_or_default();
        let parent_instance = match query.parent {
            Some(id) if !mainline.is_empty() => state.instances.get(&id).cloned(),
            _ => None,
        };
        let attributes = state.set_attributes(sup, query.biz);
        let unique_rules = state.unique_rules(sup);
        let template = query
            .template
            .and_then(|id| state.set_templates.get(&id).cloned());
        let service_templates = template
            .iter()
            .flat_map(|t| t.service_template_ids.iter())
            .filter_map(|id| state.service_templates.get(id).cloned())
            .collect();
        Ok(StoredFacts {
            business: Some(business),
            mainline,
            parent_instance,
            attributes,
            unique_rules,
            template,
            service_templates,
            builtin_set: state.builtin_sets.get(&query.biz).copied(),
            source: cmdb_core::facts::FactsSource::Unversioned,
        })
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        self.write(|tx| {
            plans
                .into_iter()
                .enumerate()
                .map(|(index, plan)| {
                    commit_plan(&mut *tx, plan).map_err(|error| BatchFailure { index, error })
                })
                .collect()
        })
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.write(|tx| tx.raise_sequence(kind, value))
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .sequences
            .get(&kind)
            .copied()
            .unwrap_or_default()
            .last())
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(self.lock().catalog_item(key))
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let state = self.lock();
        let ids: Vec<SetId> = match set {
            Some(id) => state
                .sets_by_biz
                .contains(&(biz, id))
                .then_some(id)
                .into_iter()
                .collect(),
            None => state
                .sets_by_biz
                .range((biz, SetId(i64::MIN))..=(biz, SetId(i64::MAX)))
                .map(|(_, id)| *id)
                .collect(),
        };
        Ok(ids.iter().map(|id| (*state.sets[id].doc).clone()).collect())
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        let state = self.lock();
        Ok(state
            .modules_by_set
            .range((set, ModuleId(i64::MIN))..=(set, ModuleId(i64::MAX)))
            .map(|(_, id)| (*state.modules[id].doc).clone())
            .collect())
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        let state = self.lock();
        Ok(state
            .audits_by_biz
            .range((biz, AuditId(i64::MIN))..=(biz, AuditId(i64::MAX)))
            .map(|(_, id)| &state.audits[id])
            .filter(|a| resource_type.is_none_or(|t| a.resource_type == t))
            .map(AuditRecord::document)
            .collect())
    }

    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set_record(id: i64, name: &str, keys: Vec<UniqueKey>) -> SetRecord {
        let mut doc = Document::new();
        doc.insert("bk_set_id".into(), json!(id));
        doc.insert("bk_set_name".into(), json!(name));
        SetRecord {
            id: SetId(id),
            biz: BizId(1),
            parent: 1,
            name: name.into(),
            builtin: false,
            unique_keys: keys,
            doc: Arc::new(doc),
        }
    }

    #[test]
    fn dropping_an_uncommitted_transaction_undoes_every_write() {
        let store = MemoryStore::new();
        {
            let mut tx = MemoryTx::begin(store.lock());
            assert_eq!(
                tx.take_ids(SequenceKind::Set, 2).unwrap(),
                IdRange { first: 1, len: 2 }
            );
            tx.insert_set(&set_record(1, "a", Vec::new())).unwrap();
            assert!(tx.set_name_taken(BizId(1), 1, "a").unwrap());
        }
        let state = store.lock();
        assert!(state.sets.is_empty());
        assert!(state.set_names.is_empty());
        assert!(state.sets_by_biz.is_empty());
        assert!(state.sequences.is_empty());
    }

    #[test]
    fn taking_no_id_at_the_end_of_a_sequence_is_fine() {
        let store = MemoryStore::new();
        store
            .write(|tx| {
                assert!(tx.raise_sequence(SequenceKind::Module, i64::MAX)?);
                assert_eq!(tx.take_ids(SequenceKind::Module, 0)?.len, 0);
                assert!(matches!(
                    tx.take_ids(SequenceKind::Module, 1),
                    Err(StoreError::Backend(_))
                ));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(
            store.lock().sequences[&SequenceKind::Module].last(),
            i64::MAX
        );
    }

    #[test]
    fn a_refused_insert_touches_no_index() {
        let store = MemoryStore::new();
        let key = UniqueKey {
            supplier_account: "0".into(),
            fields: vec!["owner".into()],
            values: r#"["ops"]"#.into(),
        };
        store
            .write(|tx| tx.insert_set(&set_record(1, "a", vec![key.clone()])))
            .unwrap();
        let err = store
            .write(|tx| tx.insert_set(&set_record(2, "b", vec![key.clone()])))
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::AlreadyExists(r#"unique key [owner] ["ops"]"#.into())
        );
        let state = store.lock();
        assert_eq!(state.sets.keys().copied().collect::<Vec<_>>(), [SetId(1)]);
        assert_eq!(state.set_names.len(), 1);
        assert_eq!(state.unique_keys.len(), 1);
    }
}
