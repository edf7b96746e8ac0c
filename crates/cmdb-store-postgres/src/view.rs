//! [`View`]: the [`StoreTx`] / [`GroupTx`] the domain's write logic runs against, answered
//! from rows read at the start of the transaction (under the sequence-row locks) and recording
//! every write, so the domain decides in memory and the store sends the writes in one
//! pipelined flight.
//!
//! The view only answers what was read for it: a question outside what the transaction
//! prefetched is a [`StoreError::Backend`], never a guess.

use std::collections::{HashMap, HashSet};

use cmdb_core::StoreError;
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::error::Detail;
use cmdb_core::ids::{BizId, IdRange, Sequence, SequenceKind, SetId};
use cmdb_core::ports::{GroupTx, StoreTx};
use cmdb_core::records::{AuditRecord, ModuleRecord, SetRecord, UniqueKey};

/// A set's name slot: (biz, parent, name).
pub(crate) type NameSlot = (i64, i64, String);

/// What a transaction read before the domain runs.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// The sequences, read under their row locks.
    pub sequences: [Sequence; 4],
    /// The catalog version, read under its row lock with the sequences.
    pub catalog_version: u64,
    /// The name slots the view may be asked about, and which of them are taken.
    pub name_domain: HashSet<NameSlot>,
    pub names_taken: HashSet<NameSlot>,
    /// The unique keys the view may be asked about, and which of them are taken.
    pub key_domain: HashSet<String>,
    pub keys_taken: HashSet<String>,
    /// The bizs whose built-in set the view may be asked about, with that set.
    pub builtin: HashMap<i64, Option<SetId>>,
    /// The whole catalog, for a fixture load; `None` for creates.
    pub catalog: Option<Catalog>,
}

/// Every catalog row, under its key.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub items: HashMap<CatalogKey, CatalogItem>,
}

impl Catalog {
    /// Keeps `entry` (as read, or as written).
    pub(crate) fn put(&mut self, entry: CatalogEntry<'_>) {
        self.items.insert(entry.key(), entry.to_item());
    }
}

/// The writes a transaction made, in order per table.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    pub sets: Vec<SetRecord>,
    pub modules: Vec<ModuleRecord>,
    pub audits: Vec<AuditRecord>,
    /// Catalog objects, in write order, under their keys.
    pub catalog: Vec<(CatalogKey, CatalogItem)>,
}

/// One entry the view added to its indexes (undone by a savepoint rollback).
#[derive(Debug)]
enum Added {
    Name(NameSlot),
    Key(String),
    Builtin(i64),
}

/// The state at [`GroupTx::savepoint`].
#[derive(Debug)]
struct Mark {
    sequences: [Sequence; 4],
    added: usize,
    sets: usize,
    modules: usize,
    audits: usize,
}

/// The in-memory view of one open transaction.
#[derive(Debug)]
pub(crate) struct View {
    read: Prefetched,
    sequences: [Sequence; 4],
    added: Vec<Added>,
    mark: Option<Mark>,
    /// What the transaction wrote.
    pub writes: Writes,
}

fn unread(what: &str) -> StoreError {
    StoreError::Backend(format!("the transaction did not read {what} before asking").into())
}

impl View {
    /// A view over what was read.
    pub(crate) fn new(read: Prefetched) -> Self {
        View {
            sequences: read.sequences,
            read,
            added: Vec::new(),
            mark: None,
            writes: Writes::default(),
        }
    }

    /// The sequences that changed, with their new last value.
    pub(crate) fn changed_sequences(&self) -> Vec<(SequenceKind, i64)> {
        SequenceKind::ALL
            .into_iter()
            .filter(|k| self.sequences[k.index()] != self.read.sequences[k.index()])
            .map(|k| (k, self.sequences[k.index()].last()))
            .collect()
    }

    /// The catalog version the transaction read under the counter-row locks.
    pub(crate) fn read_catalog_version(&self) -> u64 {
        self.read.catalog_version
    }

    /// Whether the writes change catalog rows, so the transaction must bump the catalog
    /// version. Sets do not, built-in ones included: the one fact of a create that sets change,
    /// the biz's built-in set, is checked again at commit under the locks (1199054), and a
    /// refusal decided on cached facts is decided again on fresh ones by the engine.
    pub(crate) fn changes_catalog(&self) -> bool {
        !self.writes.catalog.is_empty()
    }

    fn catalog(&self) -> Result<&Catalog, StoreError> {
        self.read
            .catalog
            .as_ref()
            .ok_or_else(|| unread("the catalog"))
    }
}

impl GroupTx for View {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.mark = Some(Mark {
            sequences: self.sequences,
            added: self.added.len(),
            sets: self.writes.sets.len(),
            modules: self.writes.modules.len(),
            audits: self.writes.audits.len(),
        });
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.mark = None;
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let mark = self
            .mark
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        self.sequences = mark.sequences;
        for added in self.added.drain(mark.added..) {
            match added {
                Added::Name(n) => {
                    self.read.names_taken.remove(&n);
                }
                Added::Key(k) => {
                    self.read.keys_taken.remove(&k);
                }
                Added::Builtin(b) => {
                    self.read.builtin.insert(b, None);
                }
            }
        }
        self.writes.sets.truncate(mark.sets);
        self.writes.modules.truncate(mark.modules);
        self.writes.audits.truncate(mark.audits);
        Ok(())
    }
}

impl StoreTx for View {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        self.sequences[kind.index()]
            .take(count)
            .map_err(|e| StoreError::Backend(Detail::caused_by(format!("{e}: {}", kind.name()), e)))
    }

    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        Ok(self.sequences[kind.index()].raise_to(value))
    }

    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError> {
        let key = (biz.0, parent, name.to_owned());
        if !self.read.name_domain.contains(&key) {
            return Err(unread("this set name"));
        }
        Ok(self.read.names_taken.contains(&key))
    }

    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError> {
        let key = key.storage_key();
        if !self.read.key_domain.contains(&key) {
            return Err(unread("this unique key"));
        }
        Ok(self.read.keys_taken.contains(&key))
    }

    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        self.read
            .builtin
            .get(&biz.0)
            .copied()
            .ok_or_else(|| unread("this biz's built-in set"))
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        let name = (record.biz.0, record.parent, record.name.clone());
        if self.read.names_taken.contains(&name) {
            return Err(StoreError::AlreadyExists(
                "a set of this name exists under this parent".into(),
            ));
        }
        let keys: Vec<String> = record
            .unique_keys
            .iter()
            .map(UniqueKey::storage_key)
            .collect();
        if keys.iter().any(|k| self.read.keys_taken.contains(k)) {
            return Err(StoreError::AlreadyExists(
                "a set occupies this unique key".into(),
            ));
        }
        if record.builtin
            && self
                .read
                .builtin
                .get(&record.biz.0)
                .is_some_and(Option::is_some)
        {
            return Err(StoreError::AlreadyExists(
                "the biz has a built-in set".into(),
            ));
        }
        // The index entries of the new set, so later plans of the transaction see it.
        self.read.name_domain.insert(name.clone());
        self.read.names_taken.insert(name.clone());
        self.added.push(Added::Name(name));
        for key in keys {
            self.read.key_domain.insert(key.clone());
            self.read.keys_taken.insert(key.clone());
            self.added.push(Added::Key(key));
        }
        if record.builtin {
            self.read.builtin.insert(record.biz.0, Some(record.id));
            self.added.push(Added::Builtin(record.biz.0));
        }
        self.writes.sets.push(record.clone());
        Ok(())
    }

    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError> {
        self.writes.modules.push(record.clone());
        Ok(())
    }

    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        self.writes.audits.push(record.clone());
        Ok(())
    }

    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(self.catalog()?.items.get(&key).cloned())
    }

    fn catalog_version(&self) -> Option<u64> {
        Some(self.read.catalog_version)
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        if let CatalogEntry::Business(business) = entry {
            // A new biz has no sets yet: the view may answer about its built-in set.
            self.read
                .builtin
                .entry(business.bk_biz_id.0)
                .or_insert(None);
        }
        self.read
            .catalog
            .as_mut()
            .ok_or_else(|| unread("the catalog"))?
            .put(entry);
        self.writes.catalog.push((entry.key(), entry.to_item()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cmdb_core::ids::{AuditId, BizId};
    use cmdb_core::records::{Document, ResourceType};

    use super::*;

    fn set(id: i64, name: &str, builtin: bool, key: Option<&str>) -> SetRecord {
        SetRecord {
            id: SetId(id),
            biz: BizId(1),
            parent: 1,
            name: name.into(),
            builtin,
            unique_keys: key
                .map(|v| UniqueKey {
                    supplier_account: "0".into(),
                    fields: vec!["owner".into()],
                    values: v.into(),
                })
                .into_iter()
                .collect(),
            doc: Document::new().into(),
        }
    }

    fn view() -> View {
        let mut read = Prefetched::default();
        read.sequences[0] = Sequence::from_last(10);
        read.name_domain.insert((1, 1, "taken".into()));
        read.name_domain.insert((1, 1, "free".into()));
        read.names_taken.insert((1, 1, "taken".into()));
        read.key_domain
            .insert(set(0, "", false, Some("ops")).unique_keys[0].storage_key());
        read.builtin.insert(1, None);
        View::new(read)
    }

    #[test]
    fn it_answers_from_what_was_read_and_refuses_to_guess() {
        let mut v = view();
        assert_eq!(v.set_name_taken(BizId(1), 1, "taken"), Ok(true));
        assert_eq!(v.set_name_taken(BizId(1), 1, "free"), Ok(false));
        assert!(matches!(
            v.set_name_taken(BizId(1), 2, "free"),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(
            v.builtin_set(BizId(2)),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(
            v.catalog_get(CatalogKey::Business(BizId(1))),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(
            v.insert_set(&set(11, "taken", false, None)),
            Err(StoreError::AlreadyExists(_))
        ));
    }

    #[test]
    fn only_catalog_rows_change_the_catalog() {
        let mut v = view();
        assert!(!v.changes_catalog());
        v.insert_set(&set(11, "free", false, Some("ops")))
            .expect("insert");
        assert!(!v.changes_catalog(), "a plain set is not catalog");
        let mut v = view();
        v.insert_set(&set(11, "free", true, None)).expect("insert");
        assert!(!v.changes_catalog(), "a built-in set is checked at commit");
        let mut v = View::new(Prefetched {
            catalog: Some(Catalog::default()),
            ..Prefetched::default()
        });
        v.catalog_put(CatalogEntry::Mainline {
            supplier_account: "0",
            levels: &["zone".into()],
        })
        .expect("put");
        assert!(v.changes_catalog(), "a catalog row");
    }

    #[test]
    fn a_savepoint_rollback_undoes_ids_indexes_and_writes() {
        let mut v = view();
        v.savepoint().expect("mark");
        assert_eq!(
            v.take_ids(SequenceKind::Set, 1),
            Ok(IdRange { first: 11, len: 1 })
        );
        v.insert_set(&set(11, "free", true, Some("ops")))
            .expect("insert");
        v.insert_audit(&AuditRecord {
            id: AuditId(1),
            biz: BizId(1),
            resource_type: ResourceType::Set,
            resource_id: 11,
            resource_name: "free".into(),
            stamp: Default::default(),
            cur_data: Document::new().into(),
        })
        .expect("audit");
        assert_eq!(v.set_name_taken(BizId(1), 1, "free"), Ok(true));
        assert_eq!(v.builtin_set(BizId(1)), Ok(Some(SetId(11))));
        v.rollback_to_savepoint().expect("rollback");
        assert_eq!(v.set_name_taken(BizId(1), 1, "free"), Ok(false));
        assert_eq!(v.builtin_set(BizId(1)), Ok(None));
        let key = set(0, "", false, Some("ops")).unique_keys.remove(0);
        assert_eq!(v.unique_key_taken(&key), Ok(false));
        assert!(v.writes.sets.is_empty() && v.writes.audits.is_empty());
        assert!(v.changed_sequences().is_empty());
        // A released savepoint keeps the writes and the new last id.
        v.savepoint().expect("mark");
        v.take_ids(SequenceKind::Set, 1).expect("id");
        v.insert_set(&set(11, "free", false, None)).expect("insert");
        v.release_savepoint().expect("release");
        assert_eq!(v.writes.sets.len(), 1);
        assert_eq!(v.changed_sequences(), vec![(SequenceKind::Set, 11)]);
        assert!(matches!(
            v.rollback_to_savepoint(),
            Err(StoreError::Backend(_))
        ));
    }
}
