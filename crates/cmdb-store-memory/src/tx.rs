//! [`MemoryTx`]: a write transaction over the locked [`State`] that writes in place and undoes
//! its writes unless committed.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::records::{Document, UniqueKey};

use crate::state::State;

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

/// A write transaction over the locked state.
///
/// Dropping it without [`MemoryTx::commit`] rolls every write back, so an error or a panic in
/// the domain code leaves the state as it was.
pub(crate) struct MemoryTx<'a> {
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
    pub(crate) fn begin(state: MutexGuard<'a, State>) -> Self {
        MemoryTx {
            state,
            undo: Vec::new(),
            savepoint: None,
        }
    }

    /// Keeps every write made through this transaction.
    pub(crate) fn commit(mut self) {
        self.undo.clear();
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
}

impl Drop for MemoryTx<'_> {
    fn drop(&mut self) {
        self.rollback_to(0);
    }
}

/// Reads see the transaction's own writes: they are in place.
impl BackendRead for MemoryTx<'_> {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.state.catalog_get(key)
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        self.state.catalog_list(list)
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        self.state.probe(key)
    }

    fn documents(&mut self, query: DocQuery) -> Result<Vec<Document>, StoreError> {
        self.state.documents(query)
    }

    fn sequence(&mut self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.state.sequence(kind)
    }
}

impl BackendTx for MemoryTx<'_> {
    fn put_sequence(&mut self, kind: SequenceKind, last: i64) -> Result<(), StoreError> {
        let previous = self.state.sequences.insert(kind, last);
        self.log(move |s| restore(&mut s.sequences, kind, previous));
        Ok(())
    }

    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError> {
        match record {
            Record::Set(record) => self.insert_set(record),
            Record::Module(record) => {
                let (id, set) = (record.id, record.set);
                if self.state.modules.contains_key(&id) {
                    return Err(StoreError::AlreadyExists(format!("module {id}").into()));
                }
                self.state.modules.insert(id, record.clone());
                self.state.modules_by_set.insert((set, id));
                self.log(move |s| {
                    s.modules.remove(&id);
                    s.modules_by_set.remove(&(set, id));
                });
                Ok(())
            }
            Record::Audit(record) => {
                let (id, biz) = (record.id, record.biz);
                if self.state.audits.contains_key(&id) {
                    return Err(StoreError::AlreadyExists(
                        format!("audit record {id}").into(),
                    ));
                }
                self.state.audits.insert(id, record.clone());
                self.state.audits_by_biz.insert((biz, id));
                self.log(move |s| {
                    s.audits.remove(&id);
                    s.audits_by_biz.remove(&(biz, id));
                });
                Ok(())
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        let key = entry.key();
        let previous = self.state.catalog.insert(key.clone(), entry.to_item());
        self.log(move |s| restore(&mut s.catalog, key, previous));
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = Some(self.undo.len());
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

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = None;
        Ok(())
    }
}

impl MemoryTx<'_> {
    /// Inserts a set with its name index, unique keys and built-in marker, checking every
    /// index before touching any, so a refused insert changes nothing.
    fn insert_set(&mut self, record: &cmdb_core::records::SetRecord) -> Result<(), StoreError> {
        let (id, biz) = (record.id, record.biz);
        let name_key = (biz, record.parent, record.name.clone());
        let unique: Vec<String> = record
            .unique_keys
            .iter()
            .map(UniqueKey::storage_key)
            .collect();
        if self.state.sets.contains_key(&id) {
            return Err(StoreError::AlreadyExists(format!("set {id}").into()));
        }
        if self.state.set_names.contains_key(&name_key) {
            return Err(StoreError::AlreadyExists(
                format!(
                    "set name {:?} under parent {} of biz {biz}",
                    record.name, record.parent
                )
                .into(),
            ));
        }
        for (i, key) in unique.iter().enumerate() {
            if self.state.unique_keys.contains_key(key) || unique[..i].contains(key) {
                let refused = &record.unique_keys[i];
                return Err(StoreError::AlreadyExists(
                    format!(
                        "unique key [{}] {}",
                        refused.fields.join(","),
                        refused.values
                    )
                    .into(),
                ));
            }
        }
        if record.builtin && self.state.builtin_sets.contains_key(&biz) {
            return Err(StoreError::AlreadyExists(
                format!("built-in set of biz {biz}").into(),
            ));
        }
        let state = &mut *self.state;
        state.sets.insert(id, record.clone());
        state.sets_by_biz.insert((biz, id));
        state.set_names.insert(name_key.clone(), id);
        for key in &unique {
            state.unique_keys.insert(key.clone(), id);
        }
        let builtin = record.builtin;
        if builtin {
            state.builtin_sets.insert(biz, id);
        }
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
}
