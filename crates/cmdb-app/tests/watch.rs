//! The engine's watch (spec W1–W4): events of committed creates in commit order, exactly once,
//! from any cursor; cursors refused with 1103007 when they are of another store, tenant or
//! resource; filters, projection, permission and time; the long poll woken by a commit (with
//! the backstop poll turned off, so only the in-process wake-up can wake it); the stream and
//! the blocking iterator; 16 concurrent writers with group commit and refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cmdb_app::Engine;
use cmdb_app::auth::ViewAuthorizer;
use cmdb_app::watch::{Cursor, EventType, WatchBatch, WatchRequest, WatchStart};
use cmdb_core::plan::RequestContext;
use cmdb_core::ports::Clock;
use cmdb_core::records::{Document, ResourceType};
use cmdb_core::{BizId, Code, Error};
use cmdb_store_memory::MemoryStore;
use serde_json::{Value, json};

const TENANT: &str = "123456789";
const FIXTURE: &str = include_str!("../examples/fixture.json");

fn ctx(tenant: &str) -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: tenant.into(),
        app_code: "watch_test".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

fn doc(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn engine_with(builder: cmdb_app::engine::EngineBuilder) -> Engine {
    let engine = builder.build();
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    engine.load_fixture(fixture, "admin").await.unwrap();
    engine
}

async fn engine() -> Engine {
    engine_with(Engine::builder(Arc::new(MemoryStore::new()))).await
}

async fn create(engine: &Engine, name: &str, template: bool) -> Document {
    let mut data = json!({"bk_parent_id": 1, "bk_set_name": name});
    if template {
        data["set_template_id"] = json!(1);
    }
    engine
        .create_set(&ctx(TENANT), BizId(1), &doc(data))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

fn request(resource: ResourceType, start: WatchStart) -> WatchRequest {
    WatchRequest::new(resource, start)
}

async fn watch_now(
    engine: &Engine,
    request: &WatchRequest,
) -> Result<WatchBatch, cmdb_app::envelope::Failure> {
    engine.watch(&ctx(TENANT), request, Duration::ZERO).await
}

/// Everything from `start` until caught up, through the stream.
async fn drain(engine: &Engine, req: WatchRequest) -> Vec<cmdb_app::watch::Event> {
    let mut stream = engine
        .watch_stream(&ctx(TENANT), req)
        .await
        .unwrap()
        .until_caught_up();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.unwrap());
    }
    events
}

#[tokio::test]
async fn events_are_the_stored_documents_in_commit_order_with_template_modules_after_their_set() {
    let engine = engine().await;
    let web = create(&engine, "web", true).await;
    let db = create(&engine, "db", false).await;
    let sets = drain(&engine, request(ResourceType::Set, WatchStart::Beginning)).await;
    assert_eq!(
        sets.iter().map(|e| e.detail.clone()).collect::<Vec<_>>(),
        [web.clone(), db]
    );
    assert!(sets.iter().all(|e| e.event_type == EventType::Create));
    let stored = engine.find_sets(TENANT, BizId(1), None).await.unwrap();
    assert_eq!(
        stored[1..],
        [sets[0].detail.clone(), sets[1].detail.clone()]
    );
    let modules = drain(
        &engine,
        request(ResourceType::Module, WatchStart::Beginning),
    )
    .await;
    let set_id = web["bk_set_id"].as_i64().unwrap();
    let web_modules = engine
        .list_modules(TENANT, BizId(1), cmdb_core::SetId(set_id))
        .await
        .unwrap();
    assert_eq!(
        modules.iter().map(|e| e.detail.clone()).collect::<Vec<_>>(),
        web_modules
    );
    assert_eq!(
        modules.len(),
        1,
        "the template's one module; the idle set's come from a fixture"
    );
    let json = sets[0].to_json();
    assert_eq!(json["bk_resource"], "set");
    assert_eq!(json["bk_event_type"], "create");
    assert_eq!(json["bk_cursor"], sets[0].cursor.to_string());
    assert_eq!(json["bk_detail"], Value::Object(web));
}

#[tokio::test]
async fn resuming_from_every_cursor_yields_exactly_the_suffix() {
    let engine = engine().await;
    for n in 0..12 {
        create(&engine, &format!("s{n}"), n % 3 == 0).await;
    }
    let all = drain(&engine, request(ResourceType::Set, WatchStart::Beginning)).await;
    assert_eq!(all.len(), 12);
    for (i, event) in all.iter().enumerate() {
        let text = event.cursor.to_string();
        assert_eq!(text.len(), cmdb_app::watch::CURSOR_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()), "{text}");
        let cursor: Cursor = text.parse().unwrap();
        let rest = drain(
            &engine,
            request(ResourceType::Set, WatchStart::After(cursor)),
        )
        .await;
        assert_eq!(rest, all[i + 1..], "after event {i}");
    }
}

#[tokio::test]
async fn filters_projection_and_the_continuation_cursor() {
    let engine = engine().await;
    let first = create(&engine, "a", false).await;
    let mut fields = request(ResourceType::Set, WatchStart::Beginning);
    fields.fields = Some(vec![
        "bk_set_name".into(),
        "bk_set_id".into(),
        "nothing".into(),
    ]);
    let batch = watch_now(&engine, &fields).await.unwrap();
    let keys: Vec<&String> = batch.events[0].detail.keys().collect();
    let order: Vec<&String> = first
        .keys()
        .filter(|k| *k == "bk_set_id" || *k == "bk_set_name")
        .collect();
    assert_eq!(keys, order, "the asked keys, in the document's order");

    let mut updates = request(ResourceType::Set, WatchStart::Beginning);
    updates.event_types = vec![EventType::Update, EventType::Delete];
    let none = watch_now(&engine, &updates).await.unwrap();
    assert!(!none.watched());
    let data = none.to_data();
    assert_eq!(data["bk_watched"], false);
    let only = &data["bk_events"][0];
    assert_eq!(data["bk_events"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &only["bk_resource"],
            &only["bk_event_type"],
            &only["bk_detail"]
        ),
        (&json!("set"), &json!(""), &json!({}))
    );
    // Continuing from the continuation cursor skips nothing that comes later.
    let after: Cursor = only["bk_cursor"].as_str().unwrap().parse().unwrap();
    let second = create(&engine, "b", false).await;
    let later = watch_now(
        &engine,
        &request(ResourceType::Set, WatchStart::After(after)),
    )
    .await;
    let later = later.unwrap();
    assert_eq!(
        later.events.iter().map(|e| &e.detail).collect::<Vec<_>>(),
        [&second]
    );
}

#[tokio::test]
async fn bad_cursors_are_refused_with_their_codes() {
    let engine = engine().await;
    create(&engine, "a", false).await;
    let set = drain(&engine, request(ResourceType::Set, WatchStart::Beginning)).await;
    let cursor = set[0].cursor;
    // Another resource, another tenant, another store.
    let code = |r: Result<WatchBatch, cmdb_app::envelope::Failure>| r.unwrap_err().code();
    let module = request(ResourceType::Module, WatchStart::After(cursor));
    assert_eq!(
        code(watch_now(&engine, &module).await),
        Code::EventChainNodeMissing
    );
    let other_tenant = engine
        .watch(
            &ctx("0"),
            &request(ResourceType::Set, WatchStart::After(cursor)),
            Duration::ZERO,
        )
        .await;
    let refused = other_tenant.unwrap_err();
    assert_eq!(refused.code(), Code::EventChainNodeMissing);
    assert_eq!(refused.to_string(), "1103007: Event chain node not exist");
    let other = engine_with(Engine::builder(Arc::new(MemoryStore::new()))).await;
    create(&other, "other-a", false).await;
    let foreign = watch_now(
        &other,
        &request(ResourceType::Set, WatchStart::After(cursor)),
    )
    .await;
    assert_eq!(code(foreign), Code::EventChainNodeMissing);
    // Not a cursor at all, and a cursor with a time: 1199006 naming the field.
    let body = |v: Value| doc(v);
    for (fields, named) in [
        (json!({"bk_cursor": "c1zz"}), "bk_cursor"),
        (json!({"bk_cursor": 7}), "bk_cursor"),
        (
            json!({"bk_cursor": cursor.to_string(), "bk_start_from": 1}),
            "bk_start_from",
        ),
        (
            json!({"bk_event_types": ["create", "rename"]}),
            "bk_event_types",
        ),
        (json!({"bk_fields": "bk_set_name"}), "bk_fields"),
        (json!({"bk_start_from": "yesterday"}), "bk_start_from"),
    ] {
        let refused = WatchRequest::from_fields(Some("set"), &body(fields.clone())).unwrap_err();
        assert_eq!(refused, Error::invalid(named), "{fields}");
    }
    let refused = WatchRequest::from_fields(None, &body(json!({"bk_resource": "host"})));
    assert_eq!(refused.unwrap_err(), Error::invalid("bk_resource"));
    let parsed = WatchRequest::from_fields(
        None,
        &body(json!({"bk_resource": "module",
        "bk_cursor": cursor.to_string(), "bk_event_types": ["create"]})),
    )
    .unwrap();
    assert_eq!(
        (parsed.resource, parsed.start),
        (ResourceType::Module, WatchStart::After(cursor))
    );
}

/// Denies biz 2 to everyone.
#[derive(Debug)]
struct NotBiz2;
impl ViewAuthorizer for NotBiz2 {
    fn may_view(&self, _user: &str, biz: BizId) -> bool {
        biz != BizId(2)
    }
}

#[tokio::test]
async fn a_watcher_sees_only_the_businesses_it_may_read() {
    let engine =
        engine_with(Engine::builder(Arc::new(MemoryStore::new())).viewer(Arc::new(NotBiz2))).await;
    let second = json!({"bk_supplier_account": TENANT, "businesses": [{"bk_biz_id": 2, "bk_biz_name": "hidden"}]});
    engine.load_fixture(second, "admin").await.unwrap();
    create(&engine, "seen-1", false).await;
    let hidden = json!({"bk_parent_id": 2, "bk_set_name": "hidden"});
    engine
        .create_set(&ctx(TENANT), BizId(2), &doc(hidden))
        .await
        .unwrap();
    create(&engine, "seen-2", false).await;
    let events = drain(&engine, request(ResourceType::Set, WatchStart::Beginning)).await;
    let names: Vec<&Value> = events.iter().map(|e| &e.detail["bk_set_name"]).collect();
    assert_eq!(names, [&json!("seen-1"), &json!("seen-2")]);
}

/// A clock that reads what the test sets.
#[derive(Debug, Default)]
struct SetClock(std::sync::Mutex<i64>);
impl Clock for SetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(*self.0.lock().unwrap(), 0).unwrap()
    }
}

#[tokio::test]
async fn a_start_time_skips_what_was_created_before_it() {
    let clock = Arc::new(SetClock::default());
    let engine =
        engine_with(Engine::builder(Arc::new(MemoryStore::new())).clock(clock.clone())).await;
    for (at, name) in [(1_000, "old"), (2_000, "exact"), (3_000, "new")] {
        *clock.0.lock().unwrap() = at;
        create(&engine, name, false).await;
    }
    let events = drain(
        &engine,
        request(ResourceType::Set, WatchStart::Since(2_000)),
    )
    .await;
    let names: Vec<&Value> = events.iter().map(|e| &e.detail["bk_set_name"]).collect();
    assert_eq!(names, [&json!("exact"), &json!("new")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_wakes_on_a_commit_of_this_engine_without_polling() {
    // The backstop poll every hour: only the in-process signal can wake the watcher in time.
    let builder =
        Engine::builder(Arc::new(MemoryStore::new())).watch_poll(Duration::from_secs(3600));
    let engine = engine_with(builder).await;
    let now = watch_now(&engine, &request(ResourceType::Set, WatchStart::Now))
        .await
        .unwrap();
    assert!(!now.watched());
    let waiting = {
        let engine = engine.clone();
        let from = request(ResourceType::Set, WatchStart::After(now.next));
        tokio::spawn(async move {
            engine
                .watch(&ctx(TENANT), &from, Duration::from_secs(600))
                .await
        })
    };
    let created = create(&engine, "wake", false).await;
    let batch = waiting.await.unwrap().unwrap();
    assert!(
        batch.watched(),
        "woken by the commit, not by the 600 s deadline"
    );
    assert_eq!(batch.events[0].detail, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_with_refusals_give_every_committed_set_once_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("sqlite://{}", dir.path().join("watch.sqlite").display());
    let engine = Engine::open(&location).await.unwrap();
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    engine.load_fixture(fixture, "admin").await.unwrap();
    let watcher = ctx(TENANT);
    let stream = engine.watch_stream(&watcher, request(ResourceType::Set, WatchStart::Now));
    let mut stream = stream.await.unwrap();
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut refused = 0;
                for n in 0..40 {
                    // Every fourth name is one another writer also creates: one of them loses.
                    let name = if n % 4 == 0 {
                        format!("shared-{n}")
                    } else {
                        format!("w{w}-{n}")
                    };
                    let data = doc(json!({"bk_parent_id": 1, "bk_set_name": name}));
                    match engine.create_set(&ctx(TENANT), BizId(1), &data).await {
                        Ok(_) => {}
                        Err(e) if e.code() == Code::SetNameDuplicated => refused += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                refused
            })
        })
        .collect();
    let collector = {
        let writing = Arc::clone(&writing);
        tokio::spawn(async move {
            let (mut events, mut while_writing) = (Vec::new(), 0);
            while events.len() < 16 * 30 + 10 {
                let event = stream.next().await.unwrap().unwrap();
                if writing.load(Ordering::SeqCst) {
                    while_writing += 1;
                }
                events.push(event);
            }
            (events, while_writing)
        })
    };
    let mut refused = 0;
    for writer in writers {
        refused += writer.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    assert_eq!(refused, 15 * 10, "each shared name won once");
    let (events, while_writing) = collector.await.unwrap();
    let stored = engine.find_sets(TENANT, BizId(1), None).await.unwrap();
    let created: Vec<&Document> = stored.iter().skip(1).collect();
    assert_eq!(created.len(), 16 * 30 + 10);
    let seen: Vec<&Document> = events.iter().map(|e| &e.detail).collect();
    assert_eq!(
        seen, created,
        "every committed set once, in id (commit) order"
    );
    let stats = engine.store().commit_stats().unwrap();
    assert!(
        stats.creates > stats.commits,
        "creates shared commits: {stats:?}"
    );
    assert!(
        while_writing > 0,
        "the watcher read events while the writers ran"
    );
    assert!(
        drain(
            &engine,
            request(
                ResourceType::Set,
                WatchStart::After(events.last().unwrap().cursor)
            )
        )
        .await
        .is_empty()
    );
}

#[test]
fn the_blocking_iterator_reads_what_was_created() {
    let engine = cmdb_app::blocking::Engine::open("memory:").unwrap();
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    engine.load_fixture(fixture, "admin").unwrap();
    let set = cmdb_core::typed::NewSet::new("web", 1).template(1);
    let created = engine.create(&ctx(TENANT), BizId(1), set).unwrap();
    let events = engine
        .watch(
            &ctx(TENANT),
            request(ResourceType::Module, WatchStart::Beginning),
        )
        .unwrap()
        .until_caught_up();
    let modules: Vec<_> = events.map(|e| e.unwrap()).collect();
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0].detail["bk_set_id"], json!(created.id().0));
    assert_eq!(modules[0].detail["bk_module_name"], "nginx");
}

#[tokio::test]
async fn an_answer_holds_at_most_200_events_and_the_next_continues() {
    let engine = engine().await;
    let mut created = Vec::new();
    for n in 0..250 {
        created.push(create(&engine, &format!("s{n:03}"), false).await);
    }
    let first = watch_now(&engine, &request(ResourceType::Set, WatchStart::Beginning)).await;
    let first = first.unwrap();
    assert_eq!(first.events.len(), cmdb_app::watch::MAX_EVENTS);
    assert_eq!(first.events.len(), 200);
    assert_eq!(first.next, first.events[199].cursor);
    let rest = watch_now(
        &engine,
        &request(ResourceType::Set, WatchStart::After(first.next)),
    )
    .await;
    let rest = rest.unwrap();
    let seen: Vec<&Document> = first
        .events
        .iter()
        .chain(&rest.events)
        .map(|e| &e.detail)
        .collect();
    assert_eq!(seen, created.iter().collect::<Vec<_>>());
}
