//! Cases: ids strictly increase, are gapless across failed writes, follow raised sequences,
//! never go down, and continue (never reused) after a close and reopen.

use cmdb_core::error::{Code, Error};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, create, create_ok, facts, load_ok, plan_ok, sequences, set_ids,
    snapshot, worked_example_fixture,
};

/// Set, module and audit ids come from their own sequences, strictly increasing, with no gap
/// left by refused creates, refused batches or refused plans.
pub async fn ids_increase_without_gaps<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let plain = |name: &str| json!({"bk_parent_id": 1, "bk_set_name": name});
    let templated =
        |name: &str| json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});

    let a = create_ok(store, &ctx, 1, plain("a")).await;
    assert_eq!(
        create(store, &ctx, 1, plain("a")).await.unwrap_err().code(),
        Code::SetNameDuplicated
    );
    let b = create_ok(store, &ctx, 1, templated("b")).await;
    // Refused while planning: an unknown template never reaches the store.
    assert_eq!(
        create(
            store,
            &ctx,
            1,
            json!({"bk_parent_id": 1, "bk_set_name": "x", "set_template_id": 9})
        )
        .await
        .unwrap_err(),
        Error::NotFound
    );
    let batch = vec![
        plan_ok(store, &ctx, 1, templated("c1")).await,
        plan_ok(store, &ctx, 1, templated("b")).await,
    ];
    assert_eq!(store.create_sets_atomic(batch).await.unwrap_err().index, 1);
    assert_eq!(
        create(store, &ctx, 1, templated("b"))
            .await
            .unwrap_err()
            .code(),
        Code::SetNameDuplicated
    );
    let c = create_ok(store, &ctx, 1, templated("c")).await;

    let ids = |created: &cmdb_core::records::CreatedSet| {
        (
            created.set.id.0,
            created.modules.iter().map(|m| m.id.0).collect::<Vec<_>>(),
            created.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(),
        )
    };
    assert_eq!(ids(&a), (4780, vec![], vec![1]));
    assert_eq!(ids(&b), (4781, vec![4], vec![2, 3]));
    assert_eq!(ids(&c), (4782, vec![5], vec![4, 5]));
    assert_eq!(sequences(store).await, [4782, 5, 5, 0]);
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780, 4781, 4782]
    );
    let audit_ids: Vec<i64> = store
        .audit_records(BizId(1), None)
        .await
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(audit_ids, [1, 2, 3, 4, 5]);
}

/// `raise_sequence` moves a sequence up so the next id is above the value, reports whether it
/// changed, and never lowers it (also through a fixture's `id_generator`). A sequence at its
/// end refuses the next id: the create fails and writes nothing.
pub async fn raising_a_sequence_never_lowers_it<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    assert!(store.raise_sequence(SequenceKind::Set, 10).await.unwrap());
    assert!(!store.raise_sequence(SequenceKind::Set, 10).await.unwrap());
    assert!(!store.raise_sequence(SequenceKind::Set, 5).await.unwrap());
    assert!(!store.raise_sequence(SequenceKind::Set, 0).await.unwrap());
    assert!(
        store
            .raise_sequence(SequenceKind::Module, 100)
            .await
            .unwrap()
    );
    assert!(store.raise_sequence(SequenceKind::Audit, 7).await.unwrap());
    assert!(!store.raise_sequence(SequenceKind::Audit, -3).await.unwrap());
    assert_eq!(sequences(store).await, [10, 100, 7, 0]);

    let report = load_ok(store, worked_example_fixture()).await;
    // The idle set took 11, its modules 101..=103; then the set sequence went to 4779.
    assert_eq!(report.created["id_generator"], 1);
    assert_eq!(
        facts(store, EXAMPLE_TENANT, 1).await.builtin_set,
        Some(SetId(11))
    );
    let ctx = context(EXAMPLE_TENANT);
    let created = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "a", "set_template_id": 1}),
    )
    .await;
    assert_eq!(created.set.id, SetId(4780));
    assert_eq!(created.modules[0].id.0, 104);
    assert_eq!(
        created.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(),
        [8, 9]
    );

    // A fixture asking for lower values changes nothing.
    let report = load_ok(
        store,
        json!({"id_generator": {"set": 3, "module": 104, "audit": 0}}),
    )
    .await;
    assert_eq!(report.created["id_generator"], 0);
    assert_eq!(report.unchanged["id_generator"], 3);
    assert!(!store.raise_sequence(SequenceKind::Set, 4780).await.unwrap());
    assert_eq!(sequences(store).await, [4780, 104, 9, 0]);

    // The last id of a sequence is handed out once; then creates fail and write nothing.
    assert!(
        store
            .raise_sequence(SequenceKind::Set, i64::MAX - 1)
            .await
            .unwrap()
    );
    let last = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "last"}),
    )
    .await;
    assert_eq!(last.set.id, SetId(i64::MAX));
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    let err = create(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "past"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);
    assert!(!store.raise_sequence(SequenceKind::Set, 1).await.unwrap());
    assert_eq!(sequences(store).await, [i64::MAX, 104, 10, 0]);
}

/// After `close` and a reopen of the same location, everything written is there, sequences
/// included, and new ids continue after the last ones (also after a raise with no create).
/// Returns at once for a store that keeps nothing ([`StoreFactory::reopen`] is `None`).
pub async fn ids_continue_after_reopen<F: StoreFactory>(factory: &F) {
    let (store, guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let templated =
        |name: &str| json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});
    create_ok(&*store, &ctx, 1, templated("a")).await;
    assert!(
        store
            .raise_sequence(SequenceKind::Module, 50)
            .await
            .unwrap()
    );
    create_ok(&*store, &ctx, 1, templated("b")).await;
    assert_eq!(
        create(&*store, &ctx, 1, templated("b"))
            .await
            .unwrap_err()
            .code(),
        Code::SetNameDuplicated
    );
    let written = snapshot(&*store, &[EXAMPLE_TENANT], &[1]).await;
    assert_eq!(sequences(&*store).await, [4781, 51, 4, 0]);
    store.close().await.unwrap();
    drop(store);

    let Some(store) = factory.reopen(&guard).await else {
        return;
    };
    assert_eq!(snapshot(&*store, &[EXAMPLE_TENANT], &[1]).await, written);
    // Fixture loads are idempotent across opens too.
    let report = load_ok(&*store, worked_example_fixture()).await;
    assert_eq!(report.created.values().sum::<u64>(), 0);
    let c = create_ok(&*store, &ctx, 1, templated("c")).await;
    assert_eq!(c.set.id, SetId(4782));
    assert_eq!(c.modules[0].id.0, 52);
    assert_eq!(c.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(), [5, 6]);
    // The refused name is still refused: the name index survived too.
    assert_eq!(
        create(&*store, &ctx, 1, templated("a"))
            .await
            .unwrap_err()
            .code(),
        Code::SetNameDuplicated
    );
    assert!(store.raise_sequence(SequenceKind::Set, 9000).await.unwrap());
    store.close().await.unwrap();
    drop(store);

    let store = factory
        .reopen(&guard)
        .await
        .expect("a store that reopened once reopens again");
    assert_eq!(sequences(&*store).await, [9000, 52, 6, 0]);
    let d = create_ok(
        &*store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "d"}),
    )
    .await;
    assert_eq!(d.set.id, SetId(9001));
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780, 4781, 4782, 9001]
    );
    store.close().await.unwrap();
}
