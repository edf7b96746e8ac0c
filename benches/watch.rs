//! Watch delivery: creates at full speed (16 concurrent writers through the engine) with one
//! watcher following them, beside the raw baseline of the same creates with nobody watching;
//! events/s delivered is the creates over the watched run's time. Then, measured apart and
//! printed: the commit-to-delivery delay (from a create's acknowledgement to its event reaching
//! the watcher; 0 when the event came first), p50 and p99, in-process (the watcher's engine
//! made the create: woken at once) and across engines (another engine on the same SQLite file
//! made it: woken by the backstop poll, every 500 ms). With `CMDB_PG_URL` (under
//! `scripts/with-postgres`) the same on PostgreSQL, where a second engine's commits reach the
//! watcher by `LISTEN`/`NOTIFY`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cmdb_app::Engine;
use cmdb_app::open::open_store;
use cmdb_app::watch::{WatchRequest, WatchStart};
use cmdb_benches::pg_db::{admin, url_with_db};
use cmdb_benches::setup::{BIZ, context, request, runtime_multi};
use cmdb_benches::{Backend, Harness};
use cmdb_core::records::ResourceType;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Creates per measured run.
const CREATES: usize = 2_000;
/// Concurrent writers.
const WRITERS: usize = 16;

/// `CREATES` creates by `WRITERS` tasks on `writer`, named `{tag}-{w}-{n}`; each create's
/// acknowledgement instant by set id.
async fn write(writer: &Engine, tag: &str) -> HashMap<i64, Instant> {
    let acks = Arc::new(Mutex::new(HashMap::new()));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (engine, acks, tag) = (writer.clone(), Arc::clone(&acks), tag.to_owned());
            tokio::spawn(async move {
                for n in 0..CREATES / WRITERS {
                    let data = request(&format!("{tag}-{w}-{n}"));
                    let set = engine
                        .create_set(&context(), BIZ, &data)
                        .await
                        .expect("created");
                    let id = set["bk_set_id"].as_i64().expect("an id");
                    acks.lock().unwrap().insert(id, Instant::now());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a writer");
    }
    Arc::try_unwrap(acks)
        .expect("writers done")
        .into_inner()
        .unwrap()
}

/// Follows `watcher` from now until `count` events came: each event's set id and arrival.
async fn follow(watcher: &Engine, count: usize) -> tokio::task::JoinHandle<Vec<(i64, Instant)>> {
    let request = WatchRequest::new(ResourceType::Set, WatchStart::Now);
    let mut stream = watcher
        .watch_stream(&context(), request)
        .await
        .expect("a watch");
    tokio::spawn(async move {
        let mut seen = Vec::with_capacity(count);
        while seen.len() < count {
            let event = stream.next().await.expect("endless").expect("an event");
            seen.push((
                event.detail["bk_set_id"].as_i64().expect("an id"),
                Instant::now(),
            ));
        }
        seen
    })
}

/// p50 and p99 of the delays from each create's acknowledgement to its event.
fn delays(acks: &HashMap<i64, Instant>, seen: &[(i64, Instant)]) -> (Duration, Duration) {
    let mut delays: Vec<Duration> = seen
        .iter()
        .map(|(id, at)| at.saturating_duration_since(acks[id]))
        .collect();
    assert_eq!(delays.len(), acks.len(), "every create delivered");
    delays.sort_unstable();
    let at = |q: usize| delays[(delays.len() * q / 100).min(delays.len() - 1)];
    (at(50), at(99))
}

fn watch(c: &mut Criterion) {
    let rt = runtime_multi();
    let mut group = c.benchmark_group("watch_delivery");
    for backend in [
        Backend::Memory,
        Backend::SqliteNormal,
        Backend::SledBackground,
        Backend::RedbNone,
    ] {
        let harness = Harness::open(backend, &rt);
        let engine = &harness.engine;
        let label = backend.label();
        let mut run = 0;
        group.bench_function(BenchmarkId::new("creates_unwatched", label), |b| {
            b.iter(|| {
                run += 1;
                rt.block_on(write(engine, &format!("raw{run}")))
            });
        });
        group.bench_function(BenchmarkId::new("creates_watched", label), |b| {
            b.iter(|| {
                run += 1;
                rt.block_on(async {
                    let watcher = follow(engine, CREATES).await;
                    write(engine, &format!("w{run}")).await;
                    watcher.await.expect("the watcher")
                })
            });
        });
        run += 1;
        let (p50, p99) = rt.block_on(async {
            let watcher = follow(engine, CREATES).await;
            let acks = write(engine, &format!("d{run}")).await;
            delays(&acks, &watcher.await.expect("the watcher"))
        });
        eprintln!("watch delay {label} in-process: p50 {p50:?}, p99 {p99:?} ({CREATES} creates)");
        if backend == Backend::SqliteNormal {
            // A second engine on the same file: its commits reach this watcher by the poll.
            let other = open_store(&backend.config(harness.dir())).expect("a second engine");
            let writer = Engine::builder(other.store).build();
            let (p50, p99) = rt.block_on(async {
                let watcher = follow(engine, CREATES).await;
                let acks = write(&writer, "other-engine").await;
                delays(&acks, &watcher.await.expect("the watcher"))
            });
            eprintln!("watch delay {label} across engines: p50 {p50:?}, p99 {p99:?}");
        }
    }
    if let Ok(url) = std::env::var("CMDB_PG_URL") {
        postgres(&mut group, &rt, &url);
    }
    group.finish();
}

/// The same on PostgreSQL (with `CMDB_PG_URL`, under `scripts/with-postgres`): one engine
/// writing and watching, then a second engine on the same database writing (its commits reach
/// the watcher by `LISTEN`/`NOTIFY`).
fn postgres(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    url: &str,
) {
    let db = format!("cmdb_bench_watch_{}", std::process::id());
    let engine_on = |url: &str| {
        rt.block_on(async {
            let store = cmdb_store_postgres::PgStore::connect(url, Default::default()).await;
            Engine::builder(Arc::new(store.expect("PostgreSQL opens"))).build()
        })
    };
    rt.block_on(admin(
        &url_with_db(url, "postgres"),
        &format!("CREATE DATABASE {db}"),
    ));
    let db_url = url_with_db(url, &db);
    let (engine, other) = (engine_on(&db_url), engine_on(&db_url));
    rt.block_on(engine.load_fixture(cmdb_benches::setup::fixture(), "admin"))
        .expect("fixture");
    let mut run = 0;
    group.bench_function(BenchmarkId::new("creates_unwatched", "postgres"), |b| {
        b.iter(|| {
            run += 1;
            rt.block_on(write(&engine, &format!("raw{run}")))
        });
    });
    group.bench_function(BenchmarkId::new("creates_watched", "postgres"), |b| {
        b.iter(|| {
            run += 1;
            rt.block_on(async {
                let watcher = follow(&engine, CREATES).await;
                write(&engine, &format!("w{run}")).await;
                watcher.await.expect("the watcher")
            })
        });
    });
    for (writer, how) in [(&engine, "in-process"), (&other, "across engines")] {
        run += 1;
        let (p50, p99) = rt.block_on(async {
            let watcher = follow(&engine, CREATES).await;
            let acks = write(writer, &format!("d{run}")).await;
            delays(&acks, &watcher.await.expect("the watcher"))
        });
        eprintln!("watch delay postgres {how}: p50 {p50:?}, p99 {p99:?} ({CREATES} creates)");
    }
    drop((engine, other));
    let drop_db = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
    rt.block_on(admin(&url_with_db(url, "postgres"), &drop_db));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(3));
    targets = watch
}
criterion_main!(benches);
