//! Case: the event log's read ([`SetStore::audit_after`]) answers every committed audit record
//! once, in id order, from any id on, and never one of a create that was refused.

use cmdb_core::error::Code;
use cmdb_core::ids::{AuditId, BizId, SequenceKind};
use cmdb_core::ports::SetStore;
use cmdb_core::records::Document;
use serde_json::{Value, json};

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, load_ok, plan_ok, plans_with_two_duplicates, two_service_fixture,
};

async fn after(store: &dyn SetStore, id: i64, limit: usize) -> Vec<Document> {
    match store.audit_after(AuditId(id), limit).await {
        Ok(records) => records,
        Err(e) => panic!("the audit log after {id} (limit {limit}) failed: {e}"),
    }
}

fn ids(records: &[Document]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(-1))
        .collect()
}

/// A group of five creates (two refused as duplicates, one from a two-module template) then a
/// lone create: the log is exactly the biz's audit records (a fixture's idle set has none),
/// ids 1..=n without a gap, no record names a refused create; every suffix after every id and
/// every limit is the matching slice; after the last id it is empty.
pub async fn audit_log_is_every_committed_record_in_id_order<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    let ctx = context(EXAMPLE_TENANT);
    load_ok(store, two_service_fixture()).await;
    let plans = plans_with_two_duplicates(store, &ctx).await;
    let codes: Vec<Option<Code>> = store
        .create_sets(plans)
        .await
        .iter()
        .map(|r| r.as_ref().err().map(cmdb_core::Error::code))
        .collect();
    let dup = Some(Code::SetNameDuplicated);
    assert_eq!(codes, [None, None, dup, None, dup]);
    let lone = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "d"}),
    )
    .await;
    assert!(store.create_sets(vec![lone]).await[0].is_ok());

    let all = after(store, 0, usize::MAX).await;
    let last = store.sequence_last(SequenceKind::Audit).await.unwrap();
    assert_eq!(
        ids(&all),
        (1..=last).collect::<Vec<_>>(),
        "gapless, in id order"
    );
    assert_eq!(all, store.audit_records(BizId(1), None).await.unwrap());
    let named = |r: &Document| (r["resource_type"].clone(), r["resource_name"].clone());
    let sets: Vec<Value> = all
        .iter()
        .map(named)
        .filter(|(t, _)| t == "set")
        .map(|(_, n)| n)
        .collect();
    assert_eq!(sets, [json!("a"), json!("b"), json!("c"), json!("d")]);
    let b_modules = all.iter().map(named).filter(|(t, _)| t == "module").count();
    assert_eq!(b_modules, 2, "b's two template modules");

    let len = all.len();
    for start in 0..=len {
        for limit in [0, 1, 3, len] {
            let got = after(store, start as i64, limit).await;
            let end = (start + limit).min(len);
            assert_eq!(got, all[start..end], "after id {start}, limit {limit}");
        }
    }
    assert!(after(store, last + 100, 10).await.is_empty());
}
