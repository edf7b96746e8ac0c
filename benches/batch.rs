//! Batches: 100-set requests through `Engine::batch_create` (non-atomic: one transaction per
//! set; atomic: one for all), and a bulk load of 100k sets in one `create_sets_atomic`
//! transaction into a fresh store. Throughput is reported in sets per second.

use std::time::{Duration, Instant};

use cmdb_benches::setup::{BIZ, Names, block, context, plans, runtime};
use cmdb_benches::{Backend, Harness};
use cmdb_core::plan::CreatePlan;
use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use serde_json::Value;

/// Sets per batch request (the engine's limit).
const BATCH: usize = cmdb_app::engine::BATCH_LIMIT;
/// Sets per bulk load.
const BULK: usize = 100_000;

fn batch_requests(c: &mut Criterion) {
    let rt = runtime();
    let ctx = context();
    let mut group = c.benchmark_group("batch100");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sampling_mode(SamplingMode::Flat);
    for backend in [Backend::Memory, Backend::SqliteFull] {
        let harness = Harness::open(backend, &rt);
        let mut names = Names::new("batch");
        for atomic in [false, true] {
            let mode = if atomic { "atomic" } else { "non_atomic" };
            group.bench_function(BenchmarkId::new(backend.label(), mode), |b| {
                b.iter_batched(
                    || {
                        (0..BATCH)
                            .map(|_| Value::Object(names.next_request()))
                            .collect::<Vec<_>>()
                    },
                    |sets| {
                        let elements =
                            block(&rt, harness.engine.batch_create(&ctx, BIZ, &sets, atomic))
                                .expect("the batch succeeds");
                        assert!(elements.iter().all(|e| e.outcome.is_ok()));
                        elements
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    group.finish();
}

fn bulk_load(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("bulk_load_100k");
    group.throughput(Throughput::Elements(BULK as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(8));
    let prepared: Vec<CreatePlan> = plans("bulk", 0, BULK);
    // sled's background mode is left out: in one transaction it differs only by the final
    // flush, and each sled load takes ~15 s here.
    for backend in [
        Backend::Memory,
        Backend::SqliteFull,
        Backend::SqliteNormal,
        Backend::SledFlush,
    ] {
        group.bench_function(backend.label(), |b| {
            // A fresh store each time: the load goes from 0 to 100k stored sets. Only the
            // `create_sets_atomic` call is timed (commit and, where set, flush included).
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let harness = Harness::open(backend, &rt);
                    let batch = prepared.clone();
                    let start = Instant::now();
                    let created = block(&rt, harness.store.create_sets_atomic(batch))
                        .expect("the bulk load succeeds");
                    total += start.elapsed();
                    assert_eq!(created.len(), BULK);
                    drop(created);
                    drop(harness);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = batch_requests, bulk_load
}
criterion_main!(benches);
