//! The native routes: create with headers, batch, and the read-backs.

use cmdb_core::BizId;
use cmdb_core::records::ResourceType;
use serde_json::{Value, json};

use crate::support::{Backend, T, TENANT, failure_text, start, start_with};

const TENANT_HEADER: (&str, &str) = ("X-Bkcmdb-Supplier-Account", TENANT);

fn set(name: &str) -> Value {
    json!({"bk_parent_id": 1, "bk_set_name": name})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_new_and_legacy_headers() {
    let server = start(Backend::Sqlite).await;
    let new = server
        .post(
            "/api/v3/set/1",
            &set("a"),
            &[
                ("X-Bkcmdb-User", "alice"),
                TENANT_HEADER,
                ("X-Bkcmdb-App-Code", "my_app"),
                ("X-Request-Id", "native-1"),
            ],
        )
        .await;
    assert_eq!(new.status, 200);
    assert_eq!(
        (
            &new.json["result"],
            &new.json["code"],
            &new.json["request_id"]
        ),
        (&json!(true), &json!(0), &json!("native-1"))
    );
    let data = &new.json["data"];
    assert_eq!(
        (
            &data["bk_set_id"],
            &data["bk_set_name"],
            &data["bk_created_by"]
        ),
        (&json!(4780), &json!("a"), &json!("alice"))
    );
    assert_eq!(
        (&data["bk_supplier_account"], &data["create_time"]),
        (&json!(TENANT), &json!(T))
    );

    let legacy = server
        .post(
            "/api/v3/set/1",
            &set("b"),
            &[("BK_User", "bob"), ("HTTP_BK_SUPPLIER_ACCOUNT", TENANT)],
        )
        .await;
    assert_eq!(
        (&legacy.json["code"], &legacy.json["data"]["bk_set_id"]),
        (&json!(0), &json!(4781))
    );
    assert_eq!(legacy.json["data"]["bk_updated_by"], json!("bob"));

    // The new name wins over the legacy one.
    let both = server
        .post(
            "/api/v3/set/1",
            &set("c"),
            &[
                ("X-Bkcmdb-User", "carol"),
                ("BK_User", "bob"),
                TENANT_HEADER,
            ],
        )
        .await;
    assert_eq!(both.json["data"]["bk_created_by"], json!("carol"));

    // The app code goes into the audit record, "" without the header.
    let audits = server
        .engine
        .audit_records(TENANT, BizId(1), Some(ResourceType::Set))
        .await
        .unwrap();
    let seen: Vec<(Value, Value, Value)> = audits
        .iter()
        .map(|a| (a["user"].clone(), a["code"].clone(), a["rid"].clone()))
        .collect();
    assert_eq!(
        seen[0],
        (json!("alice"), json!("my_app"), json!("native-1"))
    );
    assert_eq!(seen[1].0, json!("bob"));
    assert_eq!(seen[1].1, json!(""));
    assert_eq!(seen.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_refusals() {
    let server = start(Backend::Memory).await;
    let user = ("X-Bkcmdb-User", "alice");
    let rid = ("X-Request-Id", "n");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, i64, &'a str);
    let cases: [Case; 6] = [
        (
            "/api/v3/set/1",
            vec![TENANT_HEADER, rid],
            1199027,
            "'user' authorization information query failed",
        ),
        (
            "/api/v3/set/1",
            vec![("X-Bkcmdb-User", "  "), TENANT_HEADER, rid],
            1199027,
            "'user' authorization information query failed",
        ),
        (
            "/api/v3/set/abc",
            vec![user, TENANT_HEADER, rid],
            1199009,
            "'bk_biz_id' parameters must be integral",
        ),
        (
            "/api/v3/set/0",
            vec![user, TENANT_HEADER, rid],
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
        // No tenant header: tenant "0", where biz 1 does not exist.
        (
            "/api/v3/set/1",
            vec![user, rid],
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
        (
            "/api/v3/set/-1",
            vec![user, TENANT_HEADER, rid],
            1199009,
            "'bk_biz_id' parameters must be integral",
        ),
    ];
    for (path, headers, code, message) in cases {
        let reply = server.post(path, &set("x"), &headers).await;
        assert_eq!(reply.status, 200, "{path} {headers:?}");
        assert_eq!(
            reply.text,
            failure_text(code, message, "n"),
            "{path} {headers:?}"
        );
    }
    // A missing user is checked before the biz id, as in the ESB envelope.
    let reply = server.post("/api/v3/set/abc", &set("x"), &[rid]).await;
    assert_eq!(reply.json["code"], json!(1199027));
    // Rules of the engine come through unchanged.
    let reply = server
        .post(
            "/api/v3/set/1",
            &json!({"bk_parent_id": 1}),
            &[user, TENANT_HEADER, rid],
        )
        .await;
    assert_eq!(
        reply.text,
        failure_text(1199010, "'bk_set_name' unassigned", "n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_user_stands_in_for_the_header() {
    let server = start_with(Backend::Memory, |b| b.default_user(Some("robot".into()))).await;
    let reply = server
        .post("/api/v3/set/1", &set("a"), &[TENANT_HEADER])
        .await;
    assert_eq!(reply.json["code"], json!(0));
    assert_eq!(reply.json["data"]["bk_created_by"], json!("robot"));
    let batch = server
        .post(
            "/api/v3/set/1/batch",
            &json!({"sets": [set("b")]}),
            &[TENANT_HEADER],
        )
        .await;
    assert_eq!(
        batch.json["data"][0]["data"]["bk_created_by"],
        json!("robot")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_create() {
    let server = start(Backend::Sqlite).await;
    let headers = [
        ("X-Bkcmdb-User", "alice"),
        TENANT_HEADER,
        ("X-Request-Id", "b"),
    ];
    let path = "/api/v3/set/1/batch";

    let mixed = server
        .post(
            path,
            &json!({"sets": [set("a"), set("a"), 3], "atomic": false}),
            &headers,
        )
        .await;
    assert_eq!(mixed.status, 200);
    assert_eq!(
        (
            &mixed.json["result"],
            &mixed.json["code"],
            &mixed.json["message"]
        ),
        (
            &json!(false),
            &json!(1101108),
            &json!("the same set name exist")
        )
    );
    let elements = mixed.json["data"].as_array().unwrap();
    assert_eq!(elements.len(), 3);
    assert_eq!(
        (
            &elements[0]["index"],
            &elements[0]["code"],
            &elements[0]["error_message"]
        ),
        (&json!(0), &json!(0), &json!(""))
    );
    assert_eq!(elements[0]["data"]["bk_set_id"], json!(4780));
    assert_eq!(
        elements[1],
        json!({"index": 1, "code": 1101108, "error_message": "the same set name exist", "data": null})
    );
    assert_eq!(
        elements[2],
        json!({"index": 2, "code": 1199006, "error_message": "'sets[2]' the parameter is invalid", "data": null})
    );

    let atomic = server
        .post(
            path,
            &json!({"sets": [set("b"), set("a")], "atomic": true}),
            &headers,
        )
        .await;
    assert_eq!(
        atomic.text,
        failure_text(1101108, "sets[1]: the same set name exist", "b")
    );
    let sets = server.get("/api/v3/set/1", &[TENANT_HEADER]).await;
    assert_eq!(
        sets.json["data"]["count"],
        json!(2),
        "the atomic batch wrote nothing"
    );

    let all = server
        .post(
            path,
            &json!({"sets": [set("b"), set("c")], "atomic": true}),
            &headers,
        )
        .await;
    assert_eq!(
        (&all.json["result"], &all.json["code"]),
        (&json!(true), &json!(0))
    );
    let ids: Vec<&Value> = all.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"]["bk_set_id"])
        .collect();
    assert_eq!(ids, [&json!(4781), &json!(4782)]);

    let empty = server.post(path, &json!({"sets": []}), &headers).await;
    assert_eq!(
        empty.text,
        r#"{"result":true,"code":0,"message":"","permission":null,"request_id":"b","data":[]}"#
    );
    let refusals = [
        (json!({}), 1199006, "'sets' the parameter is invalid"),
        (
            json!({"sets": null}),
            1199006,
            "'sets' the parameter is invalid",
        ),
        (
            json!({"sets": [], "atomic": 1}),
            1199006,
            "'atomic' the parameter is invalid",
        ),
        (
            json!({"sets": vec![set("z"); 101]}),
            1199035,
            "set exceed the limit 100",
        ),
    ];
    for (body, code, message) in refusals {
        let reply = server.post(path, &body, &headers).await;
        assert_eq!(reply.text, failure_text(code, message, "b"), "{body}");
    }
    let no_user = server
        .post(
            path,
            &json!({"sets": []}),
            &[TENANT_HEADER, ("X-Request-Id", "b")],
        )
        .await;
    assert_eq!(
        no_user.text,
        failure_text(
            1199027,
            "'user' authorization information query failed",
            "b"
        )
    );
    let bad_biz = server
        .post("/api/v3/set/x1/batch", &json!({"sets": []}), &headers)
        .await;
    assert_eq!(
        bad_biz.text,
        failure_text(1199009, "'bk_biz_id' parameters must be integral", "b")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_backs() {
    let server = start(Backend::Memory).await;
    let rid = ("X-Request-Id", "g");
    server
        .post(
            "/api/v3/set/1",
            &set("a"),
            &[("X-Bkcmdb-User", "alice"), TENANT_HEADER],
        )
        .await;

    let sets = server.get("/api/v3/set/1", &[TENANT_HEADER, rid]).await;
    assert_eq!(sets.status, 200);
    assert_eq!(
        (
            &sets.json["result"],
            &sets.json["code"],
            &sets.json["request_id"]
        ),
        (&json!(true), &json!(0), &json!("g"))
    );
    assert_eq!(sets.json["data"]["count"], json!(2));
    let names: Vec<(&Value, &Value)> = sets.json["data"]["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (&s["bk_set_id"], &s["bk_set_name"]))
        .collect();
    assert_eq!(
        names,
        [(&json!(1), &json!("空闲机池")), (&json!(4780), &json!("a"))]
    );

    let legacy = server
        .get("/api/v3/set/1", &[("HTTP_BK_SUPPLIER_ACCOUNT", TENANT)])
        .await;
    assert_eq!(legacy.json["data"], sets.json["data"]);

    let idle = server
        .get("/api/v3/set/1/1/modules", &[TENANT_HEADER])
        .await;
    let modules: Vec<(&Value, &Value)> = idle.json["data"]["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (&m["bk_module_id"], &m["bk_module_name"]))
        .collect();
    assert_eq!(idle.json["data"]["count"], json!(3));
    assert_eq!(
        modules,
        [
            (&json!(1), &json!("空闲机")),
            (&json!(2), &json!("故障机")),
            (&json!(3), &json!("待回收"))
        ]
    );
    let none = server
        .get("/api/v3/set/1/4780/modules", &[TENANT_HEADER, rid])
        .await;
    assert_eq!(
        none.text,
        r#"{"result":true,"code":0,"message":"","permission":null,"request_id":"g","data":{"count":0,"info":[]}}"#
    );

    let cases = [
        (
            "/api/v3/set/1/999/modules",
            1199019,
            "No relevant data found",
        ),
        (
            "/api/v3/set/1/x/modules",
            1199009,
            "'bk_set_id' parameters must be integral",
        ),
        (
            "/api/v3/set/abc",
            1199009,
            "'bk_biz_id' parameters must be integral",
        ),
        (
            "/api/v3/set/0/1/modules",
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
        (
            "/api/v3/set/2",
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
    ];
    for (path, code, message) in cases {
        let reply = server.get(path, &[TENANT_HEADER, rid]).await;
        assert_eq!(
            (reply.status, reply.text),
            (200, failure_text(code, message, "g")),
            "{path}"
        );
    }
    // Another tenant does not see biz 1.
    let other = server.get("/api/v3/set/1", &[rid]).await;
    assert_eq!(
        other.text,
        failure_text(
            1199011,
            "'bk_biz_id' the parameter is invalid or does not exist",
            "g"
        )
    );
}
