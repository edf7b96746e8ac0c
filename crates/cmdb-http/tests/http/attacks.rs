//! The attacks of issue 27 (items 1–3) on loopback, each from peers of their own (any
//! 127.0.0.0/8 address is loopback on Linux): credentials checked before a body is read,
//! failed authentications limited per peer and per code, unauthenticated bodies held to their
//! peer's share, a body budget that cannot deadlock, and connection slots one peer cannot
//! take from the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_app::apps::AppRegistry;
use cmdb_app::request::MAX_BODY_BYTES;
use cmdb_http::ServeOptions;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hostile::{BOUND, connect_from, envelope, start_with_options, still_open};
use crate::support::{Server, TENANT, seed_request};

const ESB: &str = "/api/c/compapi/v2/cc/create_set/";
const GOOD_AUTH: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t"}"#;
const WRONG_AUTH: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"guess"}"#;

fn with_apps(options: ServeOptions) -> ServeOptions {
    let file = r#"{"apps": [{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": "any", "users": "any"},
                            {"bk_app_code": "ops", "bk_app_secret": "0ps", "tenants": "any", "users": "any"}]}"#;
    ServeOptions {
        apps: Some(Arc::new(AppRegistry::from_json(file).expect("apps file"))),
        ..options
    }
}

/// Reads one answer (head and `content-length` body) from a keep-alive connection.
async fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 8192];
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return;
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed before an answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("answered in time");
    envelope(&got)
}

/// A request head (and the first `sent` bytes of a `declared`-byte body of spaces).
fn head(method: &str, path: &str, headers: &[(&str, &str)], declared: usize) -> String {
    let mut text =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {declared}\r\n\r\n"));
    text
}

/// One request with a JSON body from `ip` on a fresh connection; its answer.
async fn send_from(
    server: &Server,
    ip: [u8; 4],
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = connect_from(server, ip).await;
    let text = head("POST", path, headers, body.len()) + &body;
    stream.write_all(text.as_bytes()).await.expect("send");
    read_answer(&mut stream).await
}

fn code(answer: &(u16, Value)) -> (u16, i64) {
    (answer.0, answer.1["code"].as_i64().expect("a code"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_credentials_are_checked_before_the_body_is_read() {
    // The body timeout is far beyond the test: an answer at all means no body was awaited.
    let server = start_with_options(with_apps(ServeOptions {
        body_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    }))
    .await;
    // Before: each of these waited for its 1 MB body, parsed it, then refused.
    for (path, auth) in [
        ("/api/v3/set/1", WRONG_AUTH),
        ("/api/v3/set/1/batch", WRONG_AUTH),
        (ESB, WRONG_AUTH),
        ("/api/v3/set/1", "not json"),
        (ESB, "not json"),
    ] {
        let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
        let headers = [("X-Bkapi-Authorization", auth), ("X-Bkcmdb-User", "alice")];
        let text = head("POST", path, &headers, 1_000_000);
        stream.write_all(text.as_bytes()).await.expect("head");
        let answer = read_answer(&mut stream).await;
        let expected = if auth == WRONG_AUTH {
            1_199_046
        } else {
            1_199_045
        };
        assert_eq!(
            code(&answer),
            (200, expected),
            "{path} {auth}: {}",
            answer.1
        );
    }
    // The right credentials in the header: the body is read and the set created.
    let mut body = seed_request();
    let map = body.as_object_mut().expect("object");
    map.remove("bk_app_code");
    map.remove("bk_app_secret");
    let created = send_from(
        &server,
        [127, 0, 0, 2],
        ESB,
        &[("X-Bkapi-Authorization", GOOD_AUTH)],
        &body,
    )
    .await;
    assert_eq!(code(&created), (200, 0), "{}", created.1);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_limited_per_peer() {
    let server = start_with_options(with_apps(ServeOptions::default())).await;
    // Before: 3,000 guesses in 0.66 s on one connection, every one compared.
    let started = Instant::now();
    let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
    let mut answers = Vec::new();
    for _ in 0..40 {
        let text = head(
            "GET",
            "/api/v3/set/1",
            &[
                ("X-Bkapi-Authorization", WRONG_AUTH),
                ("X-Bkcmdb-User", "alice"),
            ],
            0,
        );
        stream.write_all(text.as_bytes()).await.expect("send");
        answers.push(code(&read_answer(&mut stream).await));
    }
    let refused = answers.iter().filter(|a| **a == (200, 1_199_046)).count();
    let limited = answers.iter().filter(|a| **a == (429, 1_199_997)).count();
    // 20 at once, then one a second: at most one more per second the loop took.
    let allowance = 20 + started.elapsed().as_secs() as usize;
    assert_eq!(refused + limited, 40, "{answers:?}");
    assert!(
        (20..=allowance).contains(&refused),
        "{refused} refused of {answers:?}"
    );
    assert_eq!(answers[39], (429, 1_199_997));
    // Limited: refused before its body is read, even with the right secret.
    let mut blocked = connect_from(&server, [127, 0, 0, 1]).await;
    let text = head(
        "POST",
        "/api/v3/set/1",
        &[("X-Bkapi-Authorization", GOOD_AUTH)],
        MAX_BODY_BYTES,
    );
    blocked.write_all(text.as_bytes()).await.expect("head");
    assert_eq!(code(&read_answer(&mut blocked).await), (429, 1_199_997));
    // Another peer is not: its wrong secret is refused as such, its right one admitted.
    let other = [
        ("X-Bkapi-Authorization", WRONG_AUTH),
        ("X-Bkcmdb-User", "alice"),
    ];
    let body = json!({"bk_parent_id": 1, "bk_set_name": "other-peer"});
    let wrong = send_from(&server, [127, 0, 0, 2], "/api/v3/set/1", &other, &body).await;
    assert_eq!(code(&wrong), (200, 1_199_046));
    let right = [
        ("X-Bkapi-Authorization", GOOD_AUTH),
        ("X-Bkcmdb-User", "alice"),
        ("X-Bkcmdb-Supplier-Account", TENANT),
    ];
    let created = send_from(&server, [127, 0, 0, 2], "/api/v3/set/1", &right, &body).await;
    assert_eq!(code(&created), (200, 0), "{}", created.1);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_limited_per_code() {
    // A peer may fail twice, a code twenty times.
    let server = start_with_options(with_apps(ServeOptions {
        auth_failure_burst: 2,
        ..ServeOptions::default()
    }))
    .await;
    let wrong = [
        ("X-Bkapi-Authorization", WRONG_AUTH),
        ("X-Bkcmdb-User", "alice"),
    ];
    let body = json!({"bk_parent_id": 1, "bk_set_name": "x"});
    let mut refused = 0;
    for peer in 1..=11u8 {
        for _ in 0..2 {
            let answer =
                send_from(&server, [127, 0, 1, peer], "/api/v3/set/1", &wrong, &body).await;
            if code(&answer) == (200, 1_199_046) {
                refused += 1;
            }
        }
    }
    // At least the code's twenty failures were compared; past them the code is limited.
    assert!((20..=22).contains(&refused), "{refused}");
    let good = [
        ("X-Bkapi-Authorization", GOOD_AUTH),
        ("X-Bkcmdb-User", "alice"),
        ("X-Bkcmdb-Supplier-Account", TENANT),
    ];
    let fresh = [127, 0, 2, 1];
    assert_eq!(
        code(&send_from(&server, fresh, "/api/v3/set/1", &good, &body).await),
        (429, 1_199_997)
    );
    // Another app from the same fresh peer is not limited.
    let ops = [
        (
            "X-Bkapi-Authorization",
            r#"{"bk_app_code":"ops","bk_app_secret":"0ps"}"#,
        ),
        ("X-Bkcmdb-User", "alice"),
        ("X-Bkcmdb-Supplier-Account", TENANT),
    ];
    let created = send_from(&server, fresh, "/api/v3/set/1", &ops, &body).await;
    assert_eq!(code(&created), (200, 0), "{}", created.1);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_unauthenticated_bodies_hold_only_their_peers_share() {
    // Before: 260 stalled 1 MB bodies (their credentials inside) held the whole 256 MiB budget
    // and an authenticated create waited 29 s. Here: a 16 MiB budget, 24 stalled bodies.
    let server = start_with_options(with_apps(ServeOptions {
        body_budget_bytes: 16 << 20,
        body_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    }))
    .await;
    const DECLARED: usize = 1_048_000;
    let filler: Arc<[u8]> = vec![b' '; DECLARED - 1000].into();
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for _ in 0..24 {
        let stream = connect_from(&server, [127, 0, 0, 1]).await;
        let (mut read, mut write) = stream.into_split();
        write
            .write_all(head("POST", ESB, &[], DECLARED).as_bytes())
            .await
            .expect("head");
        let filler = filler.clone();
        let answered = answered.clone();
        clients.push(tokio::spawn(async move {
            // A refused one is answered, and closed, before its body is read.
            let writing = tokio::spawn(async move {
                let _ = write.write_all(&filler).await;
                write
            });
            let mut got = Vec::new();
            let _ = read.read_to_end(&mut got).await;
            if !got.is_empty() {
                let _ = answered.send(envelope(&got));
            }
            writing.abort();
        }));
    }
    // The peer's 8 MiB share holds 8 of them; the other 16 are answered 429 at once.
    for _ in 0..16 {
        let answer = tokio::time::timeout(BOUND, answers.recv())
            .await
            .expect("16 refusals in time")
            .expect("an answer");
        assert_eq!(code(&answer), (429, 1_199_997), "{}", answer.1);
    }
    // An honest create from another peer, its credentials in its body, is served.
    let created = send_from(&server, [127, 0, 0, 2], ESB, &[], &{
        let mut body = seed_request();
        body["bk_app_secret"] = json!("s3cr3t");
        body
    })
    .await;
    assert_eq!(code(&created), (200, 0), "{}", created.1);
    // The 8 held bodies were still waiting for their last bytes.
    assert!(answers.try_recv().is_err(), "a held body was answered");
    for client in clients {
        client.abort();
    }
    server.stop().await.0.expect("clean stop");
}

/// A native create of `name` padded with spaces to exactly 1 MiB.
fn padded_create(name: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&json!({"bk_parent_id": 1, "bk_set_name": name})).unwrap();
    body.resize(MAX_BODY_BYTES, b' ');
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_budget_cannot_deadlock() {
    // Before: each chunk took its share as it came, so once partly read bodies held the whole
    // budget none could finish: with a 16 MiB budget, 200 clients at full speed got 144 × 408.
    // Here 64 clients each send a 1 MiB body at once into a 16 MiB budget.
    let server = start_with_options(ServeOptions {
        body_budget_bytes: 16 << 20,
        body_timeout: Duration::from_secs(5),
        ..ServeOptions::default()
    })
    .await;
    let url = server.url("/api/v3/set/1");
    let mut clients = Vec::new();
    for i in 0..64 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            // A client (and so a connection) each.
            let client = reqwest::Client::new();
            let reply = client
                .post(url)
                .header("Content-Type", "application/json")
                .header("X-Bkcmdb-User", "alice")
                .header("X-Bkcmdb-Supplier-Account", TENANT)
                .body(padded_create(&format!("budget-{i}")))
                .send()
                .await
                .expect("answered");
            let status = reply.status().as_u16();
            let json: Value = reply.json().await.expect("an envelope");
            (status, json["code"].as_i64().expect("a code"))
        }));
    }
    let mut answers = Vec::new();
    for client in clients {
        answers.push(client.await.expect("client"));
    }
    assert!(answers.iter().all(|a| *a == (200, 0)), "{answers:?}");
    let sets = server
        .get(
            "/api/v3/set/1?limit=500",
            &[("X-Bkcmdb-Supplier-Account", TENANT)],
        )
        .await;
    assert_eq!(
        sets.json["data"]["count"],
        json!(65),
        "the idle pool and the 64"
    );
    server.stop().await.0.expect("clean stop");
}

/// A keep-alive connection from `ip` that made one request (`GET /nope`) and now idles.
async fn idle_connection(server: &Server, ip: [u8; 4]) -> TcpStream {
    let mut stream = connect_from(server, ip).await;
    stream
        .write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    assert_eq!(read_answer(&mut stream).await.0, 404);
    stream
}

/// `GET /healthz` from `ip` on a fresh connection: its status.
async fn healthz_from(server: &Server, ip: [u8; 4]) -> u16 {
    let mut stream = connect_from(server, ip).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    read_answer(&mut stream).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_take_every_connection() {
    // Before: 1,024 keep-alive connections from one source gave every other client 503.
    let server = start_with_options(ServeOptions {
        max_connections: 16,
        max_connections_per_peer: 8,
        idle_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(idle_connection(&server, [127, 0, 0, 1]).await);
    }
    // The peer's ninth and later connections: 503 with an envelope.
    for _ in 0..12 {
        let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
        let answer = read_answer(&mut stream).await;
        assert_eq!(code(&answer), (503, 1_199_997));
    }
    // Another peer is served.
    assert_eq!(healthz_from(&server, [127, 0, 0, 2]).await, 200);
    assert_eq!(held.iter().filter(|s| still_open(s)).count(), 8);
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_closes_an_idle_connection_of_the_busiest_peer() {
    let server = start_with_options(ServeOptions {
        max_connections: 8,
        max_connections_per_peer: 0,
        idle_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    })
    .await;
    let mut busiest = Vec::new();
    for _ in 0..5 {
        busiest.push(idle_connection(&server, [127, 0, 0, 1]).await);
    }
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(idle_connection(&server, [127, 0, 0, 2]).await);
    }
    // Full. Before: the new peer got 503. Now one idle connection of the peer holding five is
    // closed for it.
    assert_eq!(healthz_from(&server, [127, 0, 0, 3]).await, 200);
    let deadline = Instant::now() + BOUND;
    while busiest.iter().filter(|s| still_open(s)).count() != 4 {
        assert!(
            Instant::now() < deadline,
            "no connection of the busiest peer was closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(other.iter().filter(|s| still_open(s)).count(), 3);
    server.stop().await.0.expect("clean stop");
}

/// The issue's run: 1,024 keep-alive connections from one source, each sending an
/// unauthenticated `GET /nope` every 4 s, while a second client must be served (default
/// limits). `CMDB_SLOW_TESTS=1` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_from_one_peer_leave_room_for_another() {
    if std::env::var("CMDB_SLOW_TESTS").is_ok_and(|v| v == "1") {
        slow_thousand_connections().await;
    } else {
        eprintln!("skipped: set CMDB_SLOW_TESTS=1 for 1,024 connections from one peer");
    }
}

async fn slow_thousand_connections() {
    let server = start_with_options(ServeOptions::default()).await;
    let mut attackers = Vec::new();
    let mut refused = 0;
    for _ in 0..1024 {
        let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
        stream
            .write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        match read_answer(&mut stream).await.0 {
            404 => attackers.push(stream),
            503 => refused += 1,
            other => panic!("answered {other}"),
        }
    }
    assert_eq!((attackers.len(), refused), (256, 768));
    let until = Instant::now() + Duration::from_secs(9);
    let mut served = 0;
    while Instant::now() < until {
        for stream in &mut attackers {
            let _ = stream
                .write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
                .await;
            let _ = read_answer(stream).await;
        }
        assert_eq!(healthz_from(&server, [127, 0, 0, 2]).await, 200);
        served += 1;
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    eprintln!(
        "1,024 connections from one peer: 256 held, 768 refused; the other peer served {served} times"
    );
    assert!(served >= 2);
    server.stop().await.0.expect("clean stop");
}
