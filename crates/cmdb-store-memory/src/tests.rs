//! Unit tests of the memory backend's transaction: undo on drop, savepoints, refused inserts.

use std::sync::Arc;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, IndexKey, SequencedTx};
use cmdb_core::ids::{BizId, IdRange, SequenceKind, SetId};
use cmdb_core::ports::{GroupTx, StoreTx};
use cmdb_core::records::{Document, SetRecord, UniqueKey};
use serde_json::json;

use cmdb_store_group::{Backend, WriteError};

use crate::MemoryBackend;

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

/// Runs `body` as one write of `backend`, over the domain's view of it.
fn write<R>(
    backend: &MemoryBackend,
    mut body: impl FnMut(&mut SequencedTx<'_, dyn BackendTx + '_>) -> Result<R, StoreError>,
) -> Result<R, WriteError<StoreError>> {
    backend.write(|tx| {
        let mut view = SequencedTx::new(tx);
        let out = body(&mut view)?;
        view.finish()?;
        Ok(out)
    })
}

#[test]
fn a_failed_write_undoes_every_write() {
    let backend = MemoryBackend::default();
    let failed = write(&backend, |view| {
        assert_eq!(
            view.take_ids(SequenceKind::Set, 2)?,
            IdRange { first: 1, len: 2 }
        );
        view.insert_set(&set_record(1, "a", Vec::new()))?;
        assert!(view.set_name_taken(BizId(1), 1, "a")?);
        Err::<(), _>(StoreError::Backend("refused".into()))
    });
    assert_eq!(
        failed,
        Err(WriteError::Body(StoreError::Backend("refused".into())))
    );
    let state = backend.lock();
    assert!(state.sets.is_empty());
    assert!(state.set_names.is_empty());
    assert!(state.counters.is_empty());
}

#[test]
fn a_write_that_panicked_is_undone_at_the_next_lock() {
    let backend = MemoryBackend::default();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = write(&backend, |view| -> Result<(), StoreError> {
            view.insert_set(&set_record(1, "a", Vec::new()))?;
            panic!("the domain panicked mid-write")
        });
    }));
    assert!(panicked.is_err(), "the body panicked");
    let state = backend.lock();
    assert!(state.sets.is_empty() && state.set_names.is_empty());
}

#[test]
fn a_savepoint_rolls_back_its_writes_and_ids_only() {
    let backend = MemoryBackend::default();
    write(&backend, |view| {
        assert_eq!(view.take_ids(SequenceKind::Set, 1)?.first, 1);
        view.insert_set(&set_record(1, "a", Vec::new()))?;
        view.savepoint()?;
        assert_eq!(view.take_ids(SequenceKind::Set, 1)?.first, 2);
        view.insert_set(&set_record(2, "b", Vec::new()))?;
        view.rollback_to_savepoint()?;
        assert_eq!(view.take_ids(SequenceKind::Set, 1)?.first, 2);
        Ok(())
    })
    .unwrap();
    let mut state = backend.lock();
    assert_eq!(state.probe(name_a()), Ok(Some(SetId(1))));
    let b = IndexKey::Name {
        biz: BizId(1),
        parent: 1,
        name: "b",
    };
    assert_eq!(state.probe(b), Ok(None));
    assert_eq!(state.counter(SequenceKind::Set.into()), Ok(2));
    assert_eq!(state.sets.len(), 1);
}

#[test]
fn taking_no_id_at_the_end_of_a_sequence_is_fine() {
    let backend = MemoryBackend::default();
    write(&backend, |view| {
        assert!(view.raise_sequence(SequenceKind::Module, i64::MAX)?);
        assert_eq!(view.take_ids(SequenceKind::Module, 0)?.len, 0);
        assert!(matches!(
            view.take_ids(SequenceKind::Module, 1),
            Err(StoreError::Backend(_))
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        backend.lock().counters[&SequenceKind::Module.into()],
        i64::MAX
    );
}

#[test]
fn a_taken_index_entry_is_refused_and_rolled_back_with_its_write() {
    let backend = MemoryBackend::default();
    let key = UniqueKey {
        supplier_account: "0".into(),
        fields: vec!["owner".into()],
        values: r#"["ops"]"#.into(),
    };
    write(&backend, |view| {
        view.insert_set(&set_record(1, "a", vec![key.clone()]))
    })
    .unwrap();
    let refused = write(&backend, |view| {
        view.insert_set(&set_record(2, "b", vec![key.clone()]))
    });
    assert!(
        matches!(&refused, Err(WriteError::Body(StoreError::AlreadyExists(m))) if m.starts_with("unique key ")),
        "{refused:?}"
    );
    let state = backend.lock();
    assert_eq!(
        state.sets.keys().copied().collect::<Vec<_>>(),
        [(BizId(1), SetId(1))]
    );
    assert_eq!(state.set_names.len(), 1);
    assert_eq!(state.unique_keys.len(), 1);
}

/// A read while a write holds the state (here a thread standing in for the writer) never waits
/// on the caller's runtime: it goes to the reader threads, so a task of the same
/// current-thread runtime can let the holder go. Had the read waited for the lock inline, that
/// task could not run and the holder would give up after 20 s, failing the test.
#[tokio::test(flavor = "current_thread")]
async fn a_read_never_waits_for_the_writers_lock_on_the_callers_thread() {
    use std::sync::mpsc;
    use std::time::Duration;

    use cmdb_core::ports::SetStore;

    let store = std::sync::Arc::new(crate::MemoryStore::new());
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            let _state = store.inner().lock();
            held_tx.send(()).unwrap();
            // Released by the runtime's task, or giving up (the broken case).
            release_rx.recv_timeout(Duration::from_secs(20)).is_ok()
        })
    };
    held_rx.recv().unwrap();
    let releaser = tokio::spawn(async move { release_tx.send(()).unwrap() });
    let last = store.sequence_last(SequenceKind::Set).await;
    releaser.await.unwrap();
    assert_eq!(last, Ok(0));
    assert!(
        holder.join().unwrap(),
        "the holder was released by the runtime's task"
    );
    // And with the lock free, the read is answered at once on the caller's thread.
    assert!(matches!(
        store
            .inner()
            .read_without_blocking(|read| read.counter(SequenceKind::Set.into())),
        Ok(Ok(0))
    ));
}
