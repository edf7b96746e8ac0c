//! The `cmdb` binary: the command line of `cmdb-app`, with `cmdb serve` wired to `cmdb-http`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use cmdb_app::Engine;
use cmdb_app::cli::{LogFormat, ServeConfig};
use cmdb_http::ServeOptions;

fn main() -> ExitCode {
    cmdb_app::cli::main_with_args(std::env::args_os(), Some(serve))
}

/// The server's options from the command line's flags.
fn options(config: &ServeConfig) -> ServeOptions {
    let args = &config.args;
    ServeOptions {
        apps: config.apps.clone(),
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        body_budget_bytes: usize::try_from(args.body_budget_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
        rate_per_second: args.rate_limit,
        rate_burst: args.rate_burst,
        shutdown_deadline: Duration::from_secs(args.shutdown_deadline),
    }
}

/// Installs the access log on stderr in the asked format (a second install is ignored).
fn install_log(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Binds the listener, announces the bound address (and, without an apps file, that callers
/// are trusted) on stderr, and serves until SIGTERM or ctrl-c.
fn serve(
    engine: Engine,
    config: ServeConfig,
) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> {
    Box::pin(async move {
        install_log(config.args.log_format);
        // Signal handlers first: a SIGTERM right after the announcement must stop gracefully.
        let shutdown = cmdb_http::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(config.args.listen).await?;
        eprintln!("cmdb: serving on http://{}", listener.local_addr()?);
        if config.apps.is_none() {
            eprintln!(
                "cmdb: no --apps: callers are trusted (the user and app code a request names are taken as they are)"
            );
        }
        cmdb_http::serve_with(engine, listener, shutdown, options(&config)).await
    })
}
