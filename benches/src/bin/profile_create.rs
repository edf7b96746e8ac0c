//! A small driver for profilers: `count` engine creates on one store, nothing else timed.
//!
//! ```sh
//! cargo build --release -p cmdb-benches --bin profile-create
//! valgrind --tool=callgrind --toggle-collect='profile_create::run' \
//!     target/release/profile-create memory 20000
//! ```
//!
//! Arguments: the store (`memory`, `sqlite_full`, `sqlite_normal`, `sled_flush`,
//! `sled_background`; default `memory`) and the number of creates (default 20000). Requests
//! are built before the timed loop; only [`run`] does creates.

use std::hint::black_box;
use std::time::Instant;

use cmdb_benches::setup::{Names, context, runtime};
use cmdb_benches::{Backend, Harness};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;

/// The creates, in a function of their own so that a profiler can collect it alone.
#[inline(never)]
fn run(
    harness: &Harness,
    rt: &tokio::runtime::Runtime,
    ctx: &RequestContext,
    requests: &[Document],
) {
    for data in requests {
        black_box(harness.create(rt, ctx, data));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let label = args.next().unwrap_or_else(|| "memory".into());
    let Some(backend) = Backend::ALL.into_iter().find(|b| b.label() == label) else {
        eprintln!(
            "unknown store {label:?}; one of memory, sqlite_full, sqlite_normal, sled_flush, sled_background"
        );
        std::process::exit(2);
    };
    let count: usize = match args.next().map(|n| n.parse()) {
        None => 20_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("bad count: {e}");
            std::process::exit(2);
        }
    };
    let rt = runtime();
    let harness = Harness::open(backend, &rt);
    let ctx = context();
    let mut names = Names::new("profile");
    let requests: Vec<Document> = (0..count).map(|_| names.next_request()).collect();
    let start = Instant::now();
    run(&harness, &rt, &ctx, &requests);
    let elapsed = start.elapsed();
    println!(
        "{count} creates on {label} in {elapsed:?}: {:?} per create",
        elapsed / u32::try_from(count.max(1)).unwrap_or(u32::MAX)
    );
}
