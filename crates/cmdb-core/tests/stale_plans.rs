//! The catalog-version check of `commit_plan` and `commit_group`: a plan checked against
//! another catalog version than the transaction's is refused with `StaleFacts` before anything
//! is read or written; plans and stores that do not version pass unchecked.

mod common;

use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{BizId, IdRange, SequenceKind, SetId};
use cmdb_core::plan::{commit_group, commit_plan};
use cmdb_core::ports::{GroupTx, StoreTx};
use cmdb_core::records::{AuditRecord, ModuleRecord, SetRecord, UniqueKey};
use cmdb_core::{Error, StoreError};
use common::bare_plan as plan;

/// A transaction over nothing stored, at catalog version `version`, recording every call.
#[derive(Default)]
struct Empty {
    version: Option<u64>,
    calls: Vec<&'static str>,
    /// The last id handed out, per kind in `SequenceKind::ALL` order.
    last: [i64; 4],
}

impl StoreTx for Empty {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        self.calls.push("take_ids");
        let slot = SequenceKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("a known kind");
        let first = self.last[slot] + 1;
        self.last[slot] += count as i64;
        Ok(IdRange { first, len: count })
    }
    fn raise_sequence(&mut self, _: SequenceKind, _: i64) -> Result<bool, StoreError> {
        self.calls.push("raise_sequence");
        Ok(false)
    }
    fn set_name_taken(&mut self, _: BizId, _: i64, _: &str) -> Result<bool, StoreError> {
        self.calls.push("set_name_taken");
        Ok(false)
    }
    fn unique_key_taken(&mut self, _: &UniqueKey) -> Result<bool, StoreError> {
        self.calls.push("unique_key_taken");
        Ok(false)
    }
    fn builtin_set(&mut self, _: BizId) -> Result<Option<SetId>, StoreError> {
        self.calls.push("builtin_set");
        Ok(None)
    }
    fn insert_set(&mut self, _: &SetRecord) -> Result<(), StoreError> {
        self.calls.push("insert_set");
        Ok(())
    }
    fn insert_module(&mut self, _: &ModuleRecord) -> Result<(), StoreError> {
        self.calls.push("insert_module");
        Ok(())
    }
    fn insert_audit(&mut self, _: &AuditRecord) -> Result<(), StoreError> {
        self.calls.push("insert_audit");
        Ok(())
    }
    fn catalog_get(&mut self, _: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.calls.push("catalog_get");
        Ok(None)
    }
    fn catalog_put(&mut self, _: CatalogEntry<'_>) -> Result<(), StoreError> {
        self.calls.push("catalog_put");
        Ok(())
    }
    fn catalog_version(&self) -> Option<u64> {
        self.version
    }
}

impl GroupTx for Empty {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.calls.push("savepoint");
        Ok(())
    }
    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.calls.push("release");
        Ok(())
    }
    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.calls.push("rollback");
        Ok(())
    }
}

fn at(version: Option<u64>) -> Empty {
    Empty {
        version,
        ..Empty::default()
    }
}

/// What a plain create (no module, no unique key) calls on an empty store.
fn committed_calls() -> Vec<&'static str> {
    vec![
        "set_name_taken",
        "take_ids",
        "take_ids",
        "take_ids",
        "insert_set",
        "insert_audit",
    ]
}

#[test]
fn a_plan_of_another_catalog_version_is_refused_before_any_read_or_write() {
    let mut tx = at(Some(5));
    let refused = commit_plan(&mut tx, plan("old", Some(4))).unwrap_err();
    let Error::Store(StoreError::StaleFacts(detail)) = &refused else {
        panic!("expected stale facts, got {refused:?}");
    };
    assert_eq!(
        detail.to_string(),
        "the plan was checked against catalog version 4; the catalog is at version 5"
    );
    assert_eq!(refused.code().number(), 1_199_999);
    assert!(tx.calls.is_empty(), "{:?}", tx.calls);
    // A newer plan than the transaction's catalog is just as stale.
    assert!(matches!(
        commit_plan(&mut at(Some(5)), plan("new", Some(6))),
        Err(Error::Store(StoreError::StaleFacts(_)))
    ));
}

#[test]
fn a_current_plan_and_anything_unversioned_commit() {
    for (store, planned) in [
        (Some(5), Some(5)),
        (Some(5), None),
        (None, Some(4)),
        (None, None),
    ] {
        let mut tx = at(store);
        let created = commit_plan(&mut tx, plan("web", planned))
            .unwrap_or_else(|e| panic!("store {store:?}, plan {planned:?}: {e:?}"));
        assert_eq!(created.set.id, SetId(1));
        assert_eq!(
            tx.calls,
            committed_calls(),
            "store {store:?}, plan {planned:?}"
        );
    }
}

#[test]
fn in_a_group_a_stale_plan_is_refused_in_its_slot_and_the_others_commit() {
    let mut tx = at(Some(7));
    let results = commit_group(
        &mut tx,
        vec![plan("a", Some(7)), plan("b", Some(6)), plan("c", Some(7))],
    )
    .expect("the savepoints hold");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().map(|c| c.set.id), Ok(SetId(1)));
    assert!(matches!(
        results[1],
        Err(Error::Store(StoreError::StaleFacts(_)))
    ));
    // The refused plan took no id: the next set gets the next one.
    assert_eq!(results[2].as_ref().map(|c| c.set.id), Ok(SetId(2)));
    let mut expected = vec!["savepoint"];
    expected.extend(committed_calls());
    expected.extend(["release", "savepoint", "rollback", "savepoint"]);
    expected.extend(committed_calls());
    expected.push("release");
    assert_eq!(tx.calls, expected);
}
