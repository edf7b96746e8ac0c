//! 1,000 watches waiting on one `cmdb serve` hold no thread and cost next to no CPU: the
//! server's threads, CPU time and RSS (from `/proc/<pid>`) are read while they wait for a
//! window (3 s; `CMDB_SLOW_TESTS=1`: 30 s), then one create answers all of them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cmdb-app/examples/fixture.json"
);
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cmdb-app/examples/create_set.json"
);
const WATCHERS: usize = 1000;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `(threads, utime + stime in clock ticks, VmRSS in KiB)` of process `pid`.
fn usage(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which is in parentheses): utime is the 14th field.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (field("Threads:"), fields[0] + fields[1], field("VmRSS:"))
}

/// One HTTP/1.1 request on a connection of its own; the answer's body as JSON.
async fn post(addr: &str, path: &str, body: &Value) -> Value {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    send(&mut stream, path, body).await;
    answer(stream).await
}

async fn send(stream: &mut TcpStream, path: &str, body: &Value) {
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .unwrap();
}

async fn answer(mut stream: TcpStream) -> Value {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not an envelope: {text}"))
}

async fn waiting(addr: &str) -> f64 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    raw.lines()
        .find_map(|l| l.strip_prefix("cmdb_watchers_waiting "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn watch_body(cursor: &Value) -> Value {
    json!({"bk_app_code": "esb_test", "bk_username": "admin", "bk_supplier_account": "123456789",
           "bk_resource": "set", "bk_cursor": cursor})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_watchers_hold_no_thread_and_no_cpu() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args([
            "--store",
            "memory",
            "--fixture",
            FIXTURE,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--watch-timeout",
            "600",
            "--max-connections",
            "2048",
            "--max-connections-per-peer",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("cmdb serve announces its address")
            .unwrap();
        if let Some(addr) = line.strip_prefix("cmdb: serving on ") {
            break addr.trim_start_matches("http://").to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let server = Killed(child);
    let pid = server.0.id();
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    let create = "/api/c/compapi/v2/cc/create_set/";
    assert_eq!(post(&addr, create, &seed).await["code"], 0);
    let watch = "/api/c/compapi/v2/cc/resource_watch/";
    let first = post(
        &addr,
        watch,
        &json!({"bk_app_code": "esb_test", "bk_username": "admin",
        "bk_supplier_account": "123456789", "bk_resource": "set", "bk_start_from": 0}),
    )
    .await;
    let cursor = first["data"]["bk_events"][0]["bk_cursor"].clone();
    let (threads_before, _, rss_before) = usage(pid);

    let mut clients = Vec::new();
    for _ in 0..WATCHERS {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        send(&mut stream, watch, &watch_body(&cursor)).await;
        clients.push(tokio::spawn(answer(stream)));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while waiting(&addr).await < WATCHERS as f64 {
        assert!(Instant::now() < deadline, "the watches never all waited");
        tokio::task::yield_now().await;
    }
    let window = if std::env::var("CMDB_SLOW_TESTS").is_ok_and(|v| v == "1") {
        30
    } else {
        3
    };
    let (threads, cpu_start, rss_start) = usage(pid);
    std::thread::sleep(Duration::from_secs(window));
    let (threads_end, cpu_end, rss_end) = usage(pid);
    let ticks = cpu_end - cpu_start;
    println!(
        "{WATCHERS} idle watchers for {window} s: threads {threads_before} before, {threads} \
         waiting, {threads_end} at the end; CPU {ticks} ticks (1/100 s); RSS {rss_before} KiB \
         before, {rss_start} KiB waiting, {rss_end} KiB at the end"
    );
    assert!(
        threads < 64 && threads_end == threads,
        "no thread per watcher: {threads}"
    );
    assert!(
        ticks * 10 <= window * 100,
        "idle watchers used {ticks} ticks in {window} s"
    );

    let mut second = seed.clone();
    second["data"]["bk_set_name"] = json!("wakes-them-all");
    let created = post(&addr, create, &second).await;
    assert_eq!(created["code"], 0, "{created}");
    for client in clients {
        let answer = client.await.unwrap();
        assert_eq!(answer["data"]["bk_watched"], true, "{answer}");
        assert_eq!(answer["data"]["bk_events"][0]["bk_detail"], created["data"]);
    }
}
