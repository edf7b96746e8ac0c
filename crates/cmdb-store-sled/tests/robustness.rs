//! The sled store facing a locked directory, damaged files and values it cannot decode, and
//! the clean-close fingerprint that lets it refuse damaged files without touching them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::{Error, StoreError};
use cmdb_store_group::OpenError;
use cmdb_store_sled::layout::{self, id_key};
use cmdb_store_sled::{SIDECAR_FILE, SledOptions, SledStore};
use common::{batch, catalog, create, load_catalog, plan, raw_sled, reopen, wait_released};
use serde_json::{Value, json};

/// The environment variable that turns [`child_probe_second_opener`] into the probe.
const PROBE_ENV: &str = "CMDB_SLED_LOCK_PROBE";
/// The environment variable that turns [`child_probe_writer_that_aborts`] into the probe.
const ABORT_ENV: &str = "CMDB_SLED_ABORT_PROBE";

/// Held while this process starts a child process, and by a test that needs a closed store
/// to reopen at once: a child holds a copy of every descriptor of this process, directory
/// locks included, from its fork to its exec (which closes them); the spawn returns after
/// the exec.
static SPAWNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs this test binary in a child process, on test `probe` only, with `env` set to `path`.
async fn run_probe(probe: &str, env: &str, path: &Path) -> Output {
    let child = {
        let _spawning = SPAWNING.lock().await;
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", probe, "--nocapture", "--test-threads=1"])
            .env(env, path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    child.wait_with_output().unwrap()
}

/// A store at `path` holding the catalog and one created set (id 2), closed and dropped.
async fn populated(path: &Path) {
    let store = SledStore::open(path, SledOptions::default()).await.unwrap();
    load_catalog(&store).await;
    create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// A store at `path` as [`populated`], but without the clean close: what a process leaves
/// that closed its handle and then died before dropping it (the sidecar holds the sequences,
/// the files were flushed, but nothing vouches for them).
async fn crashed(path: &Path) {
    populated(path).await;
    forget_clean_close(path);
}

/// Rewrites the sidecar of `path` without its clean close.
fn forget_clean_close(path: &Path) {
    let mut record = sidecar(path);
    record["clean"] = json!(false);
    record.as_object_mut().unwrap().remove("files");
    std::fs::write(path.join(SIDECAR_FILE), record.to_string()).unwrap();
}

/// The sidecar of the store at `path`, as JSON.
fn sidecar(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path.join(SIDECAR_FILE)).unwrap()).unwrap()
}

/// Overwrites `key` of tree `tree` in the sled database at `path` with raw `value`, as if a
/// run that did not close cleanly had written it: the sidecar loses its clean close. (After a
/// clean close, an edit of the files behind the store's back is refused at the next open: see
/// [`an_edit_behind_the_store_s_back_after_a_clean_close_is_refused`].)
fn poke(path: &Path, tree: &str, key: &[u8], value: &[u8]) {
    let db = raw_sled(path);
    db.open_tree(tree).unwrap().insert(key, value).unwrap();
    db.flush().unwrap();
    drop(db);
    forget_clean_close(path);
}

fn busy_message(result: Result<SledStore, OpenError>) -> String {
    match result {
        Err(OpenError::Busy(message)) => message.to_string(),
        other => panic!("expected Busy, got {other:?}"),
    }
}

/// What every call on a closed store at `path` answers.
fn closed(path: &Path) -> StoreError {
    StoreError::Backend(
        format!(
            "the sled store at {} is closed; open it again to use it",
            path.display()
        )
        .into(),
    )
}

#[tokio::test]
async fn a_second_open_in_this_process_is_busy_until_the_first_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = SledStore::open(&path, SledOptions::default())
        .await
        .unwrap();
    let message = busy_message(SledStore::open(&path, SledOptions::default()).await);
    assert!(
        message.starts_with(&format!("cannot open {}: ", path.display())),
        "{message}"
    );
    assert!(message.contains("could not acquire lock"), "{message}");
    // The first store is unaffected.
    load_catalog(&first).await;
    let again = {
        let _no_child_holds_a_lock = SPAWNING.lock().await;
        first.close().await.unwrap();
        // Free at once after the close, while the closed handle is still alive.
        SledStore::open(&path, SledOptions::default())
            .await
            .expect("the directory is free once the close returned")
    };
    assert_eq!(again.sequence_last(SequenceKind::Set).await.unwrap(), 1);
    // The closed handle refuses every call, with the same clear error.
    assert_eq!(
        first.sequence_last(SequenceKind::Set).await.unwrap_err(),
        closed(&path)
    );
    assert_eq!(first.sets(BizId(2), None).await.unwrap_err(), closed(&path));
    assert_eq!(
        first.apply_catalog(batch(catalog())).await.unwrap_err(),
        Error::Store(closed(&path))
    );
    assert_eq!(
        first
            .raise_sequence(SequenceKind::Set, 9)
            .await
            .unwrap_err(),
        closed(&path)
    );
    // A second close does nothing; dropping the closed handle leaves the new one alone.
    first.close().await.unwrap();
    drop(first);
    assert_eq!(again.sequence_last(SequenceKind::Set).await.unwrap(), 1);
    load_catalog(&again).await;
}

#[tokio::test]
async fn a_second_process_is_refused_with_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SledStore::open(&path, SledOptions::default())
        .await
        .unwrap();
    load_catalog(&store).await;
    let output = run_probe("child_probe_second_opener", PROBE_ENV, &path).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("PROBE: busy: cannot open"), "{stdout}");
    assert!(stdout.contains("could not acquire lock"), "{stdout}");
    // The holder keeps working.
    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
            .await
            .unwrap(),
        2
    );
}

/// Run by [`a_second_process_is_refused_with_busy`] in a child process, where
/// `CMDB_SLED_LOCK_PROBE` names a directory the parent holds open: opening it must be refused
/// at once with [`StoreError::Busy`]. Without the variable (the normal test run) it does
/// nothing.
#[test]
fn child_probe_second_opener() {
    let Some(path) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    let message = busy_message(SledStore::open_blocking(&path, SledOptions::default()));
    println!("PROBE: busy: {message}");
}

#[tokio::test]
async fn an_undecodable_value_is_corrupt_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;

    poke(&path, layout::SETS, &id_key(2), b"\x07garbage");
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(
        store.sets(BizId(2), None).await.unwrap_err(),
        StoreError::Corrupt("tree `sets` key 0000000000000002: unknown encoding version 7".into())
    );
    // The other set still reads.
    assert_eq!(
        store.sets(BizId(2), Some(SetId(1))).await.unwrap()[0]["bk_set_id"],
        1
    );
    store.close().await.unwrap();
    drop(store);

    // A value read inside a write transaction that does not decode: the create fails as a
    // store error and writes nothing. The plan is made while the store is healthy.
    let store = reopen(&path, SledOptions::default()).unwrap();
    let plan = plan(
        &store,
        3,
        json!({"bk_set_name": "b", "bk_parent_id": 3, "default": 1}),
    )
    .await
    .unwrap();
    store.close().await.unwrap();
    drop(store);
    poke(&path, layout::BUILTIN_SETS, &id_key(3), b"\x01{");
    let store = reopen(&path, SledOptions::default()).unwrap();
    let error = store.create_set(plan).await.unwrap_err();
    match &error {
        Error::Store(StoreError::Corrupt(m)) => assert!(
            m.starts_with("tree `builtin_sets` key 0000000000000003: undecodable value: "),
            "{m}"
        ),
        other => panic!("expected a corrupt store error, got {other:?}"),
    }
    assert_eq!(error.code().number(), 1_199_999);
    assert_eq!(store.sequence_last(SequenceKind::Set).await.unwrap(), 2);
    assert_eq!(store.sequence_last(SequenceKind::Audit).await.unwrap(), 1);
    assert!(store.sets(BizId(3), None).await.unwrap().is_empty());
    assert!(
        store
            .audit_records(BizId(3), None)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await.unwrap();
    drop(store);

    // A sequence that does not decode is refused when the store opens.
    poke(&path, layout::SEQUENCES, b"audit", b"\x01\"many\"");
    match reopen(&path, SledOptions::default()) {
        Err(OpenError::Damaged(m)) => assert!(
            m.starts_with("tree `sequences` key 6175646974: undecodable value: "),
            "{m}"
        ),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dangling_index_entry_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    poke(&path, layout::MODULES_BY_SET, &layout::pair_key(2, 77), b"");
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(
        store.modules(SetId(2)).await.unwrap_err(),
        StoreError::Corrupt(
            "tree `modules_by_set` points at id 77, missing from tree `modules`".into()
        )
    );
}

#[test]
fn a_sled_database_of_someone_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).unwrap();
        db.insert(b"hello", b"world").unwrap();
        db.flush().unwrap();
    }
    assert_eq!(
        reopen(&path, SledOptions::default()).unwrap_err(),
        OpenError::Foreign(
            format!(
                "{} is a sled database without the cmdb-store-sled format marker",
                path.display()
            )
            .into()
        )
    );
}

#[tokio::test]
async fn another_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    poke(
        &path,
        layout::META,
        layout::FORMAT_KEY,
        b"\x01{\"format\":\"cmdb-store-sled\",\"version\":99}",
    );
    let refused = reopen(&path, SledOptions::default()).unwrap_err();
    assert_eq!(
        refused,
        OpenError::TooNew {
            what: "store format",
            found: 99,
            supported: 2
        }
    );
    assert_eq!(
        refused.to_string(),
        "store format version 99 is newer than this engine supports (2)"
    );
}

#[tokio::test]
async fn an_edit_behind_the_store_s_back_after_a_clean_close_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    let db = raw_sled(&path);
    db.open_tree(layout::SETS)
        .unwrap()
        .insert(id_key(2), b"\x07garbage".as_slice())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let before = snapshot(&path);
    match reopen(&path, SledOptions::default()) {
        Err(OpenError::Damaged(m)) => assert!(
            m.starts_with(&format!(
                "{} changed since the store was closed cleanly: ",
                path.display()
            )),
            "{m}"
        ),
        other => panic!("expected Damaged, got {other:?}"),
    }
    assert_eq!(snapshot(&path), before);
}

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect()
}

/// Overwrites (or creates) `file` with as many bytes of garbage (at least 64).
fn scribble(file: &Path) {
    let len = std::fs::metadata(file).map_or(0, |m| m.len()).max(64) as usize;
    let garbage: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
    std::fs::write(file, garbage).unwrap();
}

/// Overwrites `len` bytes of `file` from `at` with garbage.
fn garble(file: &Path, at: usize, len: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    for (i, b) in bytes[at..at + len].iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8 ^ 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

/// Keeps the first half of `file`.
fn truncate_half(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
}

/// Keeps the first 1000 bytes of `file` (sled pads its log to a whole segment when it
/// recovers it, so half of a log that was opened again may still hold everything).
fn truncate_1000(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..1_000]).unwrap();
}

/// How the store was left before it is damaged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Before {
    /// [`populated`]: closed cleanly.
    Closed,
    /// [`crashed`]: not closed cleanly.
    Crashed,
}

/// Damages a store at `path` left as `before`, then opens it: the open must fail with
/// [`OpenError::Damaged`] (no panic, no silent fresh start); returns the message. After a
/// clean close, the open must also leave every file as it found it.
async fn open_damaged(
    before: Before,
    damage: impl FnOnce(&Path),
) -> (PathBuf, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    match before {
        Before::Closed => populated(&path).await,
        Before::Crashed => crashed(&path).await,
    }
    damage(&path);
    let files = snapshot(&path);
    let message = match reopen(&path, SledOptions::default()) {
        Err(OpenError::Damaged(message)) => message,
        Err(other) => panic!("expected Damaged, got {other:?}"),
        Ok(store) => panic!(
            "a damaged store opened; sets: {:?}",
            store.sets(BizId(2), None).await
        ),
    };
    if before == Before::Closed {
        let after = snapshot(&path);
        assert!(
            files == after,
            "the refused store was modified: {:?}",
            files
                .keys()
                .chain(after.keys())
                .filter(|f| files.get(*f) != after.get(*f))
                .collect::<Vec<_>>()
        );
    }
    (path, message.to_string(), dir)
}

/// The message of a store refused for files changed since its clean close.
fn changed(path: &Path, what: &str) -> String {
    format!(
        "{} changed since the store was closed cleanly: {what} (damaged or modified files); \
         refused without opening it, nothing was modified",
        path.display()
    )
}

#[tokio::test]
async fn garbage_inside_the_log_after_a_clean_close_is_refused_untouched() {
    let (path, message, _dir) =
        open_damaged(Before::Closed, |path| garble(&path.join("db"), 100, 2_000)).await;
    assert_eq!(message, changed(&path, "the content of `db` changed"));
    // A second attempt gives the same answer: nothing was marked or repaired.
    assert_eq!(
        reopen(&path, SledOptions::default()).unwrap_err(),
        OpenError::Damaged(message.into())
    );
}

#[tokio::test]
async fn a_truncated_log_after_a_clean_close_is_refused_untouched() {
    let len = std::cell::Cell::new(0);
    let (path, message, _dir) = open_damaged(Before::Closed, |path| {
        len.set(std::fs::metadata(path.join("db")).unwrap().len());
        truncate_half(&path.join("db"));
    })
    .await;
    let len = len.get();
    assert_eq!(
        message,
        changed(
            &path,
            &format!("`db` holds {} bytes instead of {len}", len / 2)
        )
    );
}

#[tokio::test]
async fn garbage_over_the_log_after_a_clean_close_is_refused_untouched() {
    let (path, message, _dir) =
        open_damaged(Before::Closed, |path| scribble(&path.join("db"))).await;
    assert_eq!(message, changed(&path, "the content of `db` changed"));
}

#[tokio::test]
async fn a_removed_log_after_a_clean_close_is_refused_untouched() {
    let (path, message, _dir) = open_damaged(Before::Closed, |path| {
        std::fs::remove_file(path.join("db")).unwrap();
    })
    .await;
    assert_eq!(message, changed(&path, "`db` is missing"));
    assert!(!path.join("db").exists(), "sled did not start a new log");
}

#[tokio::test]
async fn a_garbage_snapshot_after_a_clean_close_is_refused_untouched() {
    let (path, message, _dir) = open_damaged(Before::Closed, |path| {
        scribble(&path.join("snap.00000000FFFFFFFF"));
    })
    .await;
    assert_eq!(message, changed(&path, "`snap.00000000FFFFFFFF` was added"));
}

#[tokio::test]
async fn several_damaged_files_are_all_named() {
    let (path, message, _dir) = open_damaged(Before::Closed, |path| {
        garble(&path.join("conf"), 0, 8);
        truncate_half(&path.join("db"));
        std::fs::write(path.join("stray"), "x").unwrap();
    })
    .await;
    let prefix = changed(&path, "the content of `conf` changed, `db` holds ");
    let prefix = &prefix[..prefix.find(" (damaged").unwrap()];
    assert!(message.starts_with(prefix), "{message}");
    assert!(
        message.contains(", `stray` was added (damaged"),
        "{message}"
    );
}

#[tokio::test]
async fn garbage_over_every_file_is_refused() {
    // The sidecar is garbage too: it is refused as damaged, before sled sees anything.
    for before in [Before::Closed, Before::Crashed] {
        let (path, message, _dir) =
            open_damaged(before, |path| files(path).iter().for_each(|f| scribble(f))).await;
        assert!(
            message.starts_with(&format!(
                "{} is damaged: ",
                path.join(SIDECAR_FILE).display()
            )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn garbage_over_the_log_after_a_crash_is_refused() {
    let (path, message, _dir) =
        open_damaged(Before::Crashed, |path| scribble(&path.join("db"))).await;
    assert_eq!(
        message,
        format!(
            "{} held a cmdb-store-sled store, but sled recovered none of it from its files \
             (damaged or removed files)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_removed_log_after_a_crash_is_refused() {
    let (path, message, _dir) = open_damaged(Before::Crashed, |path| {
        std::fs::remove_file(path.join("db")).unwrap();
    })
    .await;
    assert_eq!(
        message,
        format!(
            "{} held a cmdb-store-sled store, but sled recovered none of it from its files \
             (damaged or removed files)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_truncated_log_after_a_crash_is_refused() {
    // sled recovers the readable prefix of its log and drops the rest without an error; the
    // sequences recorded in the sidecar show that the store went back in time.
    let (path, message, _dir) =
        open_damaged(Before::Crashed, |path| truncate_half(&path.join("db"))).await;
    assert!(
        message.starts_with(&format!("{}: sled recovered the ", path.display())),
        "{message}"
    );
    assert!(message.ends_with(" (damaged files)"), "{message}");
}

#[tokio::test]
async fn a_damaged_sidecar_is_refused() {
    for before in [Before::Closed, Before::Crashed] {
        let (path, message, _dir) =
            open_damaged(before, |path| scribble(&path.join(SIDECAR_FILE))).await;
        assert!(
            message.starts_with(&format!(
                "{} is damaged: ",
                path.join(SIDECAR_FILE).display()
            )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_garbage_snapshot_after_a_crash_is_refused() {
    // sled trusts its newest `snap.<lsn>` file; one that does not verify is reported by sled.
    let (path, message, _dir) = open_damaged(Before::Crashed, |path| {
        scribble(&path.join("snap.00000000FFFFFFFF"));
    })
    .await;
    assert_eq!(
        message,
        format!(
            "cannot open {}: sled detected corrupted data",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_clean_store_reopens_many_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    for round in 0..12_i64 {
        let record = sidecar(&path);
        assert_eq!(record["clean"], json!(true), "round {round}: {record}");
        assert!(
            record["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == json!("db")),
            "{record}"
        );
        // Opening marks the store as no longer closed, before sled touches it. (`reopen`
        // waits while busy: a child process spawned by another test may hold a copy of the
        // lock's descriptor for a moment, between its fork and its exec.)
        let store = reopen(&path, SledOptions::default()).unwrap();
        assert_eq!(sidecar(&path)["clean"], json!(false));
        let sets = store.sets(BizId(2), None).await.unwrap();
        assert_eq!(sets.len() as i64, 2 + round / 2);
        // Every other round writes; every round closes.
        if round % 2 == 1 {
            let name = format!("r{round}");
            assert_eq!(
                create(&store, 2, json!({"bk_set_name": name, "bk_parent_id": 2}))
                    .await
                    .unwrap(),
                3 + round / 2
            );
        }
        store.close().await.unwrap();
        drop(store);
    }
    assert_eq!(sidecar(&path)["clean"], json!(true));
}

#[tokio::test]
async fn a_store_dropped_without_close_reopens_through_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "b", "bk_parent_id": 2}))
            .await
            .unwrap(),
        3
    );
    drop(store);
    // Not a clean close: no fingerprint, the next open lets sled recover.
    let record = sidecar(&path);
    assert_eq!(record["clean"], json!(false), "{record}");
    assert!(record.get("files").is_none(), "{record}");
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(store.sets(BizId(2), None).await.unwrap().len(), 3);
    drop(store);
    // The writer thread lets go of sled and the directory after the drop returned: wait for
    // it before damaging the files under it.
    wait_released(&path);
    // Damage is then left to sled's recovery and the checks after it, as after a crash:
    // here sled's snapshot points past the end of the truncated log.
    truncate_1000(&path.join("db"));
    assert_eq!(
        reopen(&path, SledOptions::default()).unwrap_err(),
        OpenError::Damaged(
            format!(
                "cannot open {}: sled detected corrupted data",
                path.display()
            )
            .into()
        )
    );
}

#[tokio::test]
async fn a_write_after_close_is_refused_and_the_clean_close_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    let store = reopen(&path, SledOptions::default()).unwrap();
    // A plan made while the store is open, committed after its close.
    let late = plan(&store, 2, json!({"bk_set_name": "late", "bk_parent_id": 2}))
        .await
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(sidecar(&path)["clean"], json!(true));
    assert_eq!(
        store.create_set(late.clone()).await.unwrap_err(),
        Error::Store(closed(&path))
    );
    assert_eq!(
        store
            .create_sets_atomic(vec![late])
            .await
            .unwrap_err()
            .error,
        Error::Store(closed(&path))
    );
    drop(store);
    // The refused writes touched nothing: the clean close holds, and the store has 2 sets.
    assert_eq!(sidecar(&path)["clean"], json!(true));
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(store.sets(BizId(2), None).await.unwrap().len(), 2);
    assert_eq!(
        create(&store, 2, json!({"bk_set_name": "late", "bk_parent_id": 2}))
            .await
            .unwrap(),
        3
    );
    store.close().await.unwrap();
    drop(store);
    assert_eq!(sidecar(&path)["clean"], json!(true));
    assert_eq!(
        reopen(&path, SledOptions::default())
            .unwrap()
            .sets(BizId(2), None)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_process_that_dies_without_closing_leaves_a_store_that_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    let output = run_probe("child_probe_writer_that_aborts", ABORT_ENV, &path).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the probe aborts: {stdout}");
    assert!(stdout.contains("PROBE: created 3"), "{stdout}");
    assert_eq!(sidecar(&path)["clean"], json!(false));
    let store = reopen(&path, SledOptions::default()).unwrap();
    // The create was flushed before it was acknowledged (FlushMode::EveryWrite).
    assert_eq!(store.sets(BizId(2), None).await.unwrap().len(), 3);
    assert_eq!(store.sequence_last(SequenceKind::Set).await.unwrap(), 3);
    store.close().await.unwrap();
}

/// Run by [`a_process_that_dies_without_closing_leaves_a_store_that_reopens`] in a child
/// process, where `CMDB_SLED_ABORT_PROBE` names a closed store: opens it, creates a set, and
/// aborts without closing or dropping anything, as a killed process would. Without the
/// variable (the normal test run) it does nothing.
#[test]
fn child_probe_writer_that_aborts() {
    let Some(path) = std::env::var_os(ABORT_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SledStore::open(&path, SledOptions::default())
            .await
            .unwrap();
        let id = create(&store, 2, json!({"bk_set_name": "b", "bk_parent_id": 2}))
            .await
            .unwrap();
        println!("PROBE: created {id}");
        std::process::abort();
    });
}
