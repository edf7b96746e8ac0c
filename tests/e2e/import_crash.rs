//! `cmdb import` under the crash harness: the `cmdb` process importing a CSV file is killed
//! with SIGKILL at random moments (the harness's seeds: `CMDB_CRASH_SEED=N` replays a run),
//! round after round on one store, in each durable mode (SQLite FULL, sled every-write, redb
//! immediate). After each kill the store is reopened in this process and must hold, of that
//! round's file, exactly the rows not refused of its first whole groups of 1,024 — at least
//! those up to the last refusal the process reported on stderr (it reports a group's refusals
//! once the group committed) — with their audit records, ids continuing every earlier round's
//! in file order with no gap. Each round kills after 1–3 reported groups plus 0–3 ms; one
//! round in four (never the first two) kills 0–40 ms after the start, while the store opens.
//! Default: 3 rounds per mode; `CMDB_SLOW_TESTS=1`: 20. Every run must kill at least one
//! import midway (some groups stored, not all).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cmdb_app::Engine;
use cmdb_app::open::open_store;
use cmdb_core::BizId;
use cmdb_core::backend::DocQuery;
use cmdb_core::listing::Window;
use cmdb_core::records::ResourceType;

use crate::cli::cmdb;
use crate::crash::{Mode, REDB_IMMEDIATE, Rng, SLED_EVERY_WRITE, SQLITE_FULL, seed, slow_tests};

/// Rows per file; every thousandth (`i % 1000 == 500`) has a parent that is no number and is
/// refused (1199006), so every group reports one refusal once it committed.
const ROWS: usize = 10_000;
/// The import's group size.
const GROUP: usize = 1_024;

/// Round `round`'s file: `r{round}-{i}` under the idle set, or a refused row.
fn write_file(dir: &Path, round: usize) -> std::path::PathBuf {
    let mut csv = String::from("bk_set_name,bk_parent_id\n");
    for i in 0..ROWS {
        if i % 1000 == 500 {
            csv.push_str(&format!("bad-{round}-{i},x\n"));
        } else {
            csv.push_str(&format!("r{round}-{i:05},1\n"));
        }
    }
    let path = dir.join(format!("round-{round}.csv"));
    std::fs::write(&path, csv).expect("the file");
    path
}

/// The rows of a file not refused among its first `rows`, by name, in file order.
fn kept(round: usize, rows: usize) -> Vec<String> {
    (0..rows)
        .filter(|i| i % 1000 != 500)
        .map(|i| format!("r{round}-{i:05}"))
        .collect()
}

fn cmdb_on(mode: Mode, db: &Path) -> Command {
    let mut command = Command::new(cmdb());
    command.args(["--store", mode.arg, "--db"]).arg(db);
    command.args(["--user", "admin"]);
    command
}

/// Runs one import of `file` and kills it; answers the line numbers of the refusals it
/// reported on stderr before it died.
fn kill_import(mode: Mode, db: &Path, file: &Path, rng: &mut Rng, early: bool) -> Vec<usize> {
    let mut child = cmdb_on(mode, db)
        .args(["import", "--biz", "1"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb runs");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut lines = Vec::new();
    if early {
        std::thread::sleep(Duration::from_millis(rng.below(41)));
    } else {
        for _ in 0..=rng.below(3) {
            let mut line = String::new();
            if stderr.read_line(&mut line).expect("stderr") == 0 {
                break;
            }
            lines.push(line.trim_end().to_owned());
        }
        std::thread::sleep(Duration::from_micros(rng.below(3_001)));
    }
    let _ = child.kill();
    child.wait().expect("cmdb reaped");
    lines.extend(stderr.lines().map_while(Result::ok));
    let refused = |line: &String| {
        let n = line
            .strip_prefix("line ")?
            .split(':')
            .next()?
            .parse()
            .ok()?;
        Some(n)
    };
    lines
        .iter()
        .map(|l| refused(l).unwrap_or_else(|| panic!("not a refusal line: {l:?}")))
        .collect()
}

/// What the store holds: its sets' names and ids in id order (the idle set left out), and
/// the count of its audit records of sets.
async fn stored(mode: Mode, db: &Path, why: &str) -> (Vec<(i64, String)>, usize) {
    let opened = open_store(&mode.config(db)).unwrap_or_else(|e| panic!("{why}: reopen: {e}"));
    let engine = Engine::builder(opened.store.clone()).build();
    let sets = engine.find_sets("0", BizId(1), None).await;
    let sets = sets.unwrap_or_else(|f| panic!("{why}: find_sets: {f:?}"));
    let query = DocQuery::Audit {
        biz: BizId(1),
        resource_type: Some(ResourceType::Set),
    };
    let audit = engine
        .store()
        .page(query, Window { start: 0, limit: 0 })
        .await;
    let audit = audit
        .unwrap_or_else(|e| panic!("{why}: audit: {e:?}"))
        .count;
    engine.store().close().await.expect("closes");
    let named = sets
        .iter()
        .filter(|s| s["default"] == 0)
        .map(|s| {
            let id = s["bk_set_id"].as_i64().expect("an id");
            (id, s["bk_set_name"].as_str().expect("a name").to_owned())
        })
        .collect();
    (named, audit)
}

/// Runs the rounds of one mode; answers how many imports were killed midway.
fn kill_imports(mode: Mode) -> usize {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join(format!("cmdb.{}", mode.arg));
    let fixture = dir.path().join("fixture.json");
    std::fs::write(
        &fixture,
        r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}"#,
    )
    .expect("the fixture");
    let loaded = cmdb_on(mode, &db).arg("load").arg(&fixture).output();
    assert!(loaded.expect("cmdb runs").status.success());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (_, audit_before) = runtime.block_on(stored(mode, &db, "after the fixture"));
    let rounds = if slow_tests() { 20 } else { 3 };
    let (mut before, mut midway) = (Vec::new(), 0);
    for round in 0..rounds {
        let why = format!("{} round {round} (CMDB_CRASH_SEED={seed})", mode.arg);
        let file = write_file(dir.path(), round);
        let early = round >= 2 && rng.below(4) == 0;
        let refused = kill_import(mode, &db, &file, &mut rng, early);
        let (sets, audit) = runtime.block_on(stored(mode, &db, &why));
        // Earlier rounds' sets unchanged; this round's after them.
        assert_eq!(sets[..before.len()], before[..], "{why}");
        let this_round = &sets[before.len()..];
        let names: Vec<String> = this_round.iter().map(|(_, n)| n.clone()).collect();
        let groups = (0..=ROWS.div_ceil(GROUP))
            .find(|g| kept(round, (g * GROUP).min(ROWS)) == names)
            .unwrap_or_else(|| panic!("{why}: {} sets stored are no whole groups", names.len()));
        let reported = refused
            .iter()
            .map(|n| (n - 2) / GROUP + 1)
            .max()
            .unwrap_or(0);
        assert!(
            groups >= reported,
            "{why}: {groups} groups stored, {reported} reported"
        );
        let distinct: BTreeSet<usize> = refused.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            refused.len(),
            "{why}: a refusal reported twice"
        );
        // Ids continue the earlier rounds', in file order, without a gap.
        let first = before.last().map_or(2, |(id, _)| id + 1);
        let ids: Vec<i64> = this_round.iter().map(|(id, _)| *id).collect();
        let expected: Vec<i64> = (first..first + ids.len() as i64).collect();
        assert_eq!(ids, expected, "{why}");
        assert_eq!(
            audit,
            audit_before + sets.len(),
            "{why}: one audit record per set"
        );
        if groups > 0 && groups < ROWS.div_ceil(GROUP) {
            midway += 1;
        }
        before = sets;
    }
    eprintln!(
        "import crash {}: {rounds} kills, {midway} midway, {} sets stored (CMDB_CRASH_SEED={seed})",
        mode.arg,
        before.len()
    );
    midway
}

#[test]
fn a_killed_sqlite_full_import_keeps_whole_groups() {
    assert!(kill_imports(SQLITE_FULL) > 0, "no import was killed midway");
}

#[test]
fn a_killed_sled_import_keeps_whole_groups() {
    assert!(
        kill_imports(SLED_EVERY_WRITE) > 0,
        "no import was killed midway"
    );
}

#[test]
fn a_killed_redb_import_keeps_whole_groups() {
    assert!(
        kill_imports(REDB_IMMEDIATE) > 0,
        "no import was killed midway"
    );
}
