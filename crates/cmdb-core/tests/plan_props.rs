//! Property tests of the whole create plan: it never panics, is deterministic, normalizing an
//! already-normalized document changes nothing, and with several invalid fields the first in
//! model order is reported.

use cmdb_core::BizId;
use cmdb_core::catalog::Business;
use cmdb_core::facts::CreateFacts;
use cmdb_core::model::builtin::generic_builtin_attributes;
use cmdb_core::model::{AttributeDef, RawAttribute};
use cmdb_core::plan::{PlanOptions, RequestContext, plan_create};
use cmdb_core::records::Document;
use cmdb_core::rules::keys::UnknownKeys;
use proptest::prelude::*;
use serde_json::{Value, json};

const TIME: &str = "2026-11-27T20:34:01.386+08:00";

fn custom(id: &str, kind: &str, option: Value) -> AttributeDef {
    AttributeDef::define_custom(RawAttribute {
        bk_property_id: id.into(),
        bk_property_name: id.into(),
        bk_property_type: kind.into(),
        isrequired: false,
        option,
        default: Value::Null,
        ismultiple: false,
        bk_biz_id: 0,
    })
    .expect("test attribute definitions are valid")
}

fn facts() -> CreateFacts {
    CreateFacts {
        business: Some(Business {
            bk_biz_id: BizId(1),
            bk_biz_name: "demo".into(),
            archived: false,
            bk_supplier_account: "0".into(),
        }),
        attributes: vec![
            custom("owner", "singlechar", json!("^[a-z]+$")),
            custom("port", "int", json!({"min": "1", "max": "65535"})),
            custom("ratio", "float", Value::Null),
            custom(
                "tier",
                "enum",
                json!([{"id": "a", "name": "A", "is_default": true}, {"id": "b", "name": "B"}]),
            ),
            custom("active", "bool", Value::Null),
            custom("born", "date", Value::Null),
            custom("zone", "timezone", Value::Null),
            custom("admins", "objuser", Value::Null),
        ],
        ..CreateFacts::default()
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: "app".into(),
        request_id: "0".repeat(32),
    }
}

fn plan(data: &Document, f: &CreateFacts) -> Result<Document, cmdb_core::Error> {
    let options = PlanOptions {
        unknown_keys: UnknownKeys::Drop,
    };
    plan_create(&ctx(), BizId(1), data, f, options, TIME).map(|p| p.set_doc)
}

/// Arbitrary JSON: scalars at the edges, strings, and nesting.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(5000))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 16] = [
    "bk_set_name",
    "bk_set_desc",
    "bk_set_env",
    "bk_service_status",
    "description",
    "bk_capacity",
    "bk_parent_id",
    "set_template_id",
    "default",
    "owner",
    "port",
    "ratio",
    "tier",
    "active",
    "born",
    "zone",
];

fn any_request() -> impl Strategy<Value = Document> {
    prop::collection::vec((prop::sample::select(&FIELDS[..]), any_json()), 0..10).prop_map(
        |pairs| {
            let mut data: Document = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            data.entry("bk_set_name").or_insert(json!("web"));
            data.entry("bk_parent_id").or_insert(json!(1));
            data
        },
    )
}

/// A value each field accepts, drawn from its valid range (enum ids, dates, time zones, …).
fn valid_value(field: &'static str) -> BoxedStrategy<Value> {
    match field {
        "bk_set_name" => "[a-z][a-z0-9-]{0,20}".prop_map(Value::String).boxed(),
        "bk_set_desc" | "description" => "[a-zA-Z0-9 ]{0,30}".prop_map(Value::String).boxed(),
        "bk_set_env" => prop::sample::select(vec!["1", "2", "3"])
            .prop_map(|s| json!(s))
            .boxed(),
        "bk_service_status" => prop::sample::select(vec!["1", "2"])
            .prop_map(|s| json!(s))
            .boxed(),
        "bk_capacity" => (1i64..100_000).prop_map(|n| json!(n)).boxed(),
        "bk_parent_id" => Just(json!(1)).boxed(),
        "set_template_id" | "default" => Just(json!(0)).boxed(),
        "owner" => "[a-z]{1,12}".prop_map(Value::String).boxed(),
        "port" => (1i64..=65_535).prop_map(|n| json!(n)).boxed(),
        "ratio" => (-1.0e6f64..1.0e6).prop_map(|f| json!(f)).boxed(),
        "tier" => prop::sample::select(vec!["a", "b"])
            .prop_map(|s| json!(s))
            .boxed(),
        "active" => any::<bool>().prop_map(Value::Bool).boxed(),
        "born" => (2000u32..2030, 1u32..13, 1u32..29)
            .prop_map(|(y, m, d)| json!(format!("{y}-{m:02}-{d:02}")))
            .boxed(),
        "zone" => prop::sample::select(vec!["Asia/Shanghai", "UTC", "Europe/Paris"])
            .prop_map(|s| json!(s))
            .boxed(),
        _ => Just(Value::Null).boxed(),
    }
}

/// A request whose fields are mostly valid (three in four), so that planning succeeds often.
fn mostly_valid_request() -> impl Strategy<Value = Document> {
    let field = prop::sample::select(&FIELDS[..]).prop_flat_map(|f| {
        prop_oneof![3 => valid_value(f), 1 => any_json()].prop_map(move |v| (f, v))
    });
    prop::collection::vec(field, 0..10).prop_map(|pairs| {
        let mut data: Document = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        data.entry("bk_set_name").or_insert(json!("web"));
        data.entry("bk_parent_id").or_insert(json!(1));
        data
    })
}

/// Re-planning a stored document changes nothing. Random requests rarely pass every rule, so
/// this runs 512 mostly valid ones and asserts that the interesting branch (a request that
/// planned, then re-planned) ran in at least a quarter of them.
#[test]
fn normalizing_a_normalized_document_changes_nothing() {
    use proptest::test_runner::{Config, TestRunner};
    let f = facts();
    let planned = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&mostly_valid_request(), |data| {
            if let Ok(doc) = plan(&data, &f) {
                planned.set(planned.get() + 1);
                let again = plan(&doc, &f).expect("a stored document is a valid request");
                prop_assert_eq!(again, doc);
            }
            Ok(())
        })
        .unwrap();
    println!("re-planned {} of 512 requests", planned.get());
    assert!(
        planned.get() >= 128,
        "only {} of 512 requests planned",
        planned.get()
    );
}

/// Planning any request (random JSON anywhere, or mostly valid values) never panics and gives
/// the same answer twice; both answers occur often (at least a tenth of the 512 cases each),
/// so both branches are exercised.
#[test]
fn planning_never_panics_and_is_deterministic() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    const CASES: u32 = 512;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        ..Config::default()
    });
    let (planned, refused) = (Cell::new(0u32), Cell::new(0u32));
    let requests = prop_oneof![any_request(), mostly_valid_request()];
    runner
        .run(&requests, |data| {
            let f = facts();
            let first = plan(&data, &f);
            let second = plan(&data, &f);
            prop_assert_eq!(&first, &second);
            let counter = if first.is_ok() { &planned } else { &refused };
            counter.set(counter.get() + 1);
            Ok(())
        })
        .unwrap();
    let (planned, refused) = (planned.get(), refused.get());
    assert!(
        planned >= CASES / 10 && refused >= CASES / 10,
        "planned {planned}, refused {refused} of {CASES}: a branch was barely exercised"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_first_invalid_field_in_model_order_is_reported(
        broken in prop::collection::btree_set(0usize..11, 1..6)
    ) {
        // One known-invalid value per validated attribute, in model order.
        let invalid: [(&str, Value); 11] = [
            ("bk_set_desc", json!(12)),
            ("bk_set_env", json!("9")),
            ("bk_service_status", json!(true)),
            ("description", json!("x".repeat(2001))),
            ("bk_capacity", json!(0)),
            ("owner", json!("UPPER")),
            ("port", json!(70000)),
            ("ratio", json!("abc")),
            ("tier", json!("c")),
            ("active", json!("yes")),
            ("born", json!("2026-02-30")),
        ];
        let f = facts();
        let mut data = json!({"bk_set_name": "web", "bk_parent_id": 1}).as_object().cloned().unwrap_or_default();
        for i in &broken {
            let (k, v) = &invalid[*i];
            data.insert((*k).to_owned(), v.clone());
        }
        let first = broken.iter().next().copied().unwrap_or_default();
        let (field, value) = &invalid[first];
        let def = generic_builtin_attributes()
            .iter()
            .chain(f.attributes.iter())
            .find(|d| d.id() == *field)
            .expect("every listed field is an attribute");
        let expected = def.validate(value).expect_err("the listed value is invalid");
        prop_assert_eq!(plan(&data, &f).expect_err("several fields are invalid"), expected);
    }
}

#[test]
fn the_seed_request_normalizes_to_the_documented_fields() {
    let f = facts();
    let data = json!({"bk_parent_id": 1, "bk_set_name": " test-set ", "bk_set_desc": "test-set",
        "bk_capacity": 1000, "description": "description"});
    let doc = plan(data.as_object().unwrap(), &f).unwrap();
    assert_eq!(
        Value::Object(doc),
        json!({
            "bk_biz_id": 1, "bk_capacity": 1000, "bk_created_at": TIME, "bk_created_by": "alice",
            "bk_parent_id": 1, "bk_service_status": "1", "bk_set_desc": "test-set",
            "bk_set_env": "3", "bk_set_name": "test-set", "bk_supplier_account": "0",
            "bk_updated_at": TIME, "bk_updated_by": "alice", "create_time": TIME, "default": 0,
            "description": "description", "last_time": TIME, "set_template_id": 0,
            "set_template_version": null,
            "owner": "", "port": null, "ratio": null, "tier": "a", "active": false,
            "born": null, "zone": null, "admins": null
        })
    );
}
