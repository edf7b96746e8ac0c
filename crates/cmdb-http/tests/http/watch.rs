//! The watch routes (spec W3): the ESB `resource_watch` and the native
//! `/api/v3/event/watch/resource/{bk_resource}`, on memory and SQLite: the seed's set and
//! module as events, the continuation answer, cursors, field errors, a long poll woken by a
//! create on another connection, the apps' grants.

use std::sync::Arc;
use std::time::Duration;

use cmdb_app::apps::AppRegistry;
use cmdb_http::{ESB_CREATE_SET_PATH, ESB_WATCH_PATH, ServeOptions};
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, Server, TENANT, seed_request, start, start_serving};

const NATIVE: &str = "/api/v3/event/watch/resource/";

fn esb(fields: Value) -> Value {
    let mut body = json!({"bk_app_code": "esb_test", "bk_app_secret": "xxx",
                          "bk_username": "alice", "bk_supplier_account": TENANT});
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn native_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-Bkcmdb-User", "alice"),
        ("X-Bkcmdb-Supplier-Account", TENANT),
        ("X-Bkapi-App-Code", "esb_test"),
    ]
}

async fn seed(server: &Server) -> Value {
    let created = server.post(ESB_CREATE_SET_PATH, &seed_request(), &[]).await;
    assert_eq!(created.json["code"], 0, "{}", created.text);
    created.json["data"].clone()
}

#[tokio::test]
async fn the_seed_set_and_its_module_are_events_on_both_routes() {
    for backend in BACKENDS {
        let server = start(backend).await;
        let set = seed(&server).await;
        let answer = server
            .post(
                ESB_WATCH_PATH,
                &esb(json!({"bk_resource": "set", "bk_start_from": 0})),
                &[],
            )
            .await;
        assert_eq!(answer.status, 200, "{backend:?}: {}", answer.text);
        assert_eq!(answer.json["code"], 0);
        let data = &answer.json["data"];
        assert_eq!(data["bk_watched"], true);
        let events = data["bk_events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["bk_resource"], "set");
        assert_eq!(events[0]["bk_event_type"], "create");
        assert_eq!(events[0]["bk_detail"], set, "the stored document");
        let cursor = events[0]["bk_cursor"].as_str().unwrap().to_owned();

        let fields = json!({"bk_start_from": 0, "bk_fields": ["bk_module_name", "bk_set_id"]});
        let modules = server
            .post(&format!("{NATIVE}module"), &fields, &native_headers())
            .await;
        assert_eq!(modules.json["code"], 0, "{}", modules.text);
        let module = &modules.json["data"]["bk_events"][0];
        assert_eq!(
            module["bk_detail"],
            json!({"bk_module_name": "nginx", "bk_set_id": 4780})
        );

        // A set's cursor is not a module's: 1103007, in both languages.
        let after = json!({"bk_cursor": cursor});
        let refused = server
            .post(&format!("{NATIVE}module"), &after, &native_headers())
            .await;
        assert_eq!(refused.json["code"], 1_103_007, "{}", refused.text);
        assert_eq!(refused.json["message"], "Event chain node not exist");
        let zh = server
            .post(
                &format!("{NATIVE}module"),
                &after,
                &[native_headers(), vec![("Blueking-Language", "zh-cn")]].concat(),
            )
            .await;
        assert_eq!(zh.json["message"], "事件节点不存在");
    }
}

#[tokio::test]
async fn a_wait_that_ends_answers_the_continuation_cursor() {
    let server = start_serving(
        Backend::Memory,
        |b| b,
        ServeOptions {
            watch_timeout: Duration::from_millis(50),
            ..ServeOptions::default()
        },
    )
    .await;
    seed(&server).await;
    let all = server
        .post(
            ESB_WATCH_PATH,
            &esb(json!({"bk_resource": "set", "bk_start_from": 0})),
            &[],
        )
        .await;
    let cursor = all.json["data"]["bk_events"][0]["bk_cursor"].clone();
    let none = server
        .post(
            ESB_WATCH_PATH,
            &esb(json!({"bk_resource": "set", "bk_cursor": cursor})),
            &[],
        )
        .await;
    assert_eq!(none.json["code"], 0, "{}", none.text);
    let data = &none.json["data"];
    assert_eq!(data["bk_watched"], false);
    let only = data["bk_events"].as_array().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["bk_event_type"], "");
    assert_eq!(only[0]["bk_detail"], json!({}));
    assert_eq!(only[0]["bk_resource"], "set");
    // The continuation cursor skips nothing created later.
    let mut second = seed_request();
    second["data"]["bk_set_name"] = json!("second");
    assert_eq!(
        server.post(ESB_CREATE_SET_PATH, &second, &[]).await.json["code"],
        0
    );
    let next = json!({"bk_resource": "set", "bk_cursor": only[0]["bk_cursor"]});
    let later = server.post(ESB_WATCH_PATH, &esb(next), &[]).await;
    let events = later.json["data"]["bk_events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["bk_detail"]["bk_set_name"], "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_answers_when_a_create_commits() {
    for backend in BACKENDS {
        let server = Arc::new(start(backend).await);
        seed(&server).await;
        let first = server
            .post(
                ESB_WATCH_PATH,
                &esb(json!({"bk_resource": "set", "bk_start_from": 0})),
                &[],
            )
            .await;
        assert_eq!(first.json["data"]["bk_watched"], true, "{}", first.text);
        let cursor = first.json["data"]["bk_events"][0]["bk_cursor"].clone();
        let waiting = {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let body = esb(json!({"bk_resource": "set", "bk_cursor": cursor}));
                server.post(ESB_WATCH_PATH, &body, &[]).await
            })
        };
        let mut second = seed_request();
        second["data"]["bk_set_name"] = json!("second");
        let created = server.post(ESB_CREATE_SET_PATH, &second, &[]).await;
        let set = created.json["data"].clone();
        let woken = waiting.await.unwrap();
        assert_eq!(
            woken.json["data"]["bk_watched"], true,
            "{backend:?}: {}",
            woken.text
        );
        assert_eq!(woken.json["data"]["bk_events"][0]["bk_detail"], set);
    }
}

#[tokio::test]
async fn bad_fields_are_refused_naming_them() {
    let server = start(Backend::Memory).await;
    for (fields, named) in [
        (json!({"bk_resource": "host"}), "bk_resource"),
        (json!({}), "bk_resource"),
        (
            json!({"bk_resource": "set", "bk_cursor": "c1"}),
            "bk_cursor",
        ),
        (
            json!({"bk_resource": "set", "bk_event_types": ["created"]}),
            "bk_event_types",
        ),
        (json!({"bk_resource": "set", "bk_fields": [1]}), "bk_fields"),
        (
            json!({"bk_resource": "set", "bk_start_from": -1}),
            "bk_start_from",
        ),
    ] {
        let answer = server.post(ESB_WATCH_PATH, &esb(fields.clone()), &[]).await;
        assert_eq!(answer.json["code"], 1_199_006, "{fields}: {}", answer.text);
        assert_eq!(
            answer.json["message"],
            format!("'{named}' the parameter is invalid")
        );
    }
    for resource in ["host", "%ff", "se%74"] {
        let path = format!("{NATIVE}{resource}");
        let answer = server.post(&path, &json!({}), &native_headers()).await;
        assert_eq!(
            answer.json["code"], 1_199_006,
            "{resource}: {}",
            answer.text
        );
        assert_eq!(
            answer.json["message"],
            "'bk_resource' the parameter is invalid"
        );
    }
    let no_user = server
        .post(
            ESB_WATCH_PATH,
            &json!({"bk_app_code": "a", "bk_resource": "set"}),
            &[],
        )
        .await;
    assert_eq!(no_user.json["code"], 1_199_027, "{}", no_user.text);
}

#[tokio::test]
async fn with_apps_a_watch_needs_the_app_and_its_grant() {
    let file = format!(
        r#"{{"apps": [{{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": ["{TENANT}"], "users": ["alice"]}}]}}"#
    );
    let options = ServeOptions {
        apps: Some(Arc::new(AppRegistry::from_json(&file).unwrap())),
        watch_timeout: Duration::from_millis(10),
        ..ServeOptions::default()
    };
    let server = start_serving(Backend::Memory, |b| b, options).await;
    let mut body = esb(json!({"bk_resource": "set", "bk_start_from": 0}));
    let wrong = server.post(ESB_WATCH_PATH, &body, &[]).await;
    assert_eq!(
        wrong.json["code"], 1_199_046,
        "the secret is wrong: {}",
        wrong.text
    );
    body["bk_app_secret"] = json!("s3cr3t");
    body["bk_username"] = json!("mallory");
    let other_user = server.post(ESB_WATCH_PATH, &body, &[]).await;
    assert_eq!(other_user.json["code"], 9_900_403, "{}", other_user.text);
    body["bk_username"] = json!("alice");
    let granted = server.post(ESB_WATCH_PATH, &body, &[]).await;
    assert_eq!(granted.json["code"], 0, "{}", granted.text);
    assert_eq!(
        granted.json["data"]["bk_watched"], false,
        "nothing created: the wait ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_waiting_watches_with_their_cursor() {
    let mut server = start_serving(
        Backend::Memory,
        |b| b,
        ServeOptions {
            watch_timeout: Duration::from_secs(600),
            ..ServeOptions::default()
        },
    )
    .await;
    seed(&server).await;
    let all = server
        .post(
            ESB_WATCH_PATH,
            &esb(json!({"bk_resource": "set", "bk_start_from": 0})),
            &[],
        )
        .await;
    let cursor = all.json["data"]["bk_events"][0]["bk_cursor"].clone();
    let waiting = {
        let (client, url) = (server.client.clone(), server.url(ESB_WATCH_PATH));
        let body = esb(json!({"bk_resource": "set", "bk_cursor": cursor}));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await?
                .json::<Value>()
                .await
        })
    };
    // A readiness probe: the watch has begun to wait (at most 20 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while server.engine.watchers_waiting() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watch never waited"
        );
        tokio::task::yield_now().await;
    }
    server.signal_stop();
    let answer = waiting
        .await
        .unwrap()
        .expect("answered before the connection closed");
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(
        answer["data"]["bk_watched"], false,
        "answered by the shutdown, not after 600 s"
    );
    // The cursor past what it looked at (the seed's module record): what a watch that does
    // not wait answers after the same cursor.
    let after: cmdb_app::watch::Cursor = cursor.as_str().unwrap().parse().unwrap();
    let ctx = cmdb_core::plan::RequestContext {
        user: "alice".into(),
        supplier_account: TENANT.into(),
        app_code: "esb_test".into(),
        request_id: "0".repeat(32),
    };
    let request = cmdb_app::watch::WatchRequest::new(
        cmdb_core::records::ResourceType::Set,
        cmdb_app::watch::WatchStart::After(after),
    );
    let now = server
        .engine
        .watch(&ctx, &request, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["bk_events"][0]["bk_cursor"],
        json!(now.next.to_string())
    );
    let (served, _) = server.stop().await;
    served.expect("serve ended cleanly");
}
