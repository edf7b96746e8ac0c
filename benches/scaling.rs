//! The per-create cost as the store fills: `Engine::create_set` with 0, 100k (and, with
//! `CMDB_BENCH_1M=1`, 1M) sets already stored, all under the same parent.
//!
//! Each store is pre-filled once per benchmark through `SetStore::create_sets_atomic`, at most
//! 100k plans per transaction (sets and their audit records), before the measurement starts.
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

fn label(count: usize) -> String {
    match count {
        0 => "0".into(),
        n if n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn scaling(c: &mut Criterion) {
    let rt = runtime();
    let ctx = context();
    let big = if with_1m() { Some(1_000_000) } else { None };
    let cases: [(Backend, Vec<usize>); 5] = [
        (Backend::Memory, vec![0, 100_000]),
        (
            Backend::SqliteFull,
            [0, 100_000].into_iter().chain(big).collect(),
        ),
        (
            Backend::SqliteNormal,
            [0, 100_000].into_iter().chain(big).collect(),
        ),
        (Backend::SledFlush, vec![0, 100_000]),
        (Backend::SledBackground, vec![0, 100_000]),
    ];
    for (backend, counts) in cases {
        let mut group = c.benchmark_group(format!("scaling/{}", backend.label()));
        for count in counts {
            let harness = Harness::open(backend, &rt);
            harness.prefill(&rt, count);
            let mut names = Names::new("scale");
            group.bench_with_input(BenchmarkId::from_parameter(label(count)), &count, |b, _| {
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
