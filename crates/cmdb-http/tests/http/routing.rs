//! Unknown routes, wrong methods, the health route and request ids.

use serde_json::json;

use crate::support::{Backend, TENANT, failure_text, is_fresh_id, seed_request, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_envelopes() {
    let server = start(Backend::Memory).await;
    let rid = ("X-Request-Id", "route");
    for path in [
        "/",
        "/nope",
        "/api/v3/set",
        "/api/v3/set/1/2",
        "/api/v3/set/1/2/modules/3",
    ] {
        let reply = server.get(path, &[rid]).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.text,
            failure_text(1199019, "No relevant data found", "route"),
            "{path}"
        );
        assert_eq!(reply.request_id.as_deref(), Some("route"));
        let reply = server.post(path, &json!({}), &[rid]).await;
        assert_eq!(reply.status, 404, "POST {path}");
    }
    let wrong = [
        (
            server
                .client
                .get(server.url("/api/c/compapi/v2/cc/create_set/")),
            "POST",
        ),
        (
            server
                .client
                .get(server.url("/api/c/compapi/v2/cc/create_set")),
            "POST",
        ),
        (
            server.client.delete(server.url("/api/v3/set/1")),
            "POST,GET,HEAD",
        ),
        (server.client.get(server.url("/api/v3/set/1/batch")), "POST"),
        (
            server.client.post(server.url("/api/v3/set/1/1/modules")),
            "GET,HEAD",
        ),
        (server.client.post(server.url("/healthz")), "GET,HEAD"),
    ];
    for (request, allow) in wrong {
        let reply = server.send(request.header("X-Request-Id", "route")).await;
        assert_eq!(reply.status, 405);
        assert_eq!(
            reply.text,
            failure_text(1199019, "No relevant data found", "route")
        );
        assert_eq!(reply.allow.as_deref(), Some(allow));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_the_store() {
    for (backend, name) in [(Backend::Memory, "memory"), (Backend::Sqlite, "sqlite")] {
        let server = start(backend).await;
        let reply = server.get("/healthz", &[("X-Request-Id", "h")]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.text,
            format!(
                r#"{{"result":true,"code":0,"message":"","permission":null,"request_id":"h","data":{{"status":"ok","store":"{name}"}}}}"#
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_used_when_sane_and_always_echoed() {
    let server = start(Backend::Memory).await;
    let longest = "x".repeat(64);
    let sane = ["abc", "A-b_c.9:~!", longest.as_str()];
    for id in sane {
        let reply = server.get("/healthz", &[("X-Request-Id", id)]).await;
        assert_eq!(reply.request_id.as_deref(), Some(id));
        assert_eq!(reply.json["request_id"], json!(id));
    }
    let too_long = "x".repeat(65);
    for id in [too_long.as_str(), "has space", "", "tab\tinside"] {
        let reply = server.get("/nope", &[("X-Request-Id", id)]).await;
        let echoed = reply.request_id.clone().unwrap();
        assert!(is_fresh_id(&echoed), "{id:?} → {echoed}");
        assert_eq!(reply.json["request_id"], json!(echoed));
    }
    let reply = server.get("/healthz", &[]).await;
    let echoed = reply.request_id.clone().unwrap();
    assert!(is_fresh_id(&echoed));
    assert_eq!(reply.json["request_id"], json!(echoed));

    // The id reaches the audit record.
    let reply = server
        .post(
            "/api/c/compapi/v2/cc/create_set",
            &seed_request(),
            &[("X-Request-Id", "trace-42")],
        )
        .await;
    assert_eq!(reply.json["request_id"], json!("trace-42"));
    let audits = server
        .engine
        .audit_records(TENANT, cmdb_core::BizId(1), None)
        .await
        .unwrap();
    assert_eq!(audits[0]["rid"], json!("trace-42"));
}
