//! Batch create end to end over every store (spec section 12): both modes, the limit, element
//! reports, all-or-nothing atomic batches, request-level failures.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_app::auth::StaticPolicy;
use cmdb_core::records::ResourceType;
use serde_json::{Value, json};

use crate::support::*;

/// A batch request in business `biz` of tenant "0".
fn breq(biz: i64, sets: Value, atomic: Option<bool>) -> Value {
    let mut data = json!({"sets": sets});
    if let Some(a) = atomic {
        data["atomic"] = json!(a);
    }
    req(biz, data)
}

/// A minimal set of business 3.
fn s(name: &str) -> Value {
    json!({"bk_set_name": name, "bk_parent_id": 3})
}

/// The report of a successful element.
fn done(index: usize, set: Value) -> Value {
    json!({"index": index, "code": 0, "error_message": "", "data": set})
}

/// The report of a failed element.
fn failed(index: usize, code: i64, message: &str) -> Value {
    json!({"index": index, "code": code, "error_message": message, "data": null})
}

/// A completed batch's envelope: `result` true and code 0 unless `first_failure`.
fn report(elements: Vec<Value>, first_failure: Option<(i64, &str)>) -> Value {
    let mut envelope = ok(Value::Array(elements));
    if let Some((code, message)) = first_failure {
        envelope["result"] = json!(false);
        envelope["code"] = json!(code);
        envelope["message"] = json!(message);
    }
    envelope
}

/// Sends a batch that must fail as a whole, and checks that nothing was written in business 3
/// and no id was consumed.
async fn refused_batch(engine: &Engine, request: &Value, expected: Value) {
    let before = snapshot(engine, "0", 3).await;
    assert_eq!(batch(engine, request).await, expected, "request {request}");
    assert_eq!(
        snapshot(engine, "0", 3).await,
        before,
        "request {request} wrote something"
    );
}

store_tests! {
    /// An empty list succeeds with `data: []` in both modes.
    async fn empty_list(env) {
        let engine = env.engine();
        load_base(&engine).await;
        for atomic in [None, Some(false), Some(true)] {
            refused_batch(&engine, &breq(3, json!([]), atomic), ok(json!([]))).await;
        }
    }

    /// More than 100 sets is 1199035 with `data: null`; exactly 100 are created.
    async fn limit(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let many = |n: usize| Value::Array((0..n).map(|i| s(&format!("s{i}"))).collect());
        for atomic in [None, Some(true)] {
            refused_batch(&engine, &breq(3, many(101), atomic),
                fail(1_199_035, "set exceed the limit 100")).await;
        }
        // The limit comes before the business and the elements.
        refused_batch(&engine, &breq(77, Value::Array(vec![json!(1); 101]), None),
            fail(1_199_035, "set exceed the limit 100")).await;
        let created = batch(&engine, &breq(3, many(100), Some(true))).await;
        let expected: Vec<Value> = (0..100)
            .map(|i| done(i, plain_set(FIRST_SET + i as i64, 3, 3, &format!("s{i}"), "0")))
            .collect();
        assert_eq!(created, report(expected, None));
        assert_eq!(sets(&engine, "0", 3).await.len(), 101);
        assert_eq!(sequences(&engine).await, [FIRST_SET + 99, FIRST_MODULE - 1, 100]);
    }

    /// Non-atomic: each element on its own; earlier and later successes stay; the first
    /// failure's code and message; every element reported.
    async fn non_atomic_keeps_successes(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let sets_in = json!([
            s("a"),
            s("a/b"),
            s("c"),
            s("a"),
            json!("not an object"),
            with(s("d"), json!({"set_template_id": 999})),
            with(s("e"), json!({"set_template_id": 1})),
        ]);
        let template_set = with(plain_set(FIRST_SET + 2, 3, 3, "e", "0"), json!({
            "bk_capacity": 500, "bk_set_env": "1", "set_template_id": 1,
            "set_template_version": 3
        }));
        let expected = report(
            vec![
                done(0, plain_set(FIRST_SET, 3, 3, "a", "0")),
                failed(1, 1_199_006, "'bk_set_name' the parameter is invalid"),
                done(2, plain_set(FIRST_SET + 1, 3, 3, "c", "0")),
                failed(3, 1_101_108, "the same set name exist"),
                failed(4, 1_199_006, "'sets[4]' the parameter is invalid"),
                failed(5, 1_199_019, "No relevant data found"),
                done(6, template_set.clone()),
            ],
            Some((1_199_006, "'bk_set_name' the parameter is invalid")),
        );
        for atomic in [None, Some(false)] {
            let engine_result = batch(&engine, &breq(3, sets_in.clone(), atomic)).await;
            if atomic.is_none() {
                assert_eq!(engine_result, expected);
            } else {
                // The second run finds every name taken, and the rest unchanged.
                assert_eq!(
                    engine_result,
                    report(
                        vec![
                            failed(0, 1_101_108, "the same set name exist"),
                            failed(1, 1_199_006, "'bk_set_name' the parameter is invalid"),
                            failed(2, 1_101_108, "the same set name exist"),
                            failed(3, 1_101_108, "the same set name exist"),
                            failed(4, 1_199_006, "'sets[4]' the parameter is invalid"),
                            failed(5, 1_199_019, "No relevant data found"),
                            failed(6, 1_101_108, "the same set name exist"),
                        ],
                        Some((1_101_108, "the same set name exist")),
                    )
                );
            }
        }
        let stored = sets(&engine, "0", 3).await;
        assert_eq!(
            stored[1..].to_vec(),
            vec![
                plain_set(FIRST_SET, 3, 3, "a", "0"),
                plain_set(FIRST_SET + 1, 3, 3, "c", "0"),
                template_set,
            ]
        );
        assert_eq!(modules(&engine, "0", 3, FIRST_SET + 2).await.len(), 3);
        assert_eq!(audits(&engine, "0", 3, Some(ResourceType::Set)).await.len(), 3);
        // All good: result true.
        let created = batch(&engine, &breq(3, json!([s("f"), s("g")]), Some(false))).await;
        assert_eq!(
            created,
            report(
                vec![
                    done(0, plain_set(FIRST_SET + 3, 3, 3, "f", "0")),
                    done(1, plain_set(FIRST_SET + 4, 3, 3, "g", "0")),
                ],
                None
            )
        );
    }

    /// Atomic: a failure in the middle writes nothing, `data` is null, the message names the
    /// index, and no id is consumed.
    async fn atomic_is_all_or_nothing(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let cases: Vec<(Value, i64, &str)> = vec![
            // Refused while checking.
            (json!([s("a"), s("a/b"), s("c")]), 1_199_006,
             "sets[1]: 'bk_set_name' the parameter is invalid"),
            (json!([s("a"), s("b"), with(s("c"), json!({"zeta": 1}))]), 1_199_011,
             "sets[2]: 'zeta' the parameter is invalid or does not exist"),
            (json!([s("a"), with(s("b"), json!({"set_template_id": 1})), 7]), 1_199_006,
             // Not an object: the message names the element once (no `sets[2]: ` prefix).
             "'sets[2]' the parameter is invalid"),
            (json!([with(s("a"), json!({"set_template_id": 1})), with(s("b"), json!({"set_template_id": 2}))]),
             1_199_019, "sets[1]: No relevant data found"),
            // Refused while writing: a name taken by an earlier element, or by a stored set.
            (json!([s("a"), with(s("b"), json!({"set_template_id": 1})), s("a")]), 1_101_108,
             "sets[2]: the same set name exist"),
            (json!([s("a"), s("空闲机池")]), 1_101_108, "sets[1]: the same set name exist"),
        ];
        for (sets_in, code, message) in cases {
            refused_batch(&engine, &breq(3, sets_in, Some(true)), fail(code, message)).await;
        }
        // Two built-in sets in one batch of business 6.
        let pool = |name: &str| json!({"bk_set_name": name, "bk_parent_id": 6, "default": 1});
        assert_eq!(
            batch(&engine, &breq(6, json!([pool("p1"), pool("p2")]), Some(true))).await,
            fail(1_199_054, "sets[1]: operate built-in object forbidden")
        );
        assert_eq!(sets(&engine, "0", 6).await, Vec::<Value>::new());

        // Nothing consumed: the next create gets the next ids.
        let created = batch(&engine, &breq(3, json!([
            s("a"), with(s("b"), json!({"set_template_id": 1})), s("c")
        ]), Some(true))).await;
        let b = with(plain_set(FIRST_SET + 1, 3, 3, "b", "0"), json!({
            "bk_capacity": 500, "bk_set_env": "1", "set_template_id": 1,
            "set_template_version": 3
        }));
        assert_eq!(
            created,
            report(
                vec![
                    done(0, plain_set(FIRST_SET, 3, 3, "a", "0")),
                    done(1, b),
                    done(2, plain_set(FIRST_SET + 2, 3, 3, "c", "0")),
                ],
                None
            )
        );
        let module_ids: Vec<Value> = modules(&engine, "0", 3, FIRST_SET + 1)
            .await
            .iter()
            .map(|m| m["bk_module_id"].clone())
            .collect();
        assert_eq!(module_ids, vec![json!(FIRST_MODULE), json!(FIRST_MODULE + 1), json!(FIRST_MODULE + 2)]);
        let trail: Vec<(Value, Value)> = audits(&engine, "0", 3, None)
            .await
            .iter()
            .map(|a| (a["id"].clone(), a["resource_id"].clone()))
            .collect();
        assert_eq!(trail, vec![
            (json!(1), json!(FIRST_SET)),
            (json!(2), json!(FIRST_SET + 1)),
            (json!(3), json!(FIRST_MODULE)),
            (json!(4), json!(FIRST_MODULE + 1)),
            (json!(5), json!(FIRST_MODULE + 2)),
            (json!(6), json!(FIRST_SET + 2)),
        ]);
        let single = create(&engine, &req(3, s("d"))).await;
        assert_eq!(single, ok(plain_set(FIRST_SET + 3, 3, 3, "d", "0")));
        // The built-in set alone is fine.
        let created = batch(&engine, &breq(6, json!([pool("p1")]), Some(true))).await;
        assert_eq!(
            created,
            report(vec![done(0, with(plain_set(FIRST_SET + 4, 6, 6, "p1", "0"), json!({"default": 1})))], None)
        );
    }

    /// Custom unique rules hold inside a batch and against stored sets, in both modes.
    async fn unique_rules_in_batches(env) {
        let engine = env.engine();
        load_base(&engine).await;
        load(&engine, json!({
            "set_attributes": [{"bk_property_id": "owner_team", "bk_property_type": "singlechar"}],
            "set_unique_rules": [["bk_biz_id", "owner_team"]]
        })).await;
        let owned = |name: &str, owner: &str| with(s(name), json!({"owner_team": owner}));
        let dup = "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated";
        refused_batch(&engine, &breq(3, json!([owned("a", "ops"), owned("b", "dev"), owned("c", "ops")]), Some(true)),
            fail(1_199_014, &format!("sets[2]: {dup}"))).await;
        let created = batch(&engine, &breq(3, json!([owned("a", "ops"), owned("b", "ops"), owned("c", ""), owned("d", "")]), Some(false))).await;
        let with_owner = |id: i64, name: &str, owner: &str| {
            with(plain_set(id, 3, 3, name, "0"), json!({"owner_team": owner}))
        };
        assert_eq!(
            created,
            report(
                vec![
                    done(0, with_owner(FIRST_SET, "a", "ops")),
                    failed(1, 1_199_014, dup),
                    done(2, with_owner(FIRST_SET + 1, "c", "")),
                    done(3, with_owner(FIRST_SET + 2, "d", "")),
                ],
                Some((1_199_014, dup)),
            )
        );
        refused_batch(&engine, &breq(3, json!([owned("e", "dev"), owned("f", "ops")]), Some(true)),
            fail(1_199_014, &format!("sets[1]: {dup}"))).await;
        assert_eq!(sequences(&engine).await[0], FIRST_SET + 2);
    }

    /// `sets` and `atomic` of the wrong shape are 1199006 naming them.
    async fn request_shape(env) {
        let engine = env.engine();
        load_base(&engine).await;
        let sets_msg = "'sets' the parameter is invalid";
        for data in [json!({}), json!({"sets": null}), json!({"sets": {}}), json!({"sets": "x"}),
                     json!({"sets": 1}), json!({"atomic": true})] {
            refused_batch(&engine, &req(3, data), fail(1_199_006, sets_msg)).await;
        }
        for atomic in [json!("true"), json!(1), json!([]), json!(null)] {
            refused_batch(&engine, &req(3, json!({"sets": [s("a")], "atomic": atomic})),
                fail(1_199_006, "'atomic' the parameter is invalid")).await;
        }
        // The envelope comes first.
        refused_batch(&engine, &json!({"bk_biz_id": 3, "data": {"sets": []}}),
            fail(1_199_027, "'user' authorization information query failed")).await;
        refused_batch(&engine, &json!({"bk_username": "u", "bk_biz_id": 3}),
            fail(1_199_010, "'data' unassigned")).await;
        refused_batch(&engine, &json!({"bk_username": "u", "bk_biz_id": 3, "data": []}),
            fail(1_199_006, "'data' the parameter is invalid")).await;
        refused_batch(&engine, &json!({"bk_username": "u", "bk_biz_id": "3a", "data": {"sets": []}}),
            fail(1_199_009, "'bk_biz_id' parameters must be integral")).await;
        let raw = to_value(&engine.handle_batch_create(b"[1,2]", None).await);
        assert_eq!(raw, fail(1_199_000, "Deserializing JSON data failed"));
    }

    /// An unknown, archived or other tenant's business, or a denial, fails the whole request.
    async fn request_level_failures(env) {
        let policy = StaticPolicy::from_json(r#"{"allow": {"xxx": ["*"], "alice": [5]}}"#).unwrap();
        let engine = env.builder().authorizer(Arc::new(policy)).build();
        load_base(&engine).await;
        let msg = "'bk_biz_id' the parameter is invalid or does not exist";
        for atomic in [None, Some(true)] {
            for biz in [77, 4, 9] {
                refused_batch(&engine, &breq(biz, json!([{"bk_set_name": "a", "bk_parent_id": biz}]), atomic),
                    fail(1_199_011, msg)).await;
                // Also with an empty list.
                refused_batch(&engine, &breq(biz, json!([]), atomic), fail(1_199_011, msg)).await;
            }
            let alice = |biz: i64| json!({"bk_username": "alice", "bk_biz_id": biz,
                "data": {"sets": [s("a")], "atomic": atomic.unwrap_or(false)}});
            refused_batch(&engine, &alice(3), denied(3, "shop")).await;
            refused_batch(&engine, &alice(77), denied(77, "")).await;
        }
        // Alice may create in business 5.
        let created = batch(&engine, &json!({"bk_username": "alice", "bk_biz_id": 5,
            "data": {"sets": [{"bk_set_name": "a", "bk_parent_id": 5}]}})).await;
        assert_eq!(
            created,
            report(vec![done(0, with(plain_set(FIRST_SET, 5, 5, "a", "0"),
                json!({"bk_created_by": "alice", "bk_updated_by": "alice"})))], None)
        );
    }
}
