//! `cmdb import`'s throughput beside the store's bulk floor, in one run: for each store, the
//! rows/s of `Engine::import` over a CSV file of `rows` sets (parsing, planning and group
//! commit included), and the floor: the same sets as prepared plans committed by
//! `create_sets_atomic` in chunks of the import's group size (only the commits timed).
//!
//! ```sh
//! cargo build --release -p cmdb-benches --bin import-bench
//! target/release/import-bench 100000 sqlite_normal sqlite_full
//! ```
//!
//! Arguments: the row count (default 100000), then the stores (default `sqlite_normal
//! sqlite_full`; any label of `cmdb_benches::Backend`); `IMPORT_GROUP_ROWS` sets the group
//! size of both (default the engine's 1024). Prints a Markdown table.

use std::io::{BufReader, BufWriter, Write};
use std::time::{Duration, Instant};

use cmdb_app::import::{GROUP_ROWS, ImportOptions, RowResult, Rows};

/// The group size: `IMPORT_GROUP_ROWS` or the engine's default.
fn group_rows() -> usize {
    std::env::var("IMPORT_GROUP_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(GROUP_ROWS)
}
use cmdb_benches::setup::{BIZ, block, context, plans, runtime};
use cmdb_benches::{Backend, Harness};

/// Plans prepared at once for the floor (they are built outside the timed commits).
const PREPARED: usize = 100_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map_or(100_000, |n| n.parse().expect("a row count"));
    let labels: Vec<String> = args.collect();
    let backends: Vec<Backend> = if labels.is_empty() {
        vec![Backend::SqliteNormal, Backend::SqliteFull]
    } else {
        labels
            .iter()
            .map(|l| {
                Backend::ALL
                    .into_iter()
                    .find(|b| b.label() == l)
                    .unwrap_or_else(|| panic!("unknown store {l}"))
            })
            .collect()
    };
    let rt = runtime();
    let csv = tempfile::NamedTempFile::new().expect("a temp file");
    {
        let mut out = BufWriter::new(csv.as_file());
        writeln!(
            out,
            "bk_set_name,bk_parent_id,bk_set_desc,bk_capacity,description"
        )
        .expect("written");
        for n in 0..rows {
            writeln!(out, "import-{n:08},1,test-set,1000,description").expect("written");
        }
    }
    println!(
        "| store | rows | import s | import rows/s | floor s | floor rows/s | import / floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for backend in backends {
        let floor = floor(backend, rows, &rt);
        let import = import(backend, csv.path(), rows, &rt);
        let rate = |d: Duration| rows as f64 / d.as_secs_f64();
        println!(
            "| {} | {rows} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} |",
            backend.label(),
            import.as_secs_f64(),
            rate(import),
            floor.as_secs_f64(),
            rate(floor),
            floor.as_secs_f64() / import.as_secs_f64(),
        );
    }
}

/// The import of the file into a fresh store.
fn import(
    backend: Backend,
    path: &std::path::Path,
    rows: usize,
    rt: &tokio::runtime::Runtime,
) -> Duration {
    let harness = Harness::open(backend, rt);
    let model = block(rt, harness.engine.import_model("123456789", BIZ)).expect("the model");
    let file = std::fs::File::open(path).expect("the CSV opens");
    let rows_in = Rows::csv(BufReader::with_capacity(1 << 16, file), &model).expect("the header");
    let mut created = 0usize;
    let mut sink = |results: &[RowResult]| {
        created += results.iter().filter(|r| r.outcome.is_ok()).count();
    };
    let options = ImportOptions {
        group_rows: group_rows(),
        ..ImportOptions::default()
    };
    let started = Instant::now();
    let summary = block(
        rt,
        harness
            .engine
            .import(&context(), BIZ, rows_in, &options, &mut sink),
    )
    .expect("the import runs");
    let elapsed = started.elapsed();
    assert_eq!((summary.created as usize, created), (rows, rows));
    elapsed
}

/// The floor: prepared plans of the same sets, `create_sets_atomic` per group of
/// the import's group size; only the commits are timed.
fn floor(backend: Backend, rows: usize, rt: &tokio::runtime::Runtime) -> Duration {
    let harness = Harness::open(backend, rt);
    let mut total = Duration::ZERO;
    let mut first = 0;
    while first < rows {
        let count = PREPARED.min(rows - first);
        let mut prepared = plans("import", first, count);
        first += count;
        while !prepared.is_empty() {
            let rest = prepared.split_off(group_rows().min(prepared.len()));
            let group = std::mem::replace(&mut prepared, rest);
            let started = Instant::now();
            let created = block(rt, harness.store.create_sets_atomic(group)).expect("committed");
            total += started.elapsed();
            drop(created);
        }
    }
    total
}
