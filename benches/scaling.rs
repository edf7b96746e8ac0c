//! The per-create cost as the store fills: `Engine::create_set` with 0, 100k (and, with
//! `CMDB_BENCH_1M=1`, 1M) sets already stored, all under the same parent.
//!
//! Each store is pre-filled once per benchmark through `SetStore::create_sets_atomic` (sets and
//! their audit records), before the measurement starts: 100k plans per transaction for memory
//! and SQLite; 10k per transaction for sled, plus a `100k_one_tx` case that stores the 100k
//! sets in a single transaction, because sled is busy for seconds after such a large one and
//! the creates measured right after it are several times slower (see `README.md`).
//! Groups: `scaling/<store>`, benchmarks named by the stored count.

use std::time::Duration;

use cmdb_benches::setup::{Names, context, runtime};
use cmdb_benches::{Backend, Harness};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};

/// Whether the 1M-set case runs (`CMDB_BENCH_1M=1`): pre-filling takes minutes and ~2 GB of
/// disk per SQLite setting.
fn with_1m() -> bool {
    std::env::var("CMDB_BENCH_1M").is_ok_and(|v| v == "1")
}

/// One pre-filled state: how many sets, how many per transaction, and its benchmark name.
struct Case {
    count: usize,
    chunk: usize,
    name: &'static str,
}

const fn case(count: usize, chunk: usize, name: &'static str) -> Case {
    Case { count, chunk, name }
}

fn scaling(c: &mut Criterion) {
    let rt = runtime();
    let ctx = context();
    let sqlite = || {
        let mut cases = vec![case(0, 1, "0"), case(100_000, 100_000, "100k")];
        if with_1m() {
            cases.push(case(1_000_000, 100_000, "1M"));
        }
        cases
    };
    let sled = || {
        vec![
            case(0, 1, "0"),
            case(100_000, 10_000, "100k"),
            case(100_000, 100_000, "100k_one_tx"),
        ]
    };
    let plan: [(Backend, Vec<Case>); 5] = [
        (
            Backend::Memory,
            vec![case(0, 1, "0"), case(100_000, 100_000, "100k")],
        ),
        (Backend::SqliteFull, sqlite()),
        (Backend::SqliteNormal, sqlite()),
        (Backend::SledFlush, sled()),
        (Backend::SledBackground, sled()),
    ];
    for (backend, cases) in plan {
        let mut group = c.benchmark_group(format!("scaling/{}", backend.label()));
        for Case { count, chunk, name } in cases {
            let harness = Harness::open(backend, &rt);
            harness.prefill(&rt, count, chunk);
            let mut names = Names::new("scale");
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_batched(
                    || names.next_request(),
                    |data| harness.create(&rt, &ctx, &data),
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = scaling
}
criterion_main!(benches);
