//! Cases: group commit. Creates submitted together (one [`SetStore::create_sets`] call) or
//! concurrently share transactions, yet each is isolated: a refusal or a storage failure of its
//! own undoes only that create, ids stay gapless in commit order, and later creates of a group
//! see earlier ones.

use std::sync::Arc;

use cmdb_core::error::{Code, Error, StoreError};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{CommitStats, SetStore};
use cmdb_core::records::CreatedSet;
use serde_json::json;

use crate::StoreFactory;
use crate::cases::concurrency::race;
use crate::support::{
    EXAMPLE_TENANT, context, idle_set_doc, load_ok, plan_ok, sequences, set_ids,
    two_service_fixture, worked_example_fixture,
};

/// How many creates a group case submits.
const GROUP: usize = 64;

/// The store's commit counters; every store of this workspace keeps them.
fn stats(store: &dyn SetStore) -> CommitStats {
    store
        .commit_stats()
        .expect("the store counts its commits (SetStore::commit_stats)")
}

/// `GROUP` tasks each plan and create one of `names` (from set template 1) once all are ready.
async fn race_names(
    store: &Arc<dyn SetStore>,
    names: Vec<String>,
) -> Vec<Result<CreatedSet, Error>> {
    let requests = names
        .into_iter()
        .map(|name| json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1}))
        .collect();
    race(store, requests).await
}

/// 64 concurrent creates of one name: exactly one wins, 63 get 1101108, and the sequences
/// moved by the winner's ids only (gapless).
pub async fn group_same_name_64_has_one_winner<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let results = race_names(&store, vec!["race".to_owned(); GROUP]).await;
    let winners: Vec<&CreatedSet> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<Code> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(Error::code))
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(losers, vec![Code::SetNameDuplicated; GROUP - 1]);
    assert_eq!(winners[0].set.id, SetId(4780));
    assert_eq!(sequences(&*store).await, [4780, 4, 2, 0]);
    let stats = stats(&*store);
    assert_eq!(stats.creates, 1, "{stats:?}");
    assert_eq!(stats.commits, 1, "{stats:?}");
}

/// 64 concurrent creates of distinct names all succeed; set, module and audit ids are gapless
/// and allocated in one order (commit order); the counters saw 64 creates in at most 64
/// commits, and every set reads back exactly as created.
pub async fn group_distinct_names_64_all_succeed<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let names: Vec<String> = (0..GROUP).map(|i| format!("g-{i}")).collect();
    let mut created: Vec<CreatedSet> = race_names(&store, names)
        .await
        .into_iter()
        .map(|r| r.expect("distinct names all succeed"))
        .collect();
    created.sort_by_key(|c| c.set.id);
    let set_ids: Vec<i64> = created.iter().map(|c| c.set.id.0).collect();
    assert_eq!(set_ids, (4780..4780 + GROUP as i64).collect::<Vec<_>>());
    // Commit order: the n-th set committed has the n-th module id and the n-th audit pair.
    for (n, c) in created.iter().enumerate() {
        let n = n as i64;
        assert_eq!(c.modules[0].id.0, 4 + n, "{:?}", c.set.name);
        assert_eq!(
            c.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(),
            [1 + 2 * n, 2 + 2 * n]
        );
    }
    let mut expected = vec![idle_set_doc(EXAMPLE_TENANT, 1, 1)];
    expected.extend(created.iter().map(|c| (*c.set.doc).clone()));
    assert_eq!(store.sets(BizId(1), None).await.unwrap(), expected);
    assert_eq!(
        sequences(&*store).await,
        [4779 + GROUP as i64, 3 + GROUP as i64, 2 * GROUP as i64, 0]
    );
    let stats = stats(&*store);
    assert_eq!(stats.creates, GROUP as u64, "{stats:?}");
    assert!((1..=GROUP as u64).contains(&stats.commits), "{stats:?}");
}

/// 64 plans submitted in one call commit in one transaction (the counters see one commit),
/// with gapless ids in submission order.
pub async fn group_submitted_together_commits_once<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let mut plans = Vec::with_capacity(GROUP);
    for i in 0..GROUP {
        plans.push(
            plan_ok(
                &*store,
                &ctx,
                1,
                json!({"bk_parent_id": 1, "bk_set_name": format!("t-{i}")}),
            )
            .await,
        );
    }
    let before = stats(&*store);
    let results = store.create_sets(plans).await;
    let ids: Vec<i64> = results
        .iter()
        .map(|r| r.as_ref().expect("distinct names all succeed").set.id.0)
        .collect();
    assert_eq!(ids, (4780..4780 + GROUP as i64).collect::<Vec<_>>());
    let after = stats(&*store);
    assert_eq!(after.commits - before.commits, 1, "{after:?}");
    assert_eq!(after.creates - before.creates, GROUP as u64, "{after:?}");
    let docs = store.sets(BizId(1), None).await.unwrap();
    assert_eq!(set_ids(&docs)[1..], ids[..]);
}

/// In one group, a create failing with a storage error of its own (it needs a module id from
/// an exhausted sequence) leaves no trace, while the creates around it are stored with
/// gapless ids; a duplicate name (also of an earlier plan of the same group) and a second
/// built-in set are refused alone. One commit holds the survivors.
pub async fn group_isolates_each_create<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, two_service_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    // One module id is left: a one-module template fits, a two-module template does not.
    assert!(
        store
            .raise_sequence(SequenceKind::Module, i64::MAX - 1)
            .await
            .unwrap()
    );
    let plain = |name: &str| json!({"bk_parent_id": 1, "bk_set_name": name});
    let plans: Vec<CreatePlan> = vec![
        plan_ok(store, &ctx, 1, plain("a")).await,
        plan_ok(
            store,
            &ctx,
            1,
            json!({"bk_parent_id": 1, "bk_set_name": "two", "set_template_id": 2}),
        )
        .await,
        plan_ok(store, &ctx, 1, plain("b")).await,
        plan_ok(store, &ctx, 1, plain("a")).await,
        plan_ok(
            store,
            &ctx,
            1,
            json!({"bk_parent_id": 1, "bk_set_name": "one", "set_template_id": 1}),
        )
        .await,
        plan_ok(store, &ctx, 1, plain("c")).await,
    ];
    let before = stats(store);
    let results = store.create_sets(plans).await;
    assert_eq!(results.len(), 6);
    let outcome: Vec<Result<i64, Code>> = results
        .iter()
        .map(|r| r.as_ref().map(|c| c.set.id.0).map_err(Error::code))
        .collect();
    assert_eq!(
        outcome,
        [
            Ok(4780),
            Err(Code::Internal),
            Ok(4781),
            Err(Code::SetNameDuplicated),
            Ok(4782),
            Ok(4783)
        ]
    );
    assert!(
        matches!(&results[1], Err(Error::Store(StoreError::Backend(_)))),
        "{:?}",
        results[1]
    );
    let one = results[4].as_ref().unwrap();
    assert_eq!(one.modules[0].id.0, i64::MAX);
    // Audit ids: a(1), one(2,3: set and module), b and c in between, gapless.
    let audit_ids: Vec<Vec<i64>> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| c.audits.iter().map(|a| a.id.0).collect())
        .collect();
    assert_eq!(audit_ids, [vec![1], vec![2], vec![3, 4], vec![5]]);
    assert_eq!(sequences(store).await, [4783, i64::MAX, 5, 0]);
    let names: Vec<String> = store
        .sets(BizId(1), None)
        .await
        .unwrap()
        .iter()
        .map(|d| d["bk_set_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["空闲机池", "a", "b", "one", "c"]);
    let after = stats(store);
    assert_eq!(after.commits - before.commits, 1, "{after:?}");
    assert_eq!(after.creates - before.creates, 4, "{after:?}");

    // The biz has its built-in set: a group asking for another refuses that create alone.
    let results = store
        .create_sets(vec![plan_ok(store, &ctx, 1, plain("d")).await, {
            let mut p = plan_ok(store, &ctx, 1, plain("pool")).await;
            p.builtin = true;
            p
        }])
        .await;
    assert_eq!(results[0].as_ref().map(|c| c.set.id.0), Ok(4784));
    assert_eq!(
        results[1].as_ref().map_err(Error::code).unwrap_err(),
        Code::BuiltinForbidden
    );
    assert_eq!(sequences(store).await, [4784, i64::MAX, 6, 0]);
    let last = store.sets(BizId(1), None).await.unwrap().pop().unwrap();
    assert_eq!(last["bk_set_name"], json!("d"));
}

/// Two plans of one name in one group: the first wins, the second gets 1101108 and consumes
/// no id.
pub async fn group_same_name_twice_first_wins<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let first = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "twin", "bk_set_desc": "first"}),
    )
    .await;
    let second = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "twin", "bk_set_desc": "second"}),
    )
    .await;
    let results = store.create_sets(vec![first.clone(), second]).await;
    let winner = results[0].as_ref().expect("the first plan wins");
    assert_eq!(winner.set.id, SetId(4780));
    assert_eq!(winner.set.doc["bk_set_desc"], json!("first"));
    assert_eq!(results[1], Err(Error::SetNameDuplicated));
    assert_eq!(sequences(store).await, [4780, 3, 1, 0]);
    let docs = store.sets(BizId(1), Some(SetId(4780))).await.unwrap();
    assert_eq!(docs, vec![(*winner.set.doc).clone()]);
}
