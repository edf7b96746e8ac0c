//! `POST /api/v3/set/{bk_biz_id}/import`: CSV and JSONL bodies answered with one JSON line per
//! row then the summary; `atomic=true`; the body limit; a bad header; apps authenticate it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_app::apps::AppRegistry;
use cmdb_core::BizId;
use cmdb_http::ServeOptions;
use serde_json::{Value, json};

use crate::support::{Backend, Reply, Server, TENANT, start, start_serving};

const IMPORT: &str = "/api/v3/set/1/import";
const ALICE: [(&str, &str); 2] = [
    ("X-Bkcmdb-User", "alice"),
    ("X-Bkcmdb-Supplier-Account", TENANT),
];

fn answer_lines(reply: &Reply) -> Vec<Value> {
    reply
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The summary line without its timing.
fn counts(summary: &Value) -> Value {
    let mut summary = summary.clone();
    let map = summary.as_object_mut().expect("summary");
    map.remove("seconds").expect("seconds");
    map.remove("rows_per_second").expect("rows_per_second");
    summary
}

async fn names(server: &Server) -> Vec<String> {
    let sets = server
        .engine
        .find_sets(TENANT, BizId(1), None)
        .await
        .expect("biz 1 readable");
    sets.iter()
        .filter(|s| s["default"] == json!(0))
        .map(|s| s["bk_set_name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_body_is_answered_row_by_row_then_the_summary() {
    let server = start(Backend::Sqlite).await;
    let csv = b"bk_set_name,bk_parent_id,bk_capacity\nh-1,1,10\nh-2,1,x\nh-3,1,\n".to_vec();
    let headers = [ALICE[0], ALICE[1], ("Content-Type", "text/csv")];
    let reply = server.post_raw(IMPORT, csv, &headers).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type.as_deref(), Some("application/x-ndjson"));
    let lines = answer_lines(&reply);
    assert_eq!(
        lines[..3],
        [
            json!({"line": 2, "code": 0, "message": "", "bk_set_id": 4780}),
            json!({"line": 3, "code": 1_199_009, "message": "'bk_capacity' parameters must be integral"}),
            json!({"line": 4, "code": 0, "message": "", "bk_set_id": 4781}),
        ]
    );
    assert_eq!(
        counts(&lines[3]),
        json!({"read": 3, "created": 2, "refused": 1, "refused_by_code": {"1199009": 1}})
    );
    assert_eq!(names(&server).await, ["h-1", "h-3"]);
    // The same rows as JSONL (format from the query): both exist now.
    let jsonl = b"{\"bk_set_name\":\"h-1\",\"bk_parent_id\":1}\n{\"bk_set_name\":\"h-3\",\"bk_parent_id\":1}\n";
    let reply = server
        .post_raw(&format!("{IMPORT}?format=jsonl"), jsonl.to_vec(), &ALICE)
        .await;
    let lines = answer_lines(&reply);
    assert_eq!(lines[0]["code"], json!(1_101_108), "{}", reply.text);
    assert_eq!(counts(&lines[2])["refused_by_code"], json!({"1101108": 2}));
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_limits_and_headers() {
    let server = start_serving(
        Backend::Memory,
        |b| b,
        ServeOptions {
            import_max_bytes: 1000,
            ..ServeOptions::default()
        },
    )
    .await;
    let jsonl = b"{\"bk_set_name\":\"a-1\",\"bk_parent_id\":1}\n{\"bk_set_name\":\"a-2\",\"bk_parent_id\":\"x\"}\n";
    let reply = server
        .post_raw(
            &format!("{IMPORT}?format=jsonl&atomic=true"),
            jsonl.to_vec(),
            &ALICE,
        )
        .await;
    let lines = answer_lines(&reply);
    assert_eq!(lines.len(), 2, "{}", reply.text);
    assert_eq!(lines[0]["line"], json!(2));
    assert_eq!(lines[1]["created"], json!(0));
    assert!(names(&server).await.is_empty());
    // Over the body limit: 413 and the 1199000 envelope naming it.
    let big = vec![b'\n'; 1001];
    let reply = server
        .post_raw(&format!("{IMPORT}?format=jsonl"), big, &ALICE)
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        (&reply.json["code"], &reply.json["message"]),
        (
            &json!(1_199_000),
            &json!("Deserializing JSON data failed: body exceeds 1000 bytes")
        )
    );
    // A header naming no property: 1199006 naming it; no format: 415.
    let headers = [ALICE[0], ALICE[1], ("Content-Type", "text/csv")];
    let reply = server
        .post_raw(IMPORT, b"bk_set_name,nope\nx,1\n".to_vec(), &headers)
        .await;
    assert_eq!(
        (&reply.json["code"], &reply.json["message"]),
        (&json!(1_199_006), &json!("'nope' the parameter is invalid"))
    );
    let reply = server.post_raw(IMPORT, b"x".to_vec(), &ALICE).await;
    assert_eq!(
        (reply.status, &reply.json["code"]),
        (415, &json!(1_199_006))
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_apps_an_import_needs_credentials() {
    let file = format!(
        r#"{{"apps": [{{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": ["{TENANT}"], "users": ["alice"]}}]}}"#
    );
    let options = ServeOptions {
        apps: Some(Arc::new(AppRegistry::from_json(&file).expect("apps file"))),
        ..ServeOptions::default()
    };
    let server = start_serving(Backend::Memory, |b| b, options).await;
    let csv = b"bk_set_name,bk_parent_id\nok,1\n".to_vec();
    let headers = [ALICE[0], ALICE[1], ("Content-Type", "text/csv")];
    let reply = server.post_raw(IMPORT, csv.clone(), &headers).await;
    assert_eq!(reply.json["code"], json!(1_199_046), "{}", reply.text);
    assert!(names(&server).await.is_empty());
    let auth = (
        "X-Bkapi-Authorization",
        r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t"}"#,
    );
    let reply = server
        .post_raw(IMPORT, csv, &[headers[0], headers[1], headers[2], auth])
        .await;
    assert_eq!(answer_lines(&reply)[0]["code"], json!(0), "{}", reply.text);
    assert_eq!(names(&server).await, ["ok"]);
    server.stop().await.0.expect("clean stop");
}

/// `rows` JSONL rows `s-{first}`, `s-{first + 1}`, … under the biz's idle set.
fn jsonl_rows(first: usize, rows: usize) -> Vec<u8> {
    (first..first + rows)
        .flat_map(|i| format!("{{\"bk_set_name\":\"s-{i}\",\"bk_parent_id\":1}}\n").into_bytes())
        .collect()
}

/// A raw connection that has sent the head of a JSONL import of `length` bytes and `sent`.
async fn import_in_part(server: &Server, length: usize, sent: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = server.base.strip_prefix("http://").expect("an http base");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {IMPORT}?format=jsonl HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nX-Bkcmdb-Supplier-Account: {TENANT}\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(sent).await.expect("first rows");
    stream
}

/// The status and the body lines of a raw answer.
async fn raw_answer(stream: &mut tokio::net::TcpStream) -> (u16, Vec<Value>) {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer));
    read.await.expect("answered in time").expect("read");
    let text = String::from_utf8(answer).expect("UTF-8");
    let status = text[9..12].parse().expect("a status");
    let body = text.split_once("\r\n\r\n").expect("a body").1;
    let lines = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"));
    (status, lines.collect())
}

/// Row by row, the body is imported as it arrives: with 2,100 of 3,000 rows sent, the first
/// group of 1,024 is stored before the rest of the body exists (an import that read its body
/// whole first would store nothing until then); the rest then completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_by_row_import_commits_groups_before_its_body_ends() {
    use tokio::io::AsyncWriteExt;
    let server = start(Backend::Memory).await;
    let (first, rest) = (jsonl_rows(0, 2_100), jsonl_rows(2_100, 900));
    let mut stream = import_in_part(&server, first.len() + rest.len(), &first).await;
    let until = Instant::now() + Duration::from_secs(60);
    let mut stored = names(&server).await.len();
    while stored < 1_024 {
        assert!(
            Instant::now() < until,
            "{stored} stored of the 2,100 rows sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = names(&server).await.len();
    }
    assert!(stored < 3_000, "stored before the body ended: {stored}");
    stream.write_all(&rest).await.expect("the rest");
    let (status, lines) = raw_answer(&mut stream).await;
    assert_eq!(status, 200);
    assert_eq!(lines.len(), 3_001);
    assert_eq!(
        lines[2_999],
        json!({"line": 3000, "code": 0, "message": "", "bk_set_id": 4780 + 2_999})
    );
    assert_eq!(
        counts(&lines[3_000]),
        json!({"read": 3000, "created": 3000, "refused": 0, "refused_by_code": {}})
    );
    assert_eq!(names(&server).await.len(), 3_000);
    server.stop().await.0.expect("clean stop");
}

/// A body that stops arriving: the rows before it stay imported, and the answer is the body
/// timeout's 408 with their lines and a summary that says where to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_keeps_the_rows_before_and_says_where_to_resume() {
    let options = ServeOptions {
        body_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    };
    let server = start_serving(Backend::Memory, |b| b, options).await;
    let sent = jsonl_rows(0, 1_100);
    let mut stream = import_in_part(&server, sent.len() + 1_000, &sent).await;
    let (status, lines) = raw_answer(&mut stream).await;
    assert_eq!(status, 408);
    assert_eq!(lines.len(), 1_101);
    assert_eq!(lines[1_099]["line"], json!(1100));
    assert_eq!(
        counts(&lines[1_100]),
        json!({"read": 1100, "created": 1100, "refused": 0, "refused_by_code": {},
               "stopped_after_line": 1100, "skip": 1100})
    );
    assert_eq!(names(&server).await.len(), 1_100);
    server.stop().await.0.expect("clean stop");
}
