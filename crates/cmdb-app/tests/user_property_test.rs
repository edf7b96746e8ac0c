//! A user's property test, as a program linking the engine would write it with the core's
//! `proptest` strategies (`cmdb-core = { features = ["proptest"] }` in its dev-dependencies):
//! for a model of its own (here a port and a tier), any valid request creates a set that
//! stores each value as the model normalizes it, and any invalid value of a custom attribute
//! is refused with the code the strategy names.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_core::BizId;
use cmdb_core::model::{AttributeDef, RawAttribute};
use cmdb_core::plan::RequestContext;
use cmdb_core::strategies::{invalid_value, valid_request};
use cmdb_store_memory::MemoryStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

fn attribute(id: &str, kind: &str, option: Value) -> RawAttribute {
    RawAttribute {
        bk_property_id: id.into(),
        bk_property_name: id.into(),
        bk_property_type: kind.into(),
        isrequired: false,
        option,
        default: Value::Null,
        ismultiple: false,
        bk_biz_id: 0,
    }
}

/// The model: an int port within 1..=65535 and an enum tier.
fn model() -> Vec<RawAttribute> {
    vec![
        attribute("port", "int", json!({"min": "1", "max": "65535"})),
        attribute(
            "tier",
            "enum",
            json!([{"id": "web", "name": "Web"}, {"id": "db", "name": "Database"}]),
        ),
    ]
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
    let engine = Engine::builder(Arc::new(MemoryStore::new())).build();
    let fixture = json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "set_attributes": model(),
    });
    engine
        .load_fixture(fixture, "admin")
        .await
        .expect("the model loads");
    engine
}

fn defs() -> Vec<AttributeDef> {
    model()
        .into_iter()
        .map(|raw| AttributeDef::define_custom(raw).expect("a valid definition"))
        .collect()
}

#[test]
fn valid_requests_create_sets_storing_the_normalized_values() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let engine = rt.block_on(engine());
    let defs = defs();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let serial = std::cell::Cell::new(0);
    runner
        .run(&valid_request(1, &defs), |mut data| {
            // Names must differ across the cases sharing this store.
            serial.set(serial.get() + 1);
            let name = format!(
                "{}-{}",
                data["bk_set_name"].as_str().unwrap_or("s"),
                serial.get()
            );
            data.insert("bk_set_name".into(), Value::String(name));
            let set = rt.block_on(engine.create_set(&ctx(), BizId(1), &data));
            let set = set.map_err(|f| TestCaseError::fail(format!("{data:?}: {}", f.message())))?;
            for def in &defs {
                let sent = data.get(def.id()).cloned().unwrap_or(Value::Null);
                let expected = match sent {
                    Value::Null => def.absent_value(),
                    sent => def.validate(&sent).expect("a valid value"),
                };
                prop_assert_eq!(&set[def.id()], &expected, "{}", def.id());
            }
            Ok(())
        })
        .unwrap();
    // Every case created its set, beside the biz's idle set.
    let sets = rt
        .block_on(engine.find_sets("0", BizId(1), None))
        .expect("the sets");
    assert_eq!(sets.len(), 1 + serial.get());
    assert!(serial.get() >= 64);
}

#[test]
fn invalid_custom_values_are_refused_with_their_code() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let engine = rt.block_on(engine());
    for def in defs() {
        let mut runner = TestRunner::new(Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&invalid_value(&def), |(value, code)| {
                let Value::Object(data) =
                    json!({"bk_parent_id": 1, "bk_set_name": "refused", def.id(): value})
                else {
                    unreachable!("an object literal")
                };
                let refused = rt.block_on(engine.create_set(&ctx(), BizId(1), &data));
                let failure = refused.expect_err("an invalid value is refused");
                prop_assert_eq!(failure.code(), code, "{}: {}", def.id(), failure.message());
                Ok(())
            })
            .unwrap();
    }
    // Nothing refused was stored: only the biz's idle set is there.
    let sets = rt
        .block_on(engine.find_sets("0", BizId(1), None))
        .expect("the sets");
    assert_eq!(sets.len(), 1);
}
