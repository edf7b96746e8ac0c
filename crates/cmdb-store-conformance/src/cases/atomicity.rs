//! Cases: a write that fails part-way leaves no trace: atomic batches, and a create whose set
//! insert is refused by the store after ids were taken.

use cmdb_core::error::{Code, Error, StoreError};
use cmdb_core::ids::{BizId, SetId};
use cmdb_core::ports::BatchFailure;
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
    let (store, _guard) = factory.open_fresh();
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

/// A plan that passes every check of `commit_plan` but whose set insert the store refuses
/// (it lists the same unique key twice, so the second index entry collides with the first)
/// fails with `StoreError::AlreadyExists` after its ids were taken; nothing remains, alone or
/// as the second element of an atomic batch whose first element wrote a set with modules and
/// audit records. `commit_plan` inserts the set first, then its modules, then the audit
/// records, with ids fresh from the sequences, so a module or audit insert cannot be made to
/// collide through the public port; the set insert is where a store's own index refuses.
pub async fn failed_insert_rolls_back_the_whole_write<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh();
    let store = &*store;
    let mut fixture = two_service_fixture();
    fixture["set_attributes"] = json!([
        {"bk_property_id": "owner_team", "bk_property_name": "Owner team", "bk_property_type": "singlechar", "bk_biz_id": 0}
    ]);
    fixture["set_unique_rules"] = json!([["owner_team"]]);
    load_ok(store, fixture).await;
    let ctx = context(EXAMPLE_TENANT);

    let good = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "good", "set_template_id": 2, "owner_team": "web"}),
    )
    .await;
    let mut bad = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "bad", "set_template_id": 1, "owner_team": "db"}),
    )
    .await;
    assert_eq!(bad.unique_keys.len(), 1);
    bad.unique_keys.push(bad.unique_keys[0].clone());
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;

    let err = store.create_set(bad.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::AlreadyExists(_))),
        "{err:?}"
    );
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    let failure = store
        .create_sets_atomic(vec![good.clone(), bad])
        .await
        .unwrap_err();
    assert_eq!(failure.index, 1);
    assert!(
        matches!(failure.error, Error::Store(StoreError::AlreadyExists(_))),
        "{failure:?}"
    );
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);

    // Nothing was consumed: the good plan alone gets the first ids.
    let created = store.create_set(good).await.unwrap();
    assert_eq!(created.set.id, SetId(4780));
    assert_eq!(
        created.modules.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [4, 5]
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
            "good",
            &created.set.doc
        )]
    );
    assert_eq!(sequences(store).await, [4780, 5, 3, 1]);
}
