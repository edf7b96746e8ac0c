//! Damaged stores through the `cmdb` command line: a truncated, garbled, foreign or too-new
//! SQLite or redb file and a sled directory with a damaged file make `init` and `find-set` exit
//! 2 with one line on stderr (no panic, no stack trace), and leave the damaged bytes as they were.
//!
//! The `cmdb` binary belongs to another package of the workspace, so Cargo does not hand this
//! package its path: it is built once (`cargo build --workspace --bin cmdb`, whichever member
//! holds it) into this test's target dir.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The `cmdb` binary of this target dir, built on first use.
fn cmdb() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // This test binary lives in <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>/deps/<test>");
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let mut build = Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "-q",
                "--workspace",
                "--bin",
                "cmdb",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building cmdb failed: {status}");
        let bin = profile_dir.join(format!("cmdb{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

fn run(store: &str, db: &Path, args: &[&str]) -> Output {
    Command::new(cmdb())
        .args(["--store", store, "--db"])
        .arg(db)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("cmdb runs")
}

fn fixture_file(dir: &Path) -> PathBuf {
    let path = dir.join("fixture.json");
    let fixture = json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7]}]
    });
    std::fs::write(&path, fixture.to_string()).unwrap();
    path
}

/// A healthy store at `db`: the fixture and `sets` sets from the template, through the CLI.
fn populate(store: &str, db: &Path, sets: usize) {
    let fixture = fixture_file(db.parent().unwrap());
    let loaded = run(store, db, &["load", fixture.to_str().unwrap()]);
    assert_eq!(loaded.status.code(), Some(0), "{loaded:?}");
    for n in 0..sets {
        let request = db.parent().unwrap().join(format!("request-{n}.json"));
        let body = json!({"bk_username": "u", "bk_biz_id": 1,
            "data": {"bk_parent_id": 1, "bk_set_name": format!("s{n}"), "set_template_id": 1}});
        std::fs::write(&request, body.to_string()).unwrap();
        let created = run(store, db, &["create-set", request.to_str().unwrap()]);
        assert_eq!(created.status.code(), Some(0), "{created:?}");
    }
    let found = run(store, db, &["find-set", "--biz", "1"]);
    let envelope: Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(envelope["data"]["count"], json!(sets + 1));
}

/// Every file under `path` (or `path` itself) with its bytes.
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    if path.is_file() {
        files.insert(PathBuf::from("."), std::fs::read(path).unwrap());
        return files;
    }
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(path).unwrap().to_owned();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

/// Names the files that differ between two snapshots, and how.
fn differences(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (file, old) in before {
        match after.get(file) {
            None => out.push(format!("{} removed", file.display())),
            Some(new) if new != old => {
                let changed = old.iter().zip(new).filter(|(a, b)| a != b).count();
                out.push(format!(
                    "{} changed: {} -> {} bytes, {changed} bytes differ",
                    file.display(),
                    old.len(),
                    new.len()
                ));
            }
            Some(_) => {}
        }
    }
    for file in after.keys().filter(|f| !before.contains_key(*f)) {
        out.push(format!("{} created", file.display()));
    }
    out
}

/// `init` and `find-set` both refuse the store at `db`: exit 2, nothing on stdout, one line on
/// stderr naming the store, no panic; and the files under `watched` keep their bytes.
/// Returns the stderr line.
fn assert_refused_untouched(store: &str, db: &Path, watched: &Path) -> String {
    let before = snapshot(watched);
    let mut lines = Vec::new();
    for args in [&["init"][..], &["find-set", "--biz", "1"][..]] {
        let out = run(store, db, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        let prefix = format!("cmdb: cannot open {store} store at {}: ", db.display());
        assert!(stderr.starts_with(&prefix), "{args:?}: {stderr}");
        assert!(stderr.len() > prefix.len() + 1, "{args:?}: no reason given");
        lines.push(stderr.trim_end().to_owned());
        let changes = differences(&before, &snapshot(watched));
        assert!(
            changes.is_empty(),
            "{args:?} modified the damaged store: {changes:?}"
        );
    }
    assert_eq!(lines[0], lines[1], "init and find-set give the same reason");
    lines.swap_remove(0)
}

/// Deterministic garbage.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = crate::crash::Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn healthy_sqlite(dir: &Path) -> (PathBuf, Vec<u8>) {
    let db = dir.join("cmdb.sqlite");
    populate("sqlite", &db, 3);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = db.clone().into_os_string();
        side.push(suffix);
        assert!(
            std::fs::metadata(&side).map_or(true, |m| m.len() == 0),
            "{suffix} left with content after a clean close"
        );
    }
    let bytes = std::fs::read(&db).unwrap();
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    (db, bytes)
}

fn assert_reason(line: &str, reason: &str) {
    assert!(
        line.ends_with(reason),
        "expected the reason {reason:?} in {line:?}"
    );
}

#[test]
fn a_truncated_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, bytes) = healthy_sqlite(dir.path());
    let half = bytes.len() / 2;
    std::fs::write(&db, &bytes[..half]).unwrap();
    let line = assert_refused_untouched("sqlite", &db, &db);
    assert_reason(
        &line,
        &format!(
            "database file is truncated: its header declares {} bytes but the file holds {half} bytes",
            bytes.len()
        ),
    );
}

#[test]
fn a_garbled_sqlite_file_is_refused_untouched() {
    // The 100-byte header is intact; every page after it is garbage.
    let dir = tempfile::tempdir().unwrap();
    let (db, bytes) = healthy_sqlite(dir.path());
    let mut garbled = bytes[..100].to_vec();
    garbled.extend(garbage(bytes.len() - 100, 1));
    std::fs::write(&db, &garbled).unwrap();
    let line = assert_refused_untouched("sqlite", &db, &db);
    assert_reason(&line, "corrupt store: database disk image is malformed");
    // Nothing of ours is left beside the refused file: no log, no shared-memory index.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("cmdb.sqlite"))
        .collect();
    assert_eq!(left, vec!["cmdb.sqlite".to_owned()]);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.sqlite");
    std::fs::write(&text, "these are notes, not a database\n".repeat(20)).unwrap();
    let line = assert_refused_untouched("sqlite", &text, &text);
    assert_reason(
        &line,
        "not a SQLite database: the file does not start with the SQLite header",
    );
    let short = dir.path().join("short.sqlite");
    std::fs::write(&short, "hello").unwrap();
    let line = assert_refused_untouched("sqlite", &short, &short);
    assert_reason(
        &line,
        "not a SQLite database: the file holds 5 bytes, less than a database header",
    );
}

#[test]
fn a_sqlite_database_from_a_newer_engine_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut bytes) = healthy_sqlite(dir.path());
    let ours = cmdb_store_sqlite::SCHEMA_VERSION;
    let stored = i32::from_be_bytes(bytes[60..64].try_into().unwrap());
    assert_eq!(
        i64::from(stored),
        ours,
        "PRAGMA user_version lives at offset 60"
    );
    // What `PRAGMA user_version = ours + 1` writes: the header's user-version field.
    let future = i32::try_from(ours + 1).unwrap();
    bytes[60..64].copy_from_slice(&future.to_be_bytes());
    std::fs::write(&db, &bytes).unwrap();
    let line = assert_refused_untouched("sqlite", &db, &db);
    assert_reason(
        &line,
        &format!(
            "database schema version {} is newer than this engine supports ({ours})",
            ours + 1
        ),
    );
}

#[test]
fn sqlite_damage_behind_an_intact_first_page_never_panics_nor_writes() {
    // Page 1 (header and schema) intact, every later page garbage: SQLite cannot see the damage
    // when it opens the file, only when a read reaches it. Whatever the CLI answers, it must not
    // panic, must mask the cause, and must not write to the file.
    let dir = tempfile::tempdir().unwrap();
    let (db, bytes) = healthy_sqlite(dir.path());
    let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let mut garbled = bytes[..page].to_vec();
    garbled.extend(garbage(bytes.len() - page, 2));
    std::fs::write(&db, &garbled).unwrap();
    let out = run("sqlite", &db, &["find-set", "--biz", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    match out.status.code() {
        Some(1) => {
            let envelope: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(envelope["code"], json!(1_199_999));
            assert_eq!(envelope["message"], json!("internal error"));
        }
        Some(2) => assert_eq!(stderr.lines().count(), 1, "{stderr}"),
        other => panic!("exit {other:?}: {stderr}"),
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbled,
        "the file was modified"
    );
}

/// A healthy sled store with a few sets, closed; its `db` log file.
fn healthy_sled(dir: &Path) -> (PathBuf, PathBuf) {
    let db = dir.join("cmdb.sled");
    populate("sled", &db, 5);
    let log = db.join("db");
    assert!(log.is_file(), "sled keeps its log in `db`");
    (db, log)
}

fn overwrite(file: &Path, at: usize, len: usize, seed: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    let end = (at + len).min(bytes.len());
    bytes[at..end].copy_from_slice(&garbage(end - at, seed));
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_sled_log_with_garbage_inside_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = healthy_sled(dir.path());
    overwrite(&log, 100, 2_000, 3);
    assert_refused_untouched("sled", &db, &db);
}

#[test]
fn a_sled_log_with_a_garbage_head_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = healthy_sled(dir.path());
    overwrite(&log, 0, 64, 4);
    assert_refused_untouched("sled", &db, &db);
}

#[test]
fn a_truncated_sled_log_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = healthy_sled(dir.path());
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..1_000]).unwrap();
    assert_refused_untouched("sled", &db, &db);
}

#[test]
fn a_garbled_sled_config_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = healthy_sled(dir.path());
    let conf = db.join("conf");
    let len = std::fs::metadata(&conf).unwrap().len() as usize;
    overwrite(&conf, 0, len, 5);
    assert_refused_untouched("sled", &db, &db);
}

#[test]
fn a_garbled_sled_snapshot_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = healthy_sled(dir.path());
    let snap = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("a closed sled store has a snapshot file");
    overwrite(&snap, 10, 200, 6);
    assert_refused_untouched("sled", &db, &db);
}

#[test]
fn a_damaged_sled_sidecar_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = healthy_sled(dir.path());
    let sidecar = db.join(cmdb_store_sled::SIDECAR_FILE);
    overwrite(&sidecar, 5, 20, 7);
    let line = assert_refused_untouched("sled", &db, &db);
    assert!(line.contains("cmdb-store-sled.json is damaged"), "{line}");
}

/// A healthy redb store with a few sets, closed, and its bytes.
fn healthy_redb(dir: &Path) -> (PathBuf, Vec<u8>) {
    let db = dir.join("cmdb.redb");
    populate("redb", &db, 5);
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        bytes.starts_with(b"redb\x1a\x0a\xa9\x0d\x0a"),
        "a redb file"
    );
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("cmdb.redb"))
        .collect();
    assert_eq!(names, ["cmdb.redb"], "nothing of ours beside the store");
    (db, bytes)
}

/// Rewrites the format marker of the closed redb store at `db` (as a newer engine would).
fn set_redb_marker(db: &Path, marker: Value) {
    let file = redb::Database::open(db).unwrap();
    let txn = file.begin_write().unwrap();
    let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("cmdb");
    let value = marker.to_string();
    txn.open_table(table)
        .unwrap()
        .insert(b"_".as_slice(), value.as_bytes())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_truncated_redb_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, bytes) = healthy_redb(dir.path());
    std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
    let line = assert_refused_untouched("redb", &db, &db);
    assert!(line.contains(": the store is damaged: "), "{line}");
}

#[test]
fn a_redb_file_garbled_behind_its_header_is_refused_untouched() {
    // The header page intact, every later page garbage: redb's integrity check on the dry run
    // finds it (a garbled page no tree uses would pass, rightly).
    let dir = tempfile::tempdir().unwrap();
    let (db, bytes) = healthy_redb(dir.path());
    let page = 4096;
    let mut garbled = bytes[..page].to_vec();
    garbled.extend(garbage(bytes.len() - page, 3));
    std::fs::write(&db, &garbled).unwrap();
    let line = assert_refused_untouched("redb", &db, &db);
    assert!(line.contains(": the store is damaged: "), "{line}");
}

#[test]
fn a_file_that_is_not_redb_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "notes.redb",
            b"these are notes, not a database\n".repeat(20),
        ),
        ("empty.redb", Vec::new()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let line = assert_refused_untouched("redb", &path, &path);
        assert_reason(&line, "not a cmdb store: it is not a redb file");
    }
    // A SQLite store of ours is no redb store either.
    let (sqlite, _) = healthy_sqlite(dir.path());
    let line = assert_refused_untouched("redb", &sqlite, &sqlite);
    assert_reason(&line, "not a cmdb store: it is not a redb file");
}

#[test]
fn a_redb_file_of_another_application_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = healthy_redb(dir.path());
    set_redb_marker(&db, json!(["another-application", 1]));
    let line = assert_refused_untouched("redb", &db, &db);
    let ours = cmdb_store_redb::FORMAT_VERSION;
    assert_reason(
        &line,
        &format!(
            "{} holds format \"another-application\" version 1; this build reads \
             cmdb-store-redb version {ours}",
            db.display()
        ),
    );
}

#[test]
fn a_redb_store_from_a_newer_engine_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = healthy_redb(dir.path());
    let ours = cmdb_store_redb::FORMAT_VERSION;
    set_redb_marker(&db, json!([cmdb_store_redb::FORMAT_NAME, ours + 1]));
    let line = assert_refused_untouched("redb", &db, &db);
    assert_reason(
        &line,
        &format!(
            "store format version {} is newer than this engine supports ({ours})",
            ours + 1
        ),
    );
}
