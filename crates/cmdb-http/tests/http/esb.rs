//! The ESB route: the worked example end to end, and its duplicate.

use serde_json::{Value, json};

use crate::support::{BACKENDS, T, TENANT, failure_text, is_fresh_id, seed_request, start};

const RID: &str = "e43da4ef221746868dc4c837d36f3807";

fn worked_example_success() -> String {
    let data = json!({
        "bk_biz_id": 1,
        "bk_capacity": 1000,
        "bk_created_at": T,
        "bk_created_by": "xxx",
        "bk_parent_id": 1,
        "bk_service_status": "1",
        "bk_set_desc": "test-set",
        "bk_set_env": "3",
        "bk_set_id": 4780,
        "bk_set_name": "test-set",
        "bk_supplier_account": TENANT,
        "bk_updated_at": T,
        "bk_updated_by": "xxx",
        "create_time": T,
        "default": 0,
        "description": "description",
        "last_time": T,
        "set_template_id": 1,
        "set_template_version": 3
    });
    format!(
        r#"{{"result":true,"code":0,"message":"","permission":null,"request_id":"{RID}","data":{data}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worked_example_then_duplicate() {
    for backend in BACKENDS {
        let server = start(backend).await;
        let path = "/api/c/compapi/v2/cc/create_set/";
        let first = server
            .post(path, &seed_request(), &[("X-Request-Id", RID)])
            .await;
        assert_eq!(first.status, 200, "{backend:?}");
        assert_eq!(first.text, worked_example_success(), "{backend:?}");
        assert_eq!(first.request_id.as_deref(), Some(RID));
        assert_eq!(first.content_type.as_deref(), Some("application/json"));

        // The module and the audit records of the same transaction.
        let modules = server
            .get(
                "/api/v3/set/1/4780/modules",
                &[("X-Bkcmdb-Supplier-Account", TENANT)],
            )
            .await;
        assert_eq!(modules.json["data"]["count"], json!(1));
        let module = &modules.json["data"]["info"][0];
        assert_eq!(
            (
                &module["bk_module_id"],
                &module["bk_module_name"],
                &module["bk_parent_id"]
            ),
            (&json!(4), &json!("nginx"), &json!(4780))
        );
        let audits = server
            .engine
            .audit_records(TENANT, cmdb_core::BizId(1), None)
            .await
            .unwrap();
        let seen: Vec<(Value, Value, Value)> = audits
            .iter()
            .map(|a| {
                (
                    a["resource_type"].clone(),
                    a["code"].clone(),
                    a["rid"].clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (json!("set"), json!("esb_test"), json!(RID)),
                (json!("module"), json!("esb_test"), json!(RID)),
            ]
        );

        // The same request again, through the route without the trailing slash.
        let second = server
            .post(path.trim_end_matches('/'), &seed_request(), &[])
            .await;
        assert_eq!(second.status, 200);
        let rid = second.request_id.clone().unwrap();
        assert!(is_fresh_id(&rid), "{rid}");
        assert_eq!(
            second.text,
            failure_text(1101108, "the same set name exist", &rid)
        );
        let sets = server
            .get("/api/v3/set/1", &[("X-Bkcmdb-Supplier-Account", TENANT)])
            .await;
        assert_eq!(sets.json["data"]["count"], json!(2), "nothing written");
        let (stopped, _dir) = server.stop().await;
        stopped.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esb_envelope_errors_come_from_the_engine() {
    let server = start(crate::support::Backend::Memory).await;
    let path = "/api/c/compapi/v2/cc/create_set/";
    let cases = [
        (
            json!({"bk_biz_id": 1, "data": {}}),
            1199027,
            "'user' authorization information query failed",
        ),
        (
            json!({"bk_username": "u", "bk_biz_id": "abc", "data": {}}),
            1199009,
            "'bk_biz_id' parameters must be integral",
        ),
        (
            json!({"bk_username": "u", "bk_biz_id": 0, "data": {}}),
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
        (
            json!({"bk_username": "u", "bk_biz_id": 1}),
            1199010,
            "'data' unassigned",
        ),
        (
            json!({"bk_username": "u", "bk_biz_id": 1, "data": {"bk_parent_id": 1, "bk_set_name": "x"}}),
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
    ];
    for (body, code, message) in cases {
        let reply = server.post(path, &body, &[("X-Request-Id", "r1")]).await;
        assert_eq!(reply.status, 200, "{body}");
        assert_eq!(reply.text, failure_text(code, message, "r1"), "{body}");
    }
}
