//! Case: a page's count ([`SetStore::page`]) is the size of the listing after creates that
//! were refused in a group, an atomic batch that was refused whole, one that committed, and a
//! close and reopen: a store that keeps listing counters keeps them exactly.

use cmdb_core::backend::DocQuery;
use cmdb_core::error::Code;
use cmdb_core::ids::BizId;
use cmdb_core::listing::Window;
use cmdb_core::ports::SetStore;
use cmdb_core::records::ResourceType;
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, create_ok, load_ok, plan_ok, plans_with_two_duplicates,
    two_service_fixture,
};

/// The listings the stores count, with the size each must have: `[sets, audit of sets,
/// audit of modules]` of biz 1.
async fn assert_counts(store: &dyn SetStore, expected: [usize; 3], when: &str) {
    let biz = BizId(1);
    let of = |resource_type| DocQuery::Audit { biz, resource_type };
    let listings = [
        (DocQuery::Sets { biz, set: None }, expected[0]),
        (of(Some(ResourceType::Set)), expected[1]),
        (of(Some(ResourceType::Module)), expected[2]),
        (of(None), expected[1] + expected[2]),
    ];
    for (query, size) in listings {
        let full = match query {
            DocQuery::Sets { .. } => store.sets(biz, None).await,
            DocQuery::Audit { resource_type, .. } => store.audit_records(biz, resource_type).await,
            DocQuery::Modules { .. } => unreachable!("not a counted listing"),
        };
        assert_eq!(full.unwrap().len(), size, "{when}: the listing {query:?}");
        for window in [
            Window { start: 0, limit: 1 },
            Window {
                start: size,
                limit: 3,
            },
        ] {
            let page = store.page(query, window).await.unwrap();
            assert_eq!(
                page.count, size,
                "{when}: the count of {query:?} at {window:?}"
            );
        }
    }
}

/// A group of five creates (two refused as duplicates, one from a two-module template), a
/// refused atomic batch, a committed one, then a close and a reopen and one more create: at
/// every step each counted listing's page count is its exact size, and refused creates
/// count nothing.
pub async fn counts_are_the_listing_after_refusals_and_reopen<F: StoreFactory>(factory: &F) {
    let (store, guard) = factory.open_fresh().await;
    let ctx = context(EXAMPLE_TENANT);
    load_ok(&*store, two_service_fixture()).await;
    // The fixture's idle set, with no audit record.
    assert_counts(&*store, [1, 0, 0], "after the fixture").await;
    let plans = plans_with_two_duplicates(&*store, &ctx).await;
    let refused: Vec<bool> = store
        .create_sets(plans)
        .await
        .iter()
        .map(|r| r.as_ref().err().map(cmdb_core::Error::code) == Some(Code::SetNameDuplicated))
        .collect();
    assert_eq!(refused, [false, false, true, false, true]);
    assert_counts(&*store, [4, 3, 2], "after the group").await;

    let templated = |names: &'static [&'static str]| {
        let (store, ctx) = (&*store, &ctx);
        async move {
            let mut plans = Vec::new();
            for name in names {
                let data = json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 2});
                plans.push(plan_ok(store, ctx, 1, data).await);
            }
            plans
        }
    };
    let failure = store
        .create_sets_atomic(templated(&["d", "e", "a"]).await)
        .await
        .unwrap_err();
    assert_eq!(failure.error.code(), Code::SetNameDuplicated);
    assert_counts(&*store, [4, 3, 2], "after a refused batch").await;
    let created = store
        .create_sets_atomic(templated(&["d", "e"]).await)
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    assert_counts(&*store, [6, 5, 6], "after a committed batch").await;
    store.close().await.unwrap();
    drop(store);

    let Some(store) = factory.reopen(&guard).await else {
        return;
    };
    assert_counts(&*store, [6, 5, 6], "after a reopen").await;
    create_ok(
        &*store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "f"}),
    )
    .await;
    assert_counts(&*store, [7, 6, 6], "after a create on the reopened store").await;
    store.close().await.unwrap();
}
