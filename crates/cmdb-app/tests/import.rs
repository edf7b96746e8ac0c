//! `Engine::import` as a library: rows in, results per committed group in file order, a name
//! repeated inside a group (the group falls back to row-by-row commits), small groups, the
//! stop flag, and the summary's keys in the spec's order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cmdb_app::Engine;
use cmdb_app::import::{ImportOptions, RowResult, Rows, SetModel};
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use serde_json::json;

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: "importer".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

async fn engine() -> Engine {
    let engine = Engine::open("memory:").await.expect("memory store");
    engine
        .load_fixture(
            json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}),
            "admin",
        )
        .await
        .expect("fixture");
    engine
}

#[tokio::test]
async fn a_name_repeated_in_a_group_is_refused_alone_and_ids_follow_the_file() {
    let engine = engine().await;
    let csv = "bk_set_name,bk_parent_id\na,1\nb,1\na,1\nc,1\n";
    let model = engine.import_model("0", BizId(1)).await.expect("model");
    let rows = Rows::csv(csv.as_bytes(), &model).expect("header");
    let mut groups: Vec<Vec<(u64, i64)>> = Vec::new();
    let mut sink = |results: &[RowResult]| {
        groups.push(
            results
                .iter()
                .map(|r| match &r.outcome {
                    Ok(doc) => (r.line, doc["bk_set_id"].as_i64().expect("id")),
                    Err(rejected) => (r.line, -rejected.failure.code().number()),
                })
                .collect(),
        );
    };
    let options = ImportOptions {
        group_rows: 3,
        ..ImportOptions::default()
    };
    let summary = engine
        .import(&ctx(), BizId(1), rows, &options, &mut sink)
        .await
        .expect("import runs");
    // Set 1 is the idle pool; the group of three falls back to row-by-row commits.
    assert_eq!(
        groups,
        [vec![(2, 2), (3, 3), (4, -1_101_108)], vec![(5, 4)]]
    );
    let text = summary.to_json();
    assert!(
        text.starts_with(
            r#"{"read":4,"created":3,"refused":1,"refused_by_code":{"1101108":1},"seconds":"#
        ),
        "{text}"
    );
    assert!(!text.contains("stopped_after_line"));
}

#[tokio::test]
async fn a_stop_lets_the_group_in_flight_commit_and_starts_nothing_after_it() {
    let engine = engine().await;
    let jsonl: String = (0..10)
        .map(|i| format!("{{\"bk_set_name\": \"s{i}\", \"bk_parent_id\": 1}}\n"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let options = ImportOptions {
        group_rows: 4,
        stop: Some(stop.clone()),
        ..ImportOptions::default()
    };
    let mut seen = 0;
    let mut sink = |results: &[RowResult]| {
        seen += results.len();
        stop.store(true, Ordering::SeqCst);
    };
    let summary = engine
        .import(
            &ctx(),
            BizId(1),
            Rows::jsonl(jsonl.as_bytes()),
            &options,
            &mut sink,
        )
        .await
        .expect("import runs");
    // The first group committed while the second was planned; the stop came with the first
    // group's answers, so the second (planned, not committed) never started.
    assert_eq!((seen, summary.read, summary.created), (4, 4, 4));
    assert_eq!(
        (summary.stopped_after_line, summary.skip),
        (Some(4), Some(4))
    );
    let sets = engine.sets("0", BizId(1), None).await.expect("sets");
    assert_eq!(sets.len(), 1 + 4);
    // Resuming after line 4 creates the rest.
    let options = ImportOptions::default();
    let rows = Rows::jsonl(jsonl.as_bytes()).skip_through(4);
    let summary = engine
        .import(&ctx(), BizId(1), rows, &options, &mut |_| {})
        .await
        .expect("import runs");
    assert_eq!((summary.read, summary.created), (6, 6));
    assert_eq!(SetModel::builtin().kind("nope"), None);
}
