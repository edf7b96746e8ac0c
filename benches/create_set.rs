//! `create_set` end to end on every store, each beside its raw storage floor.
//!
//! One criterion group per store (`create_set/<store>`), holding two benchmarks:
//! - `engine`: `Engine::create_set(&ctx, biz, &data)` with a fresh name each iteration — request
//!   map in, stored document out (catalog reads, permission, validation, one store transaction);
//! - `floor`: the same minimal storage work written directly on the backend
//!   ([`cmdb_benches::floor`]), from a prepared document of the same shape.

use cmdb_benches::floor::open_floor;
use cmdb_benches::setup::{Names, context, runtime, template_set_doc};
use cmdb_benches::{Backend, Harness};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::time::Duration;

fn create_set(c: &mut Criterion) {
    let rt = runtime();
    let ctx = context();
    let template = template_set_doc();
    for backend in Backend::ALL {
        let mut group = c.benchmark_group(format!("create_set/{}", backend.label()));

        let harness = Harness::open(backend, &rt);
        let mut names = Names::new("e2e");
        group.bench_function("engine", |b| {
            b.iter_batched(
                || names.next_request(),
                |data| harness.create(&rt, &ctx, &data),
                BatchSize::SmallInput,
            );
        });
        drop(harness);

        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut floor = open_floor(backend, dir.path()).expect("the floor opens");
        let mut names = Names::new("floor");
        group.bench_function("floor", |b| {
            b.iter_batched(
                || (names.next_name(), template.clone()),
                |(name, doc)| floor.create(name, doc).expect("the floor create succeeds"),
                BatchSize::SmallInput,
            );
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = create_set
}
criterion_main!(benches);
