//! A small driver for profilers: `count` engine creates on one store, nothing else timed.
//!
//! ```sh
//! cargo build --release -p cmdb-benches --bin profile-create
//! valgrind --tool=callgrind --toggle-collect='profile_create::run*' \
//!     target/release/profile-create memory 20000
//! ```
//!
//! Arguments: the store (`memory`, `sqlite_full`, `sqlite_normal`, `sled_flush`,
//! `sled_background`, `redb_immediate`, `redb_none`; default `memory`), the number of creates
//! (default 20000), and a mode: `engine` (default: the seed's request), `custom` (the twenty
//! custom attributes defined and sent), `floor` (the store's raw floor instead of the engine),
//! or `bulk` (the creates as one `create_sets_atomic` of prepared plans: the store's write path
//! alone). Requests (or floor documents) are built before the timed loop; only [`run`] (or
//! [`run_floor`]) does creates.

use std::hint::black_box;
use std::time::Instant;

use cmdb_benches::floor::{Floor, open_floor};
use cmdb_benches::setup::{Names, context, plans, runtime, template_set_doc};
use cmdb_benches::{Backend, Harness};
use cmdb_core::plan::{CreatePlan, RequestContext};
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

/// One atomic batch of prepared plans (a bulk load), for the store's write path alone.
#[inline(never)]
fn run_bulk(harness: &Harness, rt: &tokio::runtime::Runtime, plans: Vec<CreatePlan>) {
    let created = rt
        .block_on(harness.store.create_sets_atomic(plans))
        .expect("the bulk load succeeds");
    black_box(created);
}

/// The floor's creates, for comparison under the same profiler.
#[inline(never)]
fn run_floor(floor: &mut dyn Floor, inputs: Vec<(String, Document)>) {
    for (name, doc) in inputs {
        black_box(floor.create(name, doc).expect("the floor create succeeds"));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let label = args.next().unwrap_or_else(|| "memory".into());
    let Some(backend) = Backend::ALL.into_iter().find(|b| b.label() == label) else {
        eprintln!(
            "unknown store {label:?}; one of memory, sqlite_full, sqlite_normal, sled_flush, sled_background, redb_immediate, redb_none"
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
    let mode = args.next().unwrap_or_else(|| "engine".into());
    let mut names = Names::new("profile");
    if mode == "floor" {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut floor = open_floor(backend, dir.path()).expect("the floor opens");
        let template = template_set_doc();
        let inputs: Vec<(String, Document)> = (0..count)
            .map(|_| (names.next_name(), template.clone()))
            .collect();
        let start = Instant::now();
        run_floor(floor.as_mut(), inputs);
        report(count, &format!("{label} floor"), start.elapsed());
        return;
    }
    let rt = runtime();
    let harness = Harness::open(backend, &rt);
    if mode == "bulk" {
        let prepared = plans("profile", 0, count);
        let start = Instant::now();
        run_bulk(&harness, &rt, prepared);
        report(count, &format!("{label} bulk"), start.elapsed());
        return;
    }
    let ctx = context();
    let requests: Vec<Document> = match mode.as_str() {
        "engine" => (0..count).map(|_| names.next_request()).collect(),
        "custom" => {
            harness.define_custom_attributes(&rt);
            (0..count)
                .map(|_| Harness::custom_request(&names.next_name()))
                .collect()
        }
        other => {
            eprintln!("unknown mode {other:?}; one of engine, custom, floor, bulk");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    run(&harness, &rt, &ctx, &requests);
    report(count, &format!("{label} {mode}"), start.elapsed());
}

fn report(count: usize, what: &str, elapsed: std::time::Duration) {
    println!(
        "{count} creates on {what} in {elapsed:?}: {:?} per create",
        elapsed / u32::try_from(count.max(1)).unwrap_or(u32::MAX)
    );
}
