//! Crash safety: a child process creating sets is killed with SIGKILL at random moments; the
//! reopened store must hold every acknowledged set whole, nothing half-written, and sequences
//! that continue above every id ever seen.
//!
//! The child is the `crash_writer` helper binary (`tests/bin/crash_writer.rs`) on the durable
//! options: SQLite `synchronous=FULL`, sled flushed before every acknowledgement, redb
//! `Immediate` (and the relaxed ones: SQLite `NORMAL`, sled background, redb `None`). Each round
//! spawns it with one caller (even rounds) or 16 concurrent callers (odd rounds: the store's
//! group commit puts many creates in one transaction), reads a random number of
//! `ack <id> <name>` lines, waits a random few hundred microseconds (the child keeps writing),
//! kills it, reads what it printed before dying, then reopens the store in this process and
//! checks it, and that a watch from the start lists exactly the stored sets. One round in four (never the first two: every run has a one-caller and a
//! 16-caller round killed after acknowledgements) kills the writer 0–40 ms after it starts
//! instead, while it opens (and recovers) the store. Default: 3 kills per store;
//! `CMDB_SLOW_TESTS=1`: 50. `CMDB_CRASH_SEED=N` replays a run's random choices.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cmdb_app::Engine;
use cmdb_app::open::{RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_app::watch::{WatchRequest, WatchStart};
use cmdb_core::plan::RequestContext;
use cmdb_core::ports::SetStoreExt;
use cmdb_core::records::{Document, ResourceType};
use cmdb_core::{BizId, SetId};
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64), so a failing run can be replayed by its seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Whether the slow variants run (`CMDB_SLOW_TESTS=1`).
pub(crate) fn slow_tests() -> bool {
    std::env::var("CMDB_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// `CMDB_CRASH_SEED`, else a seed from the clock.
pub(crate) fn seed() -> u64 {
    match std::env::var("CMDB_CRASH_SEED") {
        Ok(s) => s.parse().expect("CMDB_CRASH_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64),
    }
}

/// A store and durability option under test.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// The writer's `STORE` argument.
    pub(crate) arg: &'static str,
    kind: StoreKind,
    sqlite_sync: SqliteSync,
    sled_flush: SledFlush,
    redb_sync: RedbSync,
    /// Whether a process crash may lose acknowledged creates (sled Background, redb None).
    may_lose_acks: bool,
}

pub(crate) const SQLITE_FULL: Mode = Mode {
    arg: "sqlite",
    kind: StoreKind::Sqlite,
    sqlite_sync: SqliteSync::Full,
    sled_flush: SledFlush::EveryWrite,
    redb_sync: RedbSync::Immediate,
    may_lose_acks: false,
};
const SQLITE_NORMAL: Mode = Mode {
    arg: "sqlite-normal",
    sqlite_sync: SqliteSync::Normal,
    ..SQLITE_FULL
};
pub(crate) const SLED_EVERY_WRITE: Mode = Mode {
    arg: "sled",
    kind: StoreKind::Sled,
    sqlite_sync: SqliteSync::Full,
    sled_flush: SledFlush::EveryWrite,
    redb_sync: RedbSync::Immediate,
    may_lose_acks: false,
};
const SLED_BACKGROUND: Mode = Mode {
    arg: "sled-background",
    sled_flush: SledFlush::Background,
    may_lose_acks: true,
    ..SLED_EVERY_WRITE
};
pub(crate) const REDB_IMMEDIATE: Mode = Mode {
    arg: "redb",
    kind: StoreKind::Redb,
    ..SQLITE_FULL
};
const REDB_NONE: Mode = Mode {
    arg: "redb-none",
    redb_sync: RedbSync::None,
    may_lose_acks: true,
    ..REDB_IMMEDIATE
};

impl Mode {
    pub(crate) fn config(self, path: &Path) -> StoreConfig {
        StoreConfig {
            kind: self.kind,
            path: Some(path.to_owned()),
            sqlite_sync: self.sqlite_sync,
            sled_flush: self.sled_flush,
            redb_sync: self.redb_sync,
            group: Default::default(),
        }
    }
}

/// The ids of the last probe create (closed, so durable in every mode), per sequence.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    set: i64,
    module: i64,
    audit: i64,
}

/// What a run did, for the figures printed at the end.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    early_kills: usize,
    /// Rounds run with 16 concurrent callers (group commit).
    grouped_rounds: usize,
    /// Of those, the rounds killed mid-write after acknowledgements were read.
    grouped_acked_rounds: usize,
    acked: usize,
    lost: usize,
    sets_checked: usize,
}

/// Spawns the writer, reads `target` acknowledgements, waits `pause`, kills it, and returns
/// every acknowledgement it printed (also those after the target, before it died).
fn kill_writer(
    mode: Mode,
    path: &Path,
    first: u64,
    writers: u64,
    target: u64,
    pause: Duration,
) -> Vec<(i64, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(mode.arg)
        .arg(path)
        .arg("crash")
        .arg(first.to_string())
        .arg(writers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crash_writer helper starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut acked = Vec::new();
    while (acked.len() as u64) < target {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("reads the writer's stdout");
        if n == 0 || !line.starts_with("ack ") {
            let _ = child.kill();
            let output = child.wait_with_output().expect("the writer is reaped");
            panic!(
                "the writer stopped after {} acks: stdout {line:?}, stderr {}",
                acked.len(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        acked.push(parse_ack(line.trim_end()));
    }
    std::thread::sleep(pause);
    child.kill().expect("SIGKILL is delivered");
    let status = child.wait().expect("the writer is reaped");
    assert!(!status.success(), "the writer was killed, not finished");
    // Acknowledgements printed between the target and the kill: complete lines only (a line
    // is acknowledged once its newline is written).
    let mut rest = String::new();
    out.read_to_string(&mut rest)
        .expect("reads the writer's last output");
    let complete = rest.rfind('\n').map_or("", |end| &rest[..end]);
    for line in complete.lines() {
        acked.push(parse_ack(line));
    }
    acked
}

fn parse_ack(line: &str) -> (i64, String) {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ack"), Some(id), Some(name), None) => (
            id.parse()
                .unwrap_or_else(|_| panic!("bad ack line {line:?}")),
            name.to_owned(),
        ),
        _ => panic!("unexpected writer output {line:?}"),
    }
}

fn id_of(doc: &Document, key: &str) -> i64 {
    doc.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{key} is an integer in {doc:?}"))
}

fn str_of<'a>(doc: &'a Document, key: &str) -> &'a str {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key} is a string in {doc:?}"))
}

/// What one reopen checked.
struct Checked {
    sets: usize,
    lost: usize,
}

/// Reopens the store after a kill and checks it (see the module doc); creates one probe set
/// whose ids must continue the sequences. With `mode.may_lose_acks`, acknowledged sets of the
/// last round may be missing, but only a suffix of them (sled recovers in commit order); they
/// are forgotten.
async fn verify(
    mode: Mode,
    path: &Path,
    acked: &mut BTreeMap<i64, String>,
    this_round: &[i64],
    seen: &mut Seen,
    round: usize,
    why: &str,
) -> Checked {
    let opened =
        open_store(&mode.config(path)).unwrap_or_else(|e| panic!("{why}: reopen failed: {e}"));
    let engine = Engine::builder(opened.store.clone()).build();
    let biz = BizId(1);
    let sets = match engine.find_sets("0", biz, None).await {
        Ok(sets) => sets,
        // Killed before the fixture committed (or, in a mode that may lose acknowledged
        // writes, before the first round's writes reached the disk): then nothing at all was
        // written, and every acknowledgement so far was of this round.
        Err(f)
            if f.code().number() == 1_199_011
                && (acked.is_empty()
                    || mode.may_lose_acks && acked.keys().all(|id| this_round.contains(id))) =>
        {
            assert!(
                engine.store().business(biz).await.unwrap().is_none(),
                "{why}"
            );
            for kind in cmdb_core::ids::SequenceKind::ALL {
                let last = engine.store().sequence_last(kind).await.unwrap();
                assert_eq!(last, 0, "{why}: {kind:?} sequence without a fixture");
            }
            engine.store().close().await.expect("closes");
            let lost = acked.len();
            acked.clear();
            return Checked { sets: 0, lost };
        }
        Err(f) => panic!("{why}: find_sets failed: {f:?}"),
    };

    // The idle set from the fixture, then only the writer's sets, ids strictly increasing.
    assert_eq!(id_of(&sets[0], "bk_set_id"), 1, "{why}");
    assert_eq!(sets[0]["default"], json!(1), "{why}");
    let ids: Vec<i64> = sets.iter().map(|s| id_of(s, "bk_set_id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{why}: ids {ids:?}");
    let stored: BTreeMap<i64, &str> = sets
        .iter()
        .map(|s| (id_of(s, "bk_set_id"), str_of(s, "bk_set_name")))
        .collect();
    let missing: Vec<i64> = acked
        .keys()
        .copied()
        .filter(|id| !stored.contains_key(id))
        .collect();
    if mode.may_lose_acks {
        if let Some(first) = missing.first() {
            let suffix: Vec<i64> = this_round
                .iter()
                .copied()
                .filter(|id| id >= first)
                .collect();
            assert_eq!(
                missing, suffix,
                "{why}: lost acknowledgements not a suffix of the last round"
            );
        }
        for id in &missing {
            acked.remove(id);
        }
    }
    for (id, name) in acked.iter() {
        assert_eq!(
            stored.get(id).copied(),
            Some(name.as_str()),
            "{why}: acknowledged set {id} {name} is lost"
        );
    }

    // Every set whole: its modules, in service-template order.
    let mut module_ids = BTreeSet::new();
    let mut module_owner = BTreeMap::new();
    for set in &sets {
        let set_id = id_of(set, "bk_set_id");
        let modules = engine.list_modules("0", biz, SetId(set_id)).await.unwrap();
        let names: Vec<&str> = modules
            .iter()
            .map(|m| str_of(m, "bk_module_name"))
            .collect();
        if set_id == 1 {
            assert_eq!(names, ["空闲机", "故障机", "待回收"], "{why}");
        } else {
            assert_eq!(set["set_template_id"], json!(1), "{why}: set {set_id}");
            assert_eq!(names, ["nginx", "php"], "{why}: modules of set {set_id}");
            let templates: Vec<&Value> =
                modules.iter().map(|m| &m["service_template_id"]).collect();
            assert_eq!(templates, [&json!(7), &json!(8)], "{why}: set {set_id}");
        }
        for m in &modules {
            assert_eq!(id_of(m, "bk_set_id"), set_id, "{why}");
            assert_eq!(id_of(m, "bk_parent_id"), set_id, "{why}");
            let mid = id_of(m, "bk_module_id");
            assert!(module_ids.insert(mid), "{why}: module id {mid} twice");
            module_owner.insert(mid, set_id);
        }
    }

    // Audit: one record per writer set and per module, none for anything missing.
    let audit = engine.audit_records("0", biz, None).await.unwrap();
    let audit_ids: Vec<i64> = audit.iter().map(|a| id_of(a, "id")).collect();
    assert!(
        audit_ids.windows(2).all(|w| w[0] < w[1]),
        "{why}: audit ids"
    );
    let mut set_records = BTreeMap::<i64, usize>::new();
    let mut module_records = BTreeMap::<i64, usize>::new();
    for record in &audit {
        let resource = id_of(record, "resource_id");
        match str_of(record, "resource_type") {
            "set" => {
                assert!(stored.contains_key(&resource), "{why}: audit of lost set");
                assert_eq!(str_of(record, "resource_name"), stored[&resource], "{why}");
                *set_records.entry(resource).or_default() += 1;
            }
            "module" => {
                assert!(module_owner.contains_key(&resource), "{why}: orphan audit");
                *module_records.entry(resource).or_default() += 1;
            }
            other => panic!("{why}: audit resource_type {other}"),
        }
    }
    let writer_sets: Vec<i64> = ids.iter().copied().filter(|&id| id != 1).collect();
    let writer_modules: Vec<i64> = module_owner
        .iter()
        .filter(|&(_, &set)| set != 1)
        .map(|(&m, _)| m)
        .collect();
    assert_eq!(
        set_records.keys().copied().collect::<Vec<_>>(),
        writer_sets,
        "{why}"
    );
    assert!(set_records.values().all(|&n| n == 1), "{why}");
    assert_eq!(
        module_records.keys().copied().collect::<Vec<_>>(),
        writer_modules,
        "{why}"
    );
    assert!(module_records.values().all(|&n| n == 1), "{why}");
    assert_eq!(audit.len(), 3 * writer_sets.len(), "{why}");

    // The watch after the crash: exactly the stored writer sets, each once, in id order (so
    // every acknowledged one, and none that was refused or never committed).
    let watcher = RequestContext {
        user: "verifier".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "0".repeat(32),
    };
    let from_start = WatchRequest::new(ResourceType::Set, WatchStart::Beginning);
    let stream = engine.watch_stream(&watcher, from_start).await;
    let mut stream = stream
        .unwrap_or_else(|f| panic!("{why}: watch: {f:?}"))
        .until_caught_up();
    let mut watched = Vec::new();
    while let Some(event) = stream.next().await {
        watched.push(
            event
                .unwrap_or_else(|f| panic!("{why}: watch: {f:?}"))
                .detail,
        );
    }
    assert_eq!(watched, sets[1..], "{why}: the watch after the crash");

    // Nothing stored is below what was seen before; then the sequences continue exactly above
    // what survived (an uncommitted create consumes no id) and above everything ever seen.
    let max_set = *ids.last().unwrap();
    let max_module = *module_ids.last().unwrap();
    let max_audit = audit_ids.last().copied().unwrap_or(0);
    assert!(
        max_set >= seen.set && max_module >= seen.module,
        "{why}: {seen:?}"
    );
    assert!(max_audit >= seen.audit, "{why}: {seen:?}");
    let ctx = RequestContext {
        user: "verifier".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "0".repeat(32),
    };
    let probe_name = format!("probe-{round}");
    let data = json!({"bk_parent_id": 1, "bk_set_name": probe_name, "set_template_id": 1});
    let probe = engine
        .create_set(&ctx, biz, data.as_object().unwrap())
        .await
        .unwrap_or_else(|f| panic!("{why}: probe create failed: {f:?}"));
    let probe_id = id_of(&probe, "bk_set_id");
    assert_eq!(
        probe_id,
        max_set + 1,
        "{why}: the set sequence after reopen"
    );
    let probe_modules: Vec<i64> = engine
        .list_modules("0", biz, SetId(probe_id))
        .await
        .unwrap()
        .iter()
        .map(|m| id_of(m, "bk_module_id"))
        .collect();
    assert_eq!(probe_modules, [max_module + 1, max_module + 2], "{why}");
    let new_audit: Vec<i64> = engine
        .audit_records("0", biz, None)
        .await
        .unwrap()
        .iter()
        .map(|a| id_of(a, "id"))
        .filter(|&id| id > max_audit)
        .collect();
    assert_eq!(
        new_audit,
        [max_audit + 1, max_audit + 2, max_audit + 3],
        "{why}"
    );
    acked.insert(probe_id, probe_name);
    *seen = Seen {
        set: probe_id,
        module: max_module + 2,
        audit: max_audit + 3,
    };
    engine.store().close().await.expect("closes");
    Checked {
        sets: sets.len() + 1,
        lost: missing.len(),
    }
}

/// Kills the writer `kills` times on one store and checks it after each kill.
fn kill_repeatedly(mode: Mode, file: &str, kills: usize) -> Figures {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut acked = BTreeMap::new();
    let mut seen = Seen::default();
    let mut figures = Figures::default();
    for round in 0..kills {
        // One round in four (never the first two, so every run reads acknowledgements
        // mid-write with one caller and with 16) kills the writer during its start (opening
        // and recovering the store, loading the fixture, first creates) instead of after some
        // acknowledgements.
        let (target, pause) = if round > 1 && rng.below(4) == 0 {
            (0, Duration::from_micros(rng.below(40_000)))
        } else {
            (1 + rng.below(30), Duration::from_micros(rng.below(3000)))
        };
        // Odd rounds run 16 concurrent callers, even rounds one: every run has both.
        let writers = if round % 2 == 1 { 16 } else { 1 };
        let first = round as u64 * 1_000_000;
        let why = format!(
            "{} seed {seed} round {round} ({writers} writers, target {target}, pause {pause:?})",
            mode.arg
        );
        let mut this_round = Vec::new();
        for (id, name) in kill_writer(mode, &path, first, writers, target, pause) {
            // One caller is answered in commit order; concurrent callers of one group may print
            // their acknowledgements in any order, but all above what was seen before.
            let previous = match writers {
                1 => this_round.last().copied().unwrap_or(seen.set),
                _ => seen.set,
            };
            assert!(
                id > previous,
                "{why}: acknowledged id {id} not above {previous}"
            );
            this_round.push(id);
            assert_eq!(
                acked.insert(id, name),
                None,
                "{why}: id {id} acknowledged twice"
            );
            figures.acked += 1;
        }
        this_round.sort_unstable();
        figures.kills += 1;
        figures.early_kills += usize::from(target == 0);
        figures.grouped_rounds += usize::from(writers > 1);
        figures.grouped_acked_rounds +=
            usize::from(writers > 1 && target > 0 && !this_round.is_empty());
        let checked = runtime.block_on(verify(
            mode,
            &path,
            &mut acked,
            &this_round,
            &mut seen,
            round,
            &why,
        ));
        figures.sets_checked += checked.sets;
        figures.lost += checked.lost;
    }
    figures
}

fn run(mode: Mode, file: &str) -> Figures {
    let kills = if slow_tests() { 50 } else { 3 };
    let started = Instant::now();
    let figures = kill_repeatedly(mode, file, kills);
    assert_eq!(figures.kills, kills);
    // The interesting cases happened: acknowledgements read before a kill, and rounds with
    // concurrent writers sharing commits.
    assert!(figures.kills > figures.early_kills, "{figures:?}");
    assert!(figures.acked > 0, "{figures:?}");
    assert!(figures.grouped_rounds > 0, "{figures:?}");
    assert!(
        figures.grouped_acked_rounds > 0,
        "no round with 16 concurrent writers was killed after acknowledgements: {figures:?}"
    );
    println!(
        "crash {}: {} kills survived ({} during start-up, {} with 16 concurrent writers), {} \
         acknowledged creates ({} lost), {} sets checked after reopens, {:.1?}",
        mode.arg,
        figures.kills,
        figures.early_kills,
        figures.grouped_rounds,
        figures.acked,
        figures.lost,
        figures.sets_checked,
        started.elapsed()
    );
    figures
}

#[test]
fn sqlite_full_keeps_every_acknowledged_set_across_sigkill() {
    assert_eq!(run(SQLITE_FULL, "crash.sqlite").lost, 0);
}

#[test]
fn sled_every_write_keeps_every_acknowledged_set_across_sigkill() {
    assert_eq!(run(SLED_EVERY_WRITE, "crash.sled").lost, 0);
}

#[test]
fn redb_immediate_keeps_every_acknowledged_set_across_sigkill() {
    assert_eq!(run(REDB_IMMEDIATE, "crash.redb").lost, 0);
}

#[test]
fn redb_none_loses_at_most_the_last_acknowledged_sets_across_sigkill() {
    // Whatever is lost is the newest commits (those after the last durable one), in order.
    run(REDB_NONE, "crash-none.redb");
}

#[test]
fn sqlite_normal_keeps_every_acknowledged_set_across_sigkill() {
    // NORMAL only risks the last commits on power loss; a process crash loses nothing.
    assert_eq!(run(SQLITE_NORMAL, "crash-normal.sqlite").lost, 0);
}

#[test]
fn sled_background_loses_at_most_the_last_acknowledged_sets_across_sigkill() {
    // Whatever is lost is the newest writes; everything recovered is whole, in commit order.
    run(SLED_BACKGROUND, "crash-background.sled");
}

#[test]
fn killed_writer_output_is_parsed_strictly() {
    assert_eq!(parse_ack("ack 42 crash-7"), (42, "crash-7".to_owned()));
    let mut a = Rng::new(5);
    let mut b = Rng::new(5);
    assert_eq!(a.next_u64(), b.next_u64());
    assert!((0..100).all(|_| a.below(3) < 3));
}
