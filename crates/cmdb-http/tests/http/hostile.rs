//! Hostile clients on a raw socket: protocol errors answered with envelopes, the connection
//! cap, slowloris heads and stalled bodies closed by their timeouts, and random bytes.

use std::time::Duration;

use cmdb_http::ServeOptions;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, Server, start_serving};

/// A generous upper bound for anything the server must do by itself.
pub(crate) const BOUND: Duration = Duration::from_secs(30);

pub(crate) async fn start_with_options(options: ServeOptions) -> Server {
    start_serving(Backend::Memory, |b| b, options).await
}

pub(crate) fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection.
pub(crate) async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .ok();
    answer
}

/// Sends `bytes` on a fresh connection, closes the sending side, and reads until close.
async fn exchange(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr(server)).await.expect("connect");
    // The server may close before it read everything (e.g. a 431): a failed write is fine.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    read_to_close(&mut stream).await
}

/// The status and envelope of the first raw HTTP answer in `answer` (its body cut at its
/// `content-length`); panics when the body is not an envelope.
pub(crate) fn envelope(answer: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(answer);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not a complete answer: {text:?}"));
    let length: usize = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no content-length: {text}"));
    let body = rest.get(..length).unwrap_or(rest);
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "code",
        "data",
        "message",
        "permission",
        "request_id",
        "result",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected, "{text}");
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_answered_with_envelopes() {
    let server = start_with_options(ServeOptions {
        max_header_bytes: 16 << 10,
        ..ServeOptions::default()
    })
    .await;
    // Before: hyper's 400 / 431 / 414 had empty bodies.
    let garbage = exchange(&server, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n").await;
    let (status, json) = envelope(&garbage);
    assert_eq!((status, &json["code"]), (400, &Value::from(1_199_006)));
    assert_eq!(json["message"], "'request' the parameter is invalid");
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 << 10)
    );
    let (status, json) = envelope(&exchange(&server, big_header.as_bytes()).await);
    assert_eq!((status, &json["code"]), (431, &Value::from(1_199_015)));
    assert_eq!(json["message"], "'headers' exceeds the maximum length");
    let bad_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n";
    let (status, _) = envelope(&exchange(&server, bad_header).await);
    assert_eq!(status, 400);
    // Our own 4xx answers keep their bodies (not rewritten).
    let (status, json) = envelope(
        &exchange(
            &server,
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert_eq!((status, &json["code"]), (404, &Value::from(1_199_019)));
    server.stop().await.0.expect("clean stop");

    // A request line beyond hyper's URI limit (65,534 bytes) when the head limit allows it.
    let server = start_with_options(ServeOptions {
        max_header_bytes: 128 << 10,
        ..ServeOptions::default()
    })
    .await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let (status, json) = envelope(&exchange(&server, long_uri.as_bytes()).await);
    assert_eq!((status, &json["code"]), (414, &Value::from(1_199_015)));
    assert_eq!(json["message"], "'uri' exceeds the maximum length");
    server.stop().await.0.expect("clean stop");
}

/// Connects from `ip` (any 127.0.0.0/8 address is loopback on Linux): a peer of its own.
pub(crate) async fn connect_from(server: &Server, ip: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from((ip, 0)))
        .expect("bind a loopback address");
    socket
        .connect(addr(server).parse().expect("address"))
        .await
        .expect("connect")
}

/// A connection with a request in flight: a native create whose body stalls after its head,
/// once the handler asked for the body (`100 Continue` came).
pub(crate) async fn in_flight(server: &Server, ip: [u8; 4]) -> TcpStream {
    let mut stream = connect_from(server, ip).await;
    stream
        .write_all(
            b"POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .expect("head");
    let mut interim = [0u8; 25];
    tokio::time::timeout(BOUND, stream.read_exact(&mut interim))
        .await
        .expect("100 Continue in time")
        .expect("read");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_gets_503_with_an_envelope() {
    let server = start_with_options(ServeOptions {
        max_connections: 2,
        body_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    })
    .await;
    // Two connections with requests in flight take both slots: none may be closed for another.
    let held = vec![
        in_flight(&server, [127, 0, 0, 1]).await,
        in_flight(&server, [127, 0, 0, 2]).await,
    ];
    let mut third = TcpStream::connect(addr(&server)).await.expect("connect");
    let (status, json) = envelope(&read_to_close(&mut third).await);
    assert_eq!((status, &json["code"]), (503, &Value::from(1_199_997)));
    assert_eq!(json["message"], "too many requests");
    // A slot frees when a connection closes: then requests are served again.
    drop(held);
    let mut served = false;
    for _ in 0..200 {
        let answer = exchange(
            &server,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if envelope(&answer).0 == 200 {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        served,
        "no slot came back after the held connections closed"
    );
    server.stop().await.0.expect("clean stop");
}

/// Opens `count` connections that each send part of a head and stall.
async fn slow_heads(server: &Server, count: usize) -> Vec<TcpStream> {
    let mut slow = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr(server)).await.expect("connect");
        stream
            .write_all(b"POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("partial head");
        slow.push(stream);
    }
    slow
}

/// Whether the server still holds `stream` open (nothing to read, no close).
pub(crate) fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// 200 stalled heads do not keep others from being served. The header timeout is far beyond
/// the test's run, so every slow head is certainly still open while the normal requests are
/// answered: no race between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_do_not_keep_others_from_being_served() {
    let server = start_with_options(ServeOptions {
        header_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    })
    .await;
    let slow = slow_heads(&server, 200).await;
    for _ in 0..20 {
        let reply = server.get("/healthz", &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(
        slow.iter().filter(|s| still_open(s)).count(),
        200,
        "the slow heads were all open while the normal requests were answered"
    );
    drop(slow);
    server.stop().await.0.expect("clean stop");
}

/// Stalled heads are closed by the header timeout (1 s here), each within twice it, with
/// nothing or an envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_closed_by_the_header_timeout() {
    let server = start_with_options(ServeOptions {
        header_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut slow = slow_heads(&server, 50).await;
    let mut closed = 0;
    for stream in &mut slow {
        let answer = read_to_close(stream).await;
        if !answer.is_empty() {
            envelope(&answer);
        }
        closed += 1;
    }
    let took = started.elapsed();
    assert_eq!(closed, 50);
    assert!(
        took <= Duration::from_secs(2) + Duration::from_millis(500),
        "50 stalled heads took {took:?} to be closed by a 1 s header timeout"
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    // The header timer (which hyper also runs between requests) is far beyond the bound: a
    // close within the bound is the idle limit's.
    let server = start_with_options(ServeOptions {
        idle_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(600),
        ..ServeOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
    let sent = std::time::Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    // The answer comes, the connection stays open for the next request, then idles out: after
    // the 1 s idle limit, and within twice it.
    let answer = read_to_close(&mut stream).await;
    let open_for = sent.elapsed();
    let (status, json) = envelope(&answer);
    assert_eq!((status, &json["result"]), (200, &Value::Bool(true)));
    assert!(
        open_for >= Duration::from_millis(900) && open_for <= Duration::from_secs(2),
        "the idle connection closed after {open_for:?}, not at its 1 s limit"
    );
    server.stop().await.0.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_with_an_envelope() {
    let server = start_with_options(ServeOptions {
        body_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr(&server)).await.expect("connect");
    stream
        .write_all(
            b"POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"bk_pa",
        )
        .await
        .expect("partial body");
    // Before: no answer at all in 40 s. Now: 408 once the body timeout passes, then close.
    let (status, json) = envelope(&read_to_close(&mut stream).await);
    assert_eq!((status, &json["code"]), (408, &Value::from(1_199_000)));
    assert_eq!(
        json["message"],
        "Deserializing JSON data failed: body not received within 1 s"
    );
    server.stop().await.0.expect("clean stop");
}

/// A small deterministic generator (xorshift64*), so a failing case can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_never_get_a_non_envelope_answer() {
    let server = start_with_options(ServeOptions::default()).await;
    // The same gate as every slow variant: exactly `CMDB_SLOW_TESTS=1`.
    let cases: usize = if std::env::var("CMDB_SLOW_TESTS").is_ok_and(|v| v == "1") {
        5_000
    } else {
        300
    };
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let prefixes: [&[u8]; 4] = [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: x\r\n",
        b"POST /api/v3/set/1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    ];
    let mut answered = 0;
    for case in 0..cases {
        let len = usize::try_from(random.next() % 512).unwrap_or(0);
        let mut bytes = prefixes[case % prefixes.len()].to_vec();
        bytes.extend(random.bytes(len));
        let answer = exchange(&server, &bytes).await;
        if !answer.is_empty() {
            // Possibly several answers (keep-alive); the first must be an envelope.
            envelope(&answer);
            answered += 1;
        }
    }
    eprintln!("random bytes: {cases} inputs, {answered} answered, every answer an envelope");
    // The interesting case happened: some inputs were answered (and all with envelopes).
    assert!(answered > 0, "no random input got an answer");
    let alive = server.get("/healthz", &[]).await;
    assert_eq!(alive.status, 200, "the server still answers");
    server.stop().await.0.expect("clean stop");
}
