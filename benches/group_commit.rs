//! Group commit: durable creates per second with 1, 4, 16 and 64 concurrent library callers.
//!
//! One criterion group per store and mode (`group_commit/<store>_<grouped|ungrouped>`), one
//! benchmark per number of callers. Each measurement spawns that many tasks on a two-worker
//! tokio runtime; they take turns drawing the next of `iters` creates (`Engine::create_set`,
//! distinct names) until all are done. Throughput is one element per create, so criterion
//! prints creates/s. Stores: SQLite FULL and sled with flush, grouped and ungrouped (every
//! create its own commit), and SQLite NORMAL grouped (its one-caller figure is the "durability
//! at the price of none" reference).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cmdb_benches::Backend;
use cmdb_benches::setup::{BIZ, Harness, context, request};
use cmdb_store_group::GroupOptions;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The numbers of concurrent callers measured.
const CALLERS: [u64; 4] = [1, 4, 16, 64];

fn group_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let configs = [
        (Backend::SqliteFull, true),
        (Backend::SqliteFull, false),
        (Backend::SledFlush, true),
        (Backend::SledFlush, false),
        (Backend::SqliteNormal, true),
    ];
    // Names are unique across every measurement of a store.
    let serial = Arc::new(AtomicU64::new(0));
    for (backend, grouped) in configs {
        let options = if grouped {
            GroupOptions::default()
        } else {
            GroupOptions::ungrouped()
        };
        let mode = if grouped { "grouped" } else { "ungrouped" };
        let harness = Arc::new(Harness::open_grouped(backend, options, &rt));
        let mut group = c.benchmark_group(format!("group_commit/{}_{mode}", backend.label()));
        group.throughput(Throughput::Elements(1));
        for callers in CALLERS {
            group.bench_with_input(
                BenchmarkId::from_parameter(callers),
                &callers,
                |b, &callers| {
                    b.iter_custom(|iters| {
                        let left = Arc::new(AtomicU64::new(iters));
                        let started = Instant::now();
                        rt.block_on(async {
                            let tasks: Vec<_> = (0..callers)
                                .map(|_| {
                                    let harness = Arc::clone(&harness);
                                    let left = Arc::clone(&left);
                                    let serial = Arc::clone(&serial);
                                    tokio::spawn(async move {
                                        let ctx = context();
                                        while left
                                            .fetch_update(
                                                Ordering::AcqRel,
                                                Ordering::Acquire,
                                                |n| n.checked_sub(1),
                                            )
                                            .is_ok()
                                        {
                                            let n = serial.fetch_add(1, Ordering::Relaxed);
                                            let data = request(&format!("g-{n:09}"));
                                            harness
                                                .engine
                                                .create_set(&ctx, BIZ, &data)
                                                .await
                                                .expect("the create succeeds");
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.expect("a caller does not panic");
                            }
                        });
                        started.elapsed()
                    });
                },
            );
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
    targets = group_commit
}
criterion_main!(benches);
