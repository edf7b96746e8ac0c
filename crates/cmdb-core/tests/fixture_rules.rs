//! Fixture checks of `CatalogBatch::prepare` that need no store: each refusal on its own.

use cmdb_core::Code;
use cmdb_core::fixture::{CatalogBatch, Fixture};
use serde_json::{Value, json};

fn prepare(fixture: Value) -> Result<CatalogBatch, cmdb_core::Error> {
    let fixture = Fixture::from_json(fixture)?;
    CatalogBatch::prepare(
        fixture,
        "2026-11-27T20:00:00.000+08:00".into(),
        "admin".into(),
    )
}

fn refused_as(fixture: Value, field: &str) {
    let err = prepare(fixture.clone()).expect_err("refused");
    assert_eq!(err.code(), Code::ParamInvalid, "{fixture}");
    assert_eq!(
        err.to_string(),
        format!("'{field}' the parameter is invalid"),
        "{fixture}"
    );
}

#[test]
fn each_unique_rule_defect_is_refused_on_its_own() {
    let attrs = json!([{"bk_property_id": "owner", "bk_property_name": "Owner",
                        "bk_property_type": "singlechar", "bk_biz_id": 0}]);
    let with_rules = |rules: Value| json!({"set_attributes": attrs, "set_unique_rules": rules});
    assert!(prepare(with_rules(json!([["owner"], ["bk_biz_id", "owner"]]))).is_ok());
    // Empty, with a repeated field, or naming bk_set_id: each alone is enough.
    refused_as(with_rules(json!([[]])), "set_unique_rules[0]");
    refused_as(
        with_rules(json!([["owner"], ["owner", "owner"]])),
        "set_unique_rules[1]",
    );
    refused_as(with_rules(json!([["bk_set_id"]])), "set_unique_rules[0]");
}

#[test]
fn a_set_template_version_may_be_zero_not_negative() {
    let with_version = |version: i64| {
        json!({
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
            "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
            "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": version,
                               "service_template_ids": [7]}]
        })
    };
    assert!(prepare(with_version(0)).is_ok());
    assert!(prepare(with_version(3)).is_ok());
    refused_as(with_version(-1), "set_templates[0].version");
}

#[test]
fn a_set_template_name_is_taken_once_per_business() {
    let with_templates = |templates: Value| {
        json!({
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"},
                           {"bk_biz_id": 2, "bk_biz_name": "other"}],
            "service_templates": [
                {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2},
                {"id": 8, "bk_biz_id": 2, "name": "nginx", "service_category_id": 2}],
            "set_templates": templates
        })
    };
    let template = |id: i64, biz: i64, name: &str| {
        json!({"id": id, "bk_biz_id": biz, "name": name, "version": 1,
               "service_template_ids": [if biz == 1 { 7 } else { 8 }]})
    };
    // The same name in another business, and another name in the same one, are fine.
    assert!(
        prepare(with_templates(json!([
            template(1, 1, "web"),
            template(9, 2, "web")
        ])))
        .is_ok()
    );
    assert!(
        prepare(with_templates(json!([
            template(1, 1, "web"),
            template(9, 1, "db")
        ])))
        .is_ok()
    );
    // bk-cmdb refuses the second template of a name in one business: so does the load.
    refused_as(
        with_templates(json!([
            template(1, 1, "web"),
            template(2, 1, "db"),
            template(9, 1, "web")
        ])),
        "set_templates[2].name",
    );
    // Names are exact: another case is another name.
    assert!(
        prepare(with_templates(json!([
            template(1, 1, "web"),
            template(9, 1, "Web")
        ])))
        .is_ok()
    );
}

#[test]
fn mainline_level_names_are_identifiers() {
    for ok in [json!(["zone"]), json!(["my_zone", "rack2"]), json!([])] {
        assert!(prepare(json!({"mainline": ok})).is_ok(), "{ok}");
    }
    for bad in [
        json!(["my-zone"]),
        json!(["2zone"]),
        json!(["_zone"]),
        json!([""]),
        json!(["set"]),
        json!(["zone", "zone"]),
        json!(["a".repeat(129)]),
    ] {
        refused_as(json!({"mainline": bad}), "mainline");
    }
    assert!(prepare(json!({"mainline": ["a".repeat(128)]})).is_ok());
}
