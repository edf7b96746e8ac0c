//! The typed values: a `Set` and a `Module` read every built-in field of a stored document and
//! serialise back to exactly it, refuse a document with a field missing or mistyped, and a
//! `NewSet` is exactly the request data a JSON caller sends (so it plans to the same plan).

mod common;

use cmdb_core::catalog::Business;
use cmdb_core::facts::CreateFacts;
use cmdb_core::model::AttributeDef;
use cmdb_core::plan::{PlanOptions, RequestContext, builtin_set_records, plan_create};
use cmdb_core::records::Document;
use cmdb_core::typed::{InvalidDocument, Module, NewSet, ServiceStatus, Set, SetEnv};
use cmdb_core::{BizId, Code};
use serde_json::{Value, json};

const TIME: &str = "2026-11-27T20:34:01.386+08:00";

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

fn facts() -> CreateFacts {
    CreateFacts {
        business: Some(common::business(1)),
        attributes: vec![AttributeDef::compile(common::owner_attribute().raw).unwrap()],
        ..CreateFacts::default()
    }
}

/// The document a create of `data` stores, with set id 4780.
fn stored(data: &Document) -> Document {
    let plan = plan_create(
        &ctx(),
        BizId(1),
        data,
        &facts(),
        PlanOptions::default(),
        TIME,
    )
    .expect("planned");
    let mut doc = plan.set_doc;
    doc.insert("bk_set_id".into(), json!(4780));
    doc
}

fn object(v: Value) -> Document {
    v.as_object().expect("an object").clone()
}

#[test]
fn a_set_reads_every_built_in_field_and_serialises_to_its_document() {
    let doc = stored(&object(json!({
        "bk_set_name": " web ", "bk_parent_id": 1, "bk_set_env": "1", "bk_service_status": "2",
        "bk_capacity": 500, "bk_set_desc": "d", "description": "long", "owner": "ops"
    })));
    let set = Set::try_from(doc.clone()).expect("a stored set");
    assert_eq!(set.id().0, 4780);
    assert_eq!(set.name(), "web");
    assert_eq!(set.biz(), BizId(1));
    assert_eq!(set.parent(), 1);
    assert_eq!(set.supplier_account(), "0");
    assert!(!set.is_builtin());
    assert_eq!(set.default_flag(), 0);
    assert_eq!(set.template_id(), 0);
    assert_eq!(set.template_version(), None);
    assert_eq!(set.env(), Some(SetEnv::Test));
    assert_eq!(set.service_status(), Some(ServiceStatus::Closed));
    assert_eq!(set.capacity(), Some(500));
    assert_eq!(set.set_desc(), Some("d"));
    assert_eq!(set.description(), Some("long"));
    assert_eq!((set.created_by(), set.updated_by()), ("alice", "alice"));
    assert_eq!((set.create_time(), set.last_time()), (TIME, TIME));
    assert_eq!(set.custom("owner"), Some(&json!("ops")));
    assert_eq!(
        set.custom("bk_capacity"),
        None,
        "a built-in field is not custom"
    );
    assert_eq!(
        set.customs().collect::<Vec<_>>(),
        vec![("owner", &json!("ops"))]
    );
    // The same bytes as the stored document, key order included.
    assert_eq!(
        serde_json::to_string(&set).unwrap(),
        serde_json::to_string(&doc).unwrap()
    );
    assert_eq!(set.to_document(), doc);
    let back: Set = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(back, set);
}

#[test]
fn a_set_with_a_built_in_field_missing_or_mistyped_is_refused_naming_it() {
    let doc = stored(&object(json!({"bk_set_name": "web", "bk_parent_id": 1})));
    let cases = [
        ("bk_set_id", json!("4780"), "an integer"),
        ("bk_biz_id", json!(1.5), "an integer"),
        ("bk_parent_id", json!(null), "an integer"),
        ("default", json!(false), "an integer"),
        ("set_template_id", json!("0"), "an integer"),
        ("bk_capacity", json!("5"), "an integer or null"),
        ("set_template_version", json!([]), "an integer or null"),
        ("bk_set_name", json!(1), "a string"),
        ("bk_supplier_account", json!(null), "a string"),
        ("create_time", json!(0), "a string"),
        ("last_time", json!(0), "a string"),
        ("bk_created_at", json!(0), "a string"),
        ("bk_updated_at", json!(0), "a string"),
        ("bk_created_by", json!(0), "a string"),
        ("bk_updated_by", json!(0), "a string"),
        ("bk_set_desc", json!(1), "a string or null"),
        ("description", json!(1), "a string or null"),
        ("bk_set_env", json!("4"), "\"1\", \"2\", \"3\" or null"),
        ("bk_service_status", json!("3"), "\"1\", \"2\" or null"),
    ];
    for (field, bad, expected) in cases {
        let refused = InvalidDocument {
            kind: "set",
            field,
            expected,
        };
        let mut wrong = doc.clone();
        wrong.insert(field.into(), bad);
        assert_eq!(Set::try_from(wrong), Err(refused.clone()), "{field}");
        let mut missing = doc.clone();
        missing.remove(field);
        assert_eq!(Set::try_from(missing), Err(refused), "{field} missing");
    }
    // Null is accepted where the model stores null.
    let mut nulls = doc.clone();
    for field in [
        "bk_set_desc",
        "description",
        "bk_set_env",
        "bk_service_status",
    ] {
        nulls.insert(field.into(), Value::Null);
    }
    let set = Set::try_from(nulls).expect("nulls are stored values");
    assert_eq!(
        (set.env(), set.service_status(), set.set_desc()),
        (None, None, None)
    );
    assert_eq!(
        InvalidDocument {
            kind: "set",
            field: "bk_set_id",
            expected: "an integer"
        }
        .to_string(),
        "the stored set document's `bk_set_id` is missing or not an integer"
    );
}

#[test]
fn modules_of_the_built_in_set_read_back_and_refuse_a_mistyped_field() {
    let business = Business {
        bk_biz_id: BizId(3),
        bk_biz_name: "demo".into(),
        archived: false,
        bk_supplier_account: "0".into(),
    };
    let (set, modules) = builtin_set_records(&business, 7, 20, TIME, "admin");
    let typed = Set::try_from(set.doc.clone()).expect("the built-in set");
    assert!(typed.is_builtin());
    assert_eq!(
        (typed.id().0, typed.name(), typed.parent()),
        (7, "空闲机池", 3)
    );
    let read: Vec<Module> = modules
        .iter()
        .map(|m| Module::try_from(m.doc.clone()).expect("a stored module"))
        .collect();
    let summary: Vec<(i64, &str, i64, i64)> = read
        .iter()
        .map(|m| (m.id().0, m.name(), m.set().0, m.default_flag()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (20, "空闲机", 7, 1),
            (21, "故障机", 7, 2),
            (22, "待回收", 7, 3)
        ]
    );
    let first = &read[0];
    assert_eq!(first.biz(), BizId(3));
    assert_eq!(first.supplier_account(), "0");
    assert_eq!(
        (
            first.service_template_id(),
            first.set_template_id(),
            first.service_category_id()
        ),
        (0, 0, 0)
    );
    assert!(!first.host_apply_enabled());
    assert_eq!((first.created_by(), first.create_time()), ("admin", TIME));
    assert_eq!(
        serde_json::to_string(first).unwrap(),
        serde_json::to_string(&*modules[0].doc).unwrap()
    );
    let mut wrong = (*modules[0].doc).clone();
    wrong.insert("host_apply_enabled".into(), json!(0));
    assert_eq!(
        Module::try_from(wrong),
        Err(InvalidDocument {
            kind: "module",
            field: "host_apply_enabled",
            expected: "a boolean"
        })
    );
    let mut missing = (*modules[0].doc).clone();
    missing.remove("bk_module_id");
    assert_eq!(Module::try_from(missing).unwrap_err().field, "bk_module_id");
}

#[test]
fn a_new_set_is_the_request_data_of_its_fields() {
    let bare = NewSet::new("web", 1);
    assert_eq!(bare.name(), "web");
    assert_eq!(
        Value::Object(bare.to_data()),
        json!({"bk_set_name": "web", "bk_parent_id": 1})
    );
    let full = NewSet::new(" db ", 50)
        .template(2)
        .builtin(true)
        .env(SetEnv::Experience)
        .service_status(ServiceStatus::Open)
        .capacity(9)
        .set_desc("s")
        .description("d")
        .attribute("owner", "ops")
        .attribute("bk_capacity", 1);
    assert_eq!(
        Value::Object(full.to_data()),
        json!({"bk_set_name": " db ", "bk_parent_id": 50, "set_template_id": 2, "default": 1,
               "bk_set_env": "2", "bk_service_status": "1", "bk_capacity": 9,
               "bk_set_desc": "s", "description": "d", "owner": "ops"}),
        "the typed capacity wins over an attribute of its id"
    );
}

#[test]
fn a_new_set_plans_exactly_as_its_json_does_refusals_included() {
    let typed = NewSet::new("web", 1)
        .env(SetEnv::Formal)
        .capacity(3)
        .attribute("owner", "ops");
    let json = object(
        json!({"bk_set_name": "web", "bk_parent_id": 1, "bk_set_env": "3",
                             "bk_capacity": 3, "owner": "ops"}),
    );
    assert_eq!(stored(&typed.to_data()), stored(&json));
    let plan = |data: &Document| {
        plan_create(
            &ctx(),
            BizId(1),
            data,
            &facts(),
            PlanOptions::default(),
            TIME,
        )
    };
    let cases = [
        (
            NewSet::new("a/b", 1),
            json!({"bk_set_name": "a/b", "bk_parent_id": 1}),
            Code::ParamInvalid,
        ),
        (
            NewSet::new("web", 1).capacity(0),
            json!({"bk_set_name": "web", "bk_parent_id": 1, "bk_capacity": 0}),
            Code::ParamInvalid,
        ),
        (
            NewSet::new("web", 1).attribute("nope", 1),
            json!({"bk_set_name": "web", "bk_parent_id": 1, "nope": 1}),
            Code::InvalidOrMissing,
        ),
        (
            NewSet::new("web", 1).attribute("owner", 5),
            json!({"bk_set_name": "web", "bk_parent_id": 1, "owner": 5}),
            Code::NeedString,
        ),
    ];
    for (typed, json, code) in cases {
        let err = plan(&typed.to_data()).expect_err("refused");
        assert_eq!(err.code(), code, "{json}");
        assert_eq!(err, plan(&object(json)).unwrap_err());
    }
}

#[test]
fn a_set_record_occupies_its_name_its_unique_keys_and_a_built_in_slot() {
    use cmdb_core::backend::IndexKey;
    let business = Business {
        bk_biz_id: BizId(3),
        bk_biz_name: "demo".into(),
        archived: false,
        bk_supplier_account: "0".into(),
    };
    let (mut set, _) = builtin_set_records(&business, 7, 20, TIME, "admin");
    let keys: Vec<String> = set.index_keys().map(|k| format!("{k:?}")).collect();
    assert_eq!(
        keys,
        vec![
            format!(
                "{:?}",
                IndexKey::Name {
                    biz: BizId(3),
                    parent: 3,
                    name: "空闲机池"
                }
            ),
            format!("{:?}", IndexKey::Builtin(BizId(3))),
        ]
    );
    set.builtin = false;
    set.unique_keys = vec![cmdb_core::records::UniqueKey {
        supplier_account: "0".into(),
        fields: vec!["owner".into()],
        values: "[\"ops\"]".into(),
    }];
    let keys: Vec<String> = set.index_keys().map(|k| format!("{k:?}")).collect();
    assert_eq!(
        keys,
        vec![
            format!(
                "{:?}",
                IndexKey::Name {
                    biz: BizId(3),
                    parent: 3,
                    name: "空闲机池"
                }
            ),
            format!("{:?}", IndexKey::Unique(&set.unique_keys[0])),
        ]
    );
}
