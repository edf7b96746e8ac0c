//! Validation alone: `cmdb_core::plan::plan_create` on prepared `CreateFacts`, for the seed's
//! request and for a request with twenty custom attributes of mixed types; plus, for scale, the
//! catalog reads (`gather_facts`) a create makes before validating, and a whole memory-store
//! create with the twenty custom attributes defined.

use std::hint::black_box;
use std::time::Duration;

use cmdb_benches::setup::{
    BIZ, Names, PLAN_TIME, SUPPLIER, block, context, custom_request_and_facts, request, runtime,
    seed_request_and_facts,
};
use cmdb_benches::{Backend, Harness};
use cmdb_core::gather::gather_facts;
use cmdb_core::plan::{PlanOptions, plan_create};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn validation(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("validation");

    let (seed, seed_facts) = seed_request_and_facts();
    group.bench_function("plan_seed_request", |b| {
        b.iter(|| {
            plan_create(
                &ctx,
                BIZ,
                black_box(&seed),
                &seed_facts,
                PlanOptions::default(),
                PLAN_TIME,
            )
            .expect("valid")
        });
    });

    let (custom, custom_facts) = custom_request_and_facts();
    group.bench_function("plan_custom_20_attributes", |b| {
        b.iter(|| {
            plan_create(
                &ctx,
                BIZ,
                black_box(&custom),
                &custom_facts,
                PlanOptions::default(),
                PLAN_TIME,
            )
            .expect("valid")
        });
    });

    // What a create reads before validating, on the memory store: without and with the
    // twenty custom attributes stored (their definitions are compiled on every read).
    let rt = runtime();
    let plain = Harness::open(Backend::Memory, &rt);
    let data = request("facts");
    group.bench_function("gather_facts_memory", |b| {
        b.iter(|| {
            block(
                &rt,
                gather_facts(plain.store.as_ref(), SUPPLIER, BIZ, &data),
            )
            .expect("facts")
        });
    });

    let with_custom = Harness::open(Backend::Memory, &rt);
    with_custom.define_custom_attributes(&rt);
    group.bench_function("gather_facts_memory_custom_20", |b| {
        b.iter(|| {
            block(
                &rt,
                gather_facts(with_custom.store.as_ref(), SUPPLIER, BIZ, &custom),
            )
            .expect("facts")
        });
    });

    let mut names = Names::new("custom");
    group.bench_function("create_memory_custom_20", |b| {
        b.iter_batched(
            || Harness::custom_request(&names.next_name()),
            |data| with_custom.create(&rt, &ctx, &data),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = validation
}
criterion_main!(benches);
