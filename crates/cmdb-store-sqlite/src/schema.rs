//! The embedded schema: migrations applied in order, versioned with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{SqliteOpenError as OpenError, sqlite_error};

/// `PRAGMA application_id` of a cmdb database: the ASCII bytes `CMDB`.
pub const APPLICATION_ID: i32 = 0x434D_4442;

/// The migrations, in order. Migration `i` (0-based) brings the schema to version `i + 1`.
/// Published migrations never change; a schema change is a new entry at the end.
pub const MIGRATIONS: &[&str] = &[
    // Version 1.
    r#"
    CREATE TABLE sets (
        bk_set_id    INTEGER PRIMARY KEY,
        bk_biz_id    INTEGER NOT NULL,
        bk_parent_id INTEGER NOT NULL,
        name         TEXT    NOT NULL,
        builtin      INTEGER NOT NULL CHECK (builtin IN (0, 1)),
        doc          TEXT    NOT NULL,
        UNIQUE (bk_biz_id, bk_parent_id, name)
    );
    CREATE UNIQUE INDEX sets_one_builtin_per_biz ON sets (bk_biz_id) WHERE builtin = 1;

    CREATE TABLE set_unique_keys (
        storage_key TEXT    PRIMARY KEY,
        bk_set_id   INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE modules (
        bk_module_id INTEGER PRIMARY KEY,
        bk_set_id    INTEGER NOT NULL,
        bk_biz_id    INTEGER NOT NULL,
        doc          TEXT    NOT NULL
    );
    CREATE INDEX modules_by_set ON modules (bk_set_id);

    CREATE TABLE audit (
        id            INTEGER PRIMARY KEY,
        bk_biz_id     INTEGER NOT NULL,
        resource_type TEXT    NOT NULL,
        doc           TEXT    NOT NULL
    );
    CREATE INDEX audit_by_biz ON audit (bk_biz_id);

    CREATE TABLE sequences (
        kind TEXT    PRIMARY KEY,
        last INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO sequences (kind, last)
        VALUES ('set', 0), ('module', 0), ('audit', 0), ('attribute', 0);

    CREATE TABLE mainline (
        bk_supplier_account TEXT PRIMARY KEY,
        levels              TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE businesses (
        bk_biz_id INTEGER PRIMARY KEY,
        doc       TEXT    NOT NULL
    );

    CREATE TABLE mainline_instances (
        bk_inst_id INTEGER PRIMARY KEY,
        doc        TEXT    NOT NULL
    );

    CREATE TABLE set_attributes (
        bk_supplier_account TEXT    NOT NULL,
        bk_property_id      TEXT    NOT NULL,
        ordinal             INTEGER NOT NULL,
        bk_biz_id           INTEGER NOT NULL,
        doc                 TEXT    NOT NULL,
        PRIMARY KEY (bk_supplier_account, bk_property_id)
    ) WITHOUT ROWID;

    CREATE TABLE unique_rules (
        bk_supplier_account TEXT NOT NULL,
        rule_key            TEXT NOT NULL,
        doc                 TEXT NOT NULL,
        PRIMARY KEY (bk_supplier_account, rule_key)
    ) WITHOUT ROWID;

    CREATE TABLE service_templates (
        id  INTEGER PRIMARY KEY,
        doc TEXT    NOT NULL
    );

    CREATE TABLE set_templates (
        id  INTEGER PRIMARY KEY,
        doc TEXT    NOT NULL
    );

    PRAGMA application_id = 1129137218;
    "#,
    // Version 2: fewer B-tree writes per create. Audit records live in one B-tree keyed by
    // (biz, id), the order they are read in, instead of a table and an index on its biz; and a
    // record written from this version on stores its `cur_data` as null: the created document
    // is the set's or module's own row (neither is ever changed), joined back on read. Records
    // written before keep their full document and are read as they are.
    r#"
    CREATE TABLE audit_records (
        bk_biz_id     INTEGER NOT NULL,
        id            INTEGER NOT NULL,
        resource_type TEXT    NOT NULL,
        resource_id   INTEGER NOT NULL,
        doc           TEXT    NOT NULL,
        PRIMARY KEY (bk_biz_id, id)
    ) WITHOUT ROWID;
    INSERT INTO audit_records (bk_biz_id, id, resource_type, resource_id, doc)
        SELECT bk_biz_id, id, resource_type, json_extract(doc, '$.resource_id'), doc FROM audit;
    DROP TABLE audit;
    "#,
    // Version 3: the sets of a biz in id order (the index holds the rowid, `bk_set_id`), so
    // that a page of them is a range read.
    r#"
    CREATE INDEX sets_by_biz ON sets (bk_biz_id);
    "#,
    // Version 4: the audit records in id order, every biz together: the event log that
    // watchers read after a cursor.
    r#"
    CREATE INDEX audit_by_id ON audit_records (id);
    "#,
    // Version 5: the listing counters, so that a page's count is a point read: `sequences`
    // also holds the size of each biz's sets and of its audit records of each type, under
    // the names `cmdb_core::counter::Counter::name` gives, bumped by every create.
    r#"
    INSERT INTO sequences (kind, last)
        SELECT 'count/sets/' || bk_biz_id, COUNT(*) FROM sets GROUP BY bk_biz_id;
    INSERT INTO sequences (kind, last)
        SELECT 'count/audit/' || bk_biz_id || '/' || resource_type, COUNT(*)
        FROM audit_records GROUP BY bk_biz_id, resource_type;
    "#,
];

/// The schema version this crate writes and understands (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version and application id stored in an open database.
pub(crate) fn stored_version(conn: &Connection) -> Result<(i64, i32), OpenError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite_error)?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sqlite_error)?;
    Ok((version, app_id))
}

/// Checks that an open database is an empty one or a cmdb database this crate can read.
/// Reads only.
///
/// # Errors
/// [`OpenError::TooNew`], [`OpenError::Foreign`], or the SQLite failure (a file SQLite
/// cannot read is [`OpenError::Store`] with a corrupt store error).
pub(crate) fn check_compatible(conn: &Connection) -> Result<i64, OpenError> {
    // One read transaction, so the version and the schema come from the same snapshot: read
    // separately, a migration committed by another connection in between would show tables
    // without a version.
    let snapshot = conn.unchecked_transaction().map_err(sqlite_error)?;
    let version = check_snapshot(&snapshot)?;
    snapshot.commit().map_err(sqlite_error)?;
    Ok(version)
}

fn check_snapshot(conn: &Connection) -> Result<i64, OpenError> {
    let (version, app_id) = stored_version(conn)?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(OpenError::Foreign {
            reason: format!("application_id is {app_id:#x}"),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(OpenError::Foreign {
            reason: format!("schema version {version} is negative"),
        });
    }
    // Reading the schema catalogue parses every schema page: a damaged one fails here.
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(sqlite_error)?;
    if version == 0 && objects > 0 {
        return Err(OpenError::Foreign {
            reason: "it holds tables but no cmdb schema version".into(),
        });
    }
    if version > 0 && app_id != APPLICATION_ID {
        return Err(OpenError::Foreign {
            reason: format!("schema version {version} without the cmdb application id"),
        });
    }
    Ok(version)
}

/// Applies every migration above the stored version, each in its own `BEGIN IMMEDIATE`
/// transaction that re-reads the version first (another connection may have migrated).
///
/// # Errors
/// [`OpenError::TooNew`] when another process migrated beyond this crate meanwhile; SQLite
/// failures.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let (current, _) = stored_version(&tx)?;
        if current > SCHEMA_VERSION {
            return Err(OpenError::TooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current >= target {
            continue;
        }
        tx.execute_batch(sql).map_err(sqlite_error)?;
        tx.pragma_update(None, "user_version", target)
            .map_err(sqlite_error)?;
        tx.commit().map_err(sqlite_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_literal_matches_the_constant() {
        assert!(MIGRATIONS[0].contains(&format!("application_id = {APPLICATION_ID};")));
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"CMDB");
    }
}
