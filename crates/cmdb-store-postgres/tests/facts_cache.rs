//! The facts cache across engines: two stores on one database, one changing the catalog while
//! the other holds cached facts. A plan checked against an older catalog is refused as stale
//! (nothing stored), alone in its group or its atomic batch; facts read afresh carry the new
//! version; catalog loads bump the version, creates do not; and creates racing catalog loads
//! each occupy exactly the unique keys of the rules loaded before their commit.

mod common;

use std::sync::Arc;

use cmdb_core::facts::{FactsQuery, FactsSource, StoredFacts};
use cmdb_core::ids::BizId;
use cmdb_core::ports::{BatchFailure, SetStore, SetStoreExt};
use cmdb_core::{Error, StoreError};
use cmdb_store_conformance::support::{
    EXAMPLE_TENANT, context, create, create_ok, load_ok, plan_ok, snapshot,
};
use cmdb_store_postgres::{PgOptions, PgStore};
use common::{TestDb, server_missing};
use serde_json::{Value, json};

/// Business 1 of the example tenant (without its idle set, so it has no built-in set yet)
/// with two global attributes and no unique rule.
fn base_fixture() -> Value {
    json!({
        "bk_supplier_account": EXAMPLE_TENANT,
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo", "create_idle_set": false}],
        "set_attributes": [
            {"bk_property_id": "owner", "bk_property_name": "Owner", "bk_property_type": "singlechar", "bk_biz_id": 0},
            {"bk_property_id": "zone", "bk_property_name": "Zone", "bk_property_type": "singlechar", "bk_biz_id": 0}
        ]
    })
}

/// A unique rule on `field`: plans checked without it occupy no key.
fn rule_fixture(field: &str) -> Value {
    json!({"bk_supplier_account": EXAMPLE_TENANT, "set_unique_rules": [[field]]})
}

fn set(name: &str, owner: &str) -> Value {
    json!({"bk_parent_id": 1, "bk_set_name": name, "owner": owner})
}

/// What the engine asks for a create in biz 1 under the biz.
fn query() -> FactsQuery {
    FactsQuery {
        supplier_account: EXAMPLE_TENANT.into(),
        biz: BizId(1),
        parent: Some(1),
        template: None,
        fresh: false,
    }
}

async fn facts(store: &PgStore, query: &FactsQuery) -> StoredFacts {
    store.create_facts(query).await.expect("create_facts")
}

fn is_stale(result: &Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::Store(StoreError::StaleFacts(_))))
}

/// Runs `case` on two stores (two engines) of one fresh database, closing both after it.
fn with_two_engines<F>(case: impl FnOnce(Arc<PgStore>, Arc<PgStore>) -> F + Send + 'static)
where
    F: Future<Output = ()> + Send,
{
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    let url = db.url.clone();
    cmdb_store_conformance::run_case(async move {
        let a = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("engine a");
        let b = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("engine b");
        load_ok(&a, base_fixture()).await;
        let (a, b) = (Arc::new(a), Arc::new(b));
        case(Arc::clone(&a), Arc::clone(&b)).await;
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    });
    drop(db);
}

#[test]
fn a_plan_checked_against_an_older_catalog_is_stale_and_stores_nothing() {
    with_two_engines(|a, b| async move {
        let ctx = context(EXAMPLE_TENANT);
        let read = facts(&a, &query()).await;
        let FactsSource::Read(v1) = read.source else {
            panic!("the first answer is read: {:?}", read.source);
        };
        assert_eq!(facts(&a, &query()).await.source, FactsSource::Cached(v1));
        create_ok(&*a, &ctx, 1, set("first", "ops")).await;

        // Engine b adds a unique rule; engine a has not seen it and still serves its cache.
        load_ok(&*b, rule_fixture("owner")).await;
        let cached = facts(&a, &query()).await;
        assert_eq!(cached.source, FactsSource::Cached(v1));
        assert!(cached.unique_rules.is_empty());
        let stale_plan = plan_ok(&*a, &ctx, 1, set("second", "ops")).await;
        assert_eq!(stale_plan.catalog_version, Some(v1));
        assert!(
            stale_plan.unique_keys.is_empty(),
            "checked without the rule"
        );

        let before = snapshot(&*a, &[EXAMPLE_TENANT], &[1]).await;
        let refused = a.create_set(stale_plan).await;
        assert!(is_stale(&refused), "{refused:?}");
        assert_eq!(a.stale_plans(), 1);
        assert_eq!(snapshot(&*a, &[EXAMPLE_TENANT], &[1]).await, before);

        // The refusal taught engine a the new version: its next facts are read, rule included.
        let fresh = facts(&a, &query()).await;
        assert_eq!(fresh.source, FactsSource::Read(v1 + 1));
        assert_eq!(fresh.unique_rules.len(), 1);
        let second = create_ok(&*a, &ctx, 1, set("second", "ops")).await;
        assert_eq!(second.set.unique_keys.len(), 1, "the key is occupied");
        // So the rule holds across engines for every set created after it.
        let duplicate = create(&*b, &ctx, 1, set("third", "ops")).await;
        assert_eq!(duplicate.map_err(|e| e.code().number()), Err(1_199_014));
        assert_eq!((a.stale_plans(), b.stale_plans()), (1, 0));
    });
}

#[test]
fn in_a_group_and_in_an_atomic_batch_only_the_stale_plan_is_refused() {
    with_two_engines(|a, b| async move {
        let ctx = context(EXAMPLE_TENANT);
        let old = plan_ok(&*a, &ctx, 1, set("old", "ops")).await;
        load_ok(&*b, rule_fixture("owner")).await;
        let current = plan_ok(&*b, &ctx, 1, set("current", "dev")).await;
        assert_eq!(current.catalog_version, old.catalog_version.map(|v| v + 1));

        // An atomic batch holding a stale plan stores nothing and names that plan.
        let before = snapshot(&*a, &[EXAMPLE_TENANT], &[1]).await;
        let atomic = a
            .create_sets_atomic(vec![current.clone(), old.clone()])
            .await;
        match atomic {
            Err(BatchFailure { index: 1, error }) => {
                assert!(is_stale(&Err::<(), _>(error)));
            }
            other => panic!("expected the second plan refused as stale: {other:?}"),
        }
        assert_eq!(snapshot(&*a, &[EXAMPLE_TENANT], &[1]).await, before);

        // In a group, each plan has its own answer: the stale one refused, the other stored.
        let results = a.create_sets(vec![old, current]).await;
        assert_eq!(results.len(), 2);
        assert!(is_stale(&results[0]), "{:?}", results[0]);
        let stored = results[1].as_ref().expect("the current plan commits");
        assert_eq!(stored.set.name, "current");
        assert_eq!(stored.set.unique_keys.len(), 1);
        assert_eq!(a.stale_plans(), 2);
        let names: Vec<Value> = a
            .sets(BizId(1), None)
            .await
            .expect("sets")
            .into_iter()
            .filter_map(|d| d.get("bk_set_name").cloned())
            .collect();
        assert!(names.contains(&json!("current")) && !names.contains(&json!("old")));
    });
}

#[test]
fn catalog_loads_bump_the_version_and_creates_do_not() {
    with_two_engines(|a, b| async move {
        let ctx = context(EXAMPLE_TENANT);
        let version = |f: StoredFacts| f.source.catalog_version().expect("versioned");
        let start = version(facts(&b, &query().fresh()).await);
        // A plain create and a built-in one leave it (the built-in set is checked at commit).
        create_ok(&*a, &ctx, 1, set("plain", "ops")).await;
        create_ok(
            &*a,
            &ctx,
            1,
            json!({"bk_parent_id": 1, "bk_set_name": "pool", "default": 1}),
        )
        .await;
        let after_creates = facts(&b, &query().fresh()).await;
        assert_eq!(after_creates.source, FactsSource::Read(start));
        assert!(after_creates.builtin_set.is_some());
        // A second built-in set is refused by the commit's own check, whatever the cache says.
        let second = create(
            &*a,
            &ctx,
            1,
            json!({"bk_parent_id": 1, "bk_set_name": "pool-2", "default": 1}),
        )
        .await;
        assert_eq!(second.map_err(|e| e.code().number()), Err(1_199_054));
        // Each load that writes catalog rows bumps it by one, seen by the other engine's reads.
        load_ok(&*a, rule_fixture("zone")).await;
        assert_eq!(
            facts(&b, &query().fresh()).await.source,
            FactsSource::Read(start + 1)
        );
        load_ok(
            &*b,
            json!({"bk_supplier_account": EXAMPLE_TENANT,
                           "businesses": [{"bk_biz_id": 2, "bk_biz_name": "two"}]}),
        )
        .await;
        assert_eq!(
            facts(&a, &query().fresh()).await.source,
            FactsSource::Read(start + 2)
        );
        assert_eq!((a.stale_plans(), b.stale_plans()), (0, 0));
    });
}

#[test]
fn without_a_cache_every_answer_is_read() {
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    let url = db.url.clone();
    cmdb_store_conformance::run_case(async move {
        let options = PgOptions {
            facts_cache_entries: 0,
            ..PgOptions::default()
        };
        let store = PgStore::connect(&url, options).await.expect("connect");
        load_ok(&store, base_fixture()).await;
        let first = facts(&store, &query()).await.source;
        assert!(matches!(first, FactsSource::Read(_)), "{first:?}");
        assert_eq!(facts(&store, &query()).await.source, first);
        store.close().await.expect("close");
    });
}

/// Creates on engine a race catalog loads on engine b, round after round; each load adds a
/// unique rule on one more field and a business whose idle set takes a set id under the same
/// locks, marking where the load falls in commit order. Every stored set must then occupy
/// exactly the keys of the rules loaded before it: a plan checked against an older catalog
/// never commits. Runs until some plan was refused as stale (the race actually happened).
#[test]
fn creates_racing_catalog_loads_occupy_exactly_the_rules_of_their_commit() {
    const FIELDS: usize = 12;
    const CREATES_PER_ROUND: usize = 24;
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    let url = db.url.clone();
    cmdb_store_conformance::run_case(async move {
        let a = Arc::new(
            PgStore::connect(&url, PgOptions::default())
                .await
                .expect("engine a"),
        );
        let b = PgStore::connect(&url, PgOptions::default())
            .await
            .expect("engine b");
        let attributes: Vec<Value> = (0..FIELDS)
            .map(|k| {
                json!({"bk_property_id": format!("f{k}"), "bk_property_name": format!("F{k}"),
                            "bk_property_type": "singlechar", "bk_biz_id": 0})
            })
            .collect();
        load_ok(
            &b,
            json!({"bk_supplier_account": EXAMPLE_TENANT,
                   "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo", "create_idle_set": false}],
                   "set_attributes": attributes}),
        )
        .await;
        let ctx = context(EXAMPLE_TENANT);
        // Where each load fell among the set ids, by the idle set of its business.
        let mut markers = Vec::new();
        let mut rounds = 0;
        while rounds < FIELDS && (rounds < 2 || a.stale_plans() == 0) {
            let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
            for i in 0..CREATES_PER_ROUND {
                let (a, ctx, done) = (Arc::clone(&a), ctx.clone(), done.clone());
                let mut data = json!({"bk_parent_id": 1, "bk_set_name": format!("r{rounds}-{i}")});
                for k in 0..FIELDS {
                    data[format!("f{k}")] = json!(format!("r{rounds}-{i}"));
                }
                tokio::spawn(async move {
                    // As the engine does: a plan refused as stale is planned again.
                    let mut result = create(a.as_ref(), &ctx, 1, data.clone()).await;
                    for _ in 1..5 {
                        if !matches!(result, Err(Error::Store(StoreError::StaleFacts(_)))) {
                            break;
                        }
                        result = create(a.as_ref(), &ctx, 1, data.clone()).await;
                    }
                    let _ = done.send(result.map(|c| c.set.id.0));
                });
            }
            drop(done);
            // The load goes in once a third of the round's creates are stored, with the rest
            // planned or in flight.
            for _ in 0..CREATES_PER_ROUND / 3 {
                let created = finished.recv().await.expect("a create's answer");
                created.expect("the create");
            }
            let biz = 100 + rounds as i64;
            load_ok(
                &b,
                json!({"bk_supplier_account": EXAMPLE_TENANT,
                       "businesses": [{"bk_biz_id": biz, "bk_biz_name": format!("marker-{rounds}")}],
                       "set_unique_rules": [[format!("f{rounds}")]]}),
            )
            .await;
            while let Some(created) = finished.recv().await {
                created.expect("the create");
            }
            let idle = b.sets(BizId(biz), None).await.expect("the marker's sets");
            let marker = idle[0]["bk_set_id"].as_i64().expect("the idle set's id");
            markers.push(marker);
            rounds += 1;
        }
        let sets = a.sets(BizId(1), None).await.expect("the sets");
        assert_eq!(sets.len(), rounds * CREATES_PER_ROUND);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        for set in &sets {
            let id = set["bk_set_id"].as_i64().expect("an id");
            let rules_before = markers.iter().filter(|m| **m < id).count() as i64;
            let keys: i64 = client
                .query_one(
                    "SELECT count(*) FROM set_unique_keys WHERE bk_set_id = $1",
                    &[&id],
                )
                .await
                .expect("count keys")
                .get(0);
            assert_eq!(
                keys, rules_before,
                "set {id} ({}) occupies {keys} keys, but {rules_before} rules were loaded before \
                 it (markers {markers:?})",
                set["bk_set_name"]
            );
        }
        // Checked after the keys, so that a broken check shows as the wrong keys it lets in.
        assert!(
            a.stale_plans() > 0,
            "no plan went stale in {rounds} rounds: the race never happened"
        );
        println!(
            "{rounds} rounds, {} stale plans planned again, markers {markers:?}",
            a.stale_plans()
        );
        b.close().await.expect("close b");
    });
    drop(db);
}
