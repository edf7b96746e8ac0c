//! The memory store's writes: [`State`] as a [`BackendTx`] that writes in place and logs how
//! to undo each write, so a failed write (or one that panicked) is rolled back.

use std::collections::BTreeMap;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendTx, Record};
use cmdb_core::catalog_key::CatalogEntry;
use cmdb_core::counter::Counter;
use cmdb_core::records::{SetRecord, UniqueKey};

use crate::state::State;

/// One step back: restores what a write replaced.
type Undo = Box<dyn FnOnce(&mut State) + Send>;

/// The state's own undo log: what [`MemoryBackend::write`](crate::MemoryBackend) replays
/// backwards when a write fails, and the mark of the open savepoint.
#[derive(Default)]
pub(crate) struct UndoLog {
    steps: Vec<Undo>,
    /// The length of `steps` at the open savepoint.
    savepoint: Option<usize>,
}

impl std::fmt::Debug for UndoLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UndoLog")
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Keeps every write made since the last commit or rollback.
    pub(crate) fn commit(&mut self) {
        self.undo = UndoLog::default();
    }

    /// Undoes the writes logged after the first `len` steps.
    pub(crate) fn rollback_to(&mut self, len: usize) {
        while self.undo.steps.len() > len {
            if let Some(step) = self.undo.steps.pop() {
                step(self);
            }
        }
    }

    fn log(&mut self, step: impl FnOnce(&mut State) + Send + 'static) {
        self.undo.steps.push(Box::new(step));
    }
}

/// Writes in place, each logging how to undo it.
impl BackendTx for State {
    fn put_counter(&mut self, counter: Counter, value: i64) -> Result<(), StoreError> {
        self.put(|s| &mut s.counters, counter, value);
        Ok(())
    }

    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError> {
        match record {
            Record::Set(set) => self.insert_set(set),
            Record::Module(m) => {
                self.insert_row(|s| &mut s.modules, (m.set, m.id), m.clone(), "module")
            }
            Record::Audit(a) => {
                self.insert_row(|s| &mut s.audits, (a.biz, a.id), a.clone(), "audit record")?;
                self.insert_row(|s| &mut s.audit_log, a.id, a.biz, "audit id")
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        self.put(|s| &mut s.catalog, entry.key(), entry.to_item());
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.undo.savepoint = Some(self.undo.steps.len());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let mark = self
            .undo
            .savepoint
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        self.rollback_to(mark);
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.undo.savepoint = None;
        Ok(())
    }
}

impl State {
    /// Inserts `value` under a new `key` of one map of the state (undone on rollback).
    fn insert_row<K, V>(
        &mut self,
        map: fn(&mut State) -> &mut BTreeMap<K, V>,
        key: K,
        value: V,
        what: &str,
    ) -> Result<(), StoreError>
    where
        K: Ord + Clone + std::fmt::Debug + Send + 'static,
        V: Send + 'static,
    {
        if map(self).contains_key(&key) {
            return Err(StoreError::AlreadyExists(format!("{what} {key:?}").into()));
        }
        map(self).insert(key.clone(), value);
        self.log(move |s| drop(map(s).remove(&key)));
        Ok(())
    }

    /// Inserts or replaces `value` under `key` of one map (undone on rollback).
    fn put<K, V>(&mut self, map: fn(&mut State) -> &mut BTreeMap<K, V>, key: K, value: V)
    where
        K: Ord + Clone + Send + 'static,
        V: Send + 'static,
    {
        let previous = map(self).insert(key.clone(), value);
        self.log(move |s| match previous {
            Some(v) => drop(map(s).insert(key, v)),
            None => drop(map(s).remove(&key)),
        });
    }

    /// Inserts a set with its name index, unique keys and built-in marker. A taken entry is
    /// refused with what was inserted before it left for the caller's rollback (the domain
    /// rolls back every write that fails).
    fn insert_set(&mut self, set: &SetRecord) -> Result<(), StoreError> {
        let (id, biz) = (set.id, set.biz);
        self.insert_row(|s| &mut s.sets, (biz, id), set.clone(), "set")?;
        let name = (biz, set.parent, set.name.clone());
        self.insert_row(|s| &mut s.set_names, name, id, "set name")?;
        for key in set.unique_keys.iter().map(UniqueKey::storage_key) {
            self.insert_row(|s| &mut s.unique_keys, key, id, "unique key")?;
        }
        if set.builtin {
            self.insert_row(|s| &mut s.builtin_sets, biz, id, "built-in set of biz")?;
        }
        Ok(())
    }
}
