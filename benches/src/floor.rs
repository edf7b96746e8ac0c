//! Raw storage floors: the least storage work a create needs, written directly on each engine.
//!
//! One create is one transaction that
//! 1. bumps the set id counter,
//! 2. checks that no set of the biz under the same parent has the name,
//! 3. inserts the set row (the JSON document, `bk_set_id` included) with its name index,
//! 4. bumps the audit id counter and inserts one audit row whose document embeds the set's,
//!
//! and, for the durable backends, makes it as durable as the store's setting does. No catalog
//! reads, no validation, no record building beyond serialising a prepared document: the gap
//! between a store and its floor is what the engine adds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use cmdb_core::records::Document;
use cmdb_store_sled::layout::{id_key, pair_key, set_name_key};
use redb::ReadableTable;
use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;
use serde_json::Value;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::setup::{BIZ, Backend, PLAN_TIME, SUPPLIER};

/// Why a floor create failed.
#[derive(Debug)]
pub enum FloorError {
    /// A set of the biz under the same parent already has the name (nothing was written).
    Duplicate,
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// sled failed.
    Sled(sled::Error),
    /// redb failed.
    Redb(redb::Error),
    /// A document did not serialise.
    Json(serde_json::Error),
}

impl fmt::Display for FloorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloorError::Duplicate => f.write_str("the same set name exists"),
            FloorError::Sqlite(e) => write!(f, "sqlite: {e}"),
            FloorError::Sled(e) => write!(f, "sled: {e}"),
            FloorError::Redb(e) => write!(f, "redb: {e}"),
            FloorError::Json(e) => write!(f, "json: {e}"),
        }
    }
}

impl std::error::Error for FloorError {}

impl From<rusqlite::Error> for FloorError {
    fn from(e: rusqlite::Error) -> Self {
        FloorError::Sqlite(e)
    }
}

impl From<sled::Error> for FloorError {
    fn from(e: sled::Error) -> Self {
        FloorError::Sled(e)
    }
}

/// A redb error on its way into a [`FloorError`] (redb's error types are many).
#[derive(Debug)]
pub struct RedbFailure<E>(E);

impl<E: Into<redb::Error>> From<RedbFailure<E>> for FloorError {
    fn from(e: RedbFailure<E>) -> Self {
        FloorError::Redb(e.0.into())
    }
}

impl From<serde_json::Error> for FloorError {
    fn from(e: serde_json::Error) -> Self {
        FloorError::Json(e)
    }
}

/// A raw floor: creates a set from a prepared document.
pub trait Floor {
    /// In one transaction: takes a set id, refuses a taken (biz, parent, name), stores `doc`
    /// with `bk_set_id` and one audit record embedding it. Returns the stored document.
    ///
    /// # Errors
    /// [`FloorError::Duplicate`] for a taken name; backend failures.
    fn create(&mut self, name: String, doc: Document) -> Result<Document, FloorError>;
}

/// Opens the floor of `backend` in `dir` (unused for memory).
///
/// # Errors
/// Backend failures while opening.
pub fn open_floor(backend: Backend, dir: &Path) -> Result<Box<dyn Floor>, FloorError> {
    Ok(match backend {
        Backend::Memory => Box::new(MemoryFloor::default()),
        Backend::SqliteFull => Box::new(SqliteFloor::open(dir.join("floor.sqlite"), "FULL")?),
        Backend::SqliteNormal => Box::new(SqliteFloor::open(dir.join("floor.sqlite"), "NORMAL")?),
        Backend::SledFlush => Box::new(SledFloor::open(dir.join("floor.sled"), true)?),
        Backend::SledBackground => Box::new(SledFloor::open(dir.join("floor.sled"), false)?),
        Backend::RedbImmediate => Box::new(RedbFloor::open(dir.join("floor.redb"), true)?),
        Backend::RedbNone => Box::new(RedbFloor::open(dir.join("floor.redb"), false)?),
    })
}

/// The audit document of a created set, borrowing the set's document (serialised in place,
/// never cloned).
#[derive(Serialize)]
struct AuditDoc<'a> {
    id: i64,
    audit_type: &'static str,
    resource_type: &'static str,
    action: &'static str,
    bk_biz_id: i64,
    resource_id: i64,
    resource_name: &'a str,
    operation_detail: Detail<'a>,
    operate_from: &'static str,
    user: &'static str,
    code: &'static str,
    rid: &'static str,
    operation_time: &'static str,
    bk_supplier_account: &'static str,
}

#[derive(Serialize)]
struct Detail<'a> {
    bk_obj_id: &'static str,
    details: Details<'a>,
}

#[derive(Serialize)]
struct Details<'a> {
    pre_data: Option<()>,
    /// `None` (null) where the store keeps no copy (SQLite: the set's row is joined back).
    cur_data: Option<&'a Document>,
    update_fields: Option<()>,
}

impl<'a> AuditDoc<'a> {
    fn of_set(id: i64, set_id: i64, name: &'a str, doc: &'a Document) -> Self {
        AuditDoc {
            id,
            audit_type: "business_resource",
            resource_type: "set",
            action: "create",
            bk_biz_id: BIZ.0,
            resource_id: set_id,
            resource_name: name,
            operation_detail: Detail {
                bk_obj_id: "set",
                details: Details {
                    pre_data: None,
                    cur_data: Some(doc),
                    update_fields: None,
                },
            },
            operate_from: "user",
            user: "xxx",
            code: "esb_test",
            rid: "e43da4ef221746868dc4c837d36f3807",
            operation_time: PLAN_TIME,
            bk_supplier_account: SUPPLIER,
        }
    }

    /// The same record stored as the SQLite store stores it: without a copy of the set.
    fn without_cur_data(mut self) -> Self {
        self.operation_detail.details.cur_data = None;
        self
    }
}

/// The parent of every floor set: the biz itself.
const PARENT: i64 = BIZ.0;

/// What the memory floor holds: counters, the name index and serialised documents.
#[derive(Debug, Default)]
struct MemoryState {
    last_set: i64,
    last_audit: i64,
    names: HashMap<(i64, i64, String), i64>,
    sets: HashMap<i64, String>,
    audits: HashMap<i64, String>,
}

/// The memory floor: `HashMap`s behind a mutex, documents serialised with serde_json.
#[derive(Debug, Default)]
pub struct MemoryFloor {
    state: Mutex<MemoryState>,
}

impl Floor for MemoryFloor {
    fn create(&mut self, name: String, mut doc: Document) -> Result<Document, FloorError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *state;
        let Entry::Vacant(slot) = state.names.entry((BIZ.0, PARENT, name)) else {
            return Err(FloorError::Duplicate);
        };
        let set_id = state.last_set + 1;
        let audit_id = state.last_audit + 1;
        doc.insert("bk_set_id".into(), Value::from(set_id));
        let set_json = serde_json::to_string(&doc)?;
        let audit_json =
            serde_json::to_string(&AuditDoc::of_set(audit_id, set_id, &slot.key().2, &doc))?;
        slot.insert(set_id);
        state.sets.insert(set_id, set_json);
        state.audits.insert(audit_id, audit_json);
        state.last_set = set_id;
        state.last_audit = audit_id;
        Ok(doc)
    }
}

/// The SQLite floor: the store's own schema (its audit rows without a copy of the set, as the
/// store writes them), WAL, the same `synchronous`, one
/// `BEGIN IMMEDIATE` transaction of prepared (cached) statements per create.
#[derive(Debug)]
pub struct SqliteFloor {
    conn: Connection,
}

const BUMP: &str = "UPDATE sequences SET last = last + 1 WHERE kind = ?1 RETURNING last";
const NAME_TAKEN: &str =
    "SELECT 1 FROM sets WHERE bk_biz_id = ?1 AND bk_parent_id = ?2 AND name = ?3";
const INSERT_SET: &str = "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
     VALUES (?1, ?2, ?3, ?4, 0, ?5)";
const INSERT_AUDIT: &str = "INSERT INTO audit_records (bk_biz_id, id, resource_type, resource_id, doc) \
     VALUES (?1, ?2, 'set', ?3, ?4)";

impl SqliteFloor {
    /// Creates the database at `path` with the store's schema, in WAL mode with
    /// `PRAGMA synchronous = <synchronous>` (`FULL` or `NORMAL`).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn open(path: impl AsRef<Path>, synchronous: &str) -> Result<Self, FloorError> {
        let conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        debug_assert!(mode.eq_ignore_ascii_case("wal"));
        conn.pragma_update(None, "synchronous", synchronous)?;
        for migration in cmdb_store_sqlite::schema::MIGRATIONS {
            conn.execute_batch(migration)?;
        }
        Ok(SqliteFloor { conn })
    }

    /// The open connection (for checks).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Floor for SqliteFloor {
    fn create(&mut self, name: String, mut doc: Document) -> Result<Document, FloorError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let set_id: i64 = tx.prepare_cached(BUMP)?.query_row(["set"], |r| r.get(0))?;
        if tx
            .prepare_cached(NAME_TAKEN)?
            .exists(params![BIZ.0, PARENT, name])?
        {
            // Dropping the transaction rolls the counter back.
            return Err(FloorError::Duplicate);
        }
        doc.insert("bk_set_id".into(), Value::from(set_id));
        let set_json = serde_json::to_string(&doc)?;
        tx.prepare_cached(INSERT_SET)?
            .execute(params![set_id, BIZ.0, PARENT, name, set_json])?;
        let audit_id: i64 = tx
            .prepare_cached(BUMP)?
            .query_row(["audit"], |r| r.get(0))?;
        let audit = AuditDoc::of_set(audit_id, set_id, &name, &doc).without_cur_data();
        let audit_json = serde_json::to_string(&audit)?;
        tx.prepare_cached(INSERT_AUDIT)?
            .execute(params![BIZ.0, audit_id, set_id, audit_json])?;
        tx.commit()?;
        Ok(doc)
    }
}

/// The trees the sled floor touches, in transaction-view order: the store's trees of the same
/// names, with the store's key encodings ([`cmdb_store_sled::layout`]).
const SLED_TREES: [&str; 6] = [
    "sequences",
    "sets",
    "sets_by_biz",
    "set_names",
    "audit",
    "audit_by_biz",
];

/// The sled floor: one multi-tree transaction over the six trees a create writes, then a
/// flush when `flush` is set (as the store's `EveryWrite`).
#[derive(Debug)]
pub struct SledFloor {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    flush: bool,
}

impl SledFloor {
    /// Opens a sled database at `path` (the store's 500 ms background flush interval).
    ///
    /// # Errors
    /// sled failures.
    pub fn open(path: impl AsRef<Path>, flush: bool) -> Result<Self, FloorError> {
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(cmdb_store_sled::BACKGROUND_FLUSH_MS))
            .open()?;
        let trees = SLED_TREES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledFloor { db, trees, flush })
    }
}

/// Bumps the counter `kind` in the sequences view; returns the new value.
fn bump(
    sequences: &TransactionalTree,
    kind: &[u8],
) -> Result<i64, ConflictableTransactionError<FloorError>> {
    let last = match sequences.get(kind)? {
        Some(bytes) => i64::from_be_bytes(bytes.as_ref().try_into().unwrap_or([0; 8])),
        None => 0,
    };
    let next = last + 1;
    sequences.insert(kind, &next.to_be_bytes())?;
    Ok(next)
}

impl Floor for SledFloor {
    fn create(&mut self, name: String, doc: Document) -> Result<Document, FloorError> {
        // The closure may run again on a conflict; the document is only ever re-stamped.
        let doc = RefCell::new(doc);
        let name_key = set_name_key(BIZ.0, PARENT, &name);
        let abort = |e: FloorError| ConflictableTransactionError::Abort(e);
        let result = self.trees.as_slice().transaction(|t| {
            let set_id = bump(&t[0], b"set")?;
            if t[3].get(name_key.as_slice())?.is_some() {
                return Err(abort(FloorError::Duplicate));
            }
            let mut doc = doc.borrow_mut();
            doc.insert("bk_set_id".into(), Value::from(set_id));
            let set_json = serde_json::to_vec(&*doc).map_err(|e| abort(e.into()))?;
            t[1].insert(&id_key(set_id), set_json)?;
            t[2].insert(&pair_key(BIZ.0, set_id), &[])?;
            t[3].insert(name_key.as_slice(), &id_key(set_id))?;
            let audit_id = bump(&t[0], b"audit")?;
            let audit = AuditDoc::of_set(audit_id, set_id, &name, &doc);
            let audit_json = serde_json::to_vec(&audit).map_err(|e| abort(e.into()))?;
            t[4].insert(&id_key(audit_id), audit_json)?;
            t[5].insert(&pair_key(BIZ.0, audit_id), b"set")?;
            Ok(set_id)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => FloorError::Sled(e),
        })?;
        if self.flush {
            self.db.flush()?;
        }
        Ok(doc.into_inner())
    }
}

/// The redb floor: one table of byte keys and JSON values, the store's key spaces (`q`
/// sequences, `n` names, `s` sets, `a` audit records, ids big-endian with the sign bit flipped),
/// one write transaction per create; `Immediate` durability, or (as the store's `None`)
/// non-durable commits with one durable commit every 500 ms.
#[derive(Debug)]
pub struct RedbFloor {
    db: redb::Database,
    immediate: bool,
    last_durable: std::time::Instant,
}

const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("cmdb");

fn redb_id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

impl RedbFloor {
    /// Creates a redb database at `path`.
    ///
    /// # Errors
    /// redb failures.
    pub fn open(path: impl AsRef<Path>, immediate: bool) -> Result<Self, FloorError> {
        let db = redb::Database::builder()
            .set_cache_size(64 << 20)
            .create(path)
            .map_err(RedbFailure)?;
        let last_durable = std::time::Instant::now();
        Ok(RedbFloor {
            db,
            immediate,
            last_durable,
        })
    }
}

/// Bumps the sequence `kind` (stored as JSON, as the store does); returns the new value.
fn redb_bump(
    table: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    kind: &str,
) -> Result<i64, FloorError> {
    let key = [b"q", kind.as_bytes()].concat();
    let last = match table.get(key.as_slice()).map_err(RedbFailure)? {
        Some(v) => serde_json::from_slice(v.value())?,
        None => 0,
    };
    let next = last + 1;
    table
        .insert(key.as_slice(), next.to_string().as_bytes())
        .map_err(RedbFailure)?;
    Ok(next)
}

impl Floor for RedbFloor {
    fn create(&mut self, name: String, mut doc: Document) -> Result<Document, FloorError> {
        let durable = self.immediate || self.last_durable.elapsed().as_millis() >= 500;
        let mut txn = self.db.begin_write().map_err(RedbFailure)?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(RedbFailure)?;
        }
        {
            let mut table = txn.open_table(REDB_TABLE).map_err(RedbFailure)?;
            let set_id = redb_bump(&mut table, "set")?;
            let name_key = [
                &b"n"[..],
                &redb_id(BIZ.0),
                &redb_id(PARENT),
                name.as_bytes(),
            ]
            .concat();
            if table
                .get(name_key.as_slice())
                .map_err(RedbFailure)?
                .is_some()
            {
                // Dropping the transaction uncommitted rolls the counter back.
                return Err(FloorError::Duplicate);
            }
            doc.insert("bk_set_id".into(), Value::from(set_id));
            let set_json = serde_json::to_vec(&doc)?;
            let set_key = [&b"s"[..], &redb_id(BIZ.0), &redb_id(set_id)].concat();
            table
                .insert(set_key.as_slice(), set_json.as_slice())
                .map_err(RedbFailure)?;
            table
                .insert(name_key.as_slice(), set_id.to_string().as_bytes())
                .map_err(RedbFailure)?;
            let audit_id = redb_bump(&mut table, "audit")?;
            let audit = AuditDoc::of_set(audit_id, set_id, &name, &doc);
            let audit_json = serde_json::to_vec(&audit)?;
            let audit_key = [&b"a"[..], &redb_id(BIZ.0), &redb_id(audit_id)].concat();
            table
                .insert(audit_key.as_slice(), audit_json.as_slice())
                .map_err(RedbFailure)?;
        }
        txn.commit().map_err(RedbFailure)?;
        if durable {
            self.last_durable = std::time::Instant::now();
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::template_set_doc;

    #[test]
    fn every_floor_stores_and_refuses_a_taken_name() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for backend in Backend::ALL {
            let sub = dir.path().join(backend.label());
            std::fs::create_dir(&sub).expect("a directory");
            let mut floor = open_floor(backend, &sub).expect("the floor opens");
            let doc = template_set_doc();
            let id = |d: Document| d["bk_set_id"].as_i64();
            assert_eq!(
                id(floor.create("a".into(), doc.clone()).expect("first")),
                Some(1)
            );
            assert_eq!(
                id(floor.create("b".into(), doc.clone()).expect("second")),
                Some(2)
            );
            assert!(matches!(
                floor.create("a".into(), doc.clone()),
                Err(FloorError::Duplicate)
            ));
            // The refused create consumed no id.
            assert_eq!(id(floor.create("c".into(), doc).expect("third")), Some(3));
        }
    }

    #[test]
    fn the_sqlite_floor_writes_the_set_and_its_audit_record_as_the_store_does() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut floor = SqliteFloor::open(dir.path().join("f.sqlite"), "NORMAL").expect("open");
        floor
            .create("web".into(), template_set_doc())
            .expect("create");
        let (set, audit): (String, String) = floor
            .connection()
            .query_row(
                "SELECT s.doc, a.doc FROM sets s, audit_records a \
                 WHERE s.bk_set_id = 1 AND a.bk_biz_id = 1 AND a.id = 1 AND a.resource_id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("both rows");
        let set: Value = serde_json::from_str(&set).expect("json");
        let audit: Value = serde_json::from_str(&audit).expect("json");
        assert_eq!(set["bk_set_id"], 1);
        // As the store (schema version 2): the audit row holds no copy of the set.
        assert_eq!(
            audit["operation_detail"]["details"]["cur_data"],
            Value::Null
        );
        assert_eq!(audit["resource_name"], "web");
    }
}
