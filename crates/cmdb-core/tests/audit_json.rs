//! An audit record renders the stored audit document: pinned key by key, and identical
//! whether `cur_data` is serialised from the document or embedded as the JSON a store already
//! wrote for it.

use std::sync::Arc;

use cmdb_core::ids::{AuditId, BizId};
use cmdb_core::records::{AuditRecord, AuditStamp, Document, ResourceType};
use proptest::prelude::*;
use serde_json::{Value, json};

fn record(resource_type: ResourceType, cur_data: Document) -> AuditRecord {
    AuditRecord {
        id: AuditId(7),
        biz: BizId(3),
        resource_type,
        resource_id: 4780,
        resource_name: "web \"one\"".into(),
        stamp: Arc::new(AuditStamp {
            user: "admin".into(),
            app_code: "esb-test-app".into(),
            request_id: "0123456789abcdef0123456789abcdef".into(),
            time: "2026-11-27T20:34:01.386+08:00".into(),
            supplier_account: "0".into(),
        }),
        cur_data: Arc::new(cur_data),
    }
}

fn object(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn the_document_is_the_stored_audit_shape() {
    let cur = object(json!({"bk_set_id": 4780, "bk_set_name": "web"}));
    let audit = record(ResourceType::Set, cur.clone());
    let expected = object(json!({
        "action": "create",
        "audit_type": "business_resource",
        "bk_biz_id": 3,
        "bk_supplier_account": "0",
        "code": "esb-test-app",
        "id": 7,
        "operate_from": "user",
        "operation_detail": {
            "bk_obj_id": "set",
            "details": {"cur_data": cur, "pre_data": null, "update_fields": null}
        },
        "operation_time": "2026-11-27T20:34:01.386+08:00",
        "resource_id": 4780,
        "resource_name": "web \"one\"",
        "resource_type": "set",
        "rid": "0123456789abcdef0123456789abcdef",
        "user": "admin"
    }));
    assert_eq!(audit.document(), expected);
    // Serialised directly, the keys come out sorted, as a stored `Document` would.
    let text = serde_json::to_string(&audit).unwrap();
    assert_eq!(text, serde_json::to_string(&expected).unwrap());
    let module = record(ResourceType::Module, Document::new());
    assert_eq!(module.document()["resource_type"], json!("module"));
    assert_eq!(
        module.document()["operation_detail"]["bk_obj_id"],
        json!("module")
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Embedding a set's already rendered JSON in its audit record gives the same bytes as
/// serialising the record, for any document; at least a tenth of the 256 cases hold nested
/// arrays or objects, and a tenth hold strings that need escaping, so the interesting shapes are
/// exercised.
#[test]
fn embedding_the_rendered_document_changes_no_byte() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    const CASES: u32 = 256;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        ..Config::default()
    });
    let (nested, escaped) = (Cell::new(0u32), Cell::new(0u32));
    let documents = prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..8);
    runner
        .run(&documents, |cur| {
            let text = serde_json::to_string(&cur).unwrap();
            if cur.values().any(|v| v.is_array() || v.is_object()) {
                nested.set(nested.get() + 1);
            }
            if text.contains('\\') {
                escaped.set(escaped.get() + 1);
            }
            let audit = record(ResourceType::Set, cur.into_iter().collect());
            let rendered = serde_json::value::to_raw_value(&*audit.cur_data).unwrap();
            let embedded = serde_json::to_string(&audit.with_rendered_cur_data(&rendered)).unwrap();
            prop_assert_eq!(&embedded, &serde_json::to_string(&audit).unwrap());
            prop_assert_eq!(
                serde_json::from_str::<Value>(&embedded).unwrap(),
                Value::Object(audit.document())
            );
            Ok(())
        })
        .unwrap();
    let (nested, escaped) = (nested.get(), escaped.get());
    assert!(
        nested >= CASES / 10 && escaped >= CASES / 10,
        "nested {nested}, escaped {escaped} of {CASES}: the interesting documents were rare"
    );
}

#[test]
fn rendered_docs_keep_the_json_of_exactly_the_documents_rendered() {
    use cmdb_core::records::RenderedDocs;
    let set = Arc::new(object(json!({"bk_set_id": 1, "bk_set_name": "web"})));
    let module = Arc::new(object(json!({"bk_module_id": 2})));
    let twin = Arc::new((*set).clone());
    let mut docs = RenderedDocs::default();
    assert_eq!(
        docs.render(&set).unwrap(),
        r#"{"bk_set_id":1,"bk_set_name":"web"}"#
    );
    assert_eq!(docs.render(&module).unwrap(), r#"{"bk_module_id":2}"#);
    assert_eq!(
        docs.rendered(&set).map(|j| j.get()),
        Some(r#"{"bk_set_id":1,"bk_set_name":"web"}"#)
    );
    assert_eq!(
        docs.rendered(&module).map(|j| j.get()),
        Some(r#"{"bk_module_id":2}"#)
    );
    // Found by identity, not by equal content: an equal copy was never rendered.
    assert!(docs.rendered(&twin).is_none());
    docs.clear();
    assert!(docs.rendered(&set).is_none());
    assert!(docs.rendered(&module).is_none());
}
