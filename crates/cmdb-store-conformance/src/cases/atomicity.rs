//! Cases: a write that fails part-way leaves no trace: atomic batches, and a create that fails
//! after it took ids.

use cmdb_core::error::{Code, Error, StoreError};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::{BatchFailure, SetStoreExt};
use cmdb_core::records::ResourceType;
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, audit_doc, context, create_ok, created_docs, load_ok, plan_ok, sequences,
    set_ids, snapshot, two_service_fixture,
};

/// An atomic batch whose third plan repeats the first plan's name fails with
/// `BatchFailure { index: 2, 1101108 }` after the first two were written inside the
/// transaction (sets, modules, audit records, ids): none of it remains. The same plans without
/// the bad one then commit with the ids the failed batch did not consume.
pub async fn atomic_batch_is_all_or_nothing<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, two_service_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let a = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "a", "set_template_id": 2}),
    )
    .await;
    let b = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "b", "set_template_id": 1}),
    )
    .await;
    let a_again = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "a", "bk_set_desc": "again"}),
    )
    .await;
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    assert_eq!(sequences(store).await, [4779, 3, 0, 0]);

    let failure = store
        .create_sets_atomic(vec![a.clone(), b.clone(), a_again.clone()])
        .await
        .unwrap_err();
    assert_eq!(
        failure,
        BatchFailure {
            index: 2,
            error: Error::SetNameDuplicated
        }
    );
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    // The first element failing, against a committed set.
    create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "z"}),
    )
    .await;
    let y_stale = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "y"}),
    )
    .await;
    create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "y"}),
    )
    .await;
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    let failure = store
        .create_sets_atomic(vec![y_stale, a.clone()])
        .await
        .unwrap_err();
    assert_eq!(failure.index, 0);
    assert_eq!(failure.error.code(), Code::SetNameDuplicated);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    // An empty batch writes nothing.
    assert_eq!(store.create_sets_atomic(Vec::new()).await.unwrap(), vec![]);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    // The good plans commit together, with consecutive ids.
    let created = store.create_sets_atomic(vec![a, b]).await.unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(
        created.iter().map(|c| c.set.id).collect::<Vec<_>>(),
        [SetId(4782), SetId(4783)]
    );
    assert_eq!(
        created
            .iter()
            .map(|c| c.modules.iter().map(|m| m.id.0).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [vec![4, 5], vec![6]]
    );
    assert_eq!(
        created
            .iter()
            .map(|c| c.audits.iter().map(|a| a.id.0).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [vec![3, 4, 5], vec![6, 7]]
    );
    assert_eq!(sequences(store).await, [4783, 6, 7, 0]);
    for c in &created {
        let (set, modules, audits) = created_docs(c);
        assert_eq!(
            store.sets(BizId(1), Some(c.set.id)).await.unwrap(),
            vec![set]
        );
        assert_eq!(store.modules(c.set.id).await.unwrap(), modules);
        let stored = store.audit_records(BizId(1), None).await.unwrap();
        for audit in audits {
            assert!(stored.contains(&audit), "audit {audit:?} is stored");
        }
    }
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780, 4781, 4782, 4783]
    );
}

/// A write that fails after it has already written, inside its transaction, leaves nothing:
/// with the module sequence one id short of its end, a plan needing two modules takes its set
/// id, then fails to take module ids (`StoreError::Backend`, the sequence is exhausted). Alone,
/// the set id it took is given back; as the second element of an atomic batch, the first
/// element's set, module (the sequence's last id), audit records and ids are all rolled back.
///
/// (`commit_plan` checks names, keys and the built-in set before it takes ids, and the ids it
/// inserts come fresh from the sequences, so through the public port an exhausted sequence is
/// the realistic way to make a write fail part-way.)
pub async fn failure_mid_write_rolls_back_everything<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, two_service_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    assert!(
        store
            .raise_sequence(SequenceKind::Module, i64::MAX - 1)
            .await
            .unwrap()
    );
    let one_module = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "one", "set_template_id": 1}),
    )
    .await;
    let two_modules = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "two", "set_template_id": 2}),
    )
    .await;
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    assert_eq!(sequences(store).await, [4779, i64::MAX - 1, 0, 0]);

    let err = store.create_set(two_modules.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Backend(_))),
        "{err:?}"
    );
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    let failure = store
        .create_sets_atomic(vec![one_module.clone(), two_modules])
        .await
        .unwrap_err();
    assert_eq!(failure.index, 1);
    assert!(
        matches!(failure.error, Error::Store(StoreError::Backend(_))),
        "{failure:?}"
    );
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    // Nothing was consumed: the one-module plan alone gets the first ids and the last module id.
    let created = store.create_set(one_module).await.unwrap();
    assert_eq!(created.set.id, SetId(4780));
    assert_eq!(
        created.modules.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [i64::MAX]
    );
    assert_eq!(
        store
            .audit_records(BizId(1), Some(ResourceType::Set))
            .await
            .unwrap(),
        vec![audit_doc(
            EXAMPLE_TENANT,
            1,
            1,
            ResourceType::Set,
            4780,
            "one",
            &created.set.doc
        )]
    );
    assert_eq!(sequences(store).await, [4780, i64::MAX, 2, 0]);
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780]
    );
}
