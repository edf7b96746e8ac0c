//! Two stores (two connections) on one file, racing to create the same names from several
//! threads: one winner per name, every loser 1101108, ids unique and gapless.

use std::collections::BTreeMap;
use std::sync::Arc;

use cmdb_core::Error;
use cmdb_core::ids::{BizId, SequenceKind};
use cmdb_core::ports::SetStore;
use serde_json::Value;

use crate::support::{TempDb, create_named, example_fixture, load};

const NAMES: usize = 12;
const ATTEMPTS_PER_STORE: usize = 3;

#[test]
fn two_connections_race_on_one_file() {
    let db = TempDb::new();
    let first: Arc<dyn SetStore> = Arc::new(db.open());
    let second: Arc<dyn SetStore> = Arc::new(db.open());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");

    runtime.block_on(async {
        load(first.as_ref(), example_fixture()).await;
        // Every name is tried ATTEMPTS_PER_STORE times through each store, all at once.
        let mut tasks = Vec::new();
        for round in 0..ATTEMPTS_PER_STORE {
            for n in 0..NAMES {
                for store in [&first, &second] {
                    let store = Arc::clone(store);
                    let name = format!("set-{n}");
                    tasks.push((
                        name.clone(),
                        round,
                        tokio::spawn(async move { create_named(store.as_ref(), &name).await }),
                    ));
                }
            }
        }
        let mut winners: BTreeMap<String, i64> = BTreeMap::new();
        let mut losers = 0;
        for (name, _round, task) in tasks {
            match task.await.expect("the task ran") {
                Ok(created) => {
                    assert_eq!(created.set.name, name);
                    let previous = winners.insert(name.clone(), created.set.id.0);
                    assert_eq!(previous, None, "{name} was created twice");
                }
                Err(e) => {
                    assert_eq!(e, Error::SetNameDuplicated, "a loser for {name}");
                    assert_eq!(e.code().number(), 1_101_108);
                    losers += 1;
                }
            }
        }
        assert_eq!(winners.len(), NAMES, "every name has exactly one winner");
        assert_eq!(losers, NAMES * (2 * ATTEMPTS_PER_STORE - 1));

        let mut ids: Vec<i64> = winners.values().copied().collect();
        ids.sort_unstable();
        let expected: Vec<i64> = (4780..4780 + NAMES as i64).collect();
        assert_eq!(
            ids, expected,
            "ids are unique and no failed create took one"
        );

        // Both connections see the same sets, the same audit trail and the same sequences.
        let from_first = first.sets(BizId(1), None).await.expect("sets");
        let from_second = second.sets(BizId(1), None).await.expect("sets");
        assert_eq!(from_first, from_second);
        assert_eq!(from_first.len(), NAMES + 1);
        for set in &from_first[1..] {
            let name = set["bk_set_name"].as_str().expect("a name");
            assert_eq!(set["bk_set_id"], Value::from(winners[name]));
        }
        let audit = second.audit_records(BizId(1), None).await.expect("audit");
        let audit_ids: Vec<i64> = audit.iter().filter_map(|a| a["id"].as_i64()).collect();
        assert_eq!(audit_ids, (1..=NAMES as i64).collect::<Vec<_>>());
        for kind in SequenceKind::ALL {
            assert_eq!(
                first.sequence_last(kind).await,
                second.sequence_last(kind).await
            );
        }
        assert_eq!(
            first.sequence_last(SequenceKind::Set).await,
            Ok(4779 + NAMES as i64)
        );
    });
}

#[test]
fn many_connections_open_a_new_file_at_once() {
    let db = TempDb::new();
    let path = db.path();
    let barrier = std::sync::Barrier::new(6);
    let versions: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    crate::support::open(&path).inner().schema_version()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the thread ran"))
            .collect()
    });
    assert_eq!(versions, vec![Ok(5); 6]);
}

/// Set in a child process of [`two_processes_race_on_one_file`]: the database path.
const CHILD_DB: &str = "CMDB_SQLITE_RACE_DB";
/// Set in a child process: the file whose appearance starts the race.
const CHILD_GO: &str = "CMDB_SQLITE_RACE_GO";
/// Set in a child process: `forward` or `backward`, the order it tries the names in.
const CHILD_ORDER: &str = "CMDB_SQLITE_RACE_ORDER";
/// How many names the two processes race for.
const PROCESS_NAMES: usize = 40;
/// The prefix of the result lines a child prints.
const RESULT: &str = "race-result";

/// The child's side: create every name once through its own store, print one line each.
fn race_child(db: &str, go: &str, order: &str) {
    let store = crate::support::open(std::path::Path::new(db));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut names: Vec<usize> = (0..PROCESS_NAMES).collect();
    if order == "backward" {
        names.reverse();
    }
    std::fs::write(format!("{go}.{order}"), b"ready").expect("say ready");
    let started = std::time::Instant::now();
    while !std::path::Path::new(go).exists() {
        assert!(started.elapsed().as_secs() < 60, "the race never started");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    runtime.block_on(async {
        for n in names {
            let name = format!("set-{n}");
            match create_named(&store, &name).await {
                Ok(created) => println!("{RESULT} {name} ok {}", created.set.id.0),
                Err(e) => println!("{RESULT} {name} err {}", e.code().number()),
            }
        }
    });
}

/// Two processes, each with its own store on one file, race to create the same names: one
/// winner per name, every loser 1101108, ids gapless, and both processes win names (the race
/// really interleaved; rounds repeat, at most 5, until one shows it). The test re-runs its own
/// binary as the two children (selected by environment variables).
#[test]
fn two_processes_race_on_one_file() {
    if let (Ok(db), Ok(go), Ok(order)) = (
        std::env::var(CHILD_DB),
        std::env::var(CHILD_GO),
        std::env::var(CHILD_ORDER),
    ) {
        race_child(&db, &go, &order);
        return;
    }
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let wins = race_round();
        let both_won = wins.len() == 2 && wins.values().all(|&won| won > 0);
        rounds.push(wins);
        if both_won {
            return;
        }
    }
    panic!("no round had both processes win a name: wins per round {rounds:?}");
}

/// One race of the two children on a fresh file, every assertion checked; how many names each
/// process won.
fn race_round() -> BTreeMap<&'static str, usize> {
    let db = TempDb::new();
    let store = db.open();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(async {
            load(&store, example_fixture()).await;
            store.close().await.expect("close");
        });
    drop(store);
    let go = db.dir.path().join("go");
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = ["forward", "backward"]
        .iter()
        .map(|order| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "concurrent::two_processes_race_on_one_file",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, db.path())
                .env(CHILD_GO, &go)
                .env(CHILD_ORDER, order)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("a child process")
        })
        .collect();
    let started = std::time::Instant::now();
    for order in ["forward", "backward"] {
        let ready = db.dir.path().join(format!("go.{order}"));
        while !ready.exists() {
            assert!(
                started.elapsed().as_secs() < 60,
                "the {order} child never got ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    std::fs::write(&go, b"go").expect("start the race");
    let mut winners: BTreeMap<String, i64> = BTreeMap::new();
    let mut losers = 0;
    let mut wins = BTreeMap::new();
    for (child, order) in children.into_iter().zip(["forward", "backward"]) {
        let won = wins.entry(order).or_insert(0);
        let output = child.wait_with_output().expect("the child ran");
        assert!(output.status.success(), "a child failed: {output:?}");
        let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
        let lines: Vec<&str> = stdout
            .lines()
            // The harness may print its own text before a line's result on that line.
            .filter_map(|l| l.split_once(RESULT).map(|(_, result)| result))
            .collect();
        assert_eq!(lines.len(), PROCESS_NAMES, "one line per name: {stdout}");
        for line in lines {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, "ok", id] => {
                    let id: i64 = id.parse().expect("an id");
                    assert_eq!(winners.insert(name.to_owned(), id), None, "{name} twice");
                    *won += 1;
                }
                [_, "err", "1101108"] => losers += 1,
                _ => panic!("unexpected child line {line:?}"),
            }
        }
    }
    assert_eq!(winners.len(), PROCESS_NAMES);
    assert_eq!(losers, PROCESS_NAMES);
    let mut ids: Vec<i64> = winners.values().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, (4780..4780 + PROCESS_NAMES as i64).collect::<Vec<_>>());

    let store = db.open();
    let sets = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(store.sets(BizId(1), None))
        .expect("sets");
    assert_eq!(sets.len(), PROCESS_NAMES + 1);
    for set in &sets[1..] {
        let name = set["bk_set_name"].as_str().expect("a name");
        assert_eq!(set["bk_set_id"], Value::from(winners[name]));
    }
    wins
}
