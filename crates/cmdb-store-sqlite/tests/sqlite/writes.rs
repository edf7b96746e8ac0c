//! Writes and reads on one store: the worked example, rollback of refused creates and batches,
//! sequences, a held write lock (busy), a closed store, and the file's schema markers.

use std::time::Duration;

use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::ResourceType;
use cmdb_core::{Code, Error, StoreError};
use cmdb_store_conformance::support::facts;
use cmdb_store_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};
use serde_json::json;

use crate::support::{TENANT, TIME, TempDb, create_named, doc, example_fixture, load, plan};

async fn sequences(store: &dyn SetStore) -> [i64; 4] {
    let mut out = [0; 4];
    for (slot, kind) in out.iter_mut().zip(SequenceKind::ALL) {
        *slot = store.sequence_last(kind).await.expect("sequence_last");
    }
    out
}

#[tokio::test]
async fn worked_example_is_stored_and_read_back_exactly() {
    let db = TempDb::new();
    let store = db.open();
    assert_eq!(store.backend(), "sqlite");
    load(&store, example_fixture()).await;
    assert_eq!(sequences(&store).await, [4779, 3, 0, 0]);

    let p = plan(
        &store,
        json!({"bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
               "bk_capacity": 1000, "description": "description", "set_template_id": 1}),
    )
    .await
    .expect("the worked example plans");
    let created = store
        .create_set(p)
        .await
        .expect("the worked example creates");
    let set_doc = doc(json!({
        "bk_biz_id": 1, "bk_capacity": 1000, "bk_created_at": TIME, "bk_created_by": "xxx",
        "bk_parent_id": 1, "bk_service_status": "1", "bk_set_desc": "test-set",
        "bk_set_env": "3", "bk_set_id": 4780, "bk_set_name": "test-set",
        "bk_supplier_account": TENANT, "bk_updated_at": TIME, "bk_updated_by": "xxx",
        "create_time": TIME, "default": 0, "description": "description", "last_time": TIME,
        "set_template_id": 1, "set_template_version": 3
    }));
    let module_doc = doc(json!({
        "bk_biz_id": 1, "bk_created_at": TIME, "bk_created_by": "xxx", "bk_module_id": 4,
        "bk_module_name": "nginx", "bk_parent_id": 4780, "bk_set_id": 4780,
        "bk_supplier_account": TENANT, "bk_updated_at": TIME, "bk_updated_by": "xxx",
        "create_time": TIME, "default": 0, "host_apply_enabled": false, "last_time": TIME,
        "service_category_id": 2, "service_template_id": 7, "set_template_id": 1
    }));
    assert_eq!(*created.set.doc, set_doc);
    assert_eq!(created.modules.len(), 1);
    assert_eq!(*created.modules[0].doc, module_doc);

    let sets = store.sets(BizId(1), None).await.expect("sets");
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["bk_set_id"], json!(1));
    assert_eq!(sets[0]["bk_set_name"], json!("空闲机池"));
    assert_eq!(sets[1], set_doc);
    assert_eq!(
        store
            .sets(BizId(1), Some(SetId(4780)))
            .await
            .expect("one set"),
        vec![set_doc.clone()]
    );
    assert_eq!(
        store.modules(SetId(4780)).await.expect("modules"),
        vec![module_doc.clone()]
    );
    let audits = store.audit_records(BizId(1), None).await.expect("audit");
    let audit_ids: Vec<_> = audits.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(audit_ids, vec![json!(1), json!(2)]);
    assert_eq!(
        audits[0]["operation_detail"]["details"]["cur_data"],
        json!(set_doc)
    );
    assert_eq!(
        audits[1]["operation_detail"]["details"]["cur_data"],
        json!(module_doc)
    );
    let audit_docs: Vec<_> = created.audits.iter().map(|a| a.document()).collect();
    assert_eq!(audits, audit_docs);
    let module_audits = store
        .audit_records(BizId(1), Some(ResourceType::Module))
        .await
        .expect("module audit");
    assert_eq!(module_audits, vec![audits[1].clone()]);
    assert_eq!(sequences(&store).await, [4780, 4, 2, 0]);
    assert_eq!(facts(&store, TENANT, 1).await.builtin_set, Some(SetId(1)));
}

#[tokio::test]
async fn a_refused_create_writes_nothing_and_takes_no_id() {
    let db = TempDb::new();
    let store = db.open();
    load(&store, example_fixture()).await;
    create_named(&store, "a").await.expect("first create");
    let before = sequences(&store).await;
    let sets_before = store.sets(BizId(1), None).await.expect("sets");

    let err = create_named(&store, "a")
        .await
        .expect_err("a duplicate name");
    assert_eq!(err, Error::SetNameDuplicated);
    assert_eq!(err.code(), Code::SetNameDuplicated);
    assert_eq!(err.code().number(), 1_101_108);
    assert_eq!(sequences(&store).await, before);
    assert_eq!(store.sets(BizId(1), None).await.expect("sets"), sets_before);

    let next = create_named(&store, "b").await.expect("next create");
    assert_eq!(next.set.id, SetId(before[0] + 1));
}

#[tokio::test]
async fn an_atomic_batch_is_all_or_nothing() {
    let db = TempDb::new();
    let store = db.open();
    load(&store, example_fixture()).await;
    let before = sequences(&store).await;
    let named = |name: &str| json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});

    let plans = vec![
        plan(&store, named("x")).await.expect("plan x"),
        plan(&store, named("y")).await.expect("plan y"),
        plan(&store, named("x")).await.expect("plan x again"),
    ];
    let failure = store
        .create_sets_atomic(plans)
        .await
        .expect_err("the third repeats the first name");
    assert_eq!(failure.index, 2);
    assert_eq!(failure.error, Error::SetNameDuplicated);
    assert_eq!(sequences(&store).await, before);
    assert_eq!(store.sets(BizId(1), None).await.expect("sets").len(), 1);
    assert_eq!(store.audit_records(BizId(1), None).await, Ok(Vec::new()));

    let plans = vec![
        plan(&store, named("x")).await.expect("plan x"),
        plan(&store, named("y")).await.expect("plan y"),
    ];
    let created = store
        .create_sets_atomic(plans)
        .await
        .expect("two new names");
    let ids: Vec<_> = created.iter().map(|c| c.set.id.0).collect();
    assert_eq!(ids, vec![4780, 4781]);
    let module_ids: Vec<_> = created.iter().map(|c| c.modules[0].id.0).collect();
    assert_eq!(module_ids, vec![4, 5]);
    assert_eq!(sequences(&store).await, [4781, 5, 4, 0]);
    assert_eq!(store.create_sets_atomic(Vec::new()).await, Ok(Vec::new()));
}

#[tokio::test]
async fn sequences_are_raised_never_lowered() {
    let db = TempDb::new();
    let store = db.open();
    assert_eq!(sequences(&store).await, [0, 0, 0, 0]);
    assert_eq!(
        store.raise_sequence(SequenceKind::Module, 100).await,
        Ok(true)
    );
    assert_eq!(
        store.raise_sequence(SequenceKind::Module, 50).await,
        Ok(false)
    );
    assert_eq!(
        store.raise_sequence(SequenceKind::Module, 100).await,
        Ok(false)
    );
    assert_eq!(
        store.raise_sequence(SequenceKind::Audit, -3).await,
        Ok(false)
    );
    assert_eq!(sequences(&store).await, [0, 100, 0, 0]);
    load(&store, example_fixture()).await;
    // The idle modules continue the raised module sequence.
    assert_eq!(sequences(&store).await, [4779, 103, 0, 0]);
}

#[tokio::test]
async fn a_held_write_lock_is_busy_after_the_timeout() {
    let db = TempDb::new();
    let store = SqliteStore::open_blocking(
        db.path(),
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_millis(100),
            ..SqliteOptions::default()
        },
    )
    .expect("open");
    load(&store, example_fixture()).await;
    let p = plan(&store, json!({"bk_parent_id": 1, "bk_set_name": "late"}))
        .await
        .expect("plan");

    let other = rusqlite::Connection::open(db.path()).expect("a raw connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the lock");
    let err = store.create_set(p.clone()).await.expect_err("locked out");
    match err {
        Error::Store(StoreError::Busy(msg)) => assert_eq!(msg, "database is locked"),
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(
        store.raise_sequence(SequenceKind::Set, 9000).await,
        Err(StoreError::Busy("database is locked".into()))
    );
    // Reads go on while another connection writes (WAL).
    assert_eq!(store.sets(BizId(1), None).await.expect("sets").len(), 1);
    other.execute_batch("ROLLBACK").expect("release the lock");
    assert_eq!(
        store.create_set(p).await.expect("now it fits").set.id,
        SetId(4780)
    );
}

#[tokio::test]
async fn a_closed_store_refuses_every_call() {
    let db = TempDb::new();
    let store = db.open();
    load(&store, example_fixture()).await;
    let p = plan(&store, json!({"bk_parent_id": 1, "bk_set_name": "after"}))
        .await
        .expect("plan");
    store.close().await.expect("close");
    store.close().await.expect("closing twice is fine");
    let closed = StoreError::Backend("the sqlite store is closed".into());
    assert_eq!(store.create_set(p).await, Err(Error::Store(closed.clone())));
    assert_eq!(store.business(BizId(1)).await, Err(closed.clone()));
    assert_eq!(store.inner().schema_version(), Err(closed));
}

#[tokio::test]
async fn a_new_file_carries_the_schema_version_and_application_id() {
    let db = TempDb::new();
    let store = db.open();
    assert_eq!(store.inner().schema_version(), Ok(SCHEMA_VERSION));
    assert_eq!(store.inner().path(), db.path());
    assert_eq!(store.inner().options(), SqliteOptions::default());
    store.close().await.expect("close");
    drop(store);

    let raw = rusqlite::Connection::open(db.path()).expect("raw");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    let app_id: i32 = raw
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .expect("application_id");
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(&app_id.to_be_bytes(), b"CMDB");
    assert_eq!(mode, "wal");
}
