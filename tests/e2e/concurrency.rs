//! Concurrency: colliding creates from 8 threads over every store, and from two OS processes
//! on one SQLite file. Exactly one winner per (parent, name), every loser 1101108, ids unique
//! and gapless (a failed create consumes no id), and the stored sets are exactly the winners.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::Instant;

use cmdb_app::Engine;
use cmdb_app::open::{RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use cmdb_core::records::ResourceType;
use serde_json::{Value, json};

use crate::crash::Rng;

const THREADS: usize = 8;
const CREATES_PER_THREAD: usize = 1_000;
const PARENTS: i64 = 50;
/// Mainline instance ids of the custom level (`zone`): 1000 … 1049.
const FIRST_PARENT: i64 = 1_000;
const NAMES: [&str; 8] = ["web", "db", "cache", "mq", "api", "job", "log", "edge"];

/// Business 1 with its idle set (set id 1) and a custom mainline level `zone` of 50 instances.
fn fifty_parents() -> Value {
    let instances: Vec<Value> = (0..PARENTS)
        .map(|i| {
            json!({"bk_obj_id": "zone", "bk_inst_id": FIRST_PARENT + i,
                   "bk_inst_name": format!("z{i}"), "bk_biz_id": 1, "bk_parent_id": 1})
        })
        .collect();
    json!({
        "mainline": ["zone"],
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "race"}],
        "mainline_instances": instances
    })
}

fn context(thread: usize) -> RequestContext {
    RequestContext {
        user: format!("t{thread}"),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: format!("{thread:032x}"),
    }
}

/// One attempt: the (parent, name) tried and its outcome (set id, or code and message).
type Attempt = ((i64, String), Result<i64, (i64, String)>);

fn race(config: &StoreConfig) {
    let started = Instant::now();
    let opened = open_store(config).expect("opens");
    let engine = Engine::builder(opened.store.clone()).build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(engine.load_fixture(fifty_parents(), "admin"))
        .expect("the fixture loads");

    let barrier = Barrier::new(THREADS);
    let attempts: Vec<Attempt> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let engine = engine.clone();
                let barrier = &barrier;
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let mut rng = Rng::new(0xC0FF_EE00 + t as u64);
                    let ctx = context(t);
                    barrier.wait();
                    (0..CREATES_PER_THREAD)
                        .map(|_| {
                            let parent = FIRST_PARENT + rng.below(PARENTS as u64) as i64;
                            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
                            let data = json!({"bk_parent_id": parent, "bk_set_name": name});
                            let outcome = rt
                                .block_on(engine.create_set(
                                    &ctx,
                                    BizId(1),
                                    data.as_object().unwrap(),
                                ))
                                .map(|doc| doc["bk_set_id"].as_i64().expect("an integer id"))
                                .map_err(|f| (f.code().number(), f.message().to_owned()));
                            ((parent, name.to_owned()), outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a writer thread"))
            .collect()
    });
    let backend = engine.store().backend();
    assert_eq!(attempts.len(), THREADS * CREATES_PER_THREAD);

    let mut winners: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    let mut tried = BTreeSet::new();
    let mut losers = 0;
    for (key, outcome) in &attempts {
        tried.insert(key.clone());
        match outcome {
            Ok(id) => winners.entry(key.clone()).or_default().push(*id),
            Err(failure) => {
                assert_eq!(
                    failure,
                    &(1_101_108, "the same set name exist".to_owned()),
                    "{backend}: {key:?}"
                );
                losers += 1;
            }
        }
    }
    // Exactly one winner per (parent, name) tried.
    assert_eq!(
        winners.keys().collect::<Vec<_>>(),
        tried.iter().collect::<Vec<_>>(),
        "{backend}"
    );
    for (key, ids) in &winners {
        assert_eq!(ids.len(), 1, "{backend}: {key:?} won {ids:?}");
    }
    assert_eq!(
        winners.len() + losers,
        THREADS * CREATES_PER_THREAD,
        "{backend}"
    );
    // Ids unique and gapless after the idle set (id 1): failed creates consumed none.
    let mut ids: Vec<i64> = winners.values().map(|v| v[0]).collect();
    ids.sort_unstable();
    let expected: Vec<i64> = (2..2 + winners.len() as i64).collect();
    assert_eq!(ids, expected, "{backend}: set ids");

    // The store holds exactly the winners, and one audit record per winner.
    let stored = rt
        .block_on(engine.find_sets("0", BizId(1), None))
        .expect("find_sets");
    assert_eq!(stored.len(), winners.len() + 1, "{backend}");
    let stored: BTreeMap<i64, (i64, String)> = stored
        .iter()
        .filter(|s| s["default"] == json!(0))
        .map(|s| {
            (
                s["bk_set_id"].as_i64().unwrap(),
                (
                    s["bk_parent_id"].as_i64().unwrap(),
                    s["bk_set_name"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<i64, (i64, String)> = winners
        .iter()
        .map(|(key, ids)| (ids[0], key.clone()))
        .collect();
    assert_eq!(stored, expected, "{backend}");
    let audit = rt
        .block_on(engine.audit_records("0", BizId(1), Some(ResourceType::Set)))
        .unwrap();
    assert_eq!(audit.len(), winners.len(), "{backend}");
    rt.block_on(engine.store().close()).expect("closes");
    println!(
        "concurrency {backend}: {THREADS} threads x {CREATES_PER_THREAD} creates, {} winners, \
         {losers} losers (1101108), {:.1?}",
        winners.len(),
        started.elapsed()
    );
}

fn on_disk(kind: StoreKind, path: &std::path::Path) -> StoreConfig {
    StoreConfig {
        kind,
        path: Some(path.to_owned()),
        sqlite_sync: SqliteSync::Full,
        sled_flush: SledFlush::EveryWrite,
        redb_sync: RedbSync::Immediate,
        group: Default::default(),
    }
}

#[test]
fn eight_threads_collide_on_memory() {
    race(&StoreConfig::new(StoreKind::Memory));
}

#[test]
fn eight_threads_collide_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    race(&on_disk(StoreKind::Sqlite, &dir.path().join("race.sqlite")));
}

#[test]
fn eight_threads_collide_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    race(&on_disk(StoreKind::Sled, &dir.path().join("race.sled")));
}

#[test]
fn eight_threads_collide_on_redb() {
    let dir = tempfile::tempdir().unwrap();
    race(&on_disk(StoreKind::Redb, &dir.path().join("race.redb")));
}

/// What one `crash_writer collide` process reported.
#[derive(Debug, Default)]
struct Report {
    won: BTreeMap<String, i64>,
    lost: BTreeSet<String>,
}

/// Two processes race for the same names on one SQLite file. SQLite's busy wait is not fair,
/// so one process may win every name of a round; rounds (each on a fresh file) repeat, at most
/// 10, until both processes won some, so the test shows a real interleaving of two writers.
#[test]
fn two_processes_collide_on_one_sqlite_file() {
    let count: usize = if crate::crash::slow_tests() {
        2_000
    } else {
        200
    };
    for round in 1..=10 {
        let (first, second) = race_two_processes(count);
        println!(
            "concurrency two processes on sqlite, round {round}: {count} names, won {first} / {second}"
        );
        if first > 0 && second > 0 {
            return;
        }
    }
    panic!("in 10 rounds one process always won every name: the race never interleaved");
}

/// One round of [`two_processes_collide_on_one_sqlite_file`], fully checked; returns how many
/// names each process won.
fn race_two_processes(count: usize) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let config = on_disk(StoreKind::Sqlite, &path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    {
        let opened = open_store(&config).unwrap();
        let engine = Engine::builder(opened.store.clone()).build();
        rt.block_on(engine.load_fixture(
            json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "race"}]}),
            "admin",
        ))
        .unwrap();
        rt.block_on(engine.store().close()).unwrap();
    }
    let started = Instant::now();
    // Process 0 takes the names in order, process 1 in a shuffled order: each wins some.
    let mut children: Vec<_> = [0u64, 0x5EED]
        .iter()
        .map(|seed| {
            Command::new(env!("CARGO_BIN_EXE_crash_writer"))
                .arg("sqlite")
                .arg(&path)
                .arg("collide")
                .arg(count.to_string())
                .arg(seed.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the crash_writer helper starts")
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()))
        .collect();
    // Both are open and waiting: start them together.
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
    }
    for child in &mut children {
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let mut reports = Vec::new();
    for (mut child, mut reader) in children.into_iter().zip(readers) {
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "collide child failed: {out}{err}");
        let mut report = Report::default();
        for line in out.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["ok", name, id] => {
                    report.won.insert((*name).to_owned(), id.parse().unwrap());
                }
                ["dup", name] => {
                    report.lost.insert((*name).to_owned());
                }
                _ => panic!("unexpected line {line:?}"),
            }
        }
        assert_eq!(report.won.len() + report.lost.len(), count);
        reports.push(report);
    }
    // Every name won by exactly one process and lost by the other.
    let names: BTreeSet<String> = (0..count).map(|n| format!("c-{n}")).collect();
    let mut winners: BTreeMap<String, i64> = BTreeMap::new();
    for (i, report) in reports.iter().enumerate() {
        let other = &reports[1 - i];
        for (name, id) in &report.won {
            assert!(
                other.lost.contains(name),
                "{name} won by process {i}, not lost by the other"
            );
            assert_eq!(winners.insert(name.clone(), *id), None, "{name} won twice");
        }
    }
    assert_eq!(winners.keys().cloned().collect::<BTreeSet<_>>(), names);
    let mut ids: Vec<i64> = winners.values().copied().collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (2..2 + count as i64).collect::<Vec<_>>(),
        "ids unique, gapless"
    );

    let opened = open_store(&config).unwrap();
    let engine = Engine::builder(opened.store.clone()).build();
    let stored = rt.block_on(engine.find_sets("0", BizId(1), None)).unwrap();
    let stored: BTreeMap<String, i64> = stored
        .iter()
        .skip(1)
        .map(|s| {
            (
                s["bk_set_name"].as_str().unwrap().to_owned(),
                s["bk_set_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, winners);
    rt.block_on(engine.store().close()).unwrap();
    println!(
        "concurrency two processes on sqlite: {count} names in {:.1?}",
        started.elapsed()
    );
    (reports[0].won.len(), reports[1].won.len())
}
