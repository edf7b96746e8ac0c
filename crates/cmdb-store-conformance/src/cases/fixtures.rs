//! Cases: fixture loads are idempotent, and a refused load writes nothing of its fixture.

use std::collections::BTreeMap;

use cmdb_core::error::{Code, Error};
use cmdb_core::ids::BizId;
use cmdb_core::ports::SetStoreExt;
use serde_json::{Value, json};

use crate::StoreFactory;
use crate::support::{context, create_ok, facts, load, load_ok, sequences, snapshot};

fn rich_fixture() -> Value {
    json!({
        "mainline": ["province"],
        "businesses": [
            {"bk_biz_id": 1, "bk_biz_name": "one"},
            {"bk_biz_id": 2, "bk_biz_name": "two", "archived": true, "create_idle_set": false}
        ],
        "mainline_instances": [
            {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1}
        ],
        "set_attributes": [
            {"bk_property_id": "owner_team", "bk_property_name": "Owner team", "bk_property_type": "singlechar",
             "option": "^[a-z-]+$", "default": null, "ismultiple": false, "bk_biz_id": 0},
            {"bk_property_id": "tier", "bk_property_name": "Tier", "bk_property_type": "enum",
             "option": [{"id": "a", "name": "A", "is_default": true}, {"id": "b", "name": "B"}], "bk_biz_id": 1}
        ],
        "set_unique_rules": [["bk_biz_id", "owner_team"]],
        "service_templates": [
            {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2},
            {"id": 8, "bk_biz_id": 1, "name": "php"}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7, 8],
             "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 500}]}
        ],
        "id_generator": {"set": 4779, "module": 100}
    })
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    [
        "mainline",
        "businesses",
        "mainline_instances",
        "set_attributes",
        "set_unique_rules",
        "service_templates",
        "set_templates",
        "id_generator",
    ]
    .iter()
    .map(|part| {
        let n = pairs.iter().find(|(p, _)| p == part).map_or(0, |(_, n)| *n);
        ((*part).to_owned(), n)
    })
    .collect()
}

/// Loading the same fixture again reports every entity unchanged and writes nothing: the same
/// sequences, the same catalog, the same sets.
pub async fn identical_reload_changes_nothing<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    let all = [
        ("mainline", 1),
        ("businesses", 2),
        ("mainline_instances", 1),
        ("set_attributes", 2),
        ("set_unique_rules", 1),
        ("service_templates", 2),
        ("set_templates", 1),
        ("id_generator", 2),
    ];
    let first = load_ok(store, rich_fixture()).await;
    assert_eq!(first.created, counts(&all));
    assert_eq!(first.unchanged, counts(&[]));
    assert_eq!(sequences(store).await, [4779, 100, 0, 2]);

    let created = create_ok(
        store,
        &context("0"),
        1,
        json!({"bk_parent_id": 50, "bk_set_name": "web", "set_template_id": 1, "owner_team": "ops"}),
    )
    .await;
    assert_eq!(created.set.doc["bk_capacity"], json!(500));
    assert_eq!(created.set.doc["tier"], json!("a"));
    assert_eq!(
        created.modules.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [101, 102]
    );
    let before = snapshot(store, &["0"], &[1, 2]).await;

    let again = load_ok(store, rich_fixture()).await;
    assert_eq!(again.created, counts(&[]));
    // id_generator values at or below the sequences are "unchanged" as well.
    assert_eq!(again.unchanged, counts(&all));
    assert_eq!(snapshot(store, &["0"], &[1, 2]).await, before);
    assert_eq!(sequences(store).await, [4780, 102, 3, 2]);

    // A subset of it is a no-op too; an empty fixture changes nothing.
    let part = load_ok(
        store,
        json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}], "set_unique_rules": [["bk_biz_id", "owner_team"]]}),
    )
    .await;
    assert_eq!(part.created, counts(&[]));
    assert_eq!(
        part.unchanged,
        counts(&[("businesses", 1), ("set_unique_rules", 1)])
    );
    let empty = load_ok(store, json!({})).await;
    assert_eq!((empty.created, empty.unchanged), (counts(&[]), counts(&[])));
    assert_eq!(snapshot(store, &["0"], &[1, 2]).await, before);
}

/// A fixture naming an existing entity with other content is 1199014 naming the entity, and
/// nothing of that fixture is written, including the new entities before the conflicting one
/// (a new business, its idle set, its ids).
pub async fn conflicting_reload_writes_nothing<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, rich_fixture()).await;
    let bizzes = [1, 2, 7, 8];
    let before = snapshot(store, &["0"], &bizzes).await;

    let conflicts = [
        (
            json!({"businesses": [
                {"bk_biz_id": 7, "bk_biz_name": "new"},
                {"bk_biz_id": 1, "bk_biz_name": "other"}
            ]}),
            "business 1",
        ),
        (
            json!({
                "businesses": [{"bk_biz_id": 8, "bk_biz_name": "eight"}],
                "service_templates": [{"id": 20, "bk_biz_id": 8, "name": "redis"}],
                "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 4, "service_template_ids": [7, 8],
                                   "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 500}]}],
                "id_generator": {"set": 9999}
            }),
            "set template 1",
        ),
        (
            json!({
                "businesses": [{"bk_biz_id": 7, "bk_biz_name": "new"}],
                "set_attributes": [
                    {"bk_property_id": "extra", "bk_property_name": "Extra", "bk_property_type": "singlechar", "bk_biz_id": 0},
                    {"bk_property_id": "owner_team", "bk_property_name": "Owner", "bk_property_type": "singlechar",
                     "option": "^[a-z-]+$", "bk_biz_id": 0}
                ]
            }),
            "set attribute owner_team",
        ),
        (
            json!({
                "businesses": [{"bk_biz_id": 7, "bk_biz_name": "new"}],
                "mainline_instances": [
                    {"bk_obj_id": "province", "bk_inst_id": 51, "bk_inst_name": "gx", "bk_biz_id": 7, "bk_parent_id": 7},
                    {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "renamed", "bk_biz_id": 1, "bk_parent_id": 1}
                ]
            }),
            "mainline instance 50",
        ),
        (
            json!({
                "service_templates": [
                    {"id": 21, "bk_biz_id": 1, "name": "new"},
                    {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 3}
                ]
            }),
            "service template 7",
        ),
    ];
    for (fixture, entity) in conflicts {
        let err = load(store, fixture.clone()).await.unwrap_err();
        assert_eq!(
            err,
            Error::CatalogConflict {
                entity: entity.to_owned()
            },
            "{fixture}"
        );
        assert_eq!(err.code(), Code::DuplicateItem);
        assert_eq!(
            err.to_string(),
            format!("duplicated instances exist, {entity} exists with other content")
        );
        assert_eq!(snapshot(store, &["0"], &bizzes).await, before, "{fixture}");
        assert_eq!(store.business(BizId(7)).await.unwrap(), None);
        assert_eq!(store.mainline_instance(51).await.unwrap(), None);
        assert_eq!(store.service_template(20).await.unwrap(), None);
        assert_eq!(store.service_template(21).await.unwrap(), None);
        assert_eq!(store.set_template(1).await.unwrap().unwrap().version, 3);
    }
    // The refused loads consumed no id: a new business takes the next ones.
    load_ok(
        store,
        json!({"businesses": [{"bk_biz_id": 7, "bk_biz_name": "new"}]}),
    )
    .await;
    assert_eq!(facts(store, "0", 7).await.builtin_set.unwrap().0, 4780);
    assert_eq!(sequences(store).await, [4780, 103, 0, 2]);
}

/// The mainline is fixed by a tenant's first business: a later fixture changing it is 1199006
/// naming `mainline`, and nothing of that fixture is written. Repeating it, or leaving it out,
/// is fine. Tenants are independent.
pub async fn mainline_change_after_businesses_is_refused<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(
        store,
        json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}]}),
    )
    .await;
    assert_eq!(store.mainline("0").await.unwrap(), Vec::<String>::new());
    let before = snapshot(store, &["0", "t2"], &[1, 2, 3, 4]).await;

    let err = load(
        store,
        json!({"mainline": ["province"], "businesses": [{"bk_biz_id": 2, "bk_biz_name": "two"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::invalid("mainline"));
    assert_eq!(err.code().number(), 1_199_006);
    assert_eq!(err.to_string(), "'mainline' the parameter is invalid");
    assert_eq!(snapshot(store, &["0", "t2"], &[1, 2, 3, 4]).await, before);

    let same = load_ok(
        store,
        json!({"mainline": [], "businesses": [{"bk_biz_id": 2, "bk_biz_name": "two"}]}),
    )
    .await;
    assert_eq!(same.unchanged["mainline"], 1);
    assert_eq!(same.created["businesses"], 1);

    // Another tenant sets its own levels once.
    load_ok(
        store,
        json!({"bk_supplier_account": "t2", "mainline": ["zone"], "businesses": [{"bk_biz_id": 3, "bk_biz_name": "three"}]}),
    )
    .await;
    let before = snapshot(store, &["0", "t2"], &[1, 2, 3, 4]).await;
    let err = load(
        store,
        json!({"bk_supplier_account": "t2", "businesses": [{"bk_biz_id": 4, "bk_biz_name": "four"}],
               "mainline": ["zone", "rack"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::invalid("mainline"));
    assert_eq!(snapshot(store, &["0", "t2"], &[1, 2, 3, 4]).await, before);
    load_ok(
        store,
        json!({"bk_supplier_account": "t2", "businesses": [{"bk_biz_id": 4, "bk_biz_name": "four"}]}),
    )
    .await;
    assert_eq!(store.mainline("t2").await.unwrap(), vec!["zone".to_owned()]);
    assert_eq!(store.mainline("0").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        store
            .business(BizId(4))
            .await
            .unwrap()
            .unwrap()
            .bk_supplier_account,
        "t2"
    );
}
