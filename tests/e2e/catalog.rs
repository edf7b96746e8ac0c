//! Fixtures and reads through the engine over every store: load reports, idempotent and
//! conflicting reloads, refused definitions, the idle set of a new business, and the read use
//! cases (find sets, list modules, audit records).

use cmdb_app::Engine;
use cmdb_core::records::ResourceType;
use cmdb_core::{BizId, SetId};
use serde_json::{Value, json};

use crate::support::*;

const TENANT: &str = "123456789";

/// The worked example's fixture.
fn example_fixture() -> Value {
    json!({
        "bk_supplier_account": TENANT,
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3,
                           "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    })
}

/// The fixture of the catalog spec, verbatim.
fn spec_fixture() -> Value {
    json!({
        "bk_supplier_account": "0",
        "id_generator": {"set": 4779, "module": 10000},
        "mainline": ["province"],
        "businesses": [
            {"bk_biz_id": 1, "bk_biz_name": "demo", "archived": false, "create_idle_set": true}
        ],
        "mainline_instances": [
            {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1}
        ],
        "set_attributes": [
            {"bk_property_id": "owner_team", "bk_property_name": "Owner team", "bk_property_type": "singlechar",
             "option": "^[a-z-]+$", "default": null, "ismultiple": false, "bk_biz_id": 0}
        ],
        "set_unique_rules": [["bk_biz_id", "owner_team"]],
        "service_templates": [
            {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7],
             "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 500}]}
        ]
    })
}

/// A load report with these non-zero counts.
fn counts(created: &[(&str, u64)], unchanged: &[(&str, u64)]) -> Value {
    let parts = [
        "mainline",
        "businesses",
        "mainline_instances",
        "set_attributes",
        "set_unique_rules",
        "service_templates",
        "set_templates",
        "id_generator",
    ];
    let map = |given: &[(&str, u64)]| {
        let mut m = serde_json::Map::new();
        for p in parts {
            let n = given.iter().find(|(k, _)| *k == p).map_or(0, |(_, n)| *n);
            m.insert(p.to_owned(), json!(n));
        }
        Value::Object(m)
    };
    json!({"created": map(created), "unchanged": map(unchanged)})
}

/// Loads a fixture that must be refused; returns its code and message.
async fn load_err(engine: &Engine, fixture: Value) -> (i64, String) {
    match engine.load_fixture(fixture.clone(), "admin").await {
        Ok(report) => panic!("{fixture} loaded: {report:?}"),
        Err(f) => (f.code().number(), f.message().to_owned()),
    }
}

/// The idle set of business `biz` (set id `set`) loaded by `admin`.
fn idle_set(set: i64, biz: i64, tenant: &str) -> Value {
    with(
        plain_set(set, biz, biz, "空闲机池", tenant),
        json!({"default": 1, "bk_created_by": "admin", "bk_updated_by": "admin"}),
    )
}

/// The idle modules of set `set` in `biz`, with ids from `first`.
fn idle_modules(first: i64, set: i64, biz: i64, tenant: &str) -> Vec<Value> {
    [("空闲机", 1), ("故障机", 2), ("待回收", 3)]
        .iter()
        .enumerate()
        .map(|(i, (name, default))| {
            json!({
                "bk_module_id": first + i as i64, "bk_module_name": name, "bk_set_id": set,
                "bk_parent_id": set, "bk_biz_id": biz, "service_template_id": 0,
                "set_template_id": 0, "service_category_id": 0, "default": default,
                "host_apply_enabled": false, "bk_supplier_account": tenant,
                "create_time": T, "last_time": T, "bk_created_by": "admin",
                "bk_updated_by": "admin", "bk_created_at": T, "bk_updated_at": T
            })
        })
        .collect()
}

store_tests! {
    /// A set template may override a global custom attribute or one of its own biz, not one
    /// private to another biz (1199006 naming the attribute).
    async fn template_overrides_visible_custom_attributes_only(env) {
        let engine = env.engine();
        let attr = |id: &str, biz: i64| json!({"bk_property_id": id, "bk_property_name": id,
            "bk_property_type": "singlechar", "bk_biz_id": biz});
        let base = json!({
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}, {"bk_biz_id": 2, "bk_biz_name": "two"}],
            "set_attributes": [attr("team", 0), attr("own", 1), attr("other", 2)],
            "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}]
        });
        load(&engine, base).await;
        let template = |id: i64, prop: &str| json!({"set_templates": [{"id": id, "bk_biz_id": 1,
            "name": "t", "version": 1, "service_template_ids": [7],
            "attributes": [{"bk_property_id": prop, "bk_property_value": "x"}]}]});
        load(&engine, template(1, "team")).await;
        load(&engine, template(2, "own")).await;
        assert_eq!(
            load_err(&engine, template(3, "other")).await,
            (1_199_006, "'set_templates[0].attributes.other' the parameter is invalid".to_owned())
        );
    }

    /// The worked example's fixture: counts, the idle set and modules, no audit records, the
    /// raised sequence; a reload changes nothing.
    async fn example_fixture_loads_once(env) {
        let engine = env.engine();
        let created = counts(
            &[("businesses", 1), ("service_templates", 1), ("set_templates", 1), ("id_generator", 1)],
            &[],
        );
        assert_eq!(load(&engine, example_fixture()).await, created);
        assert_eq!(sets(&engine, TENANT, 1).await, vec![idle_set(1, 1, TENANT)]);
        assert_eq!(modules(&engine, TENANT, 1, 1).await, idle_modules(1, 1, 1, TENANT));
        assert_eq!(audits(&engine, TENANT, 1, None).await, Vec::<Value>::new());
        assert_eq!(sequences(&engine).await, [4779, 3, 0]);

        let unchanged = counts(
            &[],
            &[("businesses", 1), ("service_templates", 1), ("set_templates", 1), ("id_generator", 1)],
        );
        let before = snapshot(&engine, TENANT, 1).await;
        assert_eq!(load(&engine, example_fixture()).await, unchanged);
        assert_eq!(snapshot(&engine, TENANT, 1).await, before);

        // After a create, a reload never lowers the sequence.
        let request = req_in(TENANT, 1, json!({"bk_set_name": "a", "bk_parent_id": 1}));
        assert_eq!(create(&engine, &request).await["data"]["bk_set_id"], json!(4780));
        assert_eq!(load(&engine, example_fixture()).await, unchanged);
        assert_eq!(
            load(&engine, json!({"id_generator": {"set": 10, "module": 2, "audit": 0}})).await,
            counts(&[], &[("id_generator", 3)])
        );
        let request = req_in(TENANT, 1, json!({"bk_set_name": "b", "bk_parent_id": 1}));
        assert_eq!(create(&engine, &request).await["data"]["bk_set_id"], json!(4781));
        // Raising works for every sequence.
        assert_eq!(
            load(&engine, json!({"id_generator": {"set": 9000, "module": 500, "audit": 70}})).await,
            counts(&[("id_generator", 3)], &[])
        );
        let request = req_in(TENANT, 1, json!({"bk_set_name": "c", "bk_parent_id": 1, "set_template_id": 1}));
        let created = create(&engine, &request).await;
        assert_eq!(created["data"]["bk_set_id"], json!(9001), "{created}");
        assert_eq!(modules(&engine, TENANT, 1, 9001).await[0]["bk_module_id"], json!(501));
        let last = audits(&engine, TENANT, 1, None).await;
        assert_eq!(last.last().unwrap()["id"], json!(72));
    }

    /// The catalog spec's own fixture: every part counted; a set under the province with the
    /// template; a reload is a no-op.
    async fn spec_fixture_loads(env) {
        let engine = env.engine();
        let all = [
            ("mainline", 1), ("businesses", 1), ("mainline_instances", 1), ("set_attributes", 1),
            ("set_unique_rules", 1), ("service_templates", 1), ("set_templates", 1),
            ("id_generator", 2),
        ];
        assert_eq!(load(&engine, spec_fixture()).await, counts(&all, &[]));
        let request = req(1, json!({"bk_set_name": "gd-web", "bk_parent_id": 50, "set_template_id": 1,
                                    "owner_team": "ops"}));
        let created = create(&engine, &request).await;
        let expected = with(plain_set(4780, 1, 50, "gd-web", "0"), json!({
            "bk_capacity": 500, "set_template_id": 1, "set_template_version": 3,
            "owner_team": "ops"
        }));
        assert_eq!(created, ok(expected));
        let m = modules(&engine, "0", 1, 4780).await;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["bk_module_id"], json!(10001));
        assert_eq!(m[0]["bk_module_name"], json!("nginx"));
        // The parent must be the province, not the biz.
        let under_biz = req(1, json!({"bk_set_name": "x", "bk_parent_id": 1}));
        assert_eq!(
            create(&engine, &under_biz).await,
            fail(1_199_011, "'bk_parent_id' the parameter is invalid or does not exist")
        );
        // The unique rule holds.
        let same_owner = req(1, json!({"bk_set_name": "y", "bk_parent_id": 50, "owner_team": "ops"}));
        assert_eq!(
            create(&engine, &same_owner).await,
            fail(1_199_014, "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated")
        );
        assert_eq!(load(&engine, spec_fixture()).await, counts(&[], &all));
        assert_eq!(sequences(&engine).await, [4780, 10001, 2]);
    }

    /// The same id with other content is 1199014 naming the entity, and nothing of that
    /// fixture is written.
    async fn conflicting_reload(env) {
        let engine = env.engine();
        load(&engine, spec_fixture()).await;
        let before = snapshot(&engine, "0", 1).await;
        let fresh_biz = json!({"bk_biz_id": 2, "bk_biz_name": "new"});
        let cases = [
            (json!({"businesses": [fresh_biz.clone(), {"bk_biz_id": 1, "bk_biz_name": "renamed"}]}),
             "business 1"),
            (json!({"businesses": [fresh_biz.clone(), {"bk_biz_id": 1, "bk_biz_name": "demo",
                                                      "archived": true}]}),
             "business 1"),
            (json!({"businesses": [fresh_biz.clone()],
                    "mainline_instances": [{"bk_obj_id": "province", "bk_inst_id": 50,
                        "bk_inst_name": "gx", "bk_biz_id": 1, "bk_parent_id": 1}]}),
             "mainline instance 50"),
            (json!({"businesses": [fresh_biz.clone()],
                    "set_attributes": [{"bk_property_id": "owner_team", "bk_property_type": "longchar"}]}),
             "set attribute owner_team"),
            (json!({"businesses": [fresh_biz.clone()],
                    "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "apache"}]}),
             "service template 7"),
            (json!({"businesses": [fresh_biz.clone()],
                    "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 4,
                                       "service_template_ids": [7],
                                       "attributes": [{"bk_property_id": "bk_capacity",
                                                       "bk_property_value": 500}]}]}),
             "set template 1"),
        ];
        for (fixture, entity) in cases {
            assert_eq!(
                load_err(&engine, fixture.clone()).await,
                (1_199_014, format!("duplicated instances exist, {entity} exists with other content")),
                "{fixture}"
            );
            // Business 2 was not created, and no id was taken for its idle set.
            let missing = engine.find_sets("0", BizId(2), None).await.unwrap_err();
            assert_eq!(missing.code().number(), 1_199_011);
            assert_eq!(snapshot(&engine, "0", 1).await, before);
        }
        // Without the conflict the same fixture loads.
        assert_eq!(
            load(&engine, json!({"businesses": [fresh_biz]})).await,
            counts(&[("businesses", 1)], &[])
        );
        assert_eq!(sets(&engine, "0", 2).await, vec![idle_set(4780, 2, "0")]);
    }

    /// Refused definitions: a required custom attribute (1101092) and invalid definitions
    /// (1199006 naming them); nothing of the fixture is written.
    async fn refused_definitions(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let before = snapshot(&engine, "0", 3).await;
        let good = json!({"bk_property_id": "good", "bk_property_type": "singlechar"});
        let attr = |def: Value| json!({"set_attributes": [good.clone(), def]});
        assert_eq!(
            load_err(&engine, attr(json!({"bk_property_id": "owner", "bk_property_type": "singlechar",
                                          "isrequired": true}))).await,
            (1_101_092, "'owner' custom attributes of a mainline model may not be required".to_owned())
        );
        let invalid: Vec<(Value, &str)> = vec![
            (attr(json!({"bk_property_id": "p", "bk_property_type": "singlechar", "option": "("})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "singlechar", "option": 5})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "int",
                         "option": {"min": "10", "max": "1"}})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "float",
                         "option": {"min": "x"}})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "enum",
                         "option": [{"id": "1", "name": "a", "is_default": true},
                                    {"id": "2", "name": "b", "is_default": true}]})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "enum", "option": []})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "int", "default": "x"})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "int",
                         "option": {"min": "1", "max": "5"}, "default": 9})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "singlechar",
                         "option": "^[a-z]+$", "default": "ABC"})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "date", "option": "x"})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "bool", "option": {}})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "color"})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "singlechar", "ismultiple": true})), "p"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "list", "option": []})), "p"),
            (attr(json!({"bk_property_id": "bk_set_name", "bk_property_type": "singlechar"})), "bk_set_name"),
            (attr(json!({"bk_property_id": "default", "bk_property_type": "int"})), "default"),
            (attr(json!({"bk_property_id": "bk_set_id", "bk_property_type": "int"})), "bk_set_id"),
            (attr(json!({"bk_property_id": "9x", "bk_property_type": "int"})), "9x"),
            (attr(json!({"bk_property_id": "a-b", "bk_property_type": "int"})), "a-b"),
            (attr(json!({"bk_property_id": "p", "bk_property_type": "int", "bk_biz_id": 77})),
             "set_attributes[1].bk_biz_id"),
            (json!({"set_unique_rules": [["bk_biz_id", "nope"]]}), "set_unique_rules[0].nope"),
            (json!({"set_unique_rules": [[]]}), "set_unique_rules[0]"),
            (json!({"service_templates": [{"id": 40, "bk_biz_id": 77, "name": "x"}]}),
             "service_templates[0].bk_biz_id"),
            (json!({"set_templates": [{"id": 40, "bk_biz_id": 3, "name": "t", "service_template_ids": []}]}),
             "set_templates[0].service_template_ids"),
            (json!({"set_templates": [{"id": 40, "bk_biz_id": 3, "name": "t", "service_template_ids": [11]}]}),
             "set_templates[0].service_template_ids"),
            (json!({"set_templates": [{"id": 40, "bk_biz_id": 3, "name": "t", "service_template_ids": [7],
                    "attributes": [{"bk_property_id": "bk_set_name", "bk_property_value": "x"}]}]}),
             "set_templates[0].attributes.bk_set_name"),
            (json!({"set_templates": [{"id": 40, "bk_biz_id": 3, "name": "t", "service_template_ids": [7],
                    "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 0}]}]}),
             "set_templates[0].attributes.bk_capacity"),
            (json!({"set_templates": [{"id": 40, "bk_biz_id": 3, "name": "t", "service_template_ids": [7],
                    "attributes": [{"bk_property_id": "nope", "bk_property_value": 1}]}]}),
             "set_templates[0].attributes.nope"),
            (json!({"mainline_instances": [{"bk_obj_id": "province", "bk_inst_id": 60,
                    "bk_inst_name": "x", "bk_biz_id": 3, "bk_parent_id": 3}]}),
             "mainline_instances[0].bk_obj_id"),
            (json!({"id_generator": {"foo": 3}}), "id_generator.foo"),
            (json!({"id_generator": {"set": -1}}), "id_generator.set"),
            (json!({"businesses": [{"bk_biz_id": 0, "bk_biz_name": "zero"}]}), "businesses[0].bk_biz_id"),
            (json!({"businesses": [{"bk_biz_id": 8, "bk_biz_name": " "}]}), "businesses[0].bk_biz_name"),
        ];
        for (fixture, name) in invalid {
            assert_eq!(
                load_err(&engine, fixture.clone()).await,
                (1_199_006, format!("'{name}' the parameter is invalid")),
                "{fixture}"
            );
        }
        assert_eq!(snapshot(&engine, "0", 3).await, before);
        // `good` was never stored: it is still an unknown key.
        assert_eq!(
            create(&engine, &req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "good": "x"}))).await,
            fail(1_199_011, "'good' the parameter is invalid or does not exist")
        );
        // Shapes: not an object, unknown fields.
        assert_eq!(
            load_err(&engine, json!([])).await,
            (1_199_000, "Deserializing JSON data failed".to_owned())
        );
        let (code, message) = load_err(&engine, json!({"bogus": 1})).await;
        assert_eq!(code, 1_199_006);
        assert!(message.starts_with("'fixture: unknown field `bogus`"), "{message}");
        let (code, message) = load_err(&engine, json!({"businesses": [{"bk_biz_id": "1"}]})).await;
        assert_eq!(code, 1_199_006);
        assert!(message.starts_with("'fixture: "), "{message}");
    }

    /// The mainline is fixed before the first business; changing it afterwards is refused.
    async fn mainline_is_fixed_once(env) {
        let engine = env.engine();
        load(&engine, json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]})).await;
        assert_eq!(
            load_err(&engine, json!({"mainline": ["province"]})).await,
            (1_199_006, "'mainline' the parameter is invalid".to_owned())
        );
        // Restating it (none) is a no-op.
        assert_eq!(load(&engine, json!({"mainline": []})).await, counts(&[], &[("mainline", 1)]));
        // Another tenant still may choose its own, but only well-formed levels.
        for bad in [json!(["set"]), json!(["a", "a"]), json!(["9x"]), json!(["biz"])] {
            assert_eq!(
                load_err(&engine, json!({"bk_supplier_account": "t", "mainline": bad})).await,
                (1_199_006, "'mainline' the parameter is invalid".to_owned())
            );
        }
        assert_eq!(
            load(&engine, json!({"bk_supplier_account": "t", "mainline": ["region", "zone"]})).await,
            counts(&[("mainline", 1)], &[])
        );
        assert_eq!(
            load_err(&engine, json!({"bk_supplier_account": "t", "mainline": ["region"]})).await,
            (1_199_006, "'mainline' the parameter is invalid".to_owned())
        );
    }

    /// Mainline instances: the top level under the biz, lower levels under an instance of the
    /// level above in the same biz and tenant.
    async fn mainline_instance_placement(env) {
        let engine = env.engine();
        load(&engine, json!({
            "bk_supplier_account": "m",
            "mainline": ["province", "city"],
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "a"}, {"bk_biz_id": 2, "bk_biz_name": "b"}],
            "mainline_instances": [
                {"bk_obj_id": "province", "bk_inst_id": 10, "bk_inst_name": "p", "bk_biz_id": 1, "bk_parent_id": 1},
                {"bk_obj_id": "province", "bk_inst_id": 20, "bk_inst_name": "q", "bk_biz_id": 2, "bk_parent_id": 2}
            ]
        })).await;
        load(&engine, json!({"businesses": [{"bk_biz_id": 3, "bk_biz_name": "other tenant"}]})).await;
        let inst = |obj: &str, id: i64, biz: i64, parent: i64| json!({
            "bk_supplier_account": "m",
            "mainline_instances": [{"bk_obj_id": obj, "bk_inst_id": id, "bk_inst_name": "x",
                                    "bk_biz_id": biz, "bk_parent_id": parent}]
        });
        for (fixture, field) in [
            (inst("province", 30, 1, 2), "bk_parent_id"),
            (inst("city", 30, 1, 1), "bk_parent_id"),
            (inst("city", 30, 1, 20), "bk_parent_id"),
            (inst("city", 30, 1, 99), "bk_parent_id"),
            (inst("town", 30, 1, 10), "bk_obj_id"),
            (inst("province", 30, 3, 3), "bk_biz_id"),
            (inst("province", 30, 77, 77), "bk_biz_id"),
            (inst("province", 0, 1, 1), "bk_inst_id"),
        ] {
            assert_eq!(
                load_err(&engine, fixture.clone()).await,
                (1_199_006, format!("'mainline_instances[0].{field}' the parameter is invalid")),
                "{fixture}"
            );
        }
        assert_eq!(
            load(&engine, inst("city", 30, 1, 10)).await,
            counts(&[("mainline_instances", 1)], &[])
        );
        // A set under the new city.
        let created = create(&engine, &req_in("m", 1, json!({"bk_set_name": "s", "bk_parent_id": 30}))).await;
        assert_eq!(created, ok(plain_set(4, 1, 30, "s", "m")));
    }

    /// A new business gets its idle set and three modules (no audit records); without
    /// `create_idle_set` it gets none.
    async fn business_idle_sets(env) {
        let engine = env.engine();
        load(&engine, json!({"businesses": [
            {"bk_biz_id": 1, "bk_biz_name": "a"},
            {"bk_biz_id": 2, "bk_biz_name": "b", "create_idle_set": false},
            {"bk_biz_id": 3, "bk_biz_name": "c", "archived": true}
        ]})).await;
        assert_eq!(sets(&engine, "0", 1).await, vec![idle_set(1, 1, "0")]);
        assert_eq!(modules(&engine, "0", 1, 1).await, idle_modules(1, 1, 1, "0"));
        assert_eq!(sets(&engine, "0", 2).await, Vec::<Value>::new());
        assert_eq!(sets(&engine, "0", 3).await, vec![idle_set(2, 3, "0")]);
        assert_eq!(modules(&engine, "0", 3, 2).await, idle_modules(4, 2, 3, "0"));
        for biz in [1, 2, 3] {
            assert_eq!(audits(&engine, "0", biz, None).await, Vec::<Value>::new());
        }
        assert_eq!(sequences(&engine).await, [2, 6, 0]);
        // The built-in set counts: business 1 may not get a second one; business 2 may.
        assert_eq!(
            create(&engine, &req(1, json!({"bk_set_name": "p", "bk_parent_id": 1, "default": 1}))).await,
            fail(1_199_054, "operate built-in object forbidden")
        );
        let created = create(&engine, &req(2, json!({"bk_set_name": "p", "bk_parent_id": 2, "default": 1}))).await;
        assert_eq!(created["data"]["default"], json!(1), "{created}");
    }

    /// find_sets, list_modules and audit_records: ordering, lookups, errors, archived reads.
    async fn reads(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let invalid_biz = (1_199_011, "'bk_biz_id' the parameter is invalid or does not exist".to_owned());
        let not_found = (1_199_019, "No relevant data found".to_owned());
        let e = |r: Result<Vec<cmdb_core::records::Document>, cmdb_app::Failure>| {
            let f = r.expect_err("a failure");
            (f.code().number(), f.message().to_owned())
        };
        for name in ["b", "a", "c"] {
            let created = create(&engine, &req(3, json!({"bk_set_name": name, "bk_parent_id": 3,
                                                         "set_template_id": 1}))).await;
            assert_eq!(created["code"], json!(0), "{created}");
        }
        let all = sets(&engine, "0", 3).await;
        let ids: Vec<Value> = all.iter().map(|s| s["bk_set_id"].clone()).collect();
        assert_eq!(ids, vec![json!(2), json!(FIRST_SET), json!(FIRST_SET + 1), json!(FIRST_SET + 2)]);
        let one = engine.find_sets("0", BizId(3), Some(SetId(FIRST_SET + 1))).await.unwrap();
        assert_eq!(vec![Value::Object(one[0].clone())], vec![all[2].clone()]);
        assert_eq!(one.len(), 1);
        assert_eq!(e(engine.find_sets("0", BizId(3), Some(SetId(999))).await), not_found);
        // Set 4 is business 5's idle set.
        assert_eq!(e(engine.find_sets("0", BizId(3), Some(SetId(4))).await), not_found);
        assert_eq!(e(engine.find_sets("0", BizId(77), None).await), invalid_biz);
        assert_eq!(e(engine.find_sets("0", BizId(9), None).await), invalid_biz);
        assert_eq!(e(engine.find_sets("t2", BizId(3), None).await), invalid_biz);
        // Archived business 4 is readable.
        assert_eq!(sets(&engine, "0", 4).await, vec![idle_set(3, 4, "0")]);
        assert_eq!(modules(&engine, "0", 4, 3).await, idle_modules(7, 3, 4, "0"));
        assert_eq!(audits(&engine, "0", 4, None).await, Vec::<Value>::new());

        let m = modules(&engine, "0", 3, FIRST_SET + 1).await;
        let names: Vec<(Value, Value)> = m.iter().map(|m| (m["bk_module_id"].clone(), m["bk_module_name"].clone())).collect();
        assert_eq!(names, vec![
            (json!(FIRST_MODULE + 3), json!("php")),
            (json!(FIRST_MODULE + 4), json!("nginx")),
            (json!(FIRST_MODULE + 5), json!("redis")),
        ]);
        assert_eq!(e(engine.list_modules("0", BizId(3), SetId(999)).await), not_found);
        assert_eq!(e(engine.list_modules("0", BizId(3), SetId(4)).await), not_found);
        assert_eq!(e(engine.list_modules("0", BizId(77), SetId(2)).await), invalid_biz);

        let every = audits(&engine, "0", 3, None).await;
        assert_eq!(every.len(), 12);
        let ids: Vec<i64> = every.iter().map(|a| a["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, (1..=12).collect::<Vec<_>>());
        let of_sets = audits(&engine, "0", 3, Some(ResourceType::Set)).await;
        let set_ids: Vec<Value> = of_sets.iter().map(|a| a["resource_id"].clone()).collect();
        assert_eq!(set_ids, vec![json!(FIRST_SET), json!(FIRST_SET + 1), json!(FIRST_SET + 2)]);
        let of_modules = audits(&engine, "0", 3, Some(ResourceType::Module)).await;
        assert_eq!(of_modules.len(), 9);
        assert!(of_modules.iter().all(|a| a["resource_type"] == json!("module")));
        assert_eq!(
            e(engine.audit_records("0", BizId(77), None).await),
            invalid_biz
        );
        assert_eq!(e(engine.audit_records("t2", BizId(3), None).await), invalid_biz);
        // Another business's records are not mixed in.
        assert_eq!(audits(&engine, "0", 5, None).await, Vec::<Value>::new());
    }
}
