//! The `cmdb` binary: the command line of `cmdb-app`, with `cmdb serve` wired to `cmdb-http`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;

use cmdb_app::Engine;

fn main() -> ExitCode {
    cmdb_app::cli::main_with_args(std::env::args_os(), Some(serve))
}

/// Binds `listen`, announces the bound address on stderr, and serves until SIGTERM or ctrl-c.
fn serve(
    engine: Engine,
    listen: SocketAddr,
) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> {
    Box::pin(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        eprintln!("cmdb: serving on http://{}", listener.local_addr()?);
        cmdb_http::serve(engine, listener, cmdb_http::shutdown_signal()).await
    })
}
