//! Cases: creates racing on a multi-thread runtime keep names and unique keys unique and ids
//! distinct and gapless.

use std::sync::Arc;

use cmdb_core::error::{Code, Error};
use cmdb_core::ids::BizId;
use cmdb_core::ports::SetStore;
use cmdb_core::records::CreatedSet;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, create, idle_set_doc, load_ok, sequences, set_ids,
    worked_example_fixture,
};

/// How many tasks race.
const TASKS: usize = 16;

/// Spawns one task per request; each plans (reading the facts) and creates once all are ready.
pub(crate) async fn race(
    store: &Arc<dyn SetStore>,
    requests: Vec<Value>,
) -> Vec<Result<CreatedSet, Error>> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|data| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                create(&*store, &context(EXAMPLE_TENANT), 1, data).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for joined in futures::future::join_all(tasks).await {
        results.push(joined.expect("a create task does not panic"));
    }
    results
}

/// 16 tasks create the same name under one parent: exactly one wins, 15 get 1101108, and the
/// winner has the first ids (the losers consumed none).
pub async fn concurrent_same_name_has_one_winner<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let requests =
        vec![json!({"bk_parent_id": 1, "bk_set_name": "race", "set_template_id": 1}); TASKS];
    let results = race(&store, requests).await;

    let winners: Vec<&CreatedSet> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<Code> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(Error::code))
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(losers, vec![Code::SetNameDuplicated; TASKS - 1]);
    let winner = winners[0];
    assert_eq!(winner.set.id.0, 4780);
    assert_eq!(winner.modules[0].id.0, 4);
    assert_eq!(
        winner.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        store.sets(BizId(1), None).await.unwrap(),
        vec![
            idle_set_doc(EXAMPLE_TENANT, 1, 1),
            (*winner.set.doc).clone()
        ]
    );
    assert_eq!(
        store.modules(winner.set.id).await.unwrap(),
        vec![(*winner.modules[0].doc).clone()]
    );
    assert_eq!(store.audit_records(BizId(1), None).await.unwrap().len(), 2);
    assert_eq!(sequences(&*store).await, [4780, 4, 2, 0]);
}

/// 16 tasks create distinct names: all succeed with 16 distinct, contiguous set ids (and
/// module and audit ids), and every set reads back exactly as created.
pub async fn concurrent_distinct_names_all_succeed<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    load_ok(&*store, worked_example_fixture()).await;
    let requests = (0..TASKS)
        .map(
            |i| json!({"bk_parent_id": 1, "bk_set_name": format!("set-{i}"), "set_template_id": 1}),
        )
        .collect();
    let results = race(&store, requests).await;
    let mut created: Vec<CreatedSet> = results
        .into_iter()
        .map(|r| r.expect("every distinct name is created"))
        .collect();
    created.sort_by_key(|c| c.set.id);

    let last = 4780 + TASKS as i64 - 1;
    assert_eq!(
        created.iter().map(|c| c.set.id.0).collect::<Vec<_>>(),
        (4780..=last).collect::<Vec<_>>()
    );
    let mut module_ids: Vec<i64> = created.iter().map(|c| c.modules[0].id.0).collect();
    module_ids.sort_unstable();
    assert_eq!(module_ids, (4..4 + TASKS as i64).collect::<Vec<_>>());
    let mut audit_ids: Vec<i64> = created
        .iter()
        .flat_map(|c| c.audits.iter().map(|a| a.id.0))
        .collect();
    audit_ids.sort_unstable();
    assert_eq!(audit_ids, (1..=2 * TASKS as i64).collect::<Vec<_>>());
    for c in &created {
        // Within one create: the set's audit record, then its module's, consecutive.
        assert_eq!(c.audits[1].id.0, c.audits[0].id.0 + 1);
        assert_eq!(
            store.modules(c.set.id).await.unwrap(),
            vec![(*c.modules[0].doc).clone()]
        );
    }

    let mut expected = vec![idle_set_doc(EXAMPLE_TENANT, 1, 1)];
    expected.extend(created.iter().map(|c| (*c.set.doc).clone()));
    let stored = store.sets(BizId(1), None).await.unwrap();
    assert_eq!(stored, expected);
    assert_eq!(set_ids(&stored).len(), TASKS + 1);
    let mut expected_audits: Vec<_> = created.iter().flat_map(|c| c.audits.clone()).collect();
    expected_audits.sort_by_key(|a| a.id);
    assert_eq!(
        store.audit_records(BizId(1), None).await.unwrap(),
        expected_audits
            .into_iter()
            .map(|a| a.document())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sequences(&*store).await,
        [last, 3 + TASKS as i64, 2 * TASKS as i64, 0]
    );
}

/// 16 tasks create distinct names with the same value of a custom unique key: exactly one wins,
/// 15 get 1199014 naming the rule's fields.
pub async fn concurrent_unique_key_has_one_winner<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let mut fixture = worked_example_fixture();
    fixture["set_attributes"] = json!([
        {"bk_property_id": "owner_team", "bk_property_name": "Owner team", "bk_property_type": "singlechar", "bk_biz_id": 0}
    ]);
    fixture["set_unique_rules"] = json!([["owner_team"]]);
    load_ok(&*store, fixture).await;
    let requests = (0..TASKS)
        .map(|i| json!({"bk_parent_id": 1, "bk_set_name": format!("set-{i}"), "owner_team": "ops"}))
        .collect();
    let results = race(&store, requests).await;
    let winners: Vec<&CreatedSet> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let rule = Error::DuplicateItem {
        fields: vec!["owner_team".into()],
    };
    assert_eq!(losers, vec![&rule; TASKS - 1]);
    assert_eq!(winners[0].set.id.0, 4780);
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780]
    );
    assert_eq!(sequences(&*store).await, [4780, 3, 1, 1]);
}
