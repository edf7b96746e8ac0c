//! The sled store facing a locked directory, damaged files and values it cannot decode.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::SetStore;
use cmdb_core::{Error, StoreError};
use cmdb_store_sled::layout::{self, id_key};
use cmdb_store_sled::{SIDECAR_FILE, SledOptions, SledStore};
use common::{create, load_catalog, plan, raw_sled, reopen};
use serde_json::json;

/// The environment variable that turns [`child_probe_second_opener`] into the probe.
const PROBE_ENV: &str = "CMDB_SLED_LOCK_PROBE";

/// A store at `path` holding the catalog and one created set (id 2), closed and dropped.
async fn populated(path: &Path) {
    let store = SledStore::open(path, SledOptions::default()).unwrap();
    load_catalog(&store).await;
    create(&store, 2, json!({"bk_set_name": "a", "bk_parent_id": 2}))
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// Overwrites `key` of tree `tree` in the sled database at `path` with raw `value`.
fn poke(path: &Path, tree: &str, key: &[u8], value: &[u8]) {
    let db = raw_sled(path);
    db.open_tree(tree).unwrap().insert(key, value).unwrap();
    db.flush().unwrap();
}

fn busy_message(result: Result<SledStore, StoreError>) -> String {
    match result {
        Err(StoreError::Busy(message)) => message,
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_open_in_this_process_is_busy_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = SledStore::open(&path, SledOptions::default()).unwrap();
    let message = busy_message(SledStore::open(&path, SledOptions::default()));
    assert!(
        message.starts_with(&format!("cannot open {}: ", path.display())),
        "{message}"
    );
    assert!(message.contains("could not acquire lock"), "{message}");
    // The first store is unaffected.
    load_catalog(&first).await;
    drop(first);
    let again = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(again.sequence_last(SequenceKind::Set).await.unwrap(), 1);
}

#[tokio::test]
async fn a_second_process_is_refused_with_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SledStore::open(&path, SledOptions::default()).unwrap();
    load_catalog(&store).await;
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_probe_second_opener",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, &path)
        .output()
        .unwrap();
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
    let message = busy_message(SledStore::open(&path, SledOptions::default()));
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
    drop(store);

    // A sequence that does not decode is refused when the store opens.
    poke(&path, layout::SEQUENCES, b"audit", b"\x01\"many\"");
    match reopen(&path, SledOptions::default()) {
        Err(StoreError::Corrupt(m)) => assert!(
            m.starts_with("tree `sequences` key 6175646974: undecodable value: "),
            "{m}"
        ),
        other => panic!("expected Corrupt, got {other:?}"),
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
        StoreError::Corrupt(format!(
            "{} is a sled database without the cmdb-store-sled format marker",
            path.display()
        ))
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
    assert_eq!(
        reopen(&path, SledOptions::default()).unwrap_err(),
        StoreError::Corrupt(format!(
            "{} holds format \"cmdb-store-sled\" version 99; this build reads cmdb-store-sled version 1",
            path.display()
        ))
    );
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

/// Overwrites (or creates) `file` with as many bytes of garbage (at least 64).
fn scribble(file: &Path) {
    let len = std::fs::metadata(file).map_or(0, |m| m.len()).max(64) as usize;
    let garbage: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
    std::fs::write(file, garbage).unwrap();
}

/// Damages a populated store at `path` in one way, then opens it: the open must fail with
/// [`StoreError::Corrupt`] (no panic, no silent fresh start); returns the message.
async fn open_damaged(damage: impl FnOnce(&Path)) -> (PathBuf, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    populated(&path).await;
    damage(&path);
    match reopen(&path, SledOptions::default()) {
        Err(StoreError::Corrupt(message)) => (path, message, dir),
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(store) => panic!(
            "a damaged store opened; sets: {:?}",
            store.sets(BizId(2), None).await
        ),
    }
}

#[tokio::test]
async fn garbage_over_every_file_is_refused() {
    let (path, message, _dir) =
        open_damaged(|path| files(path).iter().for_each(|f| scribble(f))).await;
    assert!(
        message.starts_with(&format!(
            "cannot open {}: sled refuses its files: ",
            path.display()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn garbage_over_the_log_is_refused() {
    let (path, message, _dir) = open_damaged(|path| scribble(&path.join("db"))).await;
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
async fn a_removed_log_is_refused() {
    let (path, message, _dir) =
        open_damaged(|path| std::fs::remove_file(path.join("db")).unwrap()).await;
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
async fn a_truncated_log_is_refused() {
    // sled recovers the readable prefix of its log and drops the rest without an error; the
    // sequences recorded in the sidecar show that the store went back in time.
    let (path, message, _dir) = open_damaged(|path| {
        let log = path.join("db");
        let bytes = std::fs::read(&log).unwrap();
        std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    })
    .await;
    assert!(
        message.starts_with(&format!("{}: sled recovered the ", path.display())),
        "{message}"
    );
    assert!(message.ends_with(" (damaged files)"), "{message}");
}

#[tokio::test]
async fn a_damaged_sidecar_is_refused() {
    let (path, message, _dir) = open_damaged(|path| scribble(&path.join(SIDECAR_FILE))).await;
    assert!(
        message.starts_with(&format!(
            "{} is damaged: ",
            path.join(SIDECAR_FILE).display()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_garbage_snapshot_is_refused() {
    // sled trusts its newest `snap.<lsn>` file; one that does not verify is reported by sled.
    let (path, message, _dir) =
        open_damaged(|path| scribble(&path.join("snap.00000000FFFFFFFF"))).await;
    assert_eq!(
        message,
        format!(
            "cannot open {}: sled detected corrupted data",
            path.display()
        )
    );
}
