//! The refusals only the HTTP adapter makes, as `cmdb serve` answers them on the wire: a body
//! that is not JSON by its content type (415), a body that does not arrive in time (408), a
//! head with too many header fields (431), an app over its rate or a peer over its failed
//! authentications (429), and a connection over the per-peer cap (503). Each answer's status
//! and whole envelope (`result`, `code`, `message`, `permission`, `request_id`, `data`) are
//! pinned, in English and in Chinese.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A generous upper bound for anything the server must do by itself.
const BOUND: Duration = Duration::from_secs(60);

/// The apps file of the tests that need one: one app, `ops`, with secret `s3cr3t`.
const APPS: &str = r#"{"apps": [{"bk_app_code": "ops", "bk_app_secret": "s3cr3t", "tenants": "any", "users": "any"}]}"#;

/// A running `cmdb --store memory serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    /// Keeps the apps file alive as long as the server.
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmdb --store memory serve --listen 127.0.0.1:0 <args>` (`{apps}` in `args` is the
/// path of a file holding [`APPS`]) and waits, at most [`BOUND`], for its address.
fn start(args: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let apps = dir.path().join("apps.json");
    std::fs::write(&apps, APPS).expect("apps file");
    let apps = apps.to_str().expect("UTF-8").to_owned();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{apps}" { apps.as_str() } else { a })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "memory", "serve", "--listen", "127.0.0.1:0"])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (send, lines) = mpsc::channel();
    // Drains stderr (the access log) for the whole life of the child.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                // Nobody listens any more: keep reading so the child never blocks on a write.
                continue;
            }
        }
    });
    let until = Instant::now() + BOUND;
    let addr = loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("cmdb announces its address in time");
        if let Some(addr) = line.strip_prefix("cmdb: serving on http://") {
            break addr.to_owned();
        }
    };
    Server {
        child,
        addr,
        _dir: dir,
    }
}

/// An answer as read off the socket.
#[derive(Debug)]
struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), when present.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status line, the JSON content type, and the whole envelope of a refusal:
    /// `code` and `message`, null permission and data, and the request id the answer echoes
    /// in `X-Request-Id`.
    fn assert_refusal(&self, status_line: &str, code: i64, message: &str) {
        assert_eq!(self.status_line, status_line, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let id = self.header("x-request-id").expect("an X-Request-Id");
        let expected = serde_json::json!({
            "result": false,
            "code": code,
            "message": message,
            "permission": null,
            "request_id": id,
            "data": null,
        });
        let body: serde_json::Value = serde_json::from_str(&self.body).expect("a JSON body");
        assert_eq!(body, expected, "{}", self.body);
        // The keys in bk-cmdb's order, the message as is.
        let text = format!(
            r#"{{"result":false,"code":{code},"message":{},"permission":null,"request_id":{},"data":null}}"#,
            serde_json::Value::from(message),
            serde_json::Value::from(id),
        );
        assert_eq!(self.body, text);
    }
}

/// Reads one answer off `stream` (its head, then `content-length` bytes of body), within
/// [`BOUND`].
async fn read_answer(stream: &mut TcpStream) -> Answer {
    tokio::time::timeout(BOUND, async {
        let mut read = Vec::new();
        let head_end = loop {
            if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed before a whole head: {:?}",
                String::from_utf8_lossy(&read)
            );
            read.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(read[..head_end].to_vec()).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("a length"))
            .expect("a content-length");
        let mut body = read[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed inside the body");
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(length);
        Answer {
            status_line,
            headers,
            body: String::from_utf8(body).expect("UTF-8 body"),
        }
    })
    .await
    .expect("answered in time")
}

/// Sends `raw` on a fresh connection and reads the answer.
async fn exchange(addr: &str, raw: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    read_answer(&mut stream).await
}

/// The `Blueking-Language` header line selecting English or Chinese.
fn language(zh: bool) -> &'static str {
    if zh {
        "Blueking-Language: zh-cn\r\n"
    } else {
        "Blueking-Language: en\r\n"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_json_by_its_content_type_is_415_1199000() {
    let server = start(&[]);
    for (zh, message) in [
        (
            false,
            "Deserializing JSON data failed: content type must be application/json",
        ),
        (
            true,
            "反序列化JSON数据失败: Content-Type 必须为 application/json",
        ),
    ] {
        let lang = language(zh);
        for target in ["/api/v3/set/1", "/api/c/compapi/v2/cc/create_set/"] {
            let raw = format!(
                "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Bkcmdb-User: alice\r\n\
                 {lang}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{{}}"
            );
            let answer = exchange(&server.addr, &raw).await;
            answer.assert_refusal("HTTP/1.1 415 Unsupported Media Type", 1_199_000, message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_408_1199000() {
    let server = start(&["--body-timeout", "1"]);
    for (zh, message) in [
        (
            false,
            "Deserializing JSON data failed: body not received within 1 s",
        ),
        (true, "反序列化JSON数据失败: 请求体未在 1 秒内收到"),
    ] {
        let lang = language(zh);
        // A native create, an ESB create and an import: each sends 7 of 100 bytes, then
        // nothing (the connection stays open until the answer).
        let heads = [
            format!(
                "POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\n{lang}\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"bk_se"
            ),
            format!(
                "POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: x\r\n{lang}\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"bk_bi"
            ),
            format!(
                "POST /api/v3/set/1/import HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\n{lang}\
                 Content-Type: text/csv\r\nContent-Length: 100\r\n\r\nbk_set_"
            ),
        ];
        for raw in &heads {
            let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
            stream.write_all(raw.as_bytes()).await.expect("write");
            let answer = read_answer(&mut stream).await;
            answer.assert_refusal("HTTP/1.1 408 Request Timeout", 1_199_000, message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_with_too_many_header_fields_is_431_1199015() {
    // Hyper refuses the head itself; the answer is written below the router, in the
    // server's default language.
    for (default, message) in [
        ("en", "'headers' exceeds the maximum count of 100"),
        ("zh-cn", "'headers' 数量超过上限 100"),
    ] {
        let server = start(&["--default-language", default]);
        let fields: String = (0..101).map(|i| format!("X-Field-{i}: v\r\n")).collect();
        let raw = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
        let answer = exchange(&server.addr, &raw).await;
        answer.assert_refusal(
            "HTTP/1.1 431 Request Header Fields Too Large",
            1_199_015,
            message,
        );
        assert_eq!(answer.header("connection"), Some("close"));
    }
}

/// A native read as app `ops` with `secret`, keeping the connection open.
fn read_as_ops(secret: &str, zh: bool) -> String {
    let lang = language(zh);
    format!(
        "GET /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkapi-Authorization: \
         {{\"bk_app_code\":\"ops\",\"bk_app_secret\":\"{secret}\",\"bk_username\":\"admin\"}}\r\n\
         {lang}\r\n"
    )
}

/// Sends `raw` on one connection until an answer is 429 (at most `tries` times, within
/// [`BOUND`]); that answer.
async fn until_429(addr: &str, raw: &str, tries: usize) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let until = Instant::now() + BOUND;
    for _ in 0..tries {
        assert!(Instant::now() < until, "no 429 within {BOUND:?}");
        stream.write_all(raw.as_bytes()).await.expect("write");
        let answer = read_answer(&mut stream).await;
        if answer.status_line.starts_with("HTTP/1.1 429") {
            return answer;
        }
    }
    panic!("no 429 in {tries} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_over_its_rate_is_429_1199997() {
    // One request a second, none saved up: of quick requests, one is soon refused.
    let server = start(&["--apps", "{apps}", "--rate-limit", "1", "--rate-burst", "1"]);
    for (zh, message) in [(false, "too many requests"), (true, "请求过多")] {
        let answer = until_429(&server.addr, &read_as_ops("s3cr3t", zh), 100).await;
        answer.assert_refusal("HTTP/1.1 429 Too Many Requests", 1_199_997, message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_failed_authentications_is_429_1199997() {
    let server = start(&[
        "--apps",
        "{apps}",
        "--auth-fail-limit",
        "1",
        "--auth-fail-burst",
        "1",
    ]);
    for (zh, message) in [(false, "too many requests"), (true, "请求过多")] {
        let answer = until_429(&server.addr, &read_as_ops("guess", zh), 100).await;
        answer.assert_refusal("HTTP/1.1 429 Too Many Requests", 1_199_997, message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_peer_cap_is_503_1199997() {
    // The refusal is written before any request is read, in the server's default language.
    for (default, message) in [("en", "too many requests"), ("zh-cn", "请求过多")] {
        let server = start(&[
            "--default-language",
            default,
            "--max-connections-per-peer",
            "1",
        ]);
        // The first connection holds the peer's one slot with a head that is still arriving.
        let mut first = TcpStream::connect(&server.addr).await.expect("connect");
        first
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("part of a head");
        // The server may not have taken the first connection yet when the second comes:
        // then the second is served, and the next one is the one over the cap.
        let until = Instant::now() + BOUND;
        let answer = loop {
            let answer = exchange(
                &server.addr,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await;
            if !answer.status_line.starts_with("HTTP/1.1 200") {
                break answer;
            }
            assert!(Instant::now() < until, "no refusal within {BOUND:?}");
        };
        answer.assert_refusal("HTTP/1.1 503 Service Unavailable", 1_199_997, message);
        assert_eq!(answer.header("connection"), Some("close"));
        drop(first);
    }
}
