//! `create_set` end to end over every store: the worked example, every failure path of the
//! spec with its exact code and message, templates, built-in sets, parents, names, custom
//! attributes, unique rules, permission and the order of checks.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_app::auth::StaticPolicy;
use cmdb_core::records::ResourceType;
use cmdb_core::rules::keys::UnknownKeys;
use serde_json::{Value, json};

use crate::support::*;

/// The worked example's fixture (spec `worked-example.md`).
fn example_fixture() -> Value {
    json!({
        "bk_supplier_account": "123456789",
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3,
                           "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    })
}

/// The seed's request, unchanged.
fn example_request() -> Value {
    json!({
        "bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_username": "xxx", "bk_token": "xxx",
        "bk_supplier_account": "123456789",
        "bk_biz_id": 1,
        "data": {"bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
                 "bk_capacity": 1000, "description": "description", "set_template_id": 1}
    })
}

/// Sends `request` and asserts the exact failure envelope, and that nothing was written in
/// business 3 of tenant "0" and no id was consumed.
async fn refused(engine: &Engine, request: &Value, code: i64, message: &str) {
    let before = snapshot(engine, "0", 3).await;
    assert_eq!(
        create(engine, request).await,
        fail(code, message),
        "request {request}"
    );
    assert_eq!(
        snapshot(engine, "0", 3).await,
        before,
        "request {request} wrote something"
    );
}

/// A minimal valid data object in business 3.
fn data(name: &str) -> Value {
    json!({"bk_set_name": name, "bk_parent_id": 3})
}

/// Custom set attributes of tenant "0": one of every type, one with a default, and one private
/// to business 3 (loaded after [`load_base`]).
fn attributes_fixture() -> Value {
    json!({"set_attributes": [
        {"bk_property_id": "owner_team", "bk_property_name": "Owner team",
         "bk_property_type": "singlechar", "option": "^[a-z-]+$"},
        {"bk_property_id": "notes", "bk_property_type": "longchar"},
        {"bk_property_id": "rank", "bk_property_type": "int", "option": {"min": "1", "max": "10"}},
        {"bk_property_id": "weight", "bk_property_type": "float",
         "option": {"min": "0", "max": "100"}},
        {"bk_property_id": "tier", "bk_property_type": "enum",
         "option": [{"id": "a", "name": "A", "is_default": false},
                    {"id": "b", "name": "B", "is_default": true}]},
        {"bk_property_id": "tags", "bk_property_type": "enummulti",
         "option": [{"id": "x", "name": "X"}, {"id": "y", "name": "Y"}]},
        {"bk_property_id": "since", "bk_property_type": "date"},
        {"bk_property_id": "checked_at", "bk_property_type": "time"},
        {"bk_property_id": "tz", "bk_property_type": "timezone"},
        {"bk_property_id": "enabled", "bk_property_type": "bool"},
        {"bk_property_id": "maintainer", "bk_property_type": "objuser"},
        {"bk_property_id": "region", "bk_property_type": "list", "option": ["north", "south"]},
        {"bk_property_id": "org", "bk_property_type": "organization"},
        {"bk_property_id": "zone", "bk_property_type": "singlechar", "default": "cn"},
        {"bk_property_id": "shop_only", "bk_property_type": "bool", "bk_biz_id": 3},
        {"bk_property_id": "labels", "bk_property_type": "enummulti", "ismultiple": true,
         "option": [{"id": "x", "name": "X", "is_default": true}, {"id": "y", "name": "Y"},
                    {"id": "z", "name": "Z", "is_default": true}]},
        {"bk_property_id": "owners", "bk_property_type": "objuser", "ismultiple": true},
        {"bk_property_id": "orgs", "bk_property_type": "organization", "ismultiple": true},
        {"bk_property_id": "hits", "bk_property_type": "int", "option": {"min": "", "max": ""}}
    ]})
}

/// The values [`attributes_fixture`] fills in when a create of business 3 sends none.
fn absent_custom_values() -> Value {
    json!({
        "owner_team": "", "notes": "", "rank": null, "weight": null, "tier": "b", "tags": null,
        "since": null, "checked_at": null, "tz": null, "enabled": false, "maintainer": null,
        "region": null, "org": null, "zone": "cn", "shop_only": false, "labels": ["x", "z"],
        "owners": null, "orgs": null, "hits": null
    })
}

/// The mainline tenant "ml": levels province → city; business 20 (idle set 1) with provinces
/// 200 and cities 201, 202; business 21 (idle set 2) with province 210 and city 211;
/// business 22 without an idle set. The next set id is 3.
fn mainline_fixture() -> Value {
    json!({
        "bk_supplier_account": "ml",
        "mainline": ["province", "city"],
        "businesses": [
            {"bk_biz_id": 20, "bk_biz_name": "geo"},
            {"bk_biz_id": 21, "bk_biz_name": "geo2"},
            {"bk_biz_id": 22, "bk_biz_name": "geo3", "create_idle_set": false}
        ],
        "mainline_instances": [
            {"bk_obj_id": "province", "bk_inst_id": 200, "bk_inst_name": "gd", "bk_biz_id": 20,
             "bk_parent_id": 20},
            {"bk_obj_id": "city", "bk_inst_id": 201, "bk_inst_name": "sz", "bk_biz_id": 20,
             "bk_parent_id": 200},
            {"bk_obj_id": "city", "bk_inst_id": 202, "bk_inst_name": "gz", "bk_biz_id": 20,
             "bk_parent_id": 200},
            {"bk_obj_id": "province", "bk_inst_id": 210, "bk_inst_name": "bj", "bk_biz_id": 21,
             "bk_parent_id": 21},
            {"bk_obj_id": "city", "bk_inst_id": 211, "bk_inst_name": "bj-city", "bk_biz_id": 21,
             "bk_parent_id": 210}
        ]
    })
}

store_tests! {
    /// The seed's request on the worked example's fixture: the exact document, module and
    /// audit records; the same request again is 1101108 and writes nothing.
    async fn worked_example(env) {
        let engine = env.engine();
        load(&engine, example_fixture()).await;

        let envelope = engine
            .handle_create_set(example_request().to_string().as_bytes(), None)
            .await;
        let expected_text = format!(
            concat!(
                r#"{{"result":true,"code":0,"message":"","permission":null,"#,
                r#""request_id":"{rid}","data":{{"bk_biz_id":1,"bk_capacity":1000,"#,
                r#""bk_created_at":"{t}","bk_created_by":"xxx","bk_parent_id":1,"#,
                r#""bk_service_status":"1","bk_set_desc":"test-set","bk_set_env":"3","#,
                r#""bk_set_id":4780,"bk_set_name":"test-set","bk_supplier_account":"123456789","#,
                r#""bk_updated_at":"{t}","bk_updated_by":"xxx","create_time":"{t}","default":0,"#,
                r#""description":"description","last_time":"{t}","set_template_id":1,"#,
                r#""set_template_version":3}}}}"#
            ),
            rid = RID,
            t = T
        );
        assert_eq!(envelope.to_json(), expected_text);

        let set = json!({
            "bk_biz_id": 1, "bk_capacity": 1000, "bk_created_at": T, "bk_created_by": "xxx",
            "bk_parent_id": 1, "bk_service_status": "1", "bk_set_desc": "test-set",
            "bk_set_env": "3", "bk_set_id": 4780, "bk_set_name": "test-set",
            "bk_supplier_account": "123456789", "bk_updated_at": T, "bk_updated_by": "xxx",
            "create_time": T, "default": 0, "description": "description", "last_time": T,
            "set_template_id": 1, "set_template_version": 3
        });
        assert_eq!(to_value(&envelope), ok(set.clone()));
        let module = json!({
            "bk_module_id": 4, "bk_module_name": "nginx", "bk_set_id": 4780,
            "bk_parent_id": 4780, "bk_biz_id": 1, "service_template_id": 7,
            "set_template_id": 1, "service_category_id": 2, "default": 0,
            "host_apply_enabled": false, "bk_supplier_account": "123456789",
            "create_time": T, "last_time": T, "bk_created_by": "xxx", "bk_updated_by": "xxx",
            "bk_created_at": T, "bk_updated_at": T
        });
        assert_eq!(modules(&engine, "123456789", 1, 4780).await, vec![module.clone()]);
        let audit = |id: i64, kind: &str, rid: i64, name: &str, cur: &Value| {
            json!({
                "id": id, "audit_type": "business_resource", "resource_type": kind,
                "action": "create", "bk_biz_id": 1, "resource_id": rid, "resource_name": name,
                "operation_detail": {"bk_obj_id": kind, "details": {
                    "pre_data": null, "cur_data": cur, "update_fields": null}},
                "operate_from": "user", "user": "xxx", "code": "esb_test", "rid": RID,
                "operation_time": T, "bk_supplier_account": "123456789"
            })
        };
        assert_eq!(
            audits(&engine, "123456789", 1, None).await,
            vec![
                audit(1, "set", 4780, "test-set", &set),
                audit(2, "module", 4, "nginx", &module)
            ]
        );
        let stored: Vec<i64> = sets(&engine, "123456789", 1)
            .await
            .iter()
            .map(|s| s["bk_set_id"].as_i64().unwrap())
            .collect();
        assert_eq!(stored, vec![1, 4780]);
        assert_eq!(sequences(&engine).await, [4780, 4, 2]);

        let before = snapshot(&engine, "123456789", 1).await;
        assert_eq!(
            create(&engine, &example_request()).await,
            fail(1_101_108, "the same set name exist")
        );
        assert_eq!(snapshot(&engine, "123456789", 1).await, before);
    }

    /// A set with only the required keys gets every default; the library call returns the
    /// same document as the envelope.
    async fn defaults_are_filled(env) {
        let engine = env.engine();
        load_base(&engine).await;
        assert_eq!(
            create(&engine, &req(3, data("web-01"))).await,
            ok(plain_set(FIRST_SET, 3, 3, "web-01", "0"))
        );
        // Without bk_app_code the audit record's `code` is "".
        let request = json!({"bk_username": "alice", "bk_biz_id": 3, "data": data("web-02")});
        let created = create(&engine, &request).await;
        assert_eq!(created["code"], json!(0), "{created}");
        let records = audits(&engine, "0", 3, Some(ResourceType::Set)).await;
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["code"], json!(""));
        assert_eq!(records[1]["user"], json!("alice"));
        assert_eq!(records[1]["resource_id"], json!(FIRST_SET + 1));
        assert_eq!(created["data"]["bk_created_by"], json!("alice"));
        // "03" means business 3.
        let created = create(&engine, &with(req(3, data("web-03")), json!({"bk_biz_id": "03"}))).await;
        assert_eq!(created, ok(plain_set(FIRST_SET + 2, 3, 3, "web-03", "0")));
        assert_eq!(
            sets(&engine, "0", 3).await.last().unwrap(),
            &plain_set(FIRST_SET + 2, 3, 3, "web-03", "0")
        );
    }

    /// Section 1: bodies that are not JSON objects, over 1 MiB or deeper than 64 levels.
    async fn body_limits(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let bodies: [&[u8]; 10] = [
            b"", b"{", b"nul", b"null", b"[]", b"3", b"\"x\"", b"{\"a\":1}x", b"\xff\xfe",
            b"{\"bk_username\": \"u\",}",
        ];
        for body in bodies {
            assert_eq!(
                create_raw(&engine, body).await,
                fail(1_199_000, "Deserializing JSON data failed"),
                "body {:?}",
                String::from_utf8_lossy(body)
            );
        }
        // Exactly 1 MiB is parsed (the name is then too long); one byte more is refused.
        let prefix = r#"{"bk_username":"u","bk_biz_id":3,"data":{"bk_parent_id":3,"bk_set_name":""#;
        let suffix = r#""}}"#;
        let fill = (1 << 20) - prefix.len() - suffix.len();
        let body = format!("{prefix}{}{suffix}", "a".repeat(fill));
        assert_eq!(body.len(), 1 << 20);
        assert_eq!(
            create_raw(&engine, body.as_bytes()).await,
            fail(1_199_015, "'bk_set_name' exceeds the maximum length")
        );
        let body = format!("{prefix}{}{suffix}", "a".repeat(fill + 1));
        assert_eq!(
            create_raw(&engine, body.as_bytes()).await,
            fail(1_199_000, "Deserializing JSON data failed: body exceeds 1 MiB")
        );
        // 64 levels are parsed (the unknown key is then reported); 65 are refused.
        let nested = |arrays: usize| {
            format!(
                r#"{{"bk_username":"u","bk_biz_id":3,"data":{{"bk_set_name":"a","bk_parent_id":3,"x":{}{}}}}}"#,
                "[".repeat(arrays),
                "]".repeat(arrays)
            )
        };
        assert_eq!(
            create_raw(&engine, nested(62).as_bytes()).await,
            fail(1_199_011, "'x' the parameter is invalid or does not exist")
        );
        assert_eq!(
            create_raw(&engine, nested(63).as_bytes()).await,
            fail(1_199_000, "Deserializing JSON data failed: nested deeper than 64 levels")
        );
        // Brackets inside strings do not count.
        let in_string = format!(
            r#"{{"bk_username":"u","bk_biz_id":3,"data":{{"bk_set_name":"a","bk_parent_id":3,"bk_set_desc":"{}"}}}}"#,
            "[".repeat(100)
        );
        let created = create_raw(&engine, in_string.as_bytes()).await;
        assert_eq!(created["code"], json!(0), "{created}");
        assert_eq!(created["data"]["bk_set_desc"], json!("[".repeat(100)));
    }

    /// Section 1: the envelope fields, in their order (user, biz id, data).
    async fn envelope_fields(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let no_user = "'user' authorization information query failed";
        for request in [
            json!({"bk_biz_id": 3, "data": data("a")}),
            json!({"bk_username": "", "bk_biz_id": 3, "data": data("a")}),
            json!({"bk_username": "  ", "bk_biz_id": 3, "data": data("a")}),
            json!({"bk_username": null, "bk_biz_id": 3, "data": data("a")}),
            json!({"bk_username": 7, "bk_biz_id": 3, "data": data("a")}),
            // The user is checked first.
            json!({"bk_biz_id": "x"}),
        ] {
            refused(&engine, &request, 1_199_027, no_user).await;
        }
        let base = json!({"bk_username": "xxx", "data": data("a")});
        refused(&engine, &base, 1_199_010, "'bk_biz_id' unassigned").await;
        refused(&engine, &with(base.clone(), json!({"bk_biz_id": null})), 1_199_010,
            "'bk_biz_id' unassigned").await;
        for biz in [
            json!("-3"), json!("+3"), json!(" 1"), json!("3 "), json!(""), json!("3.0"),
            json!(3.0), json!(1e20), json!(-1e20), json!(u64::MAX), json!("9223372036854775808"),
            json!("99999999999999999999"), json!(true), json!([3]), json!({"id": 3}),
        ] {
            refused(&engine, &with(base.clone(), json!({"bk_biz_id": biz})), 1_199_009,
                "'bk_biz_id' parameters must be integral").await;
        }
        for biz in [json!(0), json!(-3), json!("0"), json!("000")] {
            refused(&engine, &with(base.clone(), json!({"bk_biz_id": biz})), 1_199_011,
                "'bk_biz_id' the parameter is invalid or does not exist").await;
        }
        let no_data = json!({"bk_username": "xxx", "bk_biz_id": 3});
        refused(&engine, &no_data, 1_199_010, "'data' unassigned").await;
        refused(&engine, &with(no_data.clone(), json!({"data": null})), 1_199_010,
            "'data' unassigned").await;
        for bad in [json!([]), json!("x"), json!(1), json!(true), json!([{"bk_set_name": "a"}])] {
            refused(&engine, &with(no_data.clone(), json!({"data": bad})), 1_199_006,
                "'data' the parameter is invalid").await;
        }
        // The biz id is checked before data.
        refused(&engine, &json!({"bk_username": "xxx", "bk_biz_id": "x", "data": 1}), 1_199_009,
            "'bk_biz_id' parameters must be integral").await;
    }

    /// Section 4 step 3: unknown, other-tenant and archived businesses.
    async fn business_must_exist_here(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let msg = "'bk_biz_id' the parameter is invalid or does not exist";
        refused(&engine, &req(77, json!({"bk_set_name": "a", "bk_parent_id": 77})), 1_199_011, msg).await;
        // Business 9 lives in tenant t2.
        refused(&engine, &req(9, json!({"bk_set_name": "a", "bk_parent_id": 9})), 1_199_011, msg).await;
        // Business 3 lives in tenant 0, not t2.
        refused(&engine, &req_in("t2", 3, data("a")), 1_199_011, msg).await;
        // Archived.
        refused(&engine, &req(4, json!({"bk_set_name": "a", "bk_parent_id": 4})), 1_199_011, msg).await;
        // The same request in the right tenant works, and the tenant is the request's.
        let created = create(&engine, &req_in("t2", 9, json!({"bk_set_name": "a", "bk_parent_id": 9}))).await;
        assert_eq!(created, ok(plain_set(FIRST_SET, 9, 9, "a", "t2")));
        // An empty supplier account means "0".
        let created = create(&engine, &req_in("", 3, data("a"))).await;
        assert_eq!(created, ok(plain_set(FIRST_SET + 1, 3, 3, "a", "0")));
    }

    /// Section 8: unknown keys are refused by default and dropped by option; server-owned keys
    /// are overwritten; `metadata` is dropped.
    async fn keys_the_client_sends(env) {
        let engine = env.engine();
        load_base(&engine).await;
        for key in ["zeta", "bk_obj_id", "bk_inst_id", "bk_module_id", "Bk_set_name", "shop_only"] {
            let request = req(3, with(data("a"), json!({key: 1})));
            refused(&engine, &request, 1_199_011,
                &format!("'{key}' the parameter is invalid or does not exist")).await;
        }
        let owned = json!({
            "bk_biz_id": 99, "bk_supplier_account": "evil", "bk_set_id": 5000,
            "create_time": "x", "last_time": 1, "bk_created_at": null, "bk_updated_at": [1],
            "bk_created_by": "mallory", "bk_updated_by": {"a": 1}, "set_template_version": 9,
            "metadata": {"label": {"bk_biz_id": "3"}}
        });
        assert_eq!(
            create(&engine, &req(3, with(data("a"), owned.clone()))).await,
            ok(plain_set(FIRST_SET, 3, 3, "a", "0"))
        );
        let dropping = env.builder().unknown_keys(UnknownKeys::Drop).build();
        let extra = with(owned, json!({"zeta": 1, "bk_obj_id": "set", "bk_inst_id": 4}));
        assert_eq!(
            create(&dropping, &req(3, with(data("b"), extra))).await,
            ok(plain_set(FIRST_SET + 1, 3, 3, "b", "0"))
        );
        assert_eq!(
            sets(&engine, "0", 3).await[1..].to_vec(),
            vec![plain_set(FIRST_SET, 3, 3, "a", "0"), plain_set(FIRST_SET + 1, 3, 3, "b", "0")]
        );
        // Dropping does not drop attributes: invalid values are still refused.
        assert_eq!(
            create(&dropping, &req(3, with(data("c"), json!({"bk_set_env": "9", "zeta": 1})))).await,
            fail(1_199_006, "'bk_set_env' the parameter is invalid")
        );
    }

    /// Section 4 step 5: `bk_set_name` and `bk_parent_id` are required.
    async fn required_keys(env) {
        let engine = env.engine();
        load_base(&engine).await;
        refused(&engine, &req(3, json!({"bk_parent_id": 3})), 1_199_010, "'bk_set_name' unassigned").await;
        // An explicit null is present, then refused by its own rule (spec section 14).
        refused(&engine, &req(3, json!({"bk_set_name": null, "bk_parent_id": 3})), 1_199_007,
            "'bk_set_name' must be a string").await;
        refused(&engine, &req(3, json!({"bk_set_name": "a"})), 1_199_010, "'bk_parent_id' unassigned").await;
        refused(&engine, &req(3, json!({"bk_set_name": "a", "bk_parent_id": null})), 1_199_006,
            "'bk_parent_id' the parameter is invalid").await;
        refused(&engine, &req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "set_template_id": null})),
            1_199_006, "'set_template_id' the parameter is invalid").await;
        refused(&engine, &req(3, json!({})), 1_199_010, "'bk_set_name' unassigned").await;
        refused(&engine, &req(3, json!({"metadata": 1})), 1_199_010, "'bk_set_name' unassigned").await;
    }

    /// Section 9: `default`, built-in sets and templates.
    async fn builtin_sets(env) {
        let engine = env.engine();
        load_base(&engine).await;
        for bad in [json!(2), json!(-1), json!("01"), json!(" 1"), json!(1.0), json!(true),
                    json!(null), json!("x"), json!([1])] {
            refused(&engine, &req(3, with(data("a"), json!({"default": bad}))), 1_199_006,
                "'default' the parameter is invalid").await;
        }
        // Business 3 has its idle pool already.
        for one in [json!(1), json!("1")] {
            refused(&engine, &req(3, with(data("a"), json!({"default": one}))), 1_199_054,
                "operate built-in object forbidden").await;
        }
        // A built-in set with a template is refused whether or not the template exists.
        let bare = |extra: Value| req(6, with(json!({"bk_set_name": "pool", "bk_parent_id": 6}), extra));
        for template in [json!(1), json!(999)] {
            assert_eq!(
                create(&engine, &bare(json!({"default": 1, "set_template_id": template}))).await,
                fail(1_199_006, "'set_template_id' the parameter is invalid")
            );
        }
        // Business 6 has none: its first built-in set is created, a second is refused.
        assert_eq!(
            create(&engine, &bare(json!({"default": "1", "set_template_id": 0}))).await,
            ok(with(plain_set(FIRST_SET, 6, 6, "pool", "0"), json!({"default": 1})))
        );
        assert_eq!(
            create(&engine, &bare(json!({"default": 1, "bk_set_name": "pool2"}))).await,
            fail(1_199_054, "operate built-in object forbidden")
        );
        // `default` 0 and "0" are a normal set.
        for (i, zero) in [json!(0), json!("0")].into_iter().enumerate() {
            let name = format!("n{i}");
            assert_eq!(
                create(&engine, &bare(json!({"default": zero, "bk_set_name": name}))).await,
                ok(plain_set(FIRST_SET + 1 + i as i64, 6, 6, &name, "0"))
            );
        }
        // The idle pool's name is taken under business 3.
        refused(&engine, &req(3, data("空闲机池")), 1_101_108, "the same set name exist").await;
    }

    /// Section 7: template ids, lookups, overrides, version and modules.
    async fn templates(env) {
        let engine = env.engine();
        load_base(&engine).await;
        for bad in [json!(-1), json!("1"), json!(1.5), json!(1.0), json!(true), json!([1]),
                    json!({"id": 1})] {
            refused(&engine, &req(3, with(data("a"), json!({"set_template_id": bad}))), 1_199_006,
                "'set_template_id' the parameter is invalid").await;
        }
        // Unknown, and of another business (template 2 belongs to business 5).
        for id in [999, 2] {
            refused(&engine, &req(3, with(data("a"), json!({"set_template_id": id}))), 1_199_019,
                "No relevant data found").await;
        }
        // Template 1 of business 3 from tenant t2's business 9.
        assert_eq!(
            create(&engine, &req_in("t2", 9, json!({"bk_set_name": "a", "bk_parent_id": 9,
                "set_template_id": 1}))).await,
            fail(1_199_019, "No relevant data found")
        );

        let request = req(3, json!({"bk_set_name": "web", "bk_parent_id": 3, "set_template_id": 1,
            "bk_capacity": 1000, "bk_set_env": "2", "set_template_version": 1}));
        let set = with(plain_set(FIRST_SET, 3, 3, "web", "0"), json!({
            "bk_capacity": 500, "bk_set_env": "1", "set_template_id": 1,
            "set_template_version": 3
        }));
        assert_eq!(create(&engine, &request).await, ok(set.clone()));
        let module = |offset: i64, service: i64, name: &str, category: i64| {
            json!({
                "bk_module_id": FIRST_MODULE + offset, "bk_module_name": name,
                "bk_set_id": FIRST_SET, "bk_parent_id": FIRST_SET, "bk_biz_id": 3,
                "service_template_id": service, "set_template_id": 1,
                "service_category_id": category, "default": 0, "host_apply_enabled": false,
                "bk_supplier_account": "0", "create_time": T, "last_time": T,
                "bk_created_by": "xxx", "bk_updated_by": "xxx", "bk_created_at": T,
                "bk_updated_at": T
            })
        };
        let expected_modules = vec![
            module(0, 5, "php", 3),
            module(1, 7, "nginx", 2),
            module(2, 9, "redis", 4),
        ];
        assert_eq!(modules(&engine, "0", 3, FIRST_SET).await, expected_modules);
        let records = audits(&engine, "0", 3, None).await;
        let summary: Vec<(i64, &str, i64, &str)> = records
            .iter()
            .map(|r| (
                r["id"].as_i64().unwrap(),
                r["resource_type"].as_str().unwrap(),
                r["resource_id"].as_i64().unwrap(),
                r["resource_name"].as_str().unwrap(),
            ))
            .collect();
        assert_eq!(summary, vec![
            (1, "set", FIRST_SET, "web"),
            (2, "module", FIRST_MODULE, "php"),
            (3, "module", FIRST_MODULE + 1, "nginx"),
            (4, "module", FIRST_MODULE + 2, "redis"),
        ]);
        assert_eq!(records[0]["operation_detail"]["details"]["cur_data"], set);
        for (record, module) in records[1..].iter().zip(&expected_modules) {
            assert_eq!(record["operation_detail"]["details"]["cur_data"], *module);
            assert_eq!(record["operation_detail"]["bk_obj_id"], json!("module"));
        }
        assert_eq!(
            audits(&engine, "0", 3, Some(ResourceType::Module)).await,
            records[1..].to_vec()
        );
        // The template's name is taken under the parent like any other; nothing is written.
        refused(&engine, &request, 1_101_108, "the same set name exist").await;
        // A template's values are validated like the client's: the client's invalid env is
        // replaced by the template's, its invalid capacity too.
        let created = create(&engine, &req(3, json!({"bk_set_name": "web2", "bk_parent_id": 3,
            "set_template_id": 1, "bk_capacity": "x", "bk_set_env": "9"}))).await;
        assert_eq!(created["data"]["bk_capacity"], json!(500), "{created}");
        assert_eq!(created["data"]["bk_set_env"], json!("1"), "{created}");
        assert_eq!(modules(&engine, "0", 3, FIRST_SET + 1).await.len(), 3);
        // set_template_id 0 means no template.
        for (i, none) in [json!(0)].into_iter().enumerate() {
            let name = format!("plain{i}");
            assert_eq!(
                create(&engine, &req(3, with(data(&name), json!({"set_template_id": none})))).await,
                ok(plain_set(FIRST_SET + 2 + i as i64, 3, 3, &name, "0"))
            );
            assert_eq!(modules(&engine, "0", 3, FIRST_SET + 2 + i as i64).await, Vec::<Value>::new());
        }
    }

    /// Section 5 without custom levels: the parent is the biz.
    async fn parent_is_the_biz(env) {
        let engine = env.engine();
        load_base(&engine).await;
        for bad in [json!("3"), json!(3.0), json!(0), json!(-3), json!(true), json!([3]),
                    json!({"id": 3})] {
            refused(&engine, &req(3, json!({"bk_set_name": "a", "bk_parent_id": bad})), 1_199_006,
                "'bk_parent_id' the parameter is invalid").await;
        }
        let msg = "'bk_parent_id' the parameter is invalid or does not exist";
        // Another business, an idle set id, an id that names nothing.
        for parent in [5, 2, 999] {
            refused(&engine, &req(3, json!({"bk_set_name": "a", "bk_parent_id": parent})),
                1_199_011, msg).await;
        }
        assert_eq!(create(&engine, &req(3, data("a"))).await, ok(plain_set(FIRST_SET, 3, 3, "a", "0")));
        // The same name in another business is fine.
        assert_eq!(
            create(&engine, &req(5, json!({"bk_set_name": "a", "bk_parent_id": 5}))).await,
            ok(plain_set(FIRST_SET + 1, 5, 5, "a", "0"))
        );
    }

    /// Section 5 with custom levels: only an instance of the lowest level of the same biz.
    async fn parent_with_mainline_levels(env) {
        let engine = env.engine();
        load(&engine, mainline_fixture()).await;
        let r = |biz: i64, data: Value| req_in("ml", biz, data);
        let msg = "'bk_parent_id' the parameter is invalid or does not exist";
        for parent in [20, 200, 211, 210, 999, 1] {
            assert_eq!(
                create(&engine, &r(20, json!({"bk_set_name": "a", "bk_parent_id": parent}))).await,
                fail(1_199_011, msg),
                "parent {parent}"
            );
        }
        assert_eq!(
            create(&engine, &r(20, json!({"bk_set_name": "a", "bk_parent_id": 201}))).await,
            ok(plain_set(3, 20, 201, "a", "ml"))
        );
        // The same name under another city is fine; under the same city it is not.
        assert_eq!(
            create(&engine, &r(20, json!({"bk_set_name": "a", "bk_parent_id": 202}))).await,
            ok(plain_set(4, 20, 202, "a", "ml"))
        );
        assert_eq!(
            create(&engine, &r(20, json!({"bk_set_name": "a", "bk_parent_id": 201}))).await,
            fail(1_101_108, "the same set name exist")
        );
        // A city of business 20 from business 21.
        assert_eq!(
            create(&engine, &r(21, json!({"bk_set_name": "b", "bk_parent_id": 201}))).await,
            fail(1_199_011, msg)
        );
        // A built-in set hangs under the biz, even with levels.
        assert_eq!(
            create(&engine, &r(22, json!({"bk_set_name": "pool", "bk_parent_id": 201, "default": 1}))).await,
            fail(1_199_011, msg)
        );
        assert_eq!(
            create(&engine, &r(22, json!({"bk_set_name": "pool", "bk_parent_id": 22, "default": 1}))).await,
            ok(with(plain_set(5, 22, 22, "pool", "ml"), json!({"default": 1})))
        );
        // Levels are per tenant: tenant 0 has none.
        load(&engine, json!({"businesses": [{"bk_biz_id": 30, "bk_biz_name": "flat"}]})).await;
        assert_eq!(
            create(&engine, &req(30, json!({"bk_set_name": "a", "bk_parent_id": 30}))).await,
            ok(plain_set(7, 30, 30, "a", "0"))
        );
        assert_eq!(sequences(&engine).await[0], 7);
    }

    /// Section 6: the name's rules in order, the trimmed name stored, uniqueness per parent.
    async fn set_names(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let name = |v: Value| req(3, json!({"bk_set_name": v, "bk_parent_id": 3}));
        for bad in [json!(5), json!(["a"]), json!({"a": 1}), json!(true)] {
            refused(&engine, &name(bad), 1_199_007, "'bk_set_name' must be a string").await;
        }
        for blank in ["", "   ", "\u{3000}", "\t\n"] {
            refused(&engine, &name(json!(blank)), 1_199_010, "'bk_set_name' unassigned").await;
        }
        for long in ["a".repeat(257), "集".repeat(86), format!("{} x", "a".repeat(300))] {
            refused(&engine, &name(json!(long)), 1_199_015,
                "'bk_set_name' exceeds the maximum length").await;
        }
        for c in ['\\', '|', '/', ':', '*', ',', '<', '>', '"', '?', '#', ' ', '\t', '\u{3000}',
                  '\u{a0}', '\n'] {
            refused(&engine, &name(json!(format!("a{c}b"))), 1_199_006,
                "'bk_set_name' the parameter is invalid").await;
        }
        assert_eq!(
            create(&engine, &name(json!("  web-01\t"))).await,
            ok(plain_set(FIRST_SET, 3, 3, "web-01", "0"))
        );
        assert_eq!(
            create(&engine, &name(json!("\u{3000}集群\u{3000}"))).await,
            ok(plain_set(FIRST_SET + 1, 3, 3, "集群", "0"))
        );
        let longest = "a".repeat(256);
        assert_eq!(
            create(&engine, &name(json!(longest))).await,
            ok(plain_set(FIRST_SET + 2, 3, 3, &longest, "0"))
        );
        refused(&engine, &name(json!("web-01")), 1_101_108, "the same set name exist").await;
        refused(&engine, &name(json!(" web-01 ")), 1_101_108, "the same set name exist").await;
        // Case sensitive.
        assert_eq!(
            create(&engine, &name(json!("Web-01"))).await,
            ok(plain_set(FIRST_SET + 3, 3, 3, "Web-01", "0"))
        );
    }

    /// Section 3: every attribute type's rejections through the full path, and accepted values
    /// stored normalized.
    async fn attribute_types(env) {
        let engine = env.engine();
        load_base(&engine).await;
        load(&engine, attributes_fixture()).await;
        let cases: Vec<(&str, Value, i64, &str)> = vec![
            ("owner_team", json!(5), 1_199_007, "must be a string"),
            ("owner_team", json!("a".repeat(257)), 1_199_015, "exceeds the maximum length"),
            ("owner_team", json!("Ops"), 1_199_016, "regular verification failed"),
            ("notes", json!(["x"]), 1_199_007, "must be a string"),
            ("notes", json!("n".repeat(2001)), 1_199_015, "exceeds the maximum length"),
            ("bk_set_desc", json!(1), 1_199_007, "must be a string"),
            ("bk_set_desc", json!("d".repeat(257)), 1_199_015, "exceeds the maximum length"),
            ("description", json!("d".repeat(2001)), 1_199_015, "exceeds the maximum length"),
            ("bk_capacity", json!("5"), 1_199_009, "parameters must be integral"),
            ("bk_capacity", json!(1.5), 1_199_009, "parameters must be integral"),
            ("bk_capacity", json!(15.0), 1_199_009, "parameters must be integral"),
            ("bk_capacity", json!(true), 1_199_009, "parameters must be integral"),
            ("bk_capacity", json!(u64::MAX), 1_199_009, "parameters must be integral"),
            ("bk_capacity", json!(0), 1_199_006, "the parameter is invalid"),
            ("bk_capacity", json!(1_000_000_000), 1_199_006, "the parameter is invalid"),
            ("bk_set_env", json!("4"), 1_199_006, "the parameter is invalid"),
            ("bk_set_env", json!(3), 1_199_006, "the parameter is invalid"),
            ("bk_service_status", json!("3"), 1_199_006, "the parameter is invalid"),
            ("rank", json!(11), 1_199_006, "the parameter is invalid"),
            ("rank", json!(0), 1_199_006, "the parameter is invalid"),
            ("rank", json!("3"), 1_199_009, "parameters must be integral"),
            ("weight", json!("abc"), 1_199_006, "the parameter is invalid"),
            ("weight", json!(100.5), 1_199_006, "the parameter is invalid"),
            ("weight", json!("inf"), 1_199_006, "the parameter is invalid"),
            ("weight", json!(true), 1_199_006, "the parameter is invalid"),
            ("tier", json!("c"), 1_199_006, "the parameter is invalid"),
            ("tier", json!("A"), 1_199_006, "the parameter is invalid"),
            ("tags", json!(["x", "y"]), 1_199_092, "allows a single choice only"),
            ("tags", json!([]), 1_199_092, "allows a single choice only"),
            ("tags", json!(["z"]), 1_199_006, "the parameter is invalid"),
            ("tags", json!("x"), 1_199_006, "the parameter is invalid"),
            ("since", json!("2024-02-30"), 1_199_006, "the parameter is invalid"),
            ("since", json!("2024-2-3"), 1_199_006, "the parameter is invalid"),
            ("since", json!(20_240_101), 1_199_006, "the parameter is invalid"),
            ("checked_at", json!("2024-13-01 00:00:00"), 1_199_006, "the parameter is invalid"),
            ("checked_at", json!("yesterday"), 1_199_006, "the parameter is invalid"),
            ("tz", json!("Asia/Shang hai"), 1_199_024, "must be a time zone"),
            ("tz", json!(8), 1_199_024, "must be a time zone"),
            ("enabled", json!("true"), 1_199_025, "must be a bool"),
            ("enabled", json!(1), 1_199_025, "must be a bool"),
            ("maintainer", json!(7), 1_199_007, "must be a string"),
            ("maintainer", json!("x".repeat(2001)), 1_199_015, "exceeds the maximum length"),
            ("maintainer", json!("bad name"), 1_199_016, "regular verification failed"),
            ("maintainer", json!("alice,bob"), 1_199_006, "the parameter is invalid"),
            ("region", json!("east"), 1_199_006, "the parameter is invalid"),
            ("region", json!(["north"]), 1_199_006, "the parameter is invalid"),
            ("org", json!([1, 2]), 1_199_006, "the parameter is invalid"),
            ("org", json!([]), 1_199_006, "the parameter is invalid"),
            ("org", json!(["1"]), 1_199_006, "the parameter is invalid"),
            ("org", json!(1), 1_199_006, "the parameter is invalid"),
            ("shop_only", json!("yes"), 1_199_025, "must be a bool"),
            ("labels", json!(["x", "x"]), 1_199_006, "the parameter is invalid"),
            ("labels", json!(["x", "w"]), 1_199_006, "the parameter is invalid"),
            ("owners", json!("alice, bob"), 1_199_016, "regular verification failed"),
            ("orgs", json!([1, 1]), 1_199_006, "the parameter is invalid"),
            ("orgs", json!([1.5]), 1_199_006, "the parameter is invalid"),
            ("hits", json!(1e30), 1_199_009, "parameters must be integral"),
            ("hits", json!("1"), 1_199_009, "parameters must be integral"),
        ];
        for (field, value, code, text) in cases {
            refused(&engine, &req(3, with(data("a"), json!({field: value}))), code,
                &format!("'{field}' {text}")).await;
        }

        // Nothing sent: every custom attribute filled.
        assert_eq!(
            create(&engine, &req(3, data("absent"))).await,
            ok(with(plain_set(FIRST_SET, 3, 3, "absent", "0"), absent_custom_values()))
        );
        // Every value given, stored normalized.
        let given = json!({
            "owner_team": " ops-team ", "notes": "  long text ", "rank": 7, "weight": "1e1",
            "tier": " a ", "tags": ["y"], "since": "2024-02-29", "checked_at": "2024-02-29 12:00:00",
            "tz": "Asia/Shanghai", "enabled": true, "maintainer": " alice ", "region": " north ",
            "org": [12], "zone": "eu", "shop_only": true,
            "bk_set_desc": " d ", "bk_set_env": "1", "bk_service_status": "2",
            "description": "x", "bk_capacity": 999_999_999
        });
        let stored = json!({
            "owner_team": "ops-team", "notes": "long text", "rank": 7, "weight": 10.0,
            "tier": "a", "tags": ["y"], "since": "2024-02-29", "checked_at": "2024-02-29 12:00:00",
            "tz": "Asia/Shanghai", "enabled": true, "maintainer": "alice", "region": "north",
            "org": [12], "zone": "eu", "shop_only": true,
            "bk_set_desc": "d", "bk_set_env": "1", "bk_service_status": "2",
            "description": "x", "bk_capacity": 999_999_999
        });
        let expected = with(
            with(plain_set(FIRST_SET + 1, 3, 3, "given", "0"), absent_custom_values()),
            stored,
        );
        assert_eq!(create(&engine, &req(3, with(data("given"), given))).await, ok(expected.clone()));
        assert_eq!(sets(&engine, "0", 3).await.last().unwrap(), &expected);
        // Null and "" where allowed.
        let empties = json!({
            "owner_team": null, "notes": "", "rank": null, "weight": null, "tier": null,
            "tags": null, "since": "", "checked_at": "", "tz": null, "enabled": null,
            "maintainer": "", "region": null, "org": null, "zone": "", "bk_capacity": null,
            "bk_set_desc": null
        });
        let created = create(&engine, &req(3, with(data("empties"), empties.clone()))).await;
        assert_eq!(
            created,
            ok(with(
                with(plain_set(FIRST_SET + 2, 3, 3, "empties", "0"), absent_custom_values()),
                empties
            ))
        );
        // More accepted forms: float JSON numbers and padded strings, RFC 3339 times, bounds.
        let more = json!({"weight": 2.5, "checked_at": "2024-02-29T12:00:00+08:00", "rank": 1,
                          "bk_capacity": 1, "maintainer": "a.b@c_d-e"});
        let created = create(&engine, &req(3, with(data("more"), more.clone()))).await;
        assert_eq!(
            created,
            ok(with(with(plain_set(FIRST_SET + 3, 3, 3, "more", "0"), absent_custom_values()), more))
        );
        let created = create(&engine, &req(3, with(data("more2"), json!({"weight": " 1.5"})))).await;
        assert_eq!(created["data"]["weight"], json!(1.5), "{created}");
        // Several values where the attribute allows them; unbounded ints take all of i64.
        let multi = json!({"labels": [" y ", "x"], "owners": "alice,bob", "orgs": [3, 1],
                           "hits": i64::MIN, "weight": 3});
        let created = create(&engine, &req(3, with(data("multi"), multi))).await;
        let stored = json!({"labels": ["y", "x"], "owners": "alice,bob", "orgs": [3, 1],
                            "hits": i64::MIN, "weight": 3});
        assert_eq!(
            created,
            ok(with(with(plain_set(FIRST_SET + 5, 3, 3, "multi", "0"), absent_custom_values()), stored))
        );
        let created = create(&engine, &req(3, with(data("max"), json!({"hits": i64::MAX, "labels": []})))).await;
        assert_eq!(created["data"]["hits"], json!(i64::MAX), "{created}");
        assert_eq!(created["data"]["labels"], json!([]), "{created}");
    }

    /// Custom attributes per biz: a private attribute of another biz is an unknown key, and is
    /// not filled there.
    async fn private_attributes(env) {
        let engine = env.engine();
        load_base(&engine).await;
        load(&engine, attributes_fixture()).await;
        let r = |extra: Value| req(5, with(json!({"bk_set_name": "a", "bk_parent_id": 5}), extra));
        assert_eq!(
            create(&engine, &r(json!({"shop_only": true}))).await,
            fail(1_199_011, "'shop_only' the parameter is invalid or does not exist")
        );
        let mut filled = absent_custom_values();
        filled.as_object_mut().unwrap().remove("shop_only");
        assert_eq!(
            create(&engine, &r(json!({}))).await,
            ok(with(plain_set(FIRST_SET, 5, 5, "a", "0"), filled))
        );
        // Sets stored before an attribute is added keep their documents.
        assert_eq!(sets(&engine, "0", 3).await[0]["bk_set_name"], json!("空闲机池"));
        assert!(sets(&engine, "0", 3).await[0].get("owner_team").is_none());
        // A tenant without custom attributes fills none.
        assert_eq!(
            create(&engine, &req_in("t2", 9, json!({"bk_set_name": "a", "bk_parent_id": 9}))).await,
            ok(plain_set(FIRST_SET + 1, 9, 9, "a", "t2"))
        );
    }

    /// Section 6: custom unique rules, null and "" unconstrained, the name rule first.
    async fn custom_unique_rules(env) {
        let engine = env.engine();
        load_base(&engine).await;
        load(&engine, json!({
            "set_attributes": [
                {"bk_property_id": "owner_team", "bk_property_type": "singlechar"},
                {"bk_property_id": "code", "bk_property_type": "int"}
            ],
            "set_unique_rules": [["bk_biz_id", "owner_team"], ["code"]]
        })).await;
        let r = |name: &str, extra: Value| req(3, with(data(name), extra));
        let first = create(&engine, &r("a", json!({"owner_team": "ops", "code": 1}))).await;
        assert_eq!(first["code"], json!(0), "{first}");
        refused(&engine, &r("b", json!({"owner_team": "ops"})), 1_199_014,
            "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated").await;
        refused(&engine, &r("b", json!({"owner_team": " ops "})), 1_199_014,
            "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated").await;
        refused(&engine, &r("b", json!({"code": 1})), 1_199_014,
            "duplicated instances exist, fields [code] duplicated").await;
        // The name rule is checked before custom rules.
        refused(&engine, &r("a", json!({"owner_team": "ops"})), 1_101_108,
            "the same set name exist").await;
        // Null, "" and absent values are not constrained.
        for (i, extra) in [json!({}), json!({}), json!({"owner_team": ""}), json!({"owner_team": null}),
                           json!({"owner_team": "", "code": null})].into_iter().enumerate() {
            let created = create(&engine, &r(&format!("free{i}"), extra)).await;
            assert_eq!(created["code"], json!(0), "{created}");
        }
        // The same owner in another business is another key.
        let other = create(&engine, &req(5, json!({"bk_set_name": "a", "bk_parent_id": 5,
            "owner_team": "ops", "code": 2}))).await;
        assert_eq!(other["code"], json!(0), "{other}");
        assert_eq!(sequences(&engine).await[0], FIRST_SET + 6);
    }

    /// Section 10: the static policy, the exact denial object, and permission before the biz.
    async fn permission(env) {
        let policy = StaticPolicy::from_json(r#"{"allow": {"alice": [3], "root": ["*"]}}"#).unwrap();
        let engine = env.builder().authorizer(Arc::new(policy)).build();
        load_base(&engine).await;
        let as_user = |user: &str, biz: i64, data: Value| {
            json!({"bk_username": user, "bk_biz_id": biz, "data": data})
        };
        let before = snapshot(&engine, "0", 3).await;
        assert_eq!(create(&engine, &as_user("bob", 3, data("a"))).await, denied(3, "shop"));
        assert_eq!(
            create(&engine, &as_user("alice", 5, json!({"bk_set_name": "a", "bk_parent_id": 5}))).await,
            denied(5, "blog")
        );
        // Permission comes before the biz: unknown, archived, other tenant's.
        assert_eq!(create(&engine, &as_user("bob", 77, data("a"))).await, denied(77, ""));
        assert_eq!(create(&engine, &as_user("bob", 4, data("a"))).await, denied(4, "old"));
        assert_eq!(create(&engine, &as_user("bob", 9, data("a"))).await, denied(9, ""));
        // ... and before the data's keys and values.
        assert_eq!(create(&engine, &as_user("bob", 3, json!({"zeta": 1}))).await, denied(3, "shop"));
        // The envelope comes before permission.
        assert_eq!(
            create(&engine, &json!({"bk_username": "bob", "bk_biz_id": 3})).await,
            fail(1_199_010, "'data' unassigned")
        );
        assert_eq!(snapshot(&engine, "0", 3).await, before);
        // Allowed users get through to the rules.
        assert_eq!(
            create(&engine, &as_user("alice", 3, data("a"))).await,
            ok(with(plain_set(FIRST_SET, 3, 3, "a", "0"),
                json!({"bk_created_by": "alice", "bk_updated_by": "alice"})))
        );
        assert_eq!(
            create(&engine, &as_user("root", 77, data("a"))).await,
            fail(1_199_011, "'bk_biz_id' the parameter is invalid or does not exist")
        );
        assert_eq!(
            create(&engine, &as_user("root", 5, json!({"bk_set_name": "a", "bk_parent_id": 5}))).await,
            ok(with(plain_set(FIRST_SET + 1, 5, 5, "a", "0"),
                json!({"bk_created_by": "root", "bk_updated_by": "root"})))
        );
    }

    /// Section 4: with several problems, the first in the fixed order is reported.
    async fn order_of_checks(env) {
        let engine = env.engine();
        load_base(&engine).await;
        load(&engine, attributes_fixture()).await;
        let cases: Vec<(Value, i64, &str)> = vec![
            // biz before keys
            (req(77, json!({"zeta": 1})), 1_199_011,
             "'bk_biz_id' the parameter is invalid or does not exist"),
            // keys before required keys
            (req(3, json!({"zeta": 1})), 1_199_011, "'zeta' the parameter is invalid or does not exist"),
            // required before default
            (req(3, json!({"default": 9, "bk_parent_id": 3})), 1_199_010, "'bk_set_name' unassigned"),
            // default before template
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "default": 9, "set_template_id": -1})),
             1_199_006, "'default' the parameter is invalid"),
            // template before parent
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 99, "set_template_id": 999})),
             1_199_019, "No relevant data found"),
            // parent before attributes
            (req(3, json!({"bk_set_name": "a/b", "bk_parent_id": 99})),
             1_199_011, "'bk_parent_id' the parameter is invalid or does not exist"),
            // name first among attributes
            (req(3, json!({"bk_set_name": "a/b", "bk_parent_id": 3, "bk_set_desc": 1})),
             1_199_006, "'bk_set_name' the parameter is invalid"),
            // built-in model order: desc, env, status, description, capacity
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "bk_set_desc": 1, "bk_set_env": "9"})),
             1_199_007, "'bk_set_desc' must be a string"),
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "bk_capacity": 0, "bk_set_env": "9"})),
             1_199_006, "'bk_set_env' the parameter is invalid"),
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "bk_capacity": 0,
                           "bk_service_status": "9", "description": 1})),
             1_199_006, "'bk_service_status' the parameter is invalid"),
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "bk_capacity": 0, "description": 1})),
             1_199_007, "'description' must be a string"),
            // built-in before custom
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "bk_capacity": 0, "owner_team": 1})),
             1_199_006, "'bk_capacity' the parameter is invalid"),
            // custom in definition order (not alphabetical)
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "tz": "a b", "rank": 0,
                           "owner_team": "X"})),
             1_199_016, "'owner_team' regular verification failed"),
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "tz": "a b", "rank": 0})),
             1_199_006, "'rank' the parameter is invalid"),
            (req(3, json!({"bk_set_name": "a", "bk_parent_id": 3, "org": 1, "enabled": 0,
                           "tz": "a b"})),
             1_199_024, "'tz' must be a time zone"),
            // attributes before uniqueness
            (req(3, json!({"bk_set_name": "空闲机池", "bk_parent_id": 3, "enabled": 0})),
             1_199_025, "'enabled' must be a bool"),
            // built-in before the biz's idle pool name
            (req(3, json!({"bk_set_name": "空闲机池", "bk_parent_id": 3, "default": 1})),
             1_199_054, "operate built-in object forbidden"),
        ];
        for (request, code, message) in cases {
            refused(&engine, &request, code, message).await;
        }
    }

    /// A failed create consumes no id: the next create gets the next id.
    async fn failures_consume_no_ids(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let template = req(3, json!({"bk_set_name": "web", "bk_parent_id": 3, "set_template_id": 1}));
        assert_eq!(create(&engine, &template).await["data"]["bk_set_id"], json!(FIRST_SET));
        for _ in 0..3 {
            assert_eq!(create(&engine, &template).await["code"], json!(1_101_108));
            assert_eq!(create(&engine, &req(3, data("a/b"))).await["code"], json!(1_199_006));
        }
        let next = create(&engine, &req(3, with(data("web2"), json!({"set_template_id": 1})))).await;
        assert_eq!(next["data"]["bk_set_id"], json!(FIRST_SET + 1), "{next}");
        let ids: Vec<Value> = modules(&engine, "0", 3, FIRST_SET + 1)
            .await
            .iter()
            .map(|m| m["bk_module_id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(FIRST_MODULE + 3), json!(FIRST_MODULE + 4), json!(FIRST_MODULE + 5)]);
        let audit_ids: Vec<Value> = audits(&engine, "0", 3, None)
            .await
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        assert_eq!(audit_ids, (1..=8).map(Value::from).collect::<Vec<_>>());
        assert_eq!(sequences(&engine).await, [FIRST_SET + 1, FIRST_MODULE + 5, 8]);
    }

    /// Section 2: the caller's request id goes into the envelope and the audit records; the
    /// library call returns the stored document; without a source, ids are fresh 32-hex.
    async fn request_ids_and_library_api(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let body = req(3, data("a")).to_string();
        let answer = to_value(&engine.handle_create_set(body.as_bytes(), Some("caller-rid".into())).await);
        assert_eq!(
            answer,
            with(ok(plain_set(FIRST_SET, 3, 3, "a", "0")), json!({"request_id": "caller-rid"}))
        );
        assert_eq!(audits(&engine, "0", 3, None).await[0]["rid"], json!("caller-rid"));
        let answer = to_value(&engine.handle_create_set(b"x", Some("r2".into())).await);
        assert_eq!(answer, with(fail(1_199_000, "Deserializing JSON data failed"), json!({"request_id": "r2"})));

        let ctx = cmdb_core::plan::RequestContext {
            user: "lib".into(),
            supplier_account: "0".into(),
            app_code: "app".into(),
            request_id: "lib-rid".into(),
        };
        let created = engine.create_set(&ctx, cmdb_core::BizId(3), &doc(data("b"))).await.unwrap();
        let expected = with(plain_set(FIRST_SET + 1, 3, 3, "b", "0"),
            json!({"bk_created_by": "lib", "bk_updated_by": "lib"}));
        assert_eq!(Value::Object(created), expected);
        let record = audits(&engine, "0", 3, None).await[1].clone();
        assert_eq!((record["rid"].clone(), record["code"].clone(), record["user"].clone()),
                   (json!("lib-rid"), json!("app"), json!("lib")));
        let again = engine.create_set(&ctx, cmdb_core::BizId(3), &doc(data("b"))).await.unwrap_err();
        assert_eq!((again.code().number(), again.message(), again.permission()), (1_101_108, "the same set name exist", None));

        let random = Engine::builder(env.store.clone()).clock(Arc::new(FixedClock)).build();
        let first = create(&random, &req(3, data("a/b"))).await;
        let second = create(&random, &req(3, data("c"))).await;
        let ids: Vec<String> = [&first, &second]
            .iter()
            .map(|e| e["request_id"].as_str().unwrap().to_owned())
            .collect();
        for id in &ids {
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        }
        assert_ne!(ids[0], ids[1]);
        assert_eq!(audits(&engine, "0", 3, None).await[2]["rid"], json!(ids[1]));
    }

    /// Section 3: adding a custom attribute does not change stored sets; later sets get it.
    async fn adding_attributes_keeps_stored_sets(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let before = create(&engine, &req(3, data("before"))).await;
        assert_eq!(before, ok(plain_set(FIRST_SET, 3, 3, "before", "0")));
        load(&engine, attributes_fixture()).await;
        assert_eq!(sets(&engine, "0", 3).await[1], plain_set(FIRST_SET, 3, 3, "before", "0"));
        assert_eq!(
            create(&engine, &req(3, data("after"))).await,
            ok(with(plain_set(FIRST_SET + 1, 3, 3, "after", "0"), absent_custom_values()))
        );
    }

    /// Section 11: one clock reading, rendered in the engine's UTC offset.
    async fn timestamps_in_the_engine_offset(env) {
        let utc = chrono::FixedOffset::east_opt(0).unwrap();
        let engine = env.builder().utc_offset(utc).build();
        load_base(&engine).await;
        let created = create(&engine, &req(3, with(data("a"), json!({"set_template_id": 1})))).await;
        let t = "2026-11-27T12:34:01.386+00:00";
        for key in ["create_time", "last_time", "bk_created_at", "bk_updated_at"] {
            assert_eq!(created["data"][key], json!(t), "{created}");
        }
        let m = modules(&engine, "0", 3, FIRST_SET).await;
        assert_eq!(m[0]["create_time"], json!(t));
        assert_eq!(audits(&engine, "0", 3, None).await[3]["operation_time"], json!(t));
        let west = chrono::FixedOffset::west_opt(5 * 3600 + 30 * 60).unwrap();
        let engine = env.builder().utc_offset(west).build();
        let created = create(&engine, &req(3, data("b"))).await;
        assert_eq!(created["data"]["create_time"], json!("2026-11-27T07:04:01.386-05:30"));
    }

    /// The engine's default user stands in for a missing bk_username.
    async fn default_user(env) {
        let engine = env.builder().default_user(Some("robot".into())).build();
        load_base(&engine).await;
        let created = create(&engine, &json!({"bk_biz_id": 3, "data": data("a")})).await;
        assert_eq!(
            created,
            ok(with(plain_set(FIRST_SET, 3, 3, "a", "0"),
                json!({"bk_created_by": "robot", "bk_updated_by": "robot"})))
        );
        // A named user wins.
        let created = create(&engine, &json!({"bk_username": "eve", "bk_biz_id": 3, "data": data("b")})).await;
        assert_eq!(created["data"]["bk_created_by"], json!("eve"));
    }
}
