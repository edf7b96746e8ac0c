//! Unit tests of the memory backend's transaction: undo on drop, savepoints, refused inserts.

use std::sync::Arc;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, IndexKey, Record, SequencedTx};
use cmdb_core::ids::{BizId, IdRange, SequenceKind, SetId};
use cmdb_core::ports::{GroupTx, StoreTx};
use cmdb_core::records::{Document, SetRecord, UniqueKey};
use serde_json::json;

use crate::MemoryBackend;
use crate::tx::MemoryTx;

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

fn name_a() -> IndexKey<'static> {
    IndexKey::Name {
        biz: BizId(1),
        parent: 1,
        name: "a",
    }
}

#[test]
fn dropping_an_uncommitted_transaction_undoes_every_write() {
    let backend = MemoryBackend::default();
    {
        let mut tx = MemoryTx::begin(backend.lock());
        let mut view = SequencedTx::new(&mut tx);
        assert_eq!(
            view.take_ids(SequenceKind::Set, 2).unwrap(),
            IdRange { first: 1, len: 2 }
        );
        view.insert_set(&set_record(1, "a", Vec::new())).unwrap();
        assert!(view.set_name_taken(BizId(1), 1, "a").unwrap());
        view.finish().unwrap();
        assert_eq!(tx.sequence(SequenceKind::Set), Ok(2));
    }
    let state = backend.lock();
    assert!(state.sets.is_empty());
    assert!(state.set_names.is_empty());
    assert!(state.sets_by_biz.is_empty());
    assert!(state.sequences.is_empty());
}

#[test]
fn a_savepoint_rolls_back_its_writes_and_ids_only() {
    let backend = MemoryBackend::default();
    let mut tx = MemoryTx::begin(backend.lock());
    let mut view = SequencedTx::new(&mut tx);
    assert_eq!(view.take_ids(SequenceKind::Set, 1).unwrap().first, 1);
    view.insert_set(&set_record(1, "a", Vec::new())).unwrap();
    view.savepoint().unwrap();
    assert_eq!(view.take_ids(SequenceKind::Set, 1).unwrap().first, 2);
    view.insert_set(&set_record(2, "b", Vec::new())).unwrap();
    view.rollback_to_savepoint().unwrap();
    assert_eq!(view.take_ids(SequenceKind::Set, 1).unwrap().first, 2);
    view.finish().unwrap();
    assert_eq!(tx.probe(name_a()), Ok(Some(SetId(1))));
    assert_eq!(
        tx.probe(IndexKey::Name {
            biz: BizId(1),
            parent: 1,
            name: "b"
        }),
        Ok(None)
    );
    assert_eq!(tx.sequence(SequenceKind::Set), Ok(2));
    tx.commit();
    assert_eq!(backend.lock().sets.len(), 1);
}

#[test]
fn taking_no_id_at_the_end_of_a_sequence_is_fine() {
    let backend = MemoryBackend::default();
    let mut tx = MemoryTx::begin(backend.lock());
    let mut view = SequencedTx::new(&mut tx);
    assert!(view.raise_sequence(SequenceKind::Module, i64::MAX).unwrap());
    assert_eq!(view.take_ids(SequenceKind::Module, 0).unwrap().len, 0);
    assert!(matches!(
        view.take_ids(SequenceKind::Module, 1),
        Err(StoreError::Backend(_))
    ));
    view.finish().unwrap();
    tx.commit();
    assert_eq!(backend.lock().sequences[&SequenceKind::Module], i64::MAX);
}

#[test]
fn a_refused_insert_touches_no_index() {
    let backend = MemoryBackend::default();
    let key = UniqueKey {
        supplier_account: "0".into(),
        fields: vec!["owner".into()],
        values: r#"["ops"]"#.into(),
    };
    let mut tx = MemoryTx::begin(backend.lock());
    tx.insert(Record::Set(&set_record(1, "a", vec![key.clone()])))
        .unwrap();
    let err = tx
        .insert(Record::Set(&set_record(2, "b", vec![key.clone()])))
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists(r#"unique key [owner] ["ops"]"#.into())
    );
    tx.commit();
    let state = backend.lock();
    assert_eq!(state.sets.keys().copied().collect::<Vec<_>>(), [SetId(1)]);
    assert_eq!(state.set_names.len(), 1);
    assert_eq!(state.unique_keys.len(), 1);
}
