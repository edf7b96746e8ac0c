//! `http-load`: a load generator for the HTTP adapter. It starts `cmdb_http::serve` in-process on
//! loopback over a SQLite store in a temporary directory, runs N concurrent keep-alive clients
//! creating distinct sets through `POST /api/v3/set/{bk_biz_id}` for D seconds, and reports
//! requests per second and the p50/p99/max latency, for SQLite `synchronous=FULL` and `NORMAL`,
//! with group commit and without.
//!
//! ```text
//! cargo run --release -p cmdb-benches --bin http-load -- [--clients 16] [--seconds 10] \
//!     [--sync full|normal|both] [--group on|off|both]
//! ```
//!
//! Clients and server share one tokio runtime with two workers (the size of the machines here);
//! engine calls run as ordinary tasks, the store's writer and reader threads doing the blocking
//! work, as in production. Traffic goes to 127.0.0.1 only, and every client stops at the
//! deadline.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cmdb_app::Engine;
use cmdb_app::open::{SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_store_group::GroupOptions;
use serde_json::{Value, json};

/// The command line.
#[derive(Debug, Clone)]
struct Args {
    clients: usize,
    seconds: u64,
    modes: Vec<SqliteSync>,
    grouping: Vec<bool>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        clients: 16,
        seconds: 10,
        modes: vec![SqliteSync::Full, SqliteSync::Normal],
        grouping: vec![true, false],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => {
                args.clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?;
            }
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
            }
            "--sync" => {
                args.modes = match value()?.as_str() {
                    "full" => vec![SqliteSync::Full],
                    "normal" => vec![SqliteSync::Normal],
                    "both" => vec![SqliteSync::Full, SqliteSync::Normal],
                    other => return Err(format!("--sync: full, normal or both, not {other}")),
                }
            }
            "--group" => {
                args.grouping = match value()?.as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![true, false],
                    other => return Err(format!("--group: on, off or both, not {other}")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.clients == 0 || args.seconds == 0 {
        return Err("--clients and --seconds must be at least 1".into());
    }
    Ok(args)
}

/// What one run measured.
#[derive(Debug)]
struct Report {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64) * p).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// One client: its own keep-alive connection, distinct names, until the deadline.
async fn client(base: String, index: usize, deadline: Instant) -> (usize, Vec<Duration>) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let url = format!("{base}/api/v3/set/1");
    let mut latencies = Vec::new();
    let mut failed = 0;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let body = json!({"bk_parent_id": 1, "bk_set_name": format!("load-{index}-{n}")});
        let start = Instant::now();
        let reply = http
            .post(&url)
            .header("X-Bkcmdb-User", "load")
            .json(&body)
            .send()
            .await;
        let code = match reply {
            Ok(response) => response
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["code"].as_i64()),
            Err(_) => None,
        };
        match code {
            Some(0) => latencies.push(start.elapsed()),
            _ => failed += 1,
        }
    }
    (failed, latencies)
}

async fn run(
    sync: SqliteSync,
    grouped: bool,
    clients: usize,
    seconds: u64,
) -> Result<Report, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let config = StoreConfig {
        path: Some(dir.path().join("load.sqlite")),
        sqlite_sync: sync,
        group: if grouped {
            GroupOptions::default()
        } else {
            GroupOptions::ungrouped()
        },
        ..StoreConfig::new(StoreKind::Sqlite)
    };
    let store = open_store(&config).map_err(|e| e.to_string())?.store;
    let engine = Engine::builder(store).build();
    engine
        .load_fixture(
            json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "load"}]}),
            "admin",
        )
        .await
        .map_err(|f| f.message().to_owned())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cmdb_http::serve(engine, listener, async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client(base.clone(), i, deadline)))
        .collect();
    let mut report = Report {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (failed, latencies) = task.await.map_err(|e| format!("client: {e}"))?;
        report.failed += failed;
        report.latencies.extend(latencies);
    }
    report.elapsed = started.elapsed();
    report.ok = report.latencies.len();
    report.latencies.sort_unstable();

    let _ = stop.send(());
    server
        .await
        .map_err(|e| format!("server: {e}"))?
        .map_err(|e| format!("server: {e}"))?;
    Ok(report)
}

fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("http-load: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http-load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "clients={} seconds={} (POST /api/v3/set/1, distinct names, SQLite in a temp dir)",
        args.clients, args.seconds
    );
    println!(
        "| synchronous | group commit | requests | failed | requests/s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut status = ExitCode::SUCCESS;
    let runs = args
        .modes
        .iter()
        .flat_map(|sync| args.grouping.iter().map(move |grouped| (*sync, *grouped)));
    for (sync, grouped) in runs {
        let name = match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        };
        let group = if grouped { "on" } else { "off" };
        match runtime.block_on(run(sync, grouped, args.clients, args.seconds)) {
            Ok(r) => {
                println!(
                    "| {name} | {group} | {} | {} | {:.0} | {} | {} | {} |",
                    r.ok,
                    r.failed,
                    r.ok as f64 / r.elapsed.as_secs_f64(),
                    millis(r.percentile(0.50)),
                    millis(r.percentile(0.99)),
                    millis(r.latencies.last().copied().unwrap_or_default()),
                );
                if r.failed > 0 {
                    status = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("http-load: {name}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
