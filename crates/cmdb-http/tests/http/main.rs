//! HTTP tests of `cmdb-http`: a real server on 127.0.0.1:0 over memory and SQLite stores,
//! called with a real HTTP client.

mod apps;
mod attacks;
mod concurrency;
mod esb;
mod hostile;
mod import;
mod interop;
mod limits;
mod native;
mod routing;
mod shutdown;
mod strict;
mod support;
mod watch;
