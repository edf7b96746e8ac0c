//! The sled store's own behaviour tests: exact documents and ids, rollback, atomic batches,
//! sequences across reopen (at once after a close), flush modes and concurrent creates.

mod common;

use std::sync::Arc;

use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::ResourceType;
use cmdb_core::{Code, Error};
use cmdb_store_conformance::support::facts;
use cmdb_store_sled::{FlushMode, SledOptions, SledStore};
use common::{TIME, create, load_catalog, plan};
use serde_json::{Value, json};

async fn open(dir: &tempfile::TempDir) -> SledStore {
    SledStore::open(dir.path().join("db"), SledOptions::default())
        .await
        .expect("store opens")
}

/// Opens the store at `path` again after its previous handle was closed: at once, no retry.
async fn reopen_closed(path: &std::path::Path, options: SledOptions) -> SledStore {
    SledStore::open(path, options)
        .await
        .expect("a closed store reopens at once")
}

async fn sequences(store: &SledStore) -> [i64; 3] {
    [
        store.sequence_last(SequenceKind::Set).await.unwrap(),
        store.sequence_last(SequenceKind::Module).await.unwrap(),
        store.sequence_last(SequenceKind::Audit).await.unwrap(),
    ]
}

fn ids(docs: &[serde_json::Map<String, Value>], field: &str) -> Vec<i64> {
    docs.iter().map(|d| d[field].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn create_set_stores_exact_documents_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert_eq!(store.backend(), "sled");
    let report = load_catalog(&store).await;
    assert_eq!(report.created["businesses"], 2);
    assert_eq!(report.created["set_attributes"], 1);
    assert_eq!(report.created["set_unique_rules"], 1);
    assert_eq!(report.created["service_templates"], 2);
    assert_eq!(report.created["set_templates"], 1);
    // The idle set of biz 2 took set 1 and modules 1..=3; a fixture writes no audit.
    assert_eq!(sequences(&store).await, [1, 3, 0]);
    assert_eq!(facts(&store, "0", 2).await.builtin_set, Some(SetId(1)));
    assert_eq!(facts(&store, "0", 3).await.builtin_set, None);

    let id = create(
        &store,
        2,
        json!({"bk_set_name": " web-1 ", "bk_parent_id": 2, "owner": "ops"}),
    )
    .await
    .unwrap();
    assert_eq!(id, 2);
    assert_eq!(sequences(&store).await, [2, 3, 1]);

    let expected = json!({
        "bk_set_id": 2, "bk_set_name": "web-1", "bk_set_desc": "", "bk_set_env": "3",
        "bk_service_status": "1", "description": "", "bk_capacity": null, "bk_parent_id": 2,
        "set_template_id": 0, "set_template_version": null, "owner": "ops",
        "bk_created_at": TIME, "bk_updated_at": TIME, "bk_created_by": "alice",
        "bk_updated_by": "alice", "create_time": TIME, "last_time": TIME, "bk_biz_id": 2,
        "bk_supplier_account": "0", "default": 0
    });
    let sets = store.sets(BizId(2), None).await.unwrap();
    assert_eq!(ids(&sets, "bk_set_id"), vec![1, 2]);
    assert_eq!(Value::Object(sets[1].clone()), expected);
    assert_eq!(sets[0]["bk_set_name"], "空闲机池");
    assert_eq!(sets[0]["default"], 1);
    let one = store.sets(BizId(2), Some(SetId(2))).await.unwrap();
    assert_eq!(one, vec![sets[1].clone()]);
    assert!(
        store
            .sets(BizId(3), Some(SetId(2)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .sets(BizId(2), Some(SetId(99)))
            .await
            .unwrap()
            .is_empty()
    );

    let idle_modules = store.modules(SetId(1)).await.unwrap();
    assert_eq!(ids(&idle_modules, "bk_module_id"), vec![1, 2, 3]);
    let names: Vec<_> = idle_modules
        .iter()
        .map(|m| m["bk_module_name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("空闲机"), json!("故障机"), json!("待回收")]
    );
    assert!(store.modules(SetId(2)).await.unwrap().is_empty());

    let audit = store.audit_records(BizId(2), None).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        Value::Object(audit[0].clone()),
        json!({
            "id": 1, "audit_type": "business_resource", "resource_type": "set",
            "action": "create", "bk_biz_id": 2, "resource_id": 2, "resource_name": "web-1",
            "operation_detail": {"bk_obj_id": "set", "details": {
                "pre_data": null, "cur_data": expected, "update_fields": null}},
            "operate_from": "user", "user": "alice", "code": "app1", "rid": "rid-0001",
            "operation_time": TIME, "bk_supplier_account": "0"
        })
    );
    assert!(
        store
            .audit_records(BizId(2), Some(ResourceType::Module))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_records(BizId(3), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn template_modules_and_audit_are_written_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    load_catalog(&store).await;
    let created = store
        .create_set(
            plan(
                &store,
                2,
                json!({"bk_set_name": "t1", "bk_parent_id": 2, "set_template_id": 1}),
            )
            .await
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.set.id, SetId(2));
    assert_eq!(sequences(&store).await, [2, 5, 3]);

    let set = &store.sets(BizId(2), Some(SetId(2))).await.unwrap()[0];
    assert_eq!(set["set_template_id"], 1);
    assert_eq!(set["set_template_version"], 4);
    let modules = store.modules(SetId(2)).await.unwrap();
    assert_eq!(ids(&modules, "bk_module_id"), vec![4, 5]);
    assert_eq!(
        Value::Object(modules[0].clone()),
        json!({
            "bk_module_id": 4, "bk_module_name": "web", "bk_set_id": 2, "bk_parent_id": 2,
            "bk_biz_id": 2, "service_template_id": 11, "set_template_id": 1,
            "service_category_id": 5, "default": 0, "host_apply_enabled": false,
            "bk_supplier_account": "0", "create_time": TIME, "last_time": TIME,
            "bk_created_by": "alice", "bk_updated_by": "alice", "bk_created_at": TIME,
            "bk_updated_at": TIME
        })
    );
    assert_eq!(modules[1]["bk_module_name"], "db");
    // The stored documents are exactly what the domain built.
    assert_eq!(modules[0], *created.modules[0].doc);
    assert_eq!(modules[1], *created.modules[1].doc);

    let module_audit = store
        .audit_records(BizId(2), Some(ResourceType::Module))
        .await
        .unwrap();
    assert_eq!(ids(&module_audit, "id"), vec![2, 3]);
    assert_eq!(ids(&module_audit, "resource_id"), vec![4, 5]);
    assert_eq!(
        module_audit[0]["operation_detail"]["details"]["cur_data"],
        json!(modules[0])
    );
    let set_audit = store
        .audit_records(BizId(2), Some(ResourceType::Set))
        .await
        .unwrap();
    assert_eq!(ids(&set_audit, "id"), vec![1]);
    assert_eq!(
        ids(&store.audit_records(BizId(2), None).await.unwrap(), "id"),
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn refused_creates_write_nothing_and_consume_no_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    load_catalog(&store).await;
    create(
        &store,
        2,
        json!({"bk_set_name": "a", "bk_parent_id": 2, "owner": "ops"}),
    )
    .await
    .unwrap();
    let before = sequences(&store).await;
    assert_eq!(before, [2, 3, 1]);

    let dup_name = create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
        .await
        .unwrap_err();
    assert_eq!(dup_name, Error::SetNameDuplicated);
    assert_eq!(dup_name.code(), Code::SetNameDuplicated);

    let dup_key = create(
        &store,
        2,
        json!({"bk_set_name": "b", "bk_parent_id": 2, "owner": "ops"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        dup_key,
        Error::DuplicateItem {
            fields: vec!["bk_biz_id".into(), "owner".into()]
        }
    );
    assert_eq!(dup_key.code().number(), 1_199_014);

    let builtin = create(
        &store,
        2,
        json!({"bk_set_name": "c", "bk_parent_id": 2, "default": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(builtin, Error::BuiltinForbidden);

    // The same plan committed twice: the second commit meets the name in the index.
    let p = plan(&store, 2, json!({"bk_set_name": "d", "bk_parent_id": 2}))
        .await
        .unwrap();
    assert_eq!(store.create_set(p.clone()).await.unwrap().set.id, SetId(3));
    assert_eq!(
        store.create_set(p).await.unwrap_err(),
        Error::SetNameDuplicated
    );

    assert_eq!(sequences(&store).await, [3, 3, 2]);
    assert_eq!(
        ids(&store.sets(BizId(2), None).await.unwrap(), "bk_set_id"),
        vec![1, 2, 3]
    );
    assert_eq!(
        ids(&store.audit_records(BizId(2), None).await.unwrap(), "id"),
        vec![1, 2]
    );

    // The same name under another biz is fine; a built-in set where there is none too.
    let other = create(
        &store,
        3,
        json!({"bk_set_name": "a", "bk_parent_id": 3, "default": 1}),
    )
    .await
    .unwrap();
    assert_eq!(other, 4);
    assert_eq!(facts(&store, "0", 3).await.builtin_set, Some(SetId(4)));
}

#[tokio::test]
async fn atomic_batches_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    load_catalog(&store).await;
    let x = plan(
        &store,
        2,
        json!({"bk_set_name": "x", "bk_parent_id": 2, "set_template_id": 1}),
    )
    .await
    .unwrap();
    let y = plan(&store, 2, json!({"bk_set_name": "y", "bk_parent_id": 2}))
        .await
        .unwrap();

    let failure = store
        .create_sets_atomic(vec![x.clone(), y.clone(), x.clone()])
        .await
        .unwrap_err();
    assert_eq!(failure.index, 2);
    assert_eq!(failure.error, Error::SetNameDuplicated);
    assert_eq!(sequences(&store).await, [1, 3, 0]);
    assert_eq!(
        ids(&store.sets(BizId(2), None).await.unwrap(), "bk_set_id"),
        vec![1]
    );
    assert!(
        store
            .audit_records(BizId(2), None)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .create_sets_atomic(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    let created = store.create_sets_atomic(vec![x, y]).await.unwrap();
    let set_ids: Vec<_> = created.iter().map(|c| c.set.id.0).collect();
    assert_eq!(set_ids, vec![2, 3]);
    assert_eq!(sequences(&store).await, [3, 5, 4]);
    assert_eq!(
        ids(&store.modules(SetId(2)).await.unwrap(), "bk_module_id"),
        vec![4, 5]
    );
    assert_eq!(
        ids(&store.audit_records(BizId(2), None).await.unwrap(), "id"),
        vec![1, 2, 3, 4]
    );
}

#[tokio::test]
async fn reopen_keeps_data_and_continues_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SledStore::open(&path, SledOptions::default())
            .await
            .unwrap();
        load_catalog(&store).await;
        create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = reopen_closed(&path, SledOptions::default()).await;
    assert_eq!(sequences(&store).await, [2, 3, 1]);
    // Reloading the same catalog changes nothing.
    let report = load_catalog(&store).await;
    assert_eq!(report.created["businesses"], 0);
    assert_eq!(report.unchanged["businesses"], 2);
    assert_eq!(report.unchanged["set_attributes"], 1);
    assert_eq!(sequences(&store).await, [2, 3, 1]);

    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
            .await
            .unwrap_err(),
        Error::SetNameDuplicated
    );
    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "b", "bk_parent_id": 2}))
            .await
            .unwrap(),
        3
    );
    assert!(store.raise_sequence(SequenceKind::Set, 100).await.unwrap());
    assert!(!store.raise_sequence(SequenceKind::Set, 50).await.unwrap());
    assert_eq!(store.sequence_last(SequenceKind::Set).await.unwrap(), 100);
    store.close().await.unwrap();
    drop(store);

    let store = reopen_closed(&path, SledOptions::default()).await;
    assert_eq!(sequences(&store).await, [100, 3, 2]);
    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "c", "bk_parent_id": 2}))
            .await
            .unwrap(),
        101
    );
    assert_eq!(
        ids(&store.sets(BizId(2), None).await.unwrap(), "bk_set_id"),
        vec![1, 2, 3, 101]
    );
    assert_eq!(
        ids(&store.audit_records(BizId(2), None).await.unwrap(), "id"),
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn background_flush_mode_persists_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let options = SledOptions {
        flush: FlushMode::Background,
        ..SledOptions::default()
    };
    {
        let store = SledStore::open(&path, options).await.unwrap();
        assert_eq!(store.inner().options(), options);
        assert_eq!(store.inner().path(), path.as_path());
        load_catalog(&store).await;
        create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = reopen_closed(&path, SledOptions::default()).await;
    assert_eq!(sequences(&store).await, [2, 3, 1]);
    assert_eq!(
        ids(&store.sets(BizId(2), None).await.unwrap(), "bk_set_id"),
        vec![1, 2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir).await);
    load_catalog(store.as_ref()).await;
    let p = plan(
        store.as_ref(),
        2,
        json!({"bk_set_name": "race", "bk_parent_id": 2}),
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            let p = p.clone();
            tokio::spawn(async move { store.create_set(p).await.map(|c| c.set.id) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(e) => {
                assert_eq!(e, Error::SetNameDuplicated);
                losers += 1;
            }
        }
    }
    assert_eq!(winners, vec![SetId(2)]);
    assert_eq!(losers, 15);
    assert_eq!(sequences(&store).await, [2, 3, 1]);

    // Distinct names from 16 tasks: 16 distinct, gapless ids.
    let mut plans = Vec::new();
    for i in 0..16 {
        let name = format!("n{i}");
        plans.push(
            plan(
                store.as_ref(),
                2,
                json!({"bk_set_name": name, "bk_parent_id": 2}),
            )
            .await
            .unwrap(),
        );
    }
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|p| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_set(p).await.unwrap().set.id.0 })
        })
        .collect();
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (3..=18).collect::<Vec<_>>());
    assert_eq!(sequences(&store).await, [18, 3, 17]);
}
