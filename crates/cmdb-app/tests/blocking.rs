//! The blocking facade (`cmdb_app::blocking::Engine`): the seed's create, a batch, the reads and
//! a close that keeps them, all from plain `#[test]` code on SQLite; and inside a tokio runtime
//! every call is refused with `Error::InsideRuntime`, never a panic, and dropping it there
//! does not panic either.

use std::sync::Arc;

use cmdb_app::blocking::{Engine, Error};
use cmdb_core::plan::RequestContext;
use cmdb_core::typed::NewSet;
use cmdb_core::{BizId, Code, SetId};
use serde_json::Value;

fn fixture() -> Value {
    include_str!("../examples/fixture.json")
        .parse()
        .expect("the example fixture is JSON")
}

fn ctx(engine: &Engine) -> RequestContext {
    RequestContext {
        user: "xxx".into(),
        supplier_account: "123456789".into(),
        app_code: "esb_test".into(),
        request_id: engine.new_request_id(),
    }
}

fn seed() -> NewSet {
    NewSet::new("test-set", 1)
        .set_desc("test-set")
        .capacity(1000)
        .description("description")
        .template(1)
}

fn ids(engine: &Engine) -> Vec<i64> {
    let sets = engine.sets("123456789", BizId(1), None).expect("sets");
    sets.iter().map(|s| s.id().0).collect()
}

#[test]
fn creates_batches_reads_and_closes_from_plain_sync_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = format!("sqlite://{}", dir.path().join("cmdb.sqlite").display());
    let engine = Engine::open(&location).expect("open");
    engine.load_fixture(fixture(), "admin").expect("fixture");

    let set = engine
        .create(&ctx(&engine), BizId(1), seed())
        .expect("create");
    assert_eq!(
        (set.id().0, set.name(), set.capacity()),
        (4780, "test-set", Some(1000))
    );
    assert_eq!((set.template_id(), set.template_version()), (1, Some(3)));
    let modules = engine
        .modules("123456789", BizId(1), SetId(4780))
        .expect("modules");
    let names: Vec<_> = modules.iter().map(|m| m.name().to_owned()).collect();
    assert_eq!(names, ["nginx"]);

    let again = engine.create(&ctx(&engine), BizId(1), seed());
    let failure = again
        .as_ref()
        .err()
        .and_then(Error::failure)
        .expect("a refusal");
    assert!(failure.is(Code::SetNameDuplicated), "{failure}");
    assert_eq!(
        again.err().map(|e| e.to_string()).as_deref(),
        Some("1101108: the same set name exist")
    );

    let batch = [NewSet::new("web-01", 1), NewSet::new("test-set", 1)];
    let slots = engine
        .create_batch(&ctx(&engine), BizId(1), &batch, false)
        .expect("batch");
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0].as_ref().map(|s| s.id().0).ok(), Some(4781));
    let refused = slots[1].as_ref().expect_err("the duplicate is refused");
    assert_eq!(refused.to_string(), "1101108: the same set name exist");
    assert_eq!(ids(&engine), [1, 4780, 4781]);
    engine.close().expect("close");

    // What the closed engine answered is stored.
    let reopened = Engine::open(&location).expect("reopen");
    assert_eq!(ids(&reopened), [1, 4780, 4781]);
    reopened.close().expect("close");
}

#[test]
fn open_errors_and_unknown_businesses_are_typed() {
    let unknown = Engine::open("mongodb://somewhere").expect_err("no such store");
    assert!(matches!(unknown, Error::Open(_)), "{unknown:?}");
    let engine = Engine::open("memory:").expect("open");
    let missing = engine.sets("0", BizId(9), None).expect_err("no biz 9");
    assert!(
        missing
            .failure()
            .is_some_and(|f| f.is(Code::InvalidOrMissing)),
        "{missing:?}"
    );
}

#[test]
fn is_shared_between_threads() {
    let engine = Arc::new(Engine::open("memory:").expect("open"));
    engine.load_fixture(fixture(), "admin").expect("fixture");
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let set = NewSet::new(format!("web-{i}"), 1);
                engine
                    .create(&ctx(&engine), BizId(1), set)
                    .map(|s| s.id().0)
            })
        })
        .collect();
    let mut created: Vec<i64> = threads
        .into_iter()
        .map(|t| t.join().expect("no panic").expect("create"))
        .collect();
    created.sort_unstable();
    assert_eq!(created, [4780, 4781, 4782, 4783]);
}

#[test]
fn inside_a_runtime_every_call_is_refused_and_dropping_does_not_panic() {
    let engine = Engine::open("memory:").expect("open outside any runtime");
    engine.load_fixture(fixture(), "admin").expect("fixture");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let inside = Engine::open("memory:").expect_err("open inside a runtime");
        assert!(matches!(inside, Error::InsideRuntime), "{inside:?}");
        assert!(
            inside.to_string().contains("inside a tokio runtime"),
            "{inside}"
        );

        let refused = engine.create(&ctx(&engine), BizId(1), seed());
        assert!(matches!(refused, Err(Error::InsideRuntime)), "{refused:?}");
        let read = engine.sets("123456789", BizId(1), None);
        assert!(matches!(read, Err(Error::InsideRuntime)), "{read:?}");
        // A task's thread (spawn_blocking's too) is inside the runtime.
        let in_blocking_task = tokio::task::spawn_blocking(|| Engine::open("memory:").err())
            .await
            .expect("no panic");
        assert!(matches!(in_blocking_task, Some(Error::InsideRuntime)));
        // Dropped here, inside the runtime: it must not panic (tokio's runtime would).
        drop(engine);
    });
}

#[test]
fn a_plain_thread_started_by_async_code_may_use_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let created = runtime.block_on(async {
        let thread = std::thread::spawn(|| {
            let engine = Engine::open("memory:")?;
            engine.load_fixture(fixture(), "admin")?;
            let set = engine.create(&ctx(&engine), BizId(1), seed())?;
            engine.close()?;
            Ok::<_, Error>(set.id().0)
        });
        thread.join().expect("no panic")
    });
    assert_eq!(created.expect("created"), 4780);
}
