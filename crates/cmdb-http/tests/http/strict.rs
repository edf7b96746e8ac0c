//! The smaller points of issue 27 (item 6), each decided: repeated identity headers refused,
//! secrets compared exactly, head limits exact and named, a path error naming its own field,
//! query values percent-decoded, and every malformed request answered with an envelope.

use std::sync::Arc;

use cmdb_app::apps::AppRegistry;
use cmdb_http::ServeOptions;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::hostile::{addr, envelope, read_to_close, start_with_options};
use crate::support::{Server, TENANT, seed_request};

const ESB: &str = "/api/c/compapi/v2/cc/create_set/";
/// A header's name and raw value.
type Header<'a> = (&'a str, &'a [u8]);
const GOOD_AUTH: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t"}"#;

async fn start_with_apps() -> Server {
    let file = r#"{"apps": [{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": "any", "users": "any"}]}"#;
    start_with_options(ServeOptions {
        apps: Some(Arc::new(AppRegistry::from_json(file).expect("apps file"))),
        ..ServeOptions::default()
    })
    .await
}

/// `(status, code, message)` of a request to `path` (a POST with a set body unless `get`)
/// with `headers`, each appended (a name given twice is sent twice).
async fn call(
    server: &Server,
    get: bool,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (u16, i64, String) {
    let url = server.url(path);
    let mut request = if get {
        server.client.get(url)
    } else {
        server.client.post(url).json(&{
            let mut body = seed_request();
            if path != ESB {
                body = json!({"bk_parent_id": 1, "bk_set_name": "strict"});
            }
            body
        })
    };
    for (name, value) in headers {
        request = request.header(
            *name,
            HeaderValue::from_bytes(value).expect("a header value"),
        );
    }
    let reply = server.send(request).await;
    let json = &reply.json;
    (
        reply.status,
        json["code"].as_i64().unwrap_or(-1),
        json["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_identity_headers_are_refused_on_every_route() {
    let server = start_with_apps().await;
    let auth: (&str, &[u8]) = ("X-Bkapi-Authorization", GOOD_AUTH.as_bytes());
    let alice: (&str, &[u8]) = ("X-Bkcmdb-User", b"alice");
    let tenant: (&str, &[u8]) = ("X-Bkcmdb-Supplier-Account", TENANT.as_bytes());
    let routes = [
        (false, ESB),
        (false, "/api/v3/set/1"),
        (false, "/api/v3/set/1/batch"),
        (true, "/api/v3/set/1"),
        (true, "/api/v3/set/1/1/modules"),
    ];
    // Before: the first of each was taken, so a gateway appending its own was bypassed.
    let cases: [(&[Header], i64); 4] = [
        (&[auth, auth, alice, tenant], 1_199_045),
        (
            &[auth, alice, ("X-Bkcmdb-User", b"mallory"), tenant],
            1_199_027,
        ),
        (
            &[auth, alice, tenant, ("X-Bkcmdb-Supplier-Account", b"0")],
            1_199_006,
        ),
        (
            &[
                auth,
                alice,
                tenant,
                ("X-Bkcmdb-App-Code", b"a"),
                ("X-Bkcmdb-App-Code", b"b"),
            ],
            1_199_045,
        ),
    ];
    for (get, path) in routes {
        for (headers, code) in &cases {
            let (status, got, message) = call(&server, get, path, headers).await;
            assert_eq!((status, got), (200, *code), "{path} {headers:?}: {message}");
        }
    }
    let (_, _, message) = call(&server, true, "/api/v3/set/1", cases[2].0).await;
    assert_eq!(message, "'bk_supplier_account' the parameter is invalid");
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_codes_are_compared_exactly() {
    let server = start_with_apps().await;
    // Before: trimmed first, so "s3cr3t " authenticated.
    for (code, secret) in [
        ("esb_test", "s3cr3t "),
        ("esb_test", " s3cr3t"),
        ("esb_test ", "s3cr3t"),
    ] {
        let mut body = seed_request();
        body["bk_app_code"] = json!(code);
        body["bk_app_secret"] = json!(secret);
        let reply = server.post(ESB, &body, &[]).await;
        assert_eq!(
            reply.json["code"],
            json!(1_199_046),
            "{code:?} {secret:?}: {}",
            reply.text
        );
        let header = json!({"bk_app_code": code, "bk_app_secret": secret}).to_string();
        let headers: [(&str, &[u8]); 3] = [
            ("X-Bkapi-Authorization", header.as_bytes()),
            ("X-Bkcmdb-User", b"alice"),
            ("X-Bkcmdb-Supplier-Account", TENANT.as_bytes()),
        ];
        let (_, got, _) = call(&server, false, "/api/v3/set/1", &headers).await;
        assert_eq!(got, 1_199_046, "{code:?} {secret:?}");
    }
    let mut body = seed_request();
    body["bk_app_secret"] = json!("s3cr3t");
    assert_eq!(server.post(ESB, &body, &[]).await.json["code"], json!(0));
    // An apps file whose secret has surrounding spaces loads no more (it could never match).
    let spaced = r#"{"apps": [{"bk_app_code": "a", "bk_app_secret": " s3cr3t ", "tenants": "any", "users": "any"}]}"#;
    assert_eq!(
        AppRegistry::from_json(spaced).unwrap_err().to_string(),
        "invalid apps file: apps[0]: bk_app_secret has leading or trailing whitespace"
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_header_that_is_not_utf8_is_refused() {
    let server = start_with_apps().await;
    // Before: silently replaced by the header credentials' bk_username (here alice).
    let auth = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t","bk_username":"alice"}"#;
    let headers: [(&str, &[u8]); 3] = [
        ("X-Bkapi-Authorization", auth.as_bytes()),
        ("X-Bkcmdb-User", b"adm\xffin"),
        ("X-Bkcmdb-Supplier-Account", TENANT.as_bytes()),
    ];
    for get in [false, true] {
        let (status, code, _) = call(&server, get, "/api/v3/set/1", &headers).await;
        assert_eq!((status, code), (200, 1_199_027), "get: {get}");
    }
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_errors_name_their_field_and_queries_are_decoded() {
    let server = start_with_options(ServeOptions::default()).await;
    let tenant = ("X-Bkcmdb-Supplier-Account", TENANT);
    // Before: a set segment that is not UTF-8 was reported as the biz.
    let set = server.get("/api/v3/set/1/%ff/modules", &[tenant]).await;
    assert_eq!(set.json["code"], json!(1_199_009), "{}", set.text);
    assert_eq!(
        set.json["message"],
        json!("'bk_set_id' parameters must be integral")
    );
    let biz = server.get("/api/v3/set/%ff/1/modules", &[tenant]).await;
    assert_eq!(
        biz.json["message"],
        json!("'bk_biz_id' parameters must be integral")
    );
    // Before: `limit=%35` was refused as not digits.
    for i in 0..3 {
        let name = format!("q{i}");
        let reply = server
            .post(
                "/api/v3/set/1",
                &json!({"bk_parent_id": 1, "bk_set_name": name}),
                &[("X-Bkcmdb-User", "alice"), tenant],
            )
            .await;
        assert_eq!(reply.json["code"], json!(0), "{}", reply.text);
    }
    let page = server
        .get("/api/v3/set/1?start=%31&limit=%32", &[tenant])
        .await;
    assert_eq!(page.json["code"], json!(0), "{}", page.text);
    assert_eq!(page.json["data"]["count"], json!(4));
    let ids: Vec<&Value> = page.json["data"]["info"]
        .as_array()
        .expect("info")
        .iter()
        .map(|set| &set["bk_set_id"])
        .collect();
    assert_eq!(ids, [&json!(4780), &json!(4781)]);
    let bad = server.get("/api/v3/set/1?limit=%3x", &[tenant]).await;
    assert_eq!(
        bad.json["message"],
        json!("'limit' the parameter is invalid")
    );
    server.stop().await.0.expect("clean stop");
}

/// A `GET /healthz` head of exactly `bytes` bytes (padded in one header).
fn head_of(bytes: usize) -> Vec<u8> {
    let bare = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n".len();
    format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(bytes - bare)
    )
    .into_bytes()
}

/// Sends `head` (all at once, or in pieces of 100 bytes) and a closing request; the first
/// answer's status and envelope.
async fn send_head(server: &Server, head: &[u8], pieces: bool) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr(server)).await.expect("connect");
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if pieces {
        for piece in head.chunks(100) {
            if stream.write_all(piece).await.is_err() {
                break;
            }
            stream.flush().await.expect("flush");
            tokio::task::yield_now().await;
        }
        let _ = stream.write_all(&bytes[head.len()..]).await;
    } else {
        let _ = stream.write_all(&bytes).await;
    }
    envelope(&read_to_close(&mut stream).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_limit_is_exact_and_named() {
    const LIMIT: usize = 16 << 10;
    let server = start_with_options(ServeOptions {
        max_header_bytes: LIMIT,
        ..ServeOptions::default()
    })
    .await;
    // Before: a head over the limit arriving in one write was accepted.
    for pieces in [false, true] {
        let (status, json) = send_head(&server, &head_of(LIMIT), pieces).await;
        assert_eq!(
            (status, &json["code"]),
            (200, &json!(0)),
            "pieces: {pieces}"
        );
        let (status, json) = send_head(&server, &head_of(LIMIT + 1), pieces).await;
        assert_eq!(
            (status, &json["code"]),
            (431, &json!(1_199_015)),
            "pieces: {pieces}"
        );
        assert_eq!(json["message"], "'headers' exceeds the maximum length");
    }
    // Before: 101 short headers (a 1 KB head) were refused as "exceeds the maximum length".
    let many = |count: usize| {
        let mut head = "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_owned();
        for i in 1..count {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    };
    let (status, _) = send_head(&server, &many(100), false).await;
    assert_eq!(status, 200);
    let (status, json) = send_head(&server, &many(101), false).await;
    assert_eq!((status, &json["code"]), (431, &json!(1_199_015)));
    assert_eq!(
        json["message"],
        "'headers' exceeds the maximum count of 100"
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_is_answered_with_an_envelope() {
    let server = start_with_options(ServeOptions::default()).await;
    // Before: an HTTP/2 preface got no answer.
    let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    let (status, json) = envelope(&read_to_close(&mut stream).await);
    assert_eq!((status, &json["code"]), (505, &json!(1_199_006)));
    // Before: a malformed second request of a pipeline got no answer.
    let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\x01 / HTTP/1.1\r\n\r\n")
        .await
        .expect("pipeline");
    let answers = read_to_close(&mut stream).await;
    let text = String::from_utf8_lossy(&answers).into_owned();
    let second = text
        .match_indices("HTTP/1.1 ")
        .nth(1)
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("one answer only: {text}"));
    assert_eq!(envelope(&answers[..second]).0, 200);
    let (status, json) = envelope(&answers[second..]);
    assert_eq!((status, &json["code"]), (400, &json!(1_199_006)), "{text}");
    server.stop().await.0.expect("clean stop");
}
