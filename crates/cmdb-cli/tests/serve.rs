//! `cmdb serve` as a process: the loopback rule, SIGTERM with a stalled client, the access log
//! (complete, unforgeable, never holding a request), and the memory
//! 500 stalled bodies cost (the server's RSS, read from `/proc/<pid>/status`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A generous upper bound for anything the server must do by itself.
const BOUND: Duration = Duration::from_secs(60);

/// A running `cmdb serve` and the lines of its stderr.
struct Served {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmdb --store memory serve --listen 127.0.0.1:0 <args>` and waits for its address.
fn serve(args: &[&str]) -> Served {
    serve_on("127.0.0.1:0", args)
}

/// Starts `cmdb --store memory serve --listen <listen> <args>` and waits for its address.
fn serve_on(listen: &str, args: &[&str]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmdb"));
    command
        .args(["--store", "memory", "serve", "--listen", listen])
        .args(args);
    spawn_served(command)
}

/// Starts `command` (a `cmdb serve`), drains its stderr (the access log) for the whole life
/// of the child, and waits for the line announcing its address.
fn spawn_served(mut command: Command) -> Served {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(BOUND)
            .expect("cmdb announces its address");
        let found = line
            .strip_prefix("cmdb: serving on http://")
            .map(str::to_owned);
        seen.push(line);
        if let Some(addr) = found {
            break addr;
        }
    };
    Served {
        child,
        addr,
        lines,
        seen,
    }
}

impl Served {
    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (at most [`BOUND`]) for the process to exit.
    fn exited(&mut self) -> ExitStatus {
        let until = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "cmdb still runs {BOUND:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .expect("the field")
    }

    /// Every stderr line so far.
    fn stderr(&mut self) -> Vec<String> {
        self.seen.extend(self.lines.try_iter());
        self.seen.clone()
    }
}

/// One request on a fresh connection; the answer's text.
async fn request(addr: &str, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A connection with a request in flight: a native create whose body stalls after its head,
/// once the handler asked for it (`100 Continue` came).
async fn in_flight(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
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

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn a_public_address_needs_apps_or_trust_headers() {
    // Before: `serve --listen 0.0.0.0:…` started without a word.
    let output = Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "memory", "serve", "--listen", "0.0.0.0:0"])
        .output()
        .expect("cmdb runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "cmdb: refusing to serve on 0.0.0.0:0 without --apps or --trust-headers: any caller could act as any user"
    );
    // With --trust-headers (a gateway in front authenticates) it starts on any address.
    let mut open = serve_on("0.0.0.0:0", &["--trust-headers"]);
    assert!(open.addr.starts_with("0.0.0.0:"), "{}", open.addr);
    open.terminate();
    assert!(open.exited().success());
    // On loopback it starts, saying that callers are trusted.
    let mut served = serve(&[]);
    served.terminate();
    assert!(served.exited().success());
    assert!(
        served
            .stderr()
            .iter()
            .any(|l| l.contains("callers are trusted")),
        "{:?}",
        served.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_one_json_line_per_request_and_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let apps = dir.path().join("apps.json");
    std::fs::write(
        &apps,
        r#"{"apps": [{"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t-value", "tenants": "any", "users": ["alice"]}]}"#,
    )
    .expect("apps file");
    let mut served = serve(&[
        "--apps",
        apps.to_str().expect("UTF-8"),
        "--log-format",
        "json",
    ]);
    assert!(
        !served
            .stderr()
            .iter()
            .any(|l| l.contains("callers are trusted")),
        "{:?}",
        served.stderr()
    );
    let body = r#"{"bk_app_code":"esb_test","bk_app_secret":"s3cr3t-value","bk_username":"alice","bk_biz_id":1,"data":{"bk_parent_id":1,"bk_set_name":"secret-body-name"}}"#;
    let answer = request(
        &served.addr,
        &format!(
            "POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: x\r\nX-Request-Id: log-1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    // No business 1 in an empty store: refused by the engine, after the app was admitted.
    assert!(answer.contains(r#""code":1199011"#), "{answer}");
    served.terminate();
    assert!(served.exited().success());
    let lines = served.stderr();
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "cmdb_http::access")
        .collect();
    assert_eq!(access.len(), 1, "{lines:?}");
    let line = &access[0];
    for (field, value) in [
        ("method", serde_json::json!("POST")),
        (
            "route",
            serde_json::json!("/api/c/compapi/v2/cc/create_set/"),
        ),
        ("status", serde_json::json!(200)),
        ("code", serde_json::json!(1_199_011)),
        ("app", serde_json::json!("esb_test")),
        ("user", serde_json::json!("alice")),
        ("request_id", serde_json::json!("log-1")),
    ] {
        assert_eq!(line[field], value, "{field}: {line}");
    }
    assert!(line["duration_ms"].is_u64(), "{line}");
    // Never a secret or a body.
    for line in &lines {
        assert!(
            !line.contains("s3cr3t-value") && !line.contains("secret-body-name"),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_files_limit_lowers_the_cap_so_clients_get_503_not_silence() {
    // Before: with a low fd limit, new clients hung unaccepted. Under `ulimit -n 100` the cap
    // becomes 100 - 64 = 36: the 37th connection is answered 503 with an envelope.
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -n 100 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_cmdb"),
        ])
        .args(["--store", "memory", "serve", "--listen", "127.0.0.1:0"]);
    let mut served = spawn_served(command);
    assert!(
        served
            .seen
            .iter()
            .any(|l| l == "cmdb: --max-connections lowered to 36: the open-files limit is 100"),
        "{:?}",
        served.seen
    );
    // 36 connections with a request in flight (none may be closed for another).
    let mut held = Vec::new();
    for _ in 0..36 {
        held.push(in_flight(&served.addr).await);
    }
    let mut over = TcpStream::connect(&served.addr).await.expect("connect");
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, over.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains(r#""code":1199997"#), "{answer}");
    drop(held);
    served.terminate();
    assert!(served.exited().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stalled_client_exits_after_the_deadline() {
    let mut served = serve(&["--shutdown-deadline", "1", "--body-timeout", "3600"]);
    let mut stalled = TcpStream::connect(&served.addr).await.expect("connect");
    stalled
        .write_all(
            b"POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .expect("head");
    // `100 Continue` comes once the handler reads the body: the request is in flight.
    let mut interim = [0u8; 25];
    tokio::time::timeout(BOUND, stalled.read_exact(&mut interim))
        .await
        .expect("100 Continue in time")
        .expect("read");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stalled.write_all(b"{\"bk_pa").await.expect("some body");
    // Before: the listener closed, the process stayed up as long as the client did.
    served.terminate();
    let status = served.exited();
    assert!(status.success(), "{status:?}");
    // The stalled client's connection was closed by the server.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(BOUND, stalled.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(
        served
            .stderr()
            .iter()
            .any(|l| l.contains("shutdown deadline passed")),
        "{:?}",
        served.stderr()
    );
}

/// The value of the unlabelled Prometheus sample of `metric` (a gauge), if the scrape has one.
fn unlabelled(scrape: &str, metric: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(metric)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// The body budget's gauges in one scrape of `GET /metrics` (an absent gauge, never touched,
/// is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BodyGauges {
    /// Bodies holding a reservation.
    reservations: u64,
    /// Bytes they reserved.
    reserved_bytes: u64,
    /// Bytes read into their buffers.
    held_bytes: u64,
    /// Bodies waiting for a reservation.
    waiting: u64,
}

/// Scrapes the server's body gauges (the server runs without apps: `/metrics` is open).
async fn body_gauges(addr: &str) -> BodyGauges {
    let scrape = request(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    let gauge = |metric| {
        let value = unlabelled(&scrape, metric).unwrap_or(0.0);
        assert!(
            value >= 0.0 && value.fract() == 0.0,
            "{metric} {value}: {scrape}"
        );
        value as u64
    };
    BodyGauges {
        reservations: gauge("cmdb_http_body_reservations"),
        reserved_bytes: gauge("cmdb_http_body_reserved_bytes"),
        held_bytes: gauge("cmdb_http_body_held_bytes"),
        waiting: gauge("cmdb_http_body_waiting"),
    }
}

/// Scrapes [`body_gauges`] until `done` holds of them, at most [`BOUND`]; the last scrape.
async fn body_gauges_until(
    addr: &str,
    what: &str,
    done: impl Fn(&BodyGauges) -> bool,
) -> BodyGauges {
    let until = Instant::now() + BOUND;
    loop {
        let gauges = body_gauges(addr).await;
        if done(&gauges) {
            return gauges;
        }
        assert!(
            Instant::now() < until,
            "not {what} within {BOUND:?}: {gauges:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_stalled_bodies_cost_bounded_memory() {
    const CLIENTS: u64 = 500;
    const BUDGET_MIB: u64 = 16;
    const HEAD_BYTES: u64 = 16 << 10;
    const BODY_BYTES: u64 = 1 << 20;
    /// What each client sends of its body before it stalls: all but the last byte.
    const SENT: u64 = BODY_BYTES - 1;
    let mut served = serve(&[
        "--body-budget-mib",
        &BUDGET_MIB.to_string(),
        "--max-header-bytes",
        &HEAD_BYTES.to_string(),
        // No body times out while the test looks: every outcome below is a state, not a race.
        "--body-timeout",
        "3600",
        "--shutdown-deadline",
        "1",
        // All from one address: the per-peer cap is not what this measures.
        "--max-connections-per-peer",
        "0",
    ]);
    assert!(
        request(&served.addr, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let baseline = served.memory_kib("VmHWM");
    // Each client sends a head announcing 1 MiB (a trusted caller: the native route admits it
    // from the headers, then reads the body) and all of the body but the last byte, then
    // stalls.
    let body: std::sync::Arc<[u8]> = vec![b' '; SENT as usize].into();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = TcpStream::connect(&served.addr).await.expect("connect");
        stream
            .write_all(format!("POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nContent-Length: {BODY_BYTES}\r\n\r\n").as_bytes())
            .await
            .expect("head");
        let body = body.clone();
        clients.push(tokio::spawn(async move {
            // Never finishes for a waiting body: the server does not read it.
            let _ = stream.write_all(&body).await;
            stream
        }));
    }
    // Every body is accounted for: it holds a reservation (and the server has read all that
    // was sent of it) or it waits for one.
    let full = body_gauges_until(&served.addr, "all bodies reserved or waiting", |g| {
        g.reservations + g.waiting == CLIENTS && g.held_bytes == g.reservations * SENT
    })
    .await;
    // The server still answers others.
    assert!(
        request(&served.addr, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let peak = served.memory_kib("VmHWM");
    let growth = peak.saturating_sub(baseline);
    // The bound: the budget, plus 56 KiB per connection for hyper's read buffer (at most the
    // 16 KiB head limit), the connection's and the request's tasks, the socket and a chunk in
    // flight. Measured on the 2-core machine (mimalloc): 33.7 to 36.2 MiB of growth, the
    // budget's 16 MiB and 36 to 41 KiB per connection, so the bound (43.3 MiB) leaves 7 MiB
    // or more of slack, yet stays below what a budget twice as large costs (53.4 MiB).
    // Unbounded buffering holds all 500 bodies: over 500 MiB.
    let bound = (BUDGET_MIB << 10) + CLIENTS * 56;
    eprintln!(
        "{CLIENTS} stalled 1 MiB bodies: {full:?}; VmHWM {baseline} KiB before, {peak} KiB with them: growth {growth} KiB, bound {bound} KiB"
    );
    assert!(
        growth <= bound,
        "VmHWM grew {growth} KiB ({baseline} → {peak}), beyond {bound} KiB; {full:?}"
    );
    // Exactly the budget's worth of 1 MiB bodies is read at once, the rest wait.
    let holders = (BUDGET_MIB << 20) / BODY_BYTES;
    assert_eq!(
        full,
        BodyGauges {
            reservations: holders,
            reserved_bytes: holders * BODY_BYTES,
            held_bytes: holders * SENT,
            waiting: CLIENTS - holders,
        }
    );
    // The clients go away: every reservation and every wait ends.
    for client in clients {
        client.abort();
        let _ = client.await;
    }
    let zero = BodyGauges {
        reservations: 0,
        reserved_bytes: 0,
        held_bytes: 0,
        waiting: 0,
    };
    body_gauges_until(&served.addr, "all bodies gone", |g| *g == zero).await;
    served.terminate();
    assert!(served.exited().success());
}

/// The worked example's fixture (biz 1 in tenant 123456789).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cmdb-app/examples/fixture.json"
);

/// What the server's RSS may grow by besides the bodies and the connections: the allocator
/// keeping freed body buffers, the runtime's workers.
const CONSTANT_KIB: u64 = 16 << 10;

/// Whether the slow variants run: exactly `CMDB_SLOW_TESTS=1`.
fn slow() -> bool {
    std::env::var("CMDB_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// `clients` clients each send a 1 MiB native create at once, at `kib_per_100ms` KiB every
/// 100 ms (`None`: as fast as they can); every answer's `(status, code)`, and the server's
/// RSS growth over its baseline in KiB.
async fn many_bodies(
    served: &Served,
    clients: usize,
    kib_per_100ms: Option<usize>,
) -> (Vec<(u16, i64)>, u64) {
    let baseline = served.memory_kib("VmRSS");
    let mut tasks = Vec::new();
    for i in 0..clients {
        let addr = served.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut body =
                serde_json::to_vec(&serde_json::json!({"bk_parent_id": 1, "bk_set_name": format!("b{i}")}))
                    .expect("json");
            body.resize(1 << 20, b' ');
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            let head = format!(
                "POST /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nX-Bkcmdb-User: alice\r\nX-Bkcmdb-Supplier-Account: 123456789\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.expect("head");
            match kib_per_100ms {
                None => stream.write_all(&body).await.expect("body"),
                Some(kib) => {
                    for piece in body.chunks(kib << 10) {
                        stream.write_all(piece).await.expect("body");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            let mut answer = Vec::new();
            tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
                .await
                .expect("answered in time")
                .expect("read");
            let text = String::from_utf8_lossy(&answer).into_owned();
            let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).expect("a status");
            let json: serde_json::Value =
                serde_json::from_str(text.split_once("\r\n\r\n").expect("a body").1).expect("an envelope");
            (status, json["code"].as_i64().expect("a code"))
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("client"));
    }
    let peak = served.memory_kib("VmHWM");
    (answers, peak.saturating_sub(baseline))
}

/// Runs [`many_bodies`] against a fresh server with `args` and checks that every body was
/// answered, none by a timeout, and the RSS grew by at most twice the budget plus `clients ×
/// (head limit + 64 KiB)`. Twice: mimalloc keeps freed pages 10 ms before giving them back,
/// so answered bodies' buffers can still be resident while the next ones fill — 48 clients at
/// full speed with a 16 MiB budget grew ~24 MiB with `MIMALLOC_PURGE_DELAY=0` and ~42 MiB
/// without (2026-12-08). Unbounded buffering (~48 MiB of bodies besides the rest) is over it;
/// the exact accounting is the gauges' of `five_hundred_stalled_bodies_cost_bounded_memory`.
async fn bodies_all_answered(clients: usize, budget_mib: u64, kib_per_100ms: Option<usize>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmdb"));
    command
        .args([
            "--store",
            "memory",
            "--fixture",
            FIXTURE,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--body-budget-mib", &budget_mib.to_string()])
        .args([
            "--max-connections-per-peer",
            "0",
            "--max-header-bytes",
            "16384",
        ]);
    let mut served = spawn_served(command);
    assert!(
        request(&served.addr, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let (answers, growth) = many_bodies(&served, clients, kib_per_100ms).await;
    let bound = 2 * (budget_mib << 10) + CONSTANT_KIB + clients as u64 * (16 + 64);
    eprintln!(
        "{clients} clients × 1 MiB ({}), budget {budget_mib} MiB: {} created, RSS growth {growth} KiB, bound {bound} KiB",
        kib_per_100ms.map_or("full speed".to_owned(), |k| format!("{} KiB/s", k * 10)),
        answers.iter().filter(|a| **a == (200, 0)).count()
    );
    assert!(answers.iter().all(|a| *a == (200, 0)), "{answers:?}");
    assert!(growth <= bound, "RSS grew {growth} KiB, beyond {bound} KiB");
    served.terminate();
    assert!(served.exited().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_bodies_at_once_are_all_answered_within_the_budget() {
    // Before: with a 16 MiB budget, 200 clients at full speed got 144 × 408 (partly read
    // bodies held the whole budget); 400 clients at ~640 KiB/s: 364 × 408, RSS 9 → 331 MiB.
    if slow() {
        bodies_all_answered(200, 16, None).await;
        bodies_all_answered(400, 256, Some(64)).await;
    } else {
        bodies_all_answered(48, 16, None).await;
    }
}

/// The fields of one text access-log line, in order, each a number or the text of a quoted
/// string (escapes left as written); `None` when the line does not have exactly the fields.
fn access_fields(line: &str) -> Option<(String, Vec<(String, String)>)> {
    const KEYS: [&str; 11] = [
        "method",
        "route",
        "status",
        "code",
        "app",
        "user",
        "claimed_app",
        "claimed_user",
        "request_id",
        "peer",
        "duration_ms",
    ];
    let (_, rest) = line.split_once("cmdb_http::access: ")?;
    let (event, mut rest) = rest.split_once(" method=")?;
    let mut fields = Vec::new();
    for (i, key) in KEYS.iter().enumerate() {
        if i > 0 {
            rest = rest
                .strip_prefix(' ')?
                .strip_prefix(*key)?
                .strip_prefix('=')?;
        }
        let (value, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (at, c) in quoted.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(at);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            (rest[..end].to_owned(), &rest[end..])
        };
        fields.push(((*key).to_owned(), value));
        rest = after;
    }
    rest.is_empty().then(|| (event.to_owned(), fields))
}

/// Waits (at most [`BOUND`]) until `served` wrote `count` access-log lines; every stderr line.
fn wait_for_access_lines(served: &mut Served, count: usize) -> Vec<String> {
    let until = Instant::now() + BOUND;
    loop {
        let lines = served.stderr();
        let seen = lines
            .iter()
            .filter(|l| l.contains("cmdb_http::access"))
            .count();
        if seen >= count {
            return lines;
        }
        assert!(
            Instant::now() < until,
            "{seen} access lines of {count}: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A log nobody reads does not hold requests: with its stderr pipe full (64 KiB, ~300 lines)
/// and not read, the server still answers 1,000 requests, each within 10 s (a log written on
/// the request's thread would block every worker once the pipe is full), and once stderr is
/// read again every one of them has its access line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_log_does_not_hold_requests_and_loses_no_line() {
    const REQUESTS: usize = 1_000;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "memory", "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
    let addr = tokio::task::block_in_place(|| {
        let mut line = String::new();
        loop {
            line.clear();
            let read = stderr.read_line(&mut line).expect("stderr");
            assert!(read > 0, "cmdb exited before announcing its address");
            if let Some(addr) = line.trim_end().strip_prefix("cmdb: serving on http://") {
                break addr.to_owned();
            }
        }
    });
    // stderr is not read from here on.
    for i in 0..REQUESTS {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream.write_all(HEALTHZ.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
        read.await
            .unwrap_or_else(|_| panic!("request {i} not answered while the log is unread"))
            .expect("read");
        assert!(answer.starts_with(b"HTTP/1.1 200"), "request {i}");
    }
    let drained = std::thread::spawn(move || {
        let lines = stderr.lines().map_while(Result::ok);
        lines.filter(|l| l.contains("cmdb_http::access")).count()
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exited = tokio::task::block_in_place(|| child.wait()).expect("cmdb exits");
    assert!(exited.success(), "{exited:?}");
    let logged = tokio::task::block_in_place(|| drained.join()).expect("stderr read");
    assert_eq!(logged, REQUESTS, "one access line per request, none lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_access_log_cannot_be_forged_and_has_every_refusal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let apps = dir.path().join("apps.json");
    std::fs::write(
        &apps,
        r#"{"apps": [{"bk_app_code": "ops", "bk_app_secret": "s3cr3t", "tenants": "any", "users": "any"}]}"#,
    )
    .expect("apps file");
    let mut served = serve(&[
        "--apps",
        apps.to_str().expect("UTF-8"),
        "--max-connections-per-peer",
        "1",
        "--header-timeout",
        "1",
    ]);
    let esb = |code: &str| {
        let body = serde_json::json!({"bk_app_code": code, "bk_app_secret": "guess", "bk_username": "admin",
                                      "bk_biz_id": 1, "data": {}})
        .to_string();
        format!(
            "POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // Before: each of these wrote a fake line or fake fields, raw control bytes, a 900 KB line.
    let fake_line = "x\n2026-11-29T00:00:00.000000Z  INFO cmdb_http::access: request method=\"POST\" status=200 code=0 app=ops user=admin";
    let forged = [
        esb(fake_line),
        esb("a\u{1b}[31mred\r\u{7}"),
        esb(&"A".repeat(900_000)),
        "GET /api/v3/set/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Bkcmdb-User: admin\r\nX-Bkcmdb-App-Code: x status=200 code=0\r\n\r\n".to_owned(),
    ];
    for raw in &forged {
        let answer = request(&served.addr, raw).await;
        assert!(
            answer.contains(r#""code":1199046"#),
            "{} {answer:.300}",
            raw.len()
        );
    }
    // Refusals of the HTTP layer: 400, 431, a second connection of the peer (503), and a head
    // that never completes (closed by the 1 s header timeout).
    assert!(
        request(&served.addr, "GARBAGE\u{1} / HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400")
    );
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    assert!(
        request(&served.addr, &big)
            .await
            .starts_with("HTTP/1.1 431")
    );
    let mut first = TcpStream::connect(&served.addr).await.expect("connect");
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("part of a head");
    assert!(
        request(&served.addr, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 503")
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(BOUND, first.read_to_end(&mut rest))
        .await
        .expect("closed");
    let lines = wait_for_access_lines(&mut served, 8);
    served.terminate();
    assert!(served.exited().success());

    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("cmdb_http::access"))
        .collect();
    assert_eq!(access.len(), 8, "{access:#?}");
    let parsed: Vec<(String, Vec<(String, String)>)> = access
        .iter()
        .map(|l| access_fields(l).unwrap_or_else(|| panic!("not exactly the fields: {l:?}")))
        .collect();
    let field = |i: usize, key: &str| -> &str {
        &parsed[i].1.iter().find(|(k, _)| k == key).expect("field").1
    };
    for (i, line) in access.iter().enumerate() {
        assert!(line.len() < 1024, "line {i} is {} bytes", line.len());
        assert!(!line.contains(['\u{1b}', '\r', '\u{7}']), "{line:?}");
        // Nothing was verified: no app or user is logged as such.
        assert_eq!((field(i, "app"), field(i, "user")), ("", ""), "{line}");
    }
    // The claimed codes, escaped: the fake line is one field of one line.
    assert_eq!(
        field(0, "claimed_app"),
        fake_line.replace('\n', "\\n").replace('"', "\\\"")
    );
    assert_eq!(field(1, "claimed_app"), "a\\u{1b}[31mred\\r\\u{7}");
    assert_eq!(field(2, "claimed_app"), format!("{}…", "A".repeat(128)));
    assert_eq!(field(3, "claimed_app"), "x status=200 code=0");
    for i in 0..4 {
        assert_eq!((field(i, "status"), field(i, "code")), ("200", "1199046"));
    }
    // A head over the limit is refused by hyper while it arrives, or by the router when it
    // arrived whole in one read: either way one line.
    assert!(
        ["malformed: answered by the HTTP layer", "request"].contains(&parsed[5].0.as_str()),
        "{}",
        parsed[5].0
    );
    let refusals: Vec<(&str, &str, &str)> = [4, 6, 7]
        .into_iter()
        .map(|i| (parsed[i].0.as_str(), field(i, "status"), field(i, "code")))
        .collect();
    assert_eq!((field(5, "status"), field(5, "code")), ("431", "1199015"));
    assert_eq!(
        refusals,
        [
            ("malformed: answered by the HTTP layer", "400", "1199006"),
            (
                "refused: the peer holds its most connections",
                "503",
                "1199997"
            ),
            ("head timeout: closed without an answer", "408", "-1"),
        ]
    );
    assert_eq!(field(6, "peer"), "127.0.0.1");
}

/// The value of the Prometheus sample of `metric` whose labels include every one of `labels`
/// (in any order), if the scrape has one.
fn sample(scrape: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(metric)?;
        let (set, value) = rest.strip_prefix('{')?.split_once("} ")?;
        let wanted = labels
            .iter()
            .all(|(k, v)| set.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
        wanted.then(|| value.trim().parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_requests_and_creates_and_need_an_app() {
    let dir = tempfile::tempdir().expect("temp dir");
    let apps = dir.path().join("apps.json");
    std::fs::write(
        &apps,
        r#"{"apps": [{"bk_app_code": "esb_test", "bk_app_secret": "xxx", "tenants": "any", "users": "any"}]}"#,
    )
    .expect("apps file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmdb"));
    command
        .args(["--store", "memory", "--fixture", FIXTURE, "serve"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--apps",
            apps.to_str().expect("UTF-8"),
        ]);
    let served = spawn_served(command);
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cmdb-app/examples/create_set.json"
    ))
    .expect("the seed request");
    let create = format!(
        "POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{seed}",
        seed.len()
    );
    let first = request(&served.addr, &create).await;
    assert!(first.contains(r#""code":0"#), "{first}");
    let again = request(&served.addr, &create).await;
    assert!(again.contains(r#""code":1101108"#), "{again}");
    assert!(
        request(&served.addr, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );

    // Without an app's credentials: refused, with an envelope.
    let anonymous = request(
        &served.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(anonymous.contains(r#""code":1199046"#), "{anonymous}");
    let scrape = request(
        &served.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Bkapi-Authorization: {\"bk_app_code\":\"esb_test\",\"bk_app_secret\":\"xxx\"}\r\n\r\n",
    )
    .await;
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    assert!(
        scrape.contains("content-type: text/plain; version=0.0.4"),
        "{scrape}"
    );
    // The two bodies were reserved and read, and gave their reservations back.
    for gauge in [
        "cmdb_http_body_reserved_bytes",
        "cmdb_http_body_reservations",
        "cmdb_http_body_waiting",
        "cmdb_http_body_held_bytes",
    ] {
        assert_eq!(unlabelled(&scrape, gauge), Some(0.0), "{gauge}: {scrape}");
        assert!(scrape.contains(&format!("# HELP {gauge} ")), "{scrape}");
    }
    let esb = "/api/c/compapi/v2/cc/create_set/";
    let requests = |handler, status, app| {
        let labels = [
            ("handler", handler),
            ("status_code", status),
            ("app_code", app),
        ];
        sample(&scrape, "cmdb_http_request_total", &labels)
    };
    assert_eq!(requests(esb, "200", "esb_test"), Some(2.0), "{scrape}");
    assert_eq!(requests("/healthz", "200", ""), Some(1.0), "{scrape}");
    // The refused scrape (an envelope, HTTP 200, no verified app) was counted; this one is
    // counted once it is answered.
    assert_eq!(requests("/metrics", "200", ""), Some(1.0), "{scrape}");
    assert_eq!(requests("/metrics", "200", "esb_test"), None, "{scrape}");
    let creates = |code| {
        sample(
            &scrape,
            "cmdb_creates_total",
            &[("store", "memory"), ("code", code)],
        )
    };
    assert_eq!(
        (creates("0"), creates("1101108")),
        (Some(1.0), Some(1.0)),
        "{scrape}"
    );
    let durations = sample(
        &scrape,
        "cmdb_http_request_duration_millisecond_count",
        &[("handler", esb)],
    );
    assert_eq!(durations, Some(2.0), "{scrape}");
    assert!(
        scrape.contains("cmdb_http_request_duration_millisecond_bucket{"),
        "a histogram: {scrape}"
    );
    let group_commits = scrape
        .lines()
        .find_map(|l| l.strip_prefix("cmdb_group_commit_size_count "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(
        group_commits,
        Some(2.0),
        "two creates, each its own group: {scrape}"
    );

    // An import of two rows, one a name taken: its rows counted by code.
    let csv = "bk_set_name,bk_parent_id\nimported,1\ntest-set,1\n";
    let import = format!(
        "POST /api/v3/set/1/import HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/csv\r\n\
         X-Bkapi-Authorization: {{\"bk_app_code\":\"esb_test\",\"bk_app_secret\":\"xxx\"}}\r\n\
         X-Bkcmdb-User: xxx\r\nX-Bkcmdb-Supplier-Account: 123456789\r\nContent-Length: {}\r\n\r\n{csv}",
        csv.len()
    );
    let imported = request(&served.addr, &import).await;
    assert!(imported.contains(r#""created":1"#), "{imported}");
    let scrape = request(
        &served.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Bkapi-Authorization: {\"bk_app_code\":\"esb_test\",\"bk_app_secret\":\"xxx\"}\r\n\r\n",
    )
    .await;
    let rows = |code| {
        let labels = [("store", "memory"), ("code", code)];
        sample(&scrape, "cmdb_import_rows_total", &labels)
    };
    assert_eq!(
        (rows("0"), rows("1101108")),
        (Some(1.0), Some(1.0)),
        "{scrape}"
    );
}
