//! Files the store must refuse, with a clear error, no panic, and the file left byte-identical:
//! garbage, a too-short file, a truncated database, a foreign SQLite database, a damaged first
//! page, and a schema newer than this engine (in the header, and only in the log).

use std::path::Path;

use cmdb_core::StoreError;
use cmdb_store_sqlite::{OpenError, SqliteOptions, SqliteStore};
use rusqlite::config::DbConfig;

use crate::support::{TempDb, create_named, example_fixture, load};

/// Deterministic bytes that are not a database.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Opening `path` must fail with `expected`; the file must be unchanged.
fn assert_refused(path: &Path, expected: &OpenError, message: &str) {
    let before = std::fs::read(path).expect("read the file");
    let err =
        SqliteStore::open_blocking(path, SqliteOptions::default()).expect_err("must be refused");
    assert_eq!(&err, expected);
    assert_eq!(err.to_string(), message);
    let after = std::fs::read(path).expect("read the file again");
    assert!(before == after, "the refused file was modified");
    // And a second attempt says the same.
    let again =
        SqliteStore::open_blocking(path, SqliteOptions::default()).expect_err("still refused");
    assert_eq!(&again, expected);
}

/// The names of the files in the directory of `path`, sorted.
fn files(path: &Path) -> Vec<String> {
    let dir = path.parent().expect("a parent dir");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A cmdb database with data, closed cleanly (the log checkpointed and removed).
async fn populated(db: &TempDb) {
    let store = db.open();
    load(&store, example_fixture()).await;
    for name in ["a", "b", "c", "d"] {
        create_named(&store, name).await.expect("create");
    }
    cmdb_core::ports::SetStore::close(&store)
        .await
        .expect("close");
}

#[test]
fn garbage_bytes_are_not_a_database() {
    let db = TempDb::new();
    std::fs::write(db.path(), garbage(8192)).expect("write garbage");
    let expected = OpenError::Foreign(
        "not a SQLite database: the file does not start with the SQLite header".into(),
    );
    assert_refused(
        &db.path(),
        &expected,
        "not a SQLite database: the file does not start with the SQLite header",
    );
    assert_eq!(
        StoreError::from(expected),
        StoreError::Corrupt(
            "not a SQLite database: the file does not start with the SQLite header".into()
        )
    );
    assert_eq!(files(&db.path()), vec!["cmdb.sqlite"]);
}

#[test]
fn a_file_shorter_than_a_header_is_not_a_database() {
    let db = TempDb::new();
    std::fs::write(db.path(), b"SQLite format 3\0tiny").expect("write");
    assert_refused(
        &db.path(),
        &OpenError::Foreign(
            "not a SQLite database: the file holds 20 bytes, less than a database header".into(),
        ),
        "not a SQLite database: the file holds 20 bytes, less than a database header",
    );
    assert_eq!(files(&db.path()), vec!["cmdb.sqlite"]);
}

#[test]
fn a_bad_page_size_is_not_a_database() {
    let db = TempDb::new();
    let mut bytes = garbage(4096);
    bytes[..16].copy_from_slice(b"SQLite format 3\0");
    bytes[16..18].copy_from_slice(&1000u16.to_be_bytes());
    std::fs::write(db.path(), bytes).expect("write");
    assert_refused(
        &db.path(),
        &OpenError::Foreign(
            "not a SQLite database: the header declares an invalid page size 1000".into(),
        ),
        "not a SQLite database: the header declares an invalid page size 1000",
    );
}

#[tokio::test]
async fn a_truncated_database_is_refused() {
    let db = TempDb::new();
    populated(&db).await;
    let len = std::fs::metadata(db.path()).expect("metadata").len();
    assert!(
        len > 8192,
        "the database spans more than two pages ({len} bytes)"
    );
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(db.path())
        .expect("open for truncation");
    file.set_len(8192).expect("truncate");
    drop(file);
    let truncated = format!(
        "database file is truncated: its header declares {len} bytes but the file holds 8192 bytes"
    );
    assert_refused(
        &db.path(),
        &OpenError::Damaged(truncated.clone().into()),
        &truncated,
    );
    assert_eq!(files(&db.path()), vec!["cmdb.sqlite"]);
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let db = TempDb::new();
    populated(&db).await;
    let raw = rusqlite::Connection::open(db.path()).expect("raw");
    raw.pragma_update(None, "user_version", 7)
        .expect("bump the version");
    drop(raw);
    let expected = OpenError::TooNew {
        what: "database schema",
        found: 7,
        supported: 5,
    };
    let message = "database schema version 7 is newer than this engine supports (5)";
    assert_refused(&db.path(), &expected, message);
    assert_eq!(
        StoreError::from(expected.clone()),
        StoreError::Corrupt(message.into())
    );
    assert_eq!(
        cmdb_core::Error::from(expected).code().number(),
        1_199_999,
        "an open failure is internal for the envelope"
    );
    assert_eq!(files(&db.path()), vec!["cmdb.sqlite"]);
}

#[tokio::test]
async fn a_newer_schema_version_still_in_the_log_is_refused() {
    let db = TempDb::new();
    populated(&db).await;
    let raw = rusqlite::Connection::open(db.path()).expect("raw");
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .expect("keep the log on close");
    raw.pragma_update(None, "user_version", 9)
        .expect("bump the version");
    drop(raw);
    let wal = db.dir.path().join("cmdb.sqlite-wal");
    let wal_before = std::fs::read(&wal).expect("the log was kept");
    assert!(!wal_before.is_empty());
    assert_refused(
        &db.path(),
        &OpenError::TooNew {
            what: "database schema",
            found: 9,
            supported: 5,
        },
        "database schema version 9 is newer than this engine supports (5)",
    );
    assert!(
        std::fs::read(&wal).expect("the log is still there") == wal_before,
        "the log was modified"
    );
}

#[test]
fn a_foreign_sqlite_database_is_refused() {
    let db = TempDb::new();
    let raw = rusqlite::Connection::open(db.path()).expect("raw");
    raw.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        .expect("a foreign schema");
    drop(raw);
    assert_refused(
        &db.path(),
        &OpenError::Foreign(
            "not a cmdb database: it holds tables but no cmdb schema version".into(),
        ),
        "not a cmdb database: it holds tables but no cmdb schema version",
    );

    let other = TempDb::new();
    let raw = rusqlite::Connection::open(other.path()).expect("raw");
    raw.pragma_update(None, "application_id", 0x1234)
        .expect("another application's id");
    drop(raw);
    assert_refused(
        &other.path(),
        &OpenError::Foreign("not a cmdb database: application_id is 0x1234".into()),
        "not a cmdb database: application_id is 0x1234",
    );
}

#[tokio::test]
async fn a_damaged_first_page_is_corrupt() {
    let db = TempDb::new();
    populated(&db).await;
    let mut bytes = std::fs::read(db.path()).expect("read");
    let noise = garbage(4096 - 100);
    bytes[100..4096].copy_from_slice(&noise);
    std::fs::write(db.path(), &bytes).expect("write");
    assert_refused(
        &db.path(),
        &OpenError::Damaged("corrupt store: database disk image is malformed".into()),
        "corrupt store: database disk image is malformed",
    );
}

#[tokio::test]
async fn an_empty_file_becomes_a_new_database() {
    let db = TempDb::new();
    std::fs::write(db.path(), b"").expect("an empty file");
    let store = db.open();
    assert_eq!(store.inner().schema_version(), Ok(5));
}
