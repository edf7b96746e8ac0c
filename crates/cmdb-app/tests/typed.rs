//! The typed entry points: `Engine::create` with a `NewSet` stores exactly what the JSON entry
//! point stores for the same data and answers it as a `Set`; `Engine::create_batch` keeps each
//! element's result in its slot, and an atomic typed batch writes nothing when one fails.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cmdb_app::Engine;
use cmdb_core::plan::RequestContext;
use cmdb_core::ports::Clock;
use cmdb_core::typed::{NewSet, ServiceStatus, SetEnv};
use cmdb_core::{BizId, SetId};
use cmdb_store_memory::MemoryStore;
use serde_json::json;

/// Always the same instant: two engines' documents compare equal.
#[derive(Debug)]
struct StoppedClock;

impl Clock for StoppedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0)
            .single()
            .expect("an instant")
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

async fn engine() -> Engine {
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .clock(Arc::new(StoppedClock))
        .build();
    engine
        .load_fixture(
            json!({
                "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
                "set_attributes": [{"bk_property_id": "owner", "bk_property_name": "Owner",
                                    "bk_property_type": "singlechar", "bk_biz_id": 0}],
                "service_templates": [
                    {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
                "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3,
                                   "service_template_ids": [7]}],
                "id_generator": {"set": 4779}
            }),
            "admin",
        )
        .await
        .expect("fixture");
    engine
}

#[tokio::test]
async fn a_typed_create_stores_what_the_json_create_stores() {
    let (typed_engine, json_engine) = (engine().await, engine().await);
    let new = NewSet::new("test-set", 1)
        .template(1)
        .set_desc("test-set")
        .description("description")
        .capacity(1000)
        .env(SetEnv::Experience)
        .service_status(ServiceStatus::Closed)
        .attribute("owner", "ops");
    let set = typed_engine
        .create(&ctx(), BizId(1), new)
        .await
        .expect("created");
    assert_eq!(set.id(), SetId(4780));
    assert_eq!(
        (set.name(), set.parent(), set.biz()),
        ("test-set", 1, BizId(1))
    );
    assert_eq!((set.template_id(), set.template_version()), (1, Some(3)));
    assert_eq!(set.capacity(), Some(1000));
    assert_eq!(set.env(), Some(SetEnv::Experience));
    assert_eq!(set.service_status(), Some(ServiceStatus::Closed));
    assert_eq!(set.custom("owner"), Some(&json!("ops")));
    let data = json!({"bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
                      "bk_capacity": 1000, "description": "description", "set_template_id": 1,
                      "bk_set_env": "2", "bk_service_status": "2", "owner": "ops"});
    let doc = json_engine
        .create_set(&ctx(), BizId(1), data.as_object().unwrap())
        .await
        .expect("created");
    assert_eq!(
        serde_json::to_string(&set).unwrap(),
        serde_json::to_string(&doc).unwrap()
    );
    // What the store holds is that document, and the template's module came with it.
    let stored = typed_engine
        .find_sets("0", BizId(1), Some(SetId(4780)))
        .await
        .expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0], doc);
    let modules = typed_engine
        .list_modules("0", BizId(1), SetId(4780))
        .await
        .expect("read");
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0]["bk_module_name"], json!("nginx"));
    // The typed reads answer the same, typed.
    let sets = typed_engine
        .sets("0", BizId(1), None)
        .await
        .expect("typed read");
    let read: Vec<(i64, &str, bool)> = sets
        .iter()
        .map(|s| (s.id().0, s.name(), s.is_builtin()))
        .collect();
    assert_eq!(read, vec![(1, "空闲机池", true), (4780, "test-set", false)]);
    assert_eq!(sets[1], set);
    let typed_modules = typed_engine
        .modules("0", BizId(1), set.id())
        .await
        .expect("typed read");
    assert_eq!(typed_modules.len(), 1);
    let module = &typed_modules[0];
    assert_eq!(
        (module.name(), module.set(), module.service_template_id()),
        ("nginx", set.id(), 7)
    );
    assert_eq!(module.set_template_id(), 1);
    assert_eq!(module.to_document(), modules[0]);
    let missing = typed_engine
        .sets("0", BizId(1), Some(SetId(9)))
        .await
        .expect_err("no set 9");
    assert_eq!(missing.code().number(), 1199019);
}

#[tokio::test]
async fn a_typed_create_is_refused_with_the_json_code_and_message() {
    let engine = engine().await;
    let refused = engine
        .create(&ctx(), BizId(1), NewSet::new("web", 1).capacity(0))
        .await
        .expect_err("capacity 0");
    assert_eq!(refused.code().number(), 1199006);
    assert_eq!(refused.message(), "'bk_capacity' the parameter is invalid");
    engine
        .create(&ctx(), BizId(1), NewSet::new("web", 1))
        .await
        .expect("created");
    let duplicate = engine
        .create(&ctx(), BizId(1), NewSet::new(" web ", 1))
        .await
        .expect_err("the name is taken");
    assert_eq!(duplicate.code().number(), 1101108);
}

#[tokio::test]
async fn a_typed_batch_answers_each_slot_and_an_atomic_one_writes_nothing_on_a_refusal() {
    let engine = engine().await;
    let sets = [
        NewSet::new("a", 1),
        NewSet::new("b", 1).capacity(0),
        NewSet::new("c", 1),
    ];
    let outcomes = engine
        .create_batch(&ctx(), BizId(1), &sets, false)
        .await
        .expect("a batch");
    let summary: Vec<Result<(i64, String), i64>> = outcomes
        .iter()
        .map(|o| {
            o.as_ref()
                .map(|s| (s.id().0, s.name().to_owned()))
                .map_err(|f| f.code().number())
        })
        .collect();
    assert_eq!(
        summary,
        vec![Ok((4780, "a".into())), Err(1199006), Ok((4781, "c".into()))]
    );
    assert_eq!(
        outcomes[1].as_ref().unwrap_err().message(),
        "'bk_capacity' the parameter is invalid",
        "a non-atomic batch answers each element's message in its slot"
    );

    let atomic = [NewSet::new("d", 1), NewSet::new("a", 1)];
    let refused = engine
        .create_batch(&ctx(), BizId(1), &atomic, true)
        .await
        .expect_err("sets[1] duplicates a");
    assert_eq!(refused.code().number(), 1101108);
    assert!(
        refused.message().starts_with("sets[1]: "),
        "{}",
        refused.message()
    );
    let names: Vec<String> = engine
        .find_sets("0", BizId(1), None)
        .await
        .expect("read")
        .iter()
        .map(|d| d["bk_set_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, vec!["空闲机池", "a", "c"], "d was not written");
}
