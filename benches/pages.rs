//! Paged reads: a page of one set (`SetStore::page`, the read behind `find-set` with
//! `limit=1`) out of 1k, 100k and 1M stored sets, beside the raw baseline of a point read of
//! one set by id in the same store, and the whole-listing read a page cost before; and the
//! event log's read (200 audit records after the middle one, what a watch reads).
//!
//! The million-set stores are built only with `CMDB_BENCH_MILLION=1` (filling them takes
//! minutes on sled); `CMDB_BENCH_STORES=memory,redb_none` limits the run to those stores.

use std::time::Duration;

use cmdb_benches::setup::{BIZ, block, runtime};
use cmdb_benches::{Backend, Harness};
use cmdb_core::SetId;
use cmdb_core::backend::DocQuery;
use cmdb_core::ids::{AuditId, SequenceKind};
use cmdb_core::listing::Window;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Stored-set counts; the million only with `CMDB_BENCH_MILLION=1`.
fn sizes() -> Vec<usize> {
    let mut sizes = vec![1_000, 100_000];
    if std::env::var("CMDB_BENCH_MILLION").is_ok_and(|v| v == "1") {
        sizes.push(1_000_000);
    }
    sizes
}

fn pages(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("page_of_one");
    // `CMDB_BENCH_STORES=memory,redb_none` runs only those stores (their labels).
    let only = std::env::var("CMDB_BENCH_STORES").ok();
    let wanted = |b: &Backend| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|l| l == b.label()))
    };
    for backend in [
        Backend::Memory,
        Backend::SqliteNormal,
        Backend::SledBackground,
        Backend::RedbNone,
    ]
    .into_iter()
    .filter(wanted)
    {
        for n in sizes() {
            let harness = Harness::open(backend, &rt);
            harness.prefill(&rt, n, 100_000);
            let store = &harness.store;
            let all = DocQuery::Sets {
                biz: BIZ,
                set: None,
            };
            let first = block(&rt, store.page(all, Window { start: 0, limit: 1 })).expect("a page");
            // The fixture's idle set and the pre-filled ones.
            assert_eq!(first.count, n + 1);
            let id = SetId(first.docs[0]["bk_set_id"].as_i64().expect("an id"));
            let label = format!("{}/{n}", backend.label());
            group.bench_function(BenchmarkId::new("point_read", &label), |b| {
                b.iter(|| block(&rt, store.sets(BIZ, Some(id))).expect("a set"));
            });
            group.bench_function(BenchmarkId::new("first_page", &label), |b| {
                let window = Window { start: 0, limit: 1 };
                b.iter(|| block(&rt, store.page(all, window)).expect("a page"));
            });
            group.bench_function(BenchmarkId::new("middle_page", &label), |b| {
                let window = Window {
                    start: n / 2,
                    limit: 1,
                };
                b.iter(|| block(&rt, store.page(all, window)).expect("a page"));
            });
            // The event log's read: the 200 audit records after the middle one (what a watch
            // reads after a cursor), beside the point read above.
            let last = block(&rt, store.sequence_last(SequenceKind::Audit)).expect("a sequence");
            group.bench_function(BenchmarkId::new("events_after_middle", &label), |b| {
                let after = AuditId(last / 2);
                b.iter(|| {
                    let records = block(&rt, store.audit_after(after, 200)).expect("records");
                    assert_eq!(records.len(), 200);
                });
            });
            if n <= 100_000 {
                group.bench_function(BenchmarkId::new("whole_listing", &label), |b| {
                    b.iter(|| block(&rt, store.sets(BIZ, None)).expect("the sets"));
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = pages
}
criterion_main!(benches);
