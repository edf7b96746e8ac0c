//! Opening redb stores: a close releases the file at once; a file that is not redb, a redb
//! file of another application, a store of a newer format, a damaged store and one another
//! handle holds are each refused with their exact `OpenError` variant and left byte for byte
//! as they were.

use std::path::{Path, PathBuf};

use cmdb_core::backend::DocQuery;
use cmdb_core::ids::{AuditId, BizId};
use cmdb_core::listing::Window;
use cmdb_core::ports::SetStore;
use cmdb_core::records::ResourceType;
use cmdb_store_conformance::support::{context, create_ok, load_ok, worked_example_fixture};
use cmdb_store_group::OpenError;
use cmdb_store_redb::{FORMAT_VERSION, RedbOptions, RedbStore};
use redb::ReadableTable;
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A closed store with the worked example's fixture and `sets` sets at `dir/cmdb.redb`.
fn healthy(dir: &Path, sets: usize) -> PathBuf {
    let path = dir.join("cmdb.redb");
    runtime().block_on(async {
        let store = RedbStore::open(&path, RedbOptions::default())
            .await
            .unwrap();
        load_ok(&store, worked_example_fixture()).await;
        let ctx = context("123456789");
        for n in 0..sets {
            let data = json!({"bk_parent_id": 1, "bk_set_name": format!("s{n}")});
            create_ok(&store, &ctx, 1, data).await;
        }
        store.close().await.unwrap();
    });
    path
}

/// Opens `path` (blocking) and returns the refusal; the file's bytes must not change.
fn refused(path: &Path) -> OpenError {
    let before = std::fs::read(path).ok();
    let err = RedbStore::open_blocking(path, RedbOptions::default()).expect_err("refused");
    assert_eq!(std::fs::read(path).ok(), before, "the refused file changed");
    let async_err = runtime().block_on(RedbStore::open(path, RedbOptions::default()));
    assert_eq!(async_err.expect_err("refused again"), err);
    assert_eq!(std::fs::read(path).ok(), before, "the refused file changed");
    err
}

/// Deterministic garbage.
fn garbage(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 7) as u8)
        .collect()
}

#[test]
fn a_closed_store_reopens_at_once_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path(), 2);
    let rt = runtime();
    for _ in 0..3 {
        let store = rt
            .block_on(RedbStore::open(&path, RedbOptions::default()))
            .unwrap();
        let sets = rt.block_on(store.sets(cmdb_core::BizId(1), None)).unwrap();
        assert_eq!(sets.len(), 3, "the idle set and two more");
        rt.block_on(store.close()).unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["cmdb.redb"], "nothing but the store is left");
}

#[test]
fn a_store_another_handle_holds_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path(), 1);
    let held = RedbStore::open_blocking(&path, RedbOptions::default()).unwrap();
    assert!(matches!(refused(&path), OpenError::Busy(_)));
    drop(held);
}

#[test]
fn files_that_are_not_redb_are_foreign() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "notes.redb",
            b"these are notes, not a database\n".repeat(20),
        ),
        ("short.redb", b"redb".to_vec()),
        ("empty.redb", Vec::new()),
        ("sqlite.redb", b"SQLite format 3\0".repeat(64)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = refused(&path);
        assert!(matches!(err, OpenError::Foreign(_)), "{name}: {err:?}");
    }
}

#[test]
fn a_redb_file_of_another_application_is_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    let table: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("cmdb");
    txn.open_table(table).unwrap().insert(1, 2).unwrap();
    txn.commit().unwrap();
    drop(db);
    let err = refused(&path);
    assert_eq!(
        err.to_string(),
        "not a cmdb store: a redb database without the cmdb marker"
    );
    // And one with no table at all.
    let empty = dir.path().join("empty-db.redb");
    drop(redb::Database::create(&empty).unwrap());
    assert!(matches!(refused(&empty), OpenError::Foreign(_)));
}

#[test]
fn a_store_of_a_newer_format_is_too_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path(), 1);
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("cmdb");
    let key = b"_".to_vec();
    let newer = json!(["cmdb-store-redb", FORMAT_VERSION + 1]).to_string();
    txn.open_table(table)
        .unwrap()
        .insert(key.as_slice(), newer.as_bytes())
        .unwrap();
    txn.commit().unwrap();
    drop(db);
    let err = refused(&path);
    assert_eq!(
        err,
        OpenError::TooNew {
            what: "store format",
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "store format version {} is newer than this engine supports ({FORMAT_VERSION})",
            FORMAT_VERSION + 1
        )
    );
}

#[test]
fn damaged_stores_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path(), 40);
    let bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 8 * page, "{} bytes", bytes.len());
    // Every page after the header page garbled; half the file; one page in the middle.
    let mut all = bytes[..page].to_vec();
    all.extend(garbage(bytes.len() - page));
    let mut middle = bytes.clone();
    let at = (bytes.len() / 2) / page * page;
    middle[at..at + page].copy_from_slice(&garbage(page));
    for (what, damaged) in [
        ("garbled", all),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("one page", middle),
    ] {
        std::fs::write(&path, &damaged).unwrap();
        match refused(&path) {
            OpenError::Damaged(_) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_directory_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(refused(dir.path()), OpenError::Unreachable(_)));
}

#[test]
fn a_version_1_store_gets_its_event_log_and_counters_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path(), 3);
    let logged = runtime().block_on(async {
        let store = RedbStore::open(&path, RedbOptions::default())
            .await
            .unwrap();
        let log = store.audit_after(AuditId(0), 100).await.unwrap();
        store.close().await.unwrap();
        log
    });
    assert_eq!(logged.len(), 3, "one record per set");
    // Make it a version-1 store: no event log (`e` keys), marker version 1.
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("cmdb");
    {
        let mut t = txn.open_table(table).unwrap();
        let events: Vec<Vec<u8>> = t
            .range(b"e".as_slice()..b"f".as_slice())
            .unwrap()
            .map(|e| e.unwrap().0.value().to_vec())
            .collect();
        assert_eq!(events.len(), 3);
        let counters: Vec<Vec<u8>> = t
            .range(b"qcount/".as_slice()..b"qcount0".as_slice())
            .unwrap()
            .map(|e| e.unwrap().0.value().to_vec())
            .collect();
        assert_eq!(
            counters.len(),
            2,
            "sets of biz 1 and audit of sets of biz 1"
        );
        for k in events.into_iter().chain(counters) {
            t.remove(k.as_slice()).unwrap();
        }
        let v1 = json!(["cmdb-store-redb", 1]).to_string();
        t.insert(b"_".as_slice(), v1.as_bytes()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    runtime().block_on(async {
        let store = RedbStore::open(&path, RedbOptions::default())
            .await
            .unwrap();
        assert_eq!(store.audit_after(AuditId(0), 100).await.unwrap(), logged);
        assert_eq!(
            store.audit_after(AuditId(2), 100).await.unwrap(),
            logged[2..]
        );
        // Counted on the upgrade: the idle set and three sets, their three audit records.
        let biz = BizId(1);
        let window = Window { start: 0, limit: 1 };
        for (query, count) in [
            (DocQuery::Sets { biz, set: None }, 4),
            (
                DocQuery::Audit {
                    biz,
                    resource_type: None,
                },
                3,
            ),
            (
                DocQuery::Audit {
                    biz,
                    resource_type: Some(ResourceType::Module),
                },
                0,
            ),
        ] {
            assert_eq!(
                store.page(query, window).await.unwrap().count,
                count,
                "{query:?}"
            );
        }
        store.close().await.unwrap();
    });
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let read = txn.open_table(table).unwrap();
    let marker = read.get(b"_".as_slice()).unwrap().unwrap();
    assert_eq!(
        marker.value(),
        json!(["cmdb-store-redb", FORMAT_VERSION])
            .to_string()
            .as_bytes()
    );
    assert_eq!(FORMAT_VERSION, 3);
}
