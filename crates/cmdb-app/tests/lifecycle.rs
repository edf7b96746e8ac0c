//! `Engine::open` on a store named by a location, and `Engine::close`: the seed create over
//! every embedded location, a close that drains the creates queued before it, and the data
//! there after a reopen.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_app::engine::EngineOpenError;
use cmdb_app::open::{OpenReason, StoreOpenError};
use cmdb_core::plan::RequestContext;
use cmdb_core::{BizId, SetId};
use serde_json::json;

const FIXTURE: &str = include_str!("../examples/fixture.json");

fn context(request_id: &str) -> RequestContext {
    RequestContext {
        user: "xxx".into(),
        supplier_account: "123456789".into(),
        app_code: "esb_test".into(),
        request_id: request_id.into(),
    }
}

async fn load(engine: &Engine) {
    let fixture: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    engine.load_fixture(fixture, "admin").await.unwrap();
}

async fn create(engine: &Engine, name: &str) -> Result<i64, i64> {
    let data = json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});
    engine
        .create_set(
            &context("0123456789abcdef0123456789abcdef"),
            BizId(1),
            data.as_object().unwrap(),
        )
        .await
        .map(|set| set["bk_set_id"].as_i64().unwrap())
        .map_err(|f| f.code().number())
}

#[tokio::test]
async fn every_embedded_location_opens_creates_closes_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display();
    let mut locations = vec![
        format!("sqlite://{root}/a.sqlite"),
        format!("{root}/b.sqlite"),
    ];
    // The stores of the features this build has (the workspace run has them all).
    if cfg!(feature = "redb") {
        locations.push(format!("redb://{root}/c.redb"));
    }
    if cfg!(feature = "sled") {
        locations.push(format!("sled://{root}/d.sled"));
    }
    for location in locations {
        let engine = Engine::open(&location).await.expect(&location);
        load(&engine).await;
        assert_eq!(create(&engine, "test-set").await, Ok(4780), "{location}");
        engine.close().await.expect("close");
        drop(engine);

        let engine = Engine::open(&location).await.expect("reopen");
        let sets = engine.store().sets(BizId(1), Some(SetId(4780))).await;
        assert_eq!(
            sets.unwrap()[0]["bk_set_name"],
            json!("test-set"),
            "{location}"
        );
        assert_eq!(create(&engine, "test-set").await, Err(1_101_108));
        engine.close().await.expect("close");
    }
    let engine = Engine::open("memory:").await.unwrap();
    assert_eq!(engine.store().backend(), "memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_the_creates_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("sqlite://{}/cmdb.sqlite", dir.path().display());
    let engine = Arc::new(Engine::open(&location).await.unwrap());
    load(&engine).await;
    let creates: Vec<_> = (0..32)
        .map(|i| {
            let engine = Arc::clone(&engine);
            tokio::spawn(async move { create(&engine, &format!("s{i}")).await })
        })
        .collect();
    // Close once some creates are queued or committing: they all commit before the close.
    while engine.store().commit_stats().unwrap().in_flight == 0
        && engine.store().commit_stats().unwrap().creates == 0
    {
        tokio::task::yield_now().await;
    }
    let closed = engine.close().await;
    let mut stored = 0;
    let mut refused_after_close = 0;
    for create in creates {
        match create.await.unwrap() {
            Ok(_) => stored += 1,
            Err(1_199_999) => refused_after_close += 1,
            Err(code) => panic!("unexpected code {code}"),
        }
    }
    assert_eq!(closed, Ok(()));
    assert!(stored > 0, "some creates were queued before the close");
    drop(engine);
    let engine = Engine::open(&location).await.unwrap();
    let sets = engine.store().sets(BizId(1), None).await.unwrap();
    // The idle set, and every create that was answered Ok (none answered Ok is missing).
    assert_eq!(
        sets.len(),
        1 + stored,
        "{refused_after_close} refused after close"
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_location_that_names_no_store_is_refused() {
    for location in ["ftp://host/x", "sqlite://", "", "mongodb://db"] {
        let refused = Engine::open(location).await.map(|_| ()).unwrap_err();
        assert!(
            matches!(refused, EngineOpenError::Location(_)),
            "{location}: {refused}"
        );
        assert!(refused.to_string().contains("names no store"), "{refused}");
    }
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("garbage");
    std::fs::write(&not_sqlite, b"not a database at all, not even close").unwrap();
    let refused = Engine::open(not_sqlite.to_str().unwrap())
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(refused, EngineOpenError::Store(_)), "{refused}");
    assert!(
        refused.to_string().contains("not a SQLite database"),
        "{refused}"
    );
    // The store's refusal keeps its kind, and is the source.
    let EngineOpenError::Store(open) = &refused else {
        unreachable!("checked above")
    };
    assert_eq!(open.store_kind(), "sqlite");
    assert!(
        matches!(open.store_refusal(), Some(StoreOpenError::Foreign(_))),
        "{open:?}"
    );
    let source = std::error::Error::source(open).map(ToString::to_string);
    assert_eq!(source, open.store_refusal().map(ToString::to_string));

    // A store held by another handle is Busy, by kind; a store this build leaves out is the
    // engine's reason, with no store refusal.
    let location = format!("redb://{}", dir.path().join("held.redb").display());
    let second = if cfg!(feature = "redb") {
        let first = Engine::open(&location).await.expect("the first handle");
        let second = Engine::open(&location).await.map(|_| ());
        first.close().await.expect("closed");
        second
    } else {
        Engine::open(&location).await.map(|_| ())
    };
    let refused = second.unwrap_err();
    let EngineOpenError::Store(open) = &refused else {
        panic!("{refused}")
    };
    if cfg!(feature = "redb") {
        assert!(
            matches!(open.store_refusal(), Some(StoreOpenError::Busy(_))),
            "{open:?}"
        );
    } else {
        assert_eq!(open.store_refusal(), None);
        assert!(matches!(open.reason(), OpenReason::Engine(_)), "{open:?}");
        assert!(
            open.to_string().contains("this build has no redb store"),
            "{open}"
        );
    }
}
