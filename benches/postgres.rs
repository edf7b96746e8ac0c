//! PostgreSQL: durable creates/s (`synchronous_commit = on`, the server default) with 1, 16
//! and 64 concurrent library callers on one engine and on two engines sharing the database,
//! beside the grouped raw floor ([`cmdb_benches::pg_floor`]) driven by as many callers, in one
//! run on one server. Skips with a printed line when `CMDB_PG_URL` is unset.
//!
//! Group `postgres`: `engine/<callers>`, `engine_uncached/64` (one engine without its facts
//! cache: every create reads its facts), `two_engines/<callers>` (callers alternate between the
//! engines), `floor/<callers>`. Each engine and the floor have a database of their own,
//! created for the run and dropped after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cmdb_app::Engine;
use cmdb_benches::pg_db::{admin, url_with_db};
use cmdb_benches::pg_floor::PgFloor;
use cmdb_benches::setup::{BIZ, context, fixture, request};
use cmdb_core::ports::SetStore;
use cmdb_store_postgres::{PgOptions, PgStore};
use criterion::{BenchmarkId, Criterion, Throughput};

/// The numbers of concurrent callers measured.
const CALLERS: [u64; 3] = [1, 16, 64];

/// What the callers drive.
#[derive(Clone)]
enum Target {
    /// Engines, used in turn by the callers.
    Engines(Arc<Vec<Engine>>),
    /// The floor.
    Floor(PgFloor),
}

impl Target {
    async fn create(&self, caller: u64, name: String) {
        match self {
            Target::Engines(engines) => {
                let engine = &engines[caller as usize % engines.len()];
                engine
                    .create_set(&context(), BIZ, &request(&name))
                    .await
                    .expect("the create succeeds");
            }
            Target::Floor(floor) => floor.create(name).await,
        }
    }
}

/// Transactions and creates the target's engines committed so far (the group sizes).
fn stats(target: &Target) -> (u64, u64) {
    match target {
        Target::Engines(engines) => engines
            .iter()
            .filter_map(|e| e.store().commit_stats())
            .fold((0, 0), |(t, c), s| (t + s.commits, c + s.creates)),
        Target::Floor(floor) => floor.stats(),
    }
}

/// Runs `iters` creates drawn in turn by `callers` tasks; returns the elapsed time.
fn drive(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    callers: u64,
    iters: u64,
    serial: &Arc<AtomicU64>,
) -> Duration {
    let left = Arc::new(AtomicU64::new(iters));
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|caller| {
                let (target, left, serial) =
                    (target.clone(), Arc::clone(&left), Arc::clone(serial));
                tokio::spawn(async move {
                    while left
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        let n = serial.fetch_add(1, Ordering::Relaxed);
                        target.create(caller, format!("pg-{n:09}")).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a caller does not panic");
        }
    });
    started.elapsed()
}

fn postgres(c: &mut Criterion, url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let run = std::process::id();
    let (engine_db, uncached_db, two_db, floor_db) = (
        format!("cmdb_bench_engine_{run}"),
        format!("cmdb_bench_uncached_{run}"),
        format!("cmdb_bench_two_{run}"),
        format!("cmdb_bench_floor_{run}"),
    );
    let open_with = |db: &str, options: PgOptions| {
        let url = url_with_db(url, db);
        rt.block_on(async {
            admin(
                &url_with_db(&url, "postgres"),
                &format!("CREATE DATABASE {db}"),
            )
            .await;
            let store: Arc<dyn SetStore> = Arc::new(
                PgStore::connect(&url, options)
                    .await
                    .expect("the store opens"),
            );
            store
        })
    };
    let open = |db: &str| open_with(db, PgOptions::default());
    let engine = |store: Arc<dyn SetStore>| {
        let engine = Engine::builder(store).build();
        rt.block_on(engine.load_fixture(fixture(), "admin"))
            .expect("the fixture loads");
        engine
    };
    let one = Target::Engines(Arc::new(vec![engine(open(&engine_db))]));
    let uncached = Target::Engines(Arc::new(vec![engine(open_with(
        &uncached_db,
        PgOptions {
            facts_cache_entries: 0,
            ..PgOptions::default()
        },
    ))]));
    let first = engine(open(&two_db));
    let second_store: Arc<dyn SetStore> = Arc::new(
        rt.block_on(PgStore::connect(
            &url_with_db(url, &two_db),
            PgOptions::default(),
        ))
        .expect("the second engine opens"),
    );
    let two = Target::Engines(Arc::new(vec![first, Engine::builder(second_store).build()]));
    let floor_store = open(&floor_db);
    let floor = Target::Floor(rt.block_on(PgFloor::start(&url_with_db(url, &floor_db))));

    let serial = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("postgres");
    group.throughput(Throughput::Elements(1));
    for (label, target, callers) in [
        ("engine", &one, &CALLERS[..]),
        ("engine_uncached", &uncached, &CALLERS[2..]),
        ("floor", &floor, &CALLERS[..]),
        ("two_engines", &two, &CALLERS[1..]),
    ] {
        for &n in callers {
            let before = stats(target);
            group.bench_with_input(BenchmarkId::new(label, n), &n, |b, &n| {
                b.iter_custom(|iters| drive(&rt, target, n, iters, &serial));
            });
            let (commits, creates) = stats(target);
            if commits > before.0 {
                println!(
                    "postgres/{label}/{n}: {:.1} creates per transaction",
                    (creates - before.1) as f64 / (commits - before.0) as f64
                );
            }
        }
    }
    group.finish();
    drop((one, uncached, two, floor, floor_store));
    for db in [engine_db, uncached_db, two_db, floor_db] {
        rt.block_on(admin(
            url,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ));
    }
}

fn main() {
    let Ok(url) = std::env::var("CMDB_PG_URL") else {
        println!(
            "postgres benchmarks skipped: CMDB_PG_URL is unset (run under scripts/with-postgres)"
        );
        return;
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    postgres(&mut c, &url);
    c.final_summary();
}
