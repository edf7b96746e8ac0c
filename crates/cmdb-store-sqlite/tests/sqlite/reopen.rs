//! Reopening a database: after a clean close, and after a handle vanished without closing
//! (as in a process crash, the log is left un-checkpointed).

use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::{Document, ResourceType};
use cmdb_store_conformance::support::facts;
use serde_json::json;

use crate::support::{TENANT, TempDb, create_named, example_fixture, load, plan};

/// Everything readable about biz 1 of the worked example's tenant.
#[derive(Debug, PartialEq)]
struct State {
    sequences: Vec<i64>,
    sets: Vec<Document>,
    modules: Vec<Vec<Document>>,
    audit: Vec<Document>,
    set_audit: Vec<Document>,
    catalog: String,
}

async fn state(store: &dyn SetStore) -> State {
    let mut sequences = Vec::new();
    for kind in SequenceKind::ALL {
        sequences.push(store.sequence_last(kind).await.expect("sequence_last"));
    }
    let sets = store.sets(BizId(1), None).await.expect("sets");
    let mut modules = Vec::new();
    for set in &sets {
        let id = set["bk_set_id"].as_i64().expect("an id");
        modules.push(store.modules(SetId(id)).await.expect("modules"));
    }
    let catalog = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        facts(store, TENANT, 1).await,
        store.mainline(TENANT).await,
        store.set_template(1).await,
        store.service_template(7).await,
        store.mainline_instance(50).await,
    );
    State {
        sequences,
        sets,
        modules,
        audit: store.audit_records(BizId(1), None).await.expect("audit"),
        set_audit: store
            .audit_records(BizId(1), Some(ResourceType::Set))
            .await
            .expect("set audit"),
        catalog,
    }
}

fn fixture_with_everything() -> serde_json::Value {
    let mut fixture = example_fixture();
    fixture["mainline"] = json!(["province"]);
    fixture["mainline_instances"] = json!([
        {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1}
    ]);
    fixture["set_attributes"] = json!([
        {"bk_property_id": "owner_team", "bk_property_name": "Owner team",
         "bk_property_type": "singlechar", "option": "", "default": null, "bk_biz_id": 0}
    ]);
    fixture["set_unique_rules"] = json!([["bk_biz_id", "owner_team"]]);
    fixture
}

#[tokio::test]
async fn a_clean_close_keeps_everything_and_sequences_continue() {
    let db = TempDb::new();
    let store = db.open();
    load(&store, fixture_with_everything()).await;
    let p = plan(
        &store,
        json!({"bk_parent_id": 50, "bk_set_name": "s1", "set_template_id": 1, "owner_team": "ops"}),
    )
    .await
    .expect("plan s1");
    store.create_set(p).await.expect("create s1");
    let before = state(&store).await;
    assert_eq!(before.sequences, vec![4780, 4, 2, 1]);
    assert_eq!(before.sets.len(), 2);
    store.close().await.expect("close");
    drop(store);
    assert!(
        !db.dir.path().join("cmdb.sqlite-wal").exists(),
        "a clean close checkpoints and removes the log"
    );

    let store = db.open();
    assert_eq!(state(&store).await, before);
    let p = plan(
        &store,
        json!({"bk_parent_id": 50, "bk_set_name": "s2", "set_template_id": 1, "owner_team": "dev"}),
    )
    .await
    .expect("plan s2");
    let created = store.create_set(p).await.expect("create s2");
    assert_eq!(created.set.id, SetId(4781));
    assert_eq!(created.modules[0].id.0, 5);
    let audit_ids: Vec<_> = created.audits.iter().map(|a| a.id.0).collect();
    assert_eq!(audit_ids, vec![3, 4]);

    // The unique rule still holds across the reopen.
    let p = plan(
        &store,
        json!({"bk_parent_id": 50, "bk_set_name": "s3", "owner_team": "ops"}),
    )
    .await
    .expect("plan s3");
    let err = store
        .create_set(p)
        .await
        .expect_err("owner_team ops is taken");
    assert_eq!(err.code().number(), 1_199_014);
    assert_eq!(
        err.to_string(),
        "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated"
    );
    // The name rule too.
    let p = plan(&store, json!({"bk_parent_id": 50, "bk_set_name": "s1"}))
        .await
        .expect("plan s1 again");
    assert_eq!(
        store.create_set(p).await.map(|c| c.set.id),
        Err(cmdb_core::Error::SetNameDuplicated)
    );
    assert_eq!(store.sequence_last(SequenceKind::Set).await, Ok(4781));
}

#[tokio::test]
async fn commits_survive_a_handle_that_was_never_closed() {
    let db = TempDb::new();
    let store = db.open();
    load(&store, example_fixture()).await;
    for name in ["a", "b", "c"] {
        create_named(&store, name).await.expect("create");
    }
    let before = state(&store).await;
    // Leak the connection: no close, no checkpoint, as if the process had died.
    std::mem::forget(store);
    assert!(db.dir.path().join("cmdb.sqlite-wal").exists());

    let store = db.open();
    assert_eq!(state(&store).await, before);
    let created = create_named(&store, "d").await.expect("create d");
    assert_eq!(created.set.id, SetId(4783));
    assert_eq!(created.audits[0].id.0, 4);
}
