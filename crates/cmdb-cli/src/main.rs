//! The `cmdb` binary: the command line of `cmdb-app`, with `cmdb serve` wired to `cmdb-http`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use cmdb_app::Engine;
mod cli;
mod import;
mod watch;

use crate::cli::{LogFormat, ServeConfig};
use cmdb_http::ServeOptions;

/// mimalloc instead of glibc's malloc: an import frees a thousand documents a group on another
/// thread than the one that allocated them, which glibc's arenas pay for (benches/README.md,
/// "Import").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::main_with_args(std::env::args_os(), Some(serve))
}

/// File descriptors kept for the store, the listener and the runtime besides connections.
const RESERVED_FDS: u64 = 64;

/// The soft limit of open files, from `/proc/self/limits` (Linux), when it can be read.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `--max-connections`, lowered when the open-files limit would run out first: then the
/// connection past the cap gets its 503 instead of waiting unaccepted.
fn connection_cap(asked: u64, files: Option<u64>) -> u64 {
    match files {
        Some(files) if asked.saturating_add(RESERVED_FDS) > files => {
            files.saturating_sub(RESERVED_FDS).max(1)
        }
        _ => asked,
    }
}

/// The server's options from the command line's flags.
fn options(config: &ServeConfig) -> ServeOptions {
    let args = &config.args;
    let files = open_files_limit();
    let cap = connection_cap(args.max_connections, files);
    if cap < args.max_connections {
        eprintln!(
            "cmdb: --max-connections lowered to {cap}: the open-files limit is {}",
            files.unwrap_or_default()
        );
    }
    ServeOptions {
        apps: config.apps.clone(),
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        body_budget_bytes: usize::try_from(args.body_budget_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        max_connections: usize::try_from(cap).unwrap_or(usize::MAX),
        max_connections_per_peer: usize::try_from(args.max_connections_per_peer)
            .unwrap_or(usize::MAX),
        unauthenticated_bytes_per_peer: usize::try_from(
            args.unauthenticated_mib_per_peer.saturating_mul(1 << 20),
        )
        .unwrap_or(usize::MAX),
        auth_failures_per_second: args.auth_fail_limit,
        auth_failure_burst: args.auth_fail_burst,
        max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
        rate_per_second: args.rate_limit,
        rate_burst: args.rate_burst,
        shutdown_deadline: Duration::from_secs(args.shutdown_deadline),
        watch_timeout: Duration::from_secs(args.watch_timeout),
        import_max_bytes: usize::try_from(args.import_max_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        metrics: install_metrics().map(|handle| {
            cmdb_http::MetricsText::new(move || {
                handle.run_upkeep();
                handle.render()
            })
        }),
    }
}

/// Installs the Prometheus recorder behind `GET /metrics` (durations as histograms with
/// bk-cmdb's millisecond buckets); `None`, with a line on stderr, when a recorder is already
/// installed.
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let ms = [
        1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
    ];
    let seconds = ms.map(|b| b / 1000.0);
    let installed = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(cmdb_http::HTTP_DURATION.into()), &ms)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(cmdb_app::observe::CREATE_SECONDS.into()),
                &seconds,
            )
        })
        .and_then(|b| b.install_recorder());
    match installed {
        Ok(handle) => {
            cmdb_app::observe::describe();
            cmdb_http::describe_metrics();
            Some(handle)
        }
        Err(e) => {
            eprintln!("cmdb: no /metrics: {e}");
            None
        }
    }
}

/// How many log lines may wait for the log's thread before a request that logs waits too
/// (none is dropped: the access log is complete or the server slows down). The queue is
/// allocated whole, ~40 bytes a line.
const LOG_QUEUE_LINES: usize = 4096;

/// Installs the log on stderr in the asked format, at the levels `RUST_LOG` names (default
/// `info`: the access log, opens and closes; `RUST_LOG=cmdb_app=debug` adds every refused
/// create) — a second install is ignored. Lines are formatted on the thread that logs and
/// written by a thread of the log's own, so a slow or blocked stderr does not hold a request
/// while the queue has room; the guard flushes what is queued when dropped.
fn install_log(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (stderr, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("cmdb-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_writer(stderr)
        .with_ansi(false)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

/// Binds the listener, announces the bound address (and, without an apps file, that callers
/// are trusted) on stderr, and serves until SIGTERM or ctrl-c.
fn serve(
    engine: Engine,
    config: ServeConfig,
) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> {
    Box::pin(async move {
        let _log = install_log(config.args.log_format);
        // Signal handlers first: a SIGTERM right after the announcement must stop gracefully.
        let shutdown = cmdb_http::shutdown_signal();
        let options = options(&config);
        let listener = tokio::net::TcpListener::bind(config.args.listen).await?;
        eprintln!("cmdb: serving on http://{}", listener.local_addr()?);
        if config.apps.is_none() {
            eprintln!(
                "cmdb: no --apps: callers are trusted (the user and app code a request names are taken as they are)"
            );
        }
        cmdb_http::serve_with(engine, listener, shutdown, options).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_under_the_open_files_limit() {
        assert_eq!(connection_cap(1024, None), 1024);
        assert_eq!(connection_cap(1024, Some(1_048_576)), 1024);
        assert_eq!(connection_cap(1024, Some(1024)), 960);
        assert_eq!(connection_cap(10, Some(74)), 10);
        assert_eq!(connection_cap(11, Some(74)), 10);
        assert_eq!(connection_cap(100, Some(20)), 1);
    }
}
