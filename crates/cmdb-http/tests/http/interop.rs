//! BlueKing's client libraries unchanged (spec section 15): credentials in the
//! `X-Bkapi-Authorization` header, bk-cmdb's forwarded headers on the native route, and the
//! message language from `Blueking-Language` / `HTTP_BLUEKING_LANGUAGE`.

use serde_json::{Value, json};

use crate::support::{BACKENDS, T, TENANT, failure_text, start, start_with};

const ESB: &str = "/api/c/compapi/v2/cc/create_set/";
const RID: &str = "5d0c5fa1c6b34ad0a0b2a07e6d4b8f2a";

/// What the SDK puts in the header: the app's credentials and the user.
const SDK_AUTH: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"xxx","bk_username":"xxx"}"#;

/// What the SDK sends as the body: no credentials.
fn sdk_body() -> Value {
    json!({
        "bk_supplier_account": TENANT,
        "bk_biz_id": 1,
        "data": {"bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
                 "bk_capacity": 1000, "description": "description", "set_template_id": 1}
    })
}

/// The seed's success envelope (the set the worked example stores), for request id `rid`.
fn seed_success(rid: &str) -> String {
    let data = json!({
        "bk_biz_id": 1, "bk_capacity": 1000, "bk_created_at": T, "bk_created_by": "xxx",
        "bk_parent_id": 1, "bk_service_status": "1", "bk_set_desc": "test-set",
        "bk_set_env": "3", "bk_set_id": 4780, "bk_set_name": "test-set",
        "bk_supplier_account": TENANT, "bk_updated_at": T, "bk_updated_by": "xxx",
        "create_time": T, "default": 0, "description": "description", "last_time": T,
        "set_template_id": 1, "set_template_version": 3
    });
    format!(
        r#"{{"result":true,"code":0,"message":"","permission":null,"request_id":"{rid}","data":{data}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_request_succeeds_then_its_duplicate_answers_in_chinese() {
    for backend in BACKENDS {
        let server = start(backend).await;
        let first = server
            .post(
                ESB,
                &sdk_body(),
                &[("X-Bkapi-Authorization", SDK_AUTH), ("X-Request-Id", RID)],
            )
            .await;
        assert_eq!(first.status, 200, "{backend:?}");
        assert_eq!(first.text, seed_success(RID), "{backend:?}");
        // The app code of the header reached the audit records.
        let audits = server
            .engine
            .audit_records(TENANT, cmdb_core::BizId(1), None)
            .await
            .unwrap();
        assert!(audits.iter().all(|a| a["code"] == json!("esb_test")));
        assert!(audits.iter().all(|a| a["user"] == json!("xxx")));

        let again = server
            .post(
                ESB,
                &sdk_body(),
                &[
                    ("X-Bkapi-Authorization", SDK_AUTH),
                    ("X-Request-Id", RID),
                    ("Blueking-Language", "zh-cn"),
                ],
            )
            .await;
        assert_eq!(
            again.text,
            failure_text(1_101_108, "同一父节点下已存在同名集群", RID),
            "{backend:?}"
        );
        // The same in English without the header.
        let english = server
            .post(
                ESB,
                &sdk_body(),
                &[("X-Bkapi-Authorization", SDK_AUTH), ("X-Request-Id", RID)],
            )
            .await;
        assert_eq!(
            english.text,
            failure_text(1_101_108, "the same set name exist", RID)
        );
        server.stop().await.0.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_credentials_win_and_a_bad_header_is_1199045() {
    let server = start(crate::support::Backend::Memory).await;
    // The body's user wins over the header's.
    let mut body = sdk_body();
    body["bk_username"] = json!("bob");
    body["data"]["bk_set_name"] = json!("by-bob");
    let reply = server
        .post(ESB, &body, &[("X-Bkapi-Authorization", SDK_AUTH)])
        .await;
    assert_eq!(reply.json["code"], json!(0), "{}", reply.text);
    assert_eq!(reply.json["data"]["bk_created_by"], json!("bob"));
    // No user in body or header: 1199027 as before.
    let reply = server
        .post(
            ESB,
            &sdk_body(),
            &[
                ("X-Bkapi-Authorization", r#"{"bk_app_code":"esb_test"}"#),
                ("X-Request-Id", RID),
            ],
        )
        .await;
    assert_eq!(
        reply.text,
        failure_text(
            1_199_027,
            "'user' authorization information query failed",
            RID
        )
    );
    // A header that is not a JSON object, even beside a body user, in both languages.
    let mut with_user = sdk_body();
    with_user["bk_username"] = json!("bob");
    for (bad, language, message) in [
        ("alice", None, "Parse authorize attributes failed."),
        ("[1,2]", None, "Parse authorize attributes failed."),
        (r#""xxx""#, Some("zh-cn"), "解析授权信息失败"),
    ] {
        let mut headers = vec![("X-Bkapi-Authorization", bad), ("X-Request-Id", RID)];
        if let Some(language) = language {
            headers.push(("Blueking-Language", language));
        }
        let reply = server.post(ESB, &with_user, &headers).await;
        assert_eq!(reply.text, failure_text(1_199_045, message, RID), "{bad}");
    }
    let sets = server
        .engine
        .find_sets(TENANT, cmdb_core::BizId(1), None)
        .await
        .unwrap();
    assert_eq!(
        sets.len(),
        2,
        "the idle set and bob's: nothing else was written"
    );
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_route_takes_the_headers_bk_cmdb_forwards() {
    let server = start(crate::support::Backend::Memory).await;
    let reply = server
        .post(
            "/api/v3/set/1",
            &json!({"bk_parent_id": 1, "bk_set_name": "forwarded"}),
            &[
                ("Bk-Username", "carol"),
                ("Bk-App-Code", "sdk-app"),
                ("HTTP_BK_SUPPLIER_ACCOUNT", TENANT),
            ],
        )
        .await;
    assert_eq!(reply.json["code"], json!(0), "{}", reply.text);
    assert_eq!(reply.json["data"]["bk_created_by"], json!("carol"));
    let audits = server
        .engine
        .audit_records(TENANT, cmdb_core::BizId(1), None)
        .await
        .unwrap();
    assert_eq!(audits.last().unwrap()["code"], json!("sdk-app"));
    // HTTP_BLUEKING_LANGUAGE also selects the language, on every route and failure.
    let dup = server
        .post(
            "/api/v3/set/1",
            &json!({"bk_parent_id": 1, "bk_set_name": "forwarded"}),
            &[
                ("BK_User", "carol"),
                ("HTTP_BK_SUPPLIER_ACCOUNT", TENANT),
                ("HTTP_BLUEKING_LANGUAGE", "zh"),
                ("X-Request-Id", RID),
            ],
        )
        .await;
    assert_eq!(
        dup.text,
        failure_text(1_101_108, "同一父节点下已存在同名集群", RID)
    );
    let missing = server
        .get(
            "/no/such/route",
            &[("Blueking-Language", "cn"), ("X-Request-Id", RID)],
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text, failure_text(1_199_019, "未找到相关数据", RID));
    let batch = server
        .post(
            "/api/v3/set/1/batch",
            &json!({"sets": [{"bk_parent_id": 1, "bk_set_name": "a/b"}], "atomic": true}),
            &[
                ("Bk-Username", "carol"),
                ("HTTP_BK_SUPPLIER_ACCOUNT", TENANT),
                ("Blueking-Language", "zh-cn"),
                ("X-Request-Id", RID),
            ],
        )
        .await;
    assert_eq!(
        batch.text,
        failure_text(1_199_006, "sets[0]: 'bk_set_name' 数据参数校验不通过", RID)
    );
    // An unknown language falls back to the default.
    let fallback = server
        .get(
            "/no/such/route",
            &[("Blueking-Language", "fr"), ("X-Request-Id", RID)],
        )
        .await;
    assert_eq!(
        fallback.text,
        failure_text(1_199_019, "No relevant data found", RID)
    );
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_language_applies_without_a_header_and_utf8_is_checked_first() {
    let server = start_with(crate::support::Backend::Memory, |b| {
        b.language(cmdb_app::Language::Zh)
    })
    .await;
    let reply = server
        .post_raw(
            ESB,
            b"{\"bk_biz_id\":1,\"data\":{\"bk_set_name\":\"\xff\xfe\",\"bk_parent_id\":1}}"
                .to_vec(),
            &[("X-Request-Id", RID)],
        )
        .await;
    assert_eq!(
        reply.text,
        failure_text(1_199_000, "反序列化JSON数据失败", RID)
    );
    let english = server
        .post(
            ESB,
            &json!({}),
            &[("Blueking-Language", "en"), ("X-Request-Id", RID)],
        )
        .await;
    assert_eq!(
        english.text,
        failure_text(
            1_199_027,
            "'user' authorization information query failed",
            RID
        )
    );
    server.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_cases_over_http() {
    let server = start(crate::support::Backend::Memory).await;
    let esb = |data: Value| json!({"bk_username": "xxx", "bk_supplier_account": TENANT, "bk_biz_id": 1, "data": data});
    for (data, code, message) in [
        (
            json!({"bk_set_name": null, "bk_parent_id": 1}),
            1_199_007,
            "'bk_set_name' must be a string",
        ),
        (
            json!({"bk_set_name": "n", "bk_parent_id": null}),
            1_199_006,
            "'bk_parent_id' the parameter is invalid",
        ),
        (
            json!({"bk_set_name": "n", "bk_parent_id": 1, "set_template_id": null}),
            1_199_006,
            "'set_template_id' the parameter is invalid",
        ),
    ] {
        let reply = server.post(ESB, &esb(data), &[("X-Request-Id", RID)]).await;
        assert_eq!(reply.text, failure_text(code, message, RID));
    }
    // An atomic batch element that is not an object is named once; nothing is written.
    let batch = server
        .post(
            "/api/v3/set/1/batch",
            &json!({"sets": [{"bk_parent_id": 1, "bk_set_name": "b0"}, 7], "atomic": true}),
            &[
                ("X-Bkcmdb-User", "xxx"),
                ("X-Bkcmdb-Supplier-Account", TENANT),
                ("X-Request-Id", RID),
            ],
        )
        .await;
    assert_eq!(
        batch.text,
        failure_text(1_199_006, "'sets[1]' the parameter is invalid", RID)
    );
    let sets = server
        .engine
        .find_sets(TENANT, cmdb_core::BizId(1), None)
        .await
        .unwrap();
    assert_eq!(sets.len(), 1, "only the idle set");
    server.stop().await.0.unwrap();
}
