//! Bodies: not JSON, not an object, too deep, too big, and content types.

use cmdb_app::request::MAX_BODY_BYTES;
use serde_json::json;

use crate::support::{Backend, TENANT, failure_text, seed_request, start};

const ESB: &str = "/api/c/compapi/v2/cc/create_set/";
const NATIVE: &str = "/api/v3/set/1";
const BATCH: &str = "/api/v3/set/1/batch";
const JSON: (&str, &str) = ("Content-Type", "application/json");
const RID: (&str, &str) = ("X-Request-Id", "lim");
const USER: (&str, &str) = ("X-Bkcmdb-User", "alice");
const TENANT_HEADER: (&str, &str) = ("X-Bkcmdb-Supplier-Account", TENANT);

fn nested(depth: usize) -> String {
    // The top-level object is depth 1; each array adds one.
    format!(
        "{{\"a\":{}{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_1199000() {
    let server = start(Backend::Memory).await;
    let not_json = "Deserializing JSON data failed";
    let too_deep = "Deserializing JSON data failed: nested deeper than 64 levels";
    let bodies = [
        ("{\"bk_username\":".to_owned(), not_json),
        ("not json".to_owned(), not_json),
        ("[]".to_owned(), not_json),
        ("[{\"bk_parent_id\": 1}]".to_owned(), not_json),
        ("\"x\"".to_owned(), not_json),
        (String::new(), not_json),
        (nested(65), too_deep),
        (format!("[{}]", nested(64)), too_deep),
    ];
    for path in [ESB, NATIVE, BATCH] {
        for (body, message) in &bodies {
            let reply = server
                .post_raw(
                    path,
                    body.clone().into_bytes(),
                    &[JSON, RID, USER, TENANT_HEADER],
                )
                .await;
            assert_eq!(reply.status, 200, "{path} {body:.40}");
            assert_eq!(
                reply.text,
                failure_text(1199000, message, "lim"),
                "{path} {body:.40}"
            );
        }
    }
    // 64 levels pass the limit and reach the rules.
    let reply = server
        .post_raw(
            NATIVE,
            nested(64).into_bytes(),
            &[JSON, RID, USER, TENANT_HEADER],
        )
        .await;
    assert_eq!(reply.json["code"], json!(1199011), "{}", reply.text);
    assert_eq!(
        reply.json["message"],
        json!("'a' the parameter is invalid or does not exist")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_is_exact() {
    let server = start(Backend::Sqlite).await;
    let over = "Deserializing JSON data failed: body exceeds 1 MiB";
    for path in [ESB, NATIVE, BATCH] {
        let mut body = b"{}".to_vec();
        body.resize(MAX_BODY_BYTES + 1, b' ');
        let reply = server
            .post_raw(path, body, &[JSON, RID, USER, TENANT_HEADER])
            .await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.content_type.as_deref(), Some("application/json"));
        assert_eq!(reply.text, failure_text(1199000, over, "lim"), "{path}");
    }
    // Exactly 1 MiB is read and created.
    let mut body = serde_json::to_vec(&seed_request()).unwrap();
    body.resize(MAX_BODY_BYTES, b' ');
    let reply = server.post_raw(ESB, body, &[JSON, RID]).await;
    assert_eq!(
        (&reply.json["code"], &reply.json["data"]["bk_set_id"]),
        (&json!(0), &json!(4780))
    );
    let mut body = serde_json::to_vec(&json!({"bk_parent_id": 1, "bk_set_name": "big"})).unwrap();
    body.resize(MAX_BODY_BYTES, b' ');
    let reply = server
        .post_raw(NATIVE, body, &[JSON, RID, USER, TENANT_HEADER])
        .await;
    assert_eq!(
        (&reply.json["code"], &reply.json["data"]["bk_set_id"]),
        (&json!(0), &json!(4781))
    );
    // Far over the limit: the server answers after the first MiB and closes the connection
    // without reading the rest. A raw client declares 8 MiB, sends a little over one, stops
    // sending, and must read the envelope (no `if let Ok`: the answer is required).
    let answer =
        over_the_limit_raw(&server.url(""), 8 * MAX_BODY_BYTES, MAX_BODY_BYTES + 4096).await;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .expect("a complete HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.contains(&failure_text(1199000, over, "lim")),
        "the 1 MiB envelope: {body}"
    );
    let sets = server.get(NATIVE, &[TENANT_HEADER]).await;
    assert_eq!(sets.json["data"]["count"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_types() {
    let server = start(Backend::Memory).await;
    let refused = failure_text(
        1199000,
        "Deserializing JSON data failed: content type must be application/json",
        "lim",
    );
    let body = || serde_json::to_vec(&json!({"bk_parent_id": 1, "bk_set_name": "x"})).unwrap();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ] {
        for path in [ESB, NATIVE, BATCH] {
            let reply = server
                .post_raw(
                    path,
                    body(),
                    &[("Content-Type", content_type), RID, USER, TENANT_HEADER],
                )
                .await;
            assert_eq!(
                (reply.status, &reply.text),
                (415, &refused),
                "{content_type} {path}"
            );
        }
    }
    // JSON with parameters, a +json type, and no content type at all are read as JSON.
    let accepted = [
        vec![("Content-Type", "application/json; charset=utf-8")],
        vec![("Content-Type", "Application/JSON")],
        vec![("Content-Type", "application/vnd.bkcmdb+json")],
        vec![],
    ];
    for (i, content_type) in accepted.into_iter().enumerate() {
        let mut headers = content_type.clone();
        headers.extend([RID, USER, TENANT_HEADER]);
        let body = serde_json::to_vec(&json!({"bk_parent_id": 1, "bk_set_name": format!("ok{i}")}))
            .unwrap();
        let reply = server.post_raw(NATIVE, body, &headers).await;
        assert_eq!(
            reply.json["code"],
            json!(0),
            "{content_type:?}: {}",
            reply.text
        );
    }
}

/// Sends a native create declaring `declared` body bytes but only `sent` of them, then reads the
/// whole answer (the server closes the connection after answering).
async fn over_the_limit_raw(base: &str, declared: usize, sent: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {NATIVE} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Request-Id: lim\r\nX-Bkcmdb-User: alice\r\nX-Bkcmdb-Supplier-Account: {TENANT}\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    stream
        .write_all(&vec![b' '; sent])
        .await
        .expect("send part of the body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers and closes within 30 s");
    // A reset after the answer is fine: what was read is the answer.
    if let Err(e) = read {
        assert!(!answer.is_empty(), "no answer before {e}");
    }
    String::from_utf8(answer).expect("utf-8")
}
