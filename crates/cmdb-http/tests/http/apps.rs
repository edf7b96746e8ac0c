//! Authenticated apps, grants and the view permission on every route (spec section 16), and
//! the stricter input over HTTP: each defect the issue found, reproduced and refused.

use std::sync::Arc;

use cmdb_app::apps::AppRegistry;
use cmdb_app::auth::StaticPolicy;
use cmdb_core::BizId;
use cmdb_http::ServeOptions;
use serde_json::{Value, json};

use crate::support::{
    Backend, Reply, Server, TENANT, seed_request, start, start_serving, start_with,
};

const ESB: &str = "/api/c/compapi/v2/cc/create_set/";
const TENANT_HEADER: (&str, &str) = ("X-Bkcmdb-Supplier-Account", TENANT);
const GOOD_AUTH: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t"}"#;

fn apps() -> ServeOptions {
    let file = format!(
        r#"{{"apps": [{{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": ["{TENANT}"], "users": ["alice"]}},
                     {{"bk_app_code": "ops", "bk_app_secret": "0ps", "tenants": "any", "users": "any"}}]}}"#
    );
    ServeOptions {
        apps: Some(Arc::new(AppRegistry::from_json(&file).expect("apps file"))),
        ..ServeOptions::default()
    }
}

async fn start_with_apps() -> Server {
    start_serving(Backend::Memory, |b| b, apps()).await
}

/// The sets of biz 1 as stored: the fixture's idle pool (set 1), then ours from 4780.
async fn stored_sets(server: &Server) -> usize {
    server
        .engine
        .find_sets(TENANT, BizId(1), None)
        .await
        .expect("biz 1 readable")
        .len()
}

fn esb(user: &str, secret: Option<&str>, name: &str) -> Value {
    let mut body = seed_request();
    body["bk_username"] = json!(user);
    body["data"]["bk_set_name"] = json!(name);
    match secret {
        Some(s) => body["bk_app_secret"] = json!(s),
        None => {
            body.as_object_mut()
                .expect("object")
                .remove("bk_app_secret");
        }
    }
    body
}

fn assert_code(reply: &Reply, code: i64, message: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        (
            &reply.json["result"],
            &reply.json["code"],
            &reply.json["message"]
        ),
        (&json!(false), &json!(code), &json!(message)),
        "{}",
        reply.text
    );
    assert_eq!(reply.json["data"], Value::Null);
}

/// The denial object of `action` on biz 1 named `name`.
fn assert_denied(reply: &Reply, action: &str, name: &str) {
    assert_code(reply, 9_900_403, "Do not have access permission.");
    let p = &reply.json["permission"];
    assert_eq!(p["actions"][0]["id"], json!(action), "{}", reply.text);
    assert_eq!(
        p["actions"][0]["related_resource_types"][0]["instances"][0][0],
        json!({"type": "biz", "type_name": "Business", "id": "1", "name": name})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esb_writes_need_the_app_secret_and_stay_in_the_grant() {
    let server = start_with_apps().await;
    // Before: anyone could act as anyone with no secret at all.
    for secret in [None, Some(""), Some("xxx"), Some("s3cr3")] {
        let reply = server.post(ESB, &esb("alice", secret, "a"), &[]).await;
        assert_code(&reply, 1_199_046, "Authorize request failed.");
    }
    // An unknown app with some secret: the same answer.
    let mut unknown = esb("alice", Some("s3cr3t"), "a");
    unknown["bk_app_code"] = json!("nobody");
    assert_code(
        &server.post(ESB, &unknown, &[]).await,
        1_199_046,
        "Authorize request failed.",
    );
    assert_eq!(stored_sets(&server).await, 1, "nothing written");

    // A user or tenant outside the grant: 9900403 with the create action (name withheld).
    let outside_user = server
        .post(ESB, &esb("mallory", Some("s3cr3t"), "a"), &[])
        .await;
    assert_denied(&outside_user, "create_biz_topology", "");
    let mut other_tenant = esb("alice", Some("s3cr3t"), "a");
    other_tenant["bk_supplier_account"] = json!("0");
    assert_denied(
        &server.post(ESB, &other_tenant, &[]).await,
        "create_biz_topology",
        "",
    );
    assert_eq!(stored_sets(&server).await, 1, "nothing written");

    // The secret in the body, or in X-Bkapi-Authorization as the SDKs send it.
    let created = server
        .post(ESB, &esb("alice", Some("s3cr3t"), "a"), &[])
        .await;
    assert_eq!(created.json["code"], json!(0), "{}", created.text);
    let created = server
        .post(
            ESB,
            &esb("alice", None, "b"),
            &[("X-Bkapi-Authorization", GOOD_AUTH)],
        )
        .await;
    assert_eq!(created.json["code"], json!(0), "{}", created.text);
    assert_eq!(created.json["data"]["bk_created_by"], json!("alice"));
    // An app granted any tenant and user.
    let mut ops = esb("mallory", Some("0ps"), "c");
    ops["bk_app_code"] = json!("ops");
    assert_eq!(server.post(ESB, &ops, &[]).await.json["code"], json!(0));
    assert_eq!(stored_sets(&server).await, 4);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_routes_take_the_credentials_from_the_headers() {
    let server = start_with_apps().await;
    let body = json!({"bk_parent_id": 1, "bk_set_name": "n"});
    let alice = ("X-Bkcmdb-User", "alice");
    // No credentials, a wrong secret: 1199046 on writes and on both reads.
    let wrong = r#"{"bk_app_code":"esb_test","bk_app_secret":"nope"}"#;
    for auth in [None, Some(wrong)] {
        let mut headers = vec![alice, TENANT_HEADER];
        headers.extend(auth.map(|a| ("X-Bkapi-Authorization", a)));
        for reply in [
            server.post("/api/v3/set/1", &body, &headers).await,
            server
                .post("/api/v3/set/1/batch", &json!({"sets": [body]}), &headers)
                .await,
            server.get("/api/v3/set/1", &headers).await,
            server.get("/api/v3/set/1/4780/modules", &headers).await,
        ] {
            assert_code(&reply, 1_199_046, "Authorize request failed.");
        }
    }
    assert_eq!(stored_sets(&server).await, 1);
    let auth = ("X-Bkapi-Authorization", GOOD_AUTH);
    // A user outside the grant: the write names the create action, the reads the view action.
    let mallory = [("X-Bkcmdb-User", "mallory"), TENANT_HEADER, auth];
    assert_denied(
        &server.post("/api/v3/set/1", &body, &mallory).await,
        "create_biz_topology",
        "",
    );
    assert_denied(
        &server
            .post("/api/v3/set/1/batch", &json!({"sets": [body]}), &mallory)
            .await,
        "create_biz_topology",
        "",
    );
    assert_denied(
        &server.get("/api/v3/set/1", &mallory).await,
        "find_business_resource",
        "",
    );
    assert_denied(
        &server.get("/api/v3/set/1/4780/modules", &mallory).await,
        "find_business_resource",
        "",
    );
    // Another tenant than the grant's.
    let elsewhere = [alice, ("X-Bkcmdb-Supplier-Account", "0"), auth];
    assert_denied(
        &server.get("/api/v3/set/1", &elsewhere).await,
        "find_business_resource",
        "",
    );
    // Inside the grant: writes and reads work; the user may also come from the header's JSON.
    let ok = [alice, TENANT_HEADER, auth];
    let created = server.post("/api/v3/set/1", &body, &ok).await;
    assert_eq!(created.json["code"], json!(0), "{}", created.text);
    let by_json = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t","bk_username":"alice"}"#;
    let listed = server
        .send(
            server
                .client
                .get(server.url("/api/v3/set/1"))
                .header("X-Bkapi-Authorization", by_json)
                .header("X-Bkcmdb-Supplier-Account", TENANT),
        )
        .await;
    assert_eq!(listed.json["data"]["count"], json!(2), "{}", listed.text);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_ask_the_policy_and_need_a_user() {
    let policy = StaticPolicy::from_json(r#"{"allow": {"alice": [1]}, "view": {"carol": [1]}}"#)
        .expect("policy");
    let policy = Arc::new(policy);
    let server = start_with(Backend::Memory, |b| {
        b.authorizer(policy.clone()).viewer(policy)
    })
    .await;
    // Before: `GET /api/v3/set/1` answered anyone, also with no user at all.
    let anonymous = server
        .send(
            server
                .client
                .get(server.url("/api/v3/set/1"))
                .header("X-Bkcmdb-Supplier-Account", TENANT),
        )
        .await;
    assert_code(
        &anonymous,
        1_199_027,
        "'user' authorization information query failed",
    );
    for path in ["/api/v3/set/1", "/api/v3/set/1/1/modules"] {
        // The biz is in the reader's tenant: the denial names it.
        let bob = server
            .get(path, &[("X-Bkcmdb-User", "bob"), TENANT_HEADER])
            .await;
        assert_denied(&bob, "find_business_resource", "demo");
        for reader in ["alice", "carol"] {
            let reply = server
                .get(path, &[("X-Bkcmdb-User", reader), TENANT_HEADER])
                .await;
            assert_eq!(
                reply.json["result"],
                json!(true),
                "{reader} {path}: {}",
                reply.text
            );
        }
    }
    // A viewer may not write.
    let carol = server
        .post(
            "/api/v3/set/1",
            &json!({"bk_parent_id": 1, "bk_set_name": "c"}),
            &[("X-Bkcmdb-User", "carol"), TENANT_HEADER],
        )
        .await;
    assert_denied(&carol, "create_biz_topology", "demo");
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_input_on_every_route() {
    let server = start(Backend::Memory).await;
    // A repeated bk_username: the last used to win ("mallory" then "alice" acted as alice).
    let body = format!(
        r#"{{"bk_username":"mallory","bk_username":"alice","bk_supplier_account":"{TENANT}","bk_biz_id":1,"data":{{"bk_parent_id":1,"bk_set_name":"x"}}}}"#
    );
    let reply = server.post_raw(ESB, body.into_bytes(), &[]).await;
    assert_code(
        &reply,
        1_199_000,
        "Deserializing JSON data failed: duplicate key 'bk_username'",
    );
    // Repeated inside data, on the native route.
    let reply = server
        .post_raw(
            "/api/v3/set/1",
            br#"{"bk_parent_id":1,"bk_set_name":"x","bk_set_name":"y"}"#.to_vec(),
            &[("X-Bkcmdb-User", "alice"), TENANT_HEADER],
        )
        .await;
    assert_code(
        &reply,
        1_199_000,
        "Deserializing JSON data failed: duplicate key 'bk_set_name'",
    );
    // A NUL (and every other control character) in the name: used to be stored as given.
    for c in ['\u{0}', '\u{1b}', '\u{7f}', '\n'] {
        let mut body = seed_request();
        body["data"]["bk_set_name"] = json!(format!("a{c}b"));
        let reply = server.post(ESB, &body, &[]).await;
        assert_code(&reply, 1_199_006, "'bk_set_name' the parameter is invalid");
    }
    // A 50 KB user name, or one that is not a user name: 1199027, on both routes.
    let long = "u".repeat(50_000);
    for bad in [long.as_str(), "bad user", "-x", "ali/ce"] {
        let mut body = seed_request();
        body["bk_username"] = json!(bad);
        let reply = server.post(ESB, &body, &[]).await;
        assert_code(
            &reply,
            1_199_027,
            "'user' authorization information query failed",
        );
        if bad.len() < 1000 {
            let reply = server
                .post(
                    "/api/v3/set/1",
                    &json!({"bk_parent_id": 1, "bk_set_name": "x"}),
                    &[("X-Bkcmdb-User", bad), TENANT_HEADER],
                )
                .await;
            assert_code(
                &reply,
                1_199_027,
                "'user' authorization information query failed",
            );
        }
    }
    assert_eq!(stored_sets(&server).await, 1, "nothing written");
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_paged_with_the_total_count() {
    let server = start(Backend::Memory).await;
    let user = ("X-Bkcmdb-User", "alice");
    for i in 0..7 {
        let reply = server
            .post(
                "/api/v3/set/1",
                &json!({"bk_parent_id": 1, "bk_set_name": format!("s{i}")}),
                &[user, TENANT_HEADER],
            )
            .await;
        assert_eq!(reply.json["code"], json!(0), "{}", reply.text);
    }
    let ids = |reply: &Reply| -> Vec<i64> {
        reply.json["data"]["info"]
            .as_array()
            .expect("info")
            .iter()
            .map(|s| s["bk_set_id"].as_i64().expect("id"))
            .collect()
    };
    let page = server
        .get("/api/v3/set/1?start=2&limit=3", &[TENANT_HEADER])
        .await;
    assert_eq!(page.json["data"]["count"], json!(8), "{}", page.text);
    assert_eq!(ids(&page), vec![4781, 4782, 4783]);
    let all = server.get("/api/v3/set/1", &[TENANT_HEADER]).await;
    assert_eq!(
        (all.json["data"]["count"].clone(), ids(&all).len()),
        (json!(8), 8)
    );
    let past = server.get("/api/v3/set/1?start=9", &[TENANT_HEADER]).await;
    assert_eq!(past.json["data"], json!({"count": 8, "info": []}));
    for (query, field) in [
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("start=x", "start"),
        ("start=1&start=2", "start"),
    ] {
        let reply = server
            .get(&format!("/api/v3/set/1?{query}"), &[TENANT_HEADER])
            .await;
        assert_code(
            &reply,
            1_199_006,
            &format!("'{field}' the parameter is invalid"),
        );
    }
    let modules = server
        .get("/api/v3/set/1/4780/modules?limit=1", &[TENANT_HEADER])
        .await;
    assert_eq!(
        modules.json["data"],
        json!({"count": 0, "info": []}),
        "{}",
        modules.text
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_over_its_rate_gets_429_with_an_envelope() {
    let options = ServeOptions {
        rate_per_second: 1,
        rate_burst: 2,
        ..apps()
    };
    let server = start_serving(Backend::Memory, |b| b, options).await;
    let headers = [
        ("X-Bkcmdb-User", "alice"),
        TENANT_HEADER,
        ("X-Bkapi-Authorization", GOOD_AUTH),
    ];
    let mut limited = 0;
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let reply = server.get("/api/v3/set/1", &headers).await;
        if reply.status == 429 {
            limited += 1;
            assert_eq!(
                (
                    &reply.json["code"],
                    &reply.json["message"],
                    &reply.json["result"]
                ),
                (
                    &json!(1_199_997),
                    &json!("too many requests"),
                    &json!(false)
                )
            );
        } else {
            assert_eq!(reply.json["code"], json!(0), "{}", reply.text);
        }
    }
    // Two tokens, one more a second: of ten requests made within `elapsed`, exactly the burst
    // passes plus what the rate refilled meanwhile (at most one token per started second).
    let elapsed = started.elapsed().as_secs_f64();
    let passed = 10 - limited;
    assert!(
        (2..=2 + elapsed.ceil() as usize).contains(&passed),
        "{passed} of 10 passed in {elapsed:.3} s with a burst of 2 and 1 token a second"
    );
    if elapsed < 1.0 {
        assert_eq!(passed, 2, "within a second only the burst passes");
    }
    // Another app has its own bucket.
    let ops = r#"{"bk_app_code":"ops","bk_app_secret":"0ps"}"#;
    let other = server
        .get(
            "/api/v3/set/1",
            &[
                ("X-Bkcmdb-User", "x"),
                TENANT_HEADER,
                ("X-Bkapi-Authorization", ops),
            ],
        )
        .await;
    assert_eq!(other.json["code"], json!(0), "{}", other.text);
    server.stop().await.0.expect("clean stop");

    // Without apps callers are trusted and there is no app to limit.
    let options = ServeOptions {
        rate_per_second: 1,
        rate_burst: 1,
        ..ServeOptions::default()
    };
    let server = start_serving(Backend::Memory, |b| b, options).await;
    for _ in 0..5 {
        let reply = server.get("/api/v3/set/1", &[TENANT_HEADER]).await;
        assert_eq!(
            (reply.status, &reply.json["code"]),
            (200, &json!(0)),
            "{}",
            reply.text
        );
    }
    server.stop().await.0.expect("clean stop");
}
