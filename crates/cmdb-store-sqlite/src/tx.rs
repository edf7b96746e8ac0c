//! The SQL of the store: [`SqliteTx`], the backend's reads and writes over one open
//! transaction (a write transaction of the writer connection, or a read snapshot of the
//! reader connection).

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::error::Detail;
use cmdb_core::ids::{AuditId, BizId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{AuditRecord, Document, ModuleRecord, ResourceType, SetRecord};
use rusqlite::{Connection, OptionalExtension, Params, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{decode_error, store_error};

/// Reads the one JSON column of at most one row and decodes it.
pub(crate) fn one_json<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    what: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |r| r.get(0)).optional())
        .map_err(store_error)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode_error(what, e)))
        .transpose()
}

/// Reads the one JSON column of every row, in query order, and decodes each.
pub(crate) fn all_json<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_error)?;
    let mut rows = stmt.query(params).map_err(store_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        let text: String = row.get(0).map_err(store_error)?;
        out.push(serde_json::from_str(&text).map_err(|e| decode_error(what, e))?);
    }
    Ok(out)
}

/// The count a `SELECT COUNT(*)` answers.
fn count(conn: &Connection, sql: &str, params: impl Params) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |r| r.get(0)))
        .map_err(store_error)?;
    usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("a count of {n}").into()))
}

/// The set id the query returns, if it returns a row.
fn one_id(conn: &Connection, sql: &str, params: impl Params) -> Result<Option<SetId>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |r| r.get(0)).optional())
        .map(|id| id.map(SetId))
        .map_err(store_error)
}

/// Runs one write statement.
fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map(drop)
        .map_err(store_error)
}

/// `value` as JSON text in `buffer` (cleared first), reused across inserts.
fn json_text<'b>(buffer: &'b mut Vec<u8>, value: &impl Serialize) -> Result<&'b str, StoreError> {
    buffer.clear();
    serde_json::to_writer(&mut *buffer, value).map_err(encode_error)?;
    std::str::from_utf8(buffer)
        .map_err(|e| StoreError::Backend(Detail::caused_by(format!("encode json: {e}"), e)))
}

/// A value that does not serialise (the serde error kept as the source).
fn encode_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(Detail::caused_by(format!("encode json: {e}"), e))
}

/// Serialises a value to JSON text.
fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(encode_error)
}

/// The sets of a biz in id order, a page of them (`?2` rows after the first `?3`): a range of
/// the index `sets_by_biz`.
pub(crate) const SELECT_SETS: &str =
    "SELECT doc FROM sets WHERE bk_biz_id = ?1 ORDER BY bk_set_id LIMIT ?2 OFFSET ?3";
pub(crate) const SELECT_ONE_SET: &str =
    "SELECT doc FROM sets WHERE bk_biz_id = ?1 AND bk_set_id = ?2";
/// The modules of a set in id order, a page of them: a range of the index `modules_by_set`.
pub(crate) const SELECT_MODULES: &str =
    "SELECT doc FROM modules WHERE bk_set_id = ?1 ORDER BY bk_module_id LIMIT ?2 OFFSET ?3";
const COUNT_MODULES: &str = "SELECT COUNT(*) FROM modules WHERE bk_set_id = ?1";
/// The audit records of a biz (`?2`: of one resource type, or NULL for all) in id order, a
/// page of them (`?3`, `?4`), each with the document of the set or module it records (its
/// `cur_data`, when stored as null).
const SELECT_AUDIT: &str = "SELECT a.doc, CASE a.resource_type WHEN 'set' THEN s.doc ELSE m.doc END \
     FROM audit_records a \
     LEFT JOIN sets s ON a.resource_type = 'set' AND s.bk_set_id = a.resource_id \
     LEFT JOIN modules m ON a.resource_type = 'module' AND m.bk_module_id = a.resource_id \
     WHERE a.bk_biz_id = ?1 AND (?2 IS NULL OR a.resource_type = ?2) ORDER BY a.id \
     LIMIT ?3 OFFSET ?4";
/// The event log's read: [`SELECT_AUDIT`]'s join over a range of `audit_by_id`.
const SELECT_AUDIT_AFTER: &str = "SELECT a.doc, CASE a.resource_type WHEN 'set' THEN s.doc ELSE m.doc END \
     FROM audit_records a INDEXED BY audit_by_id \
     LEFT JOIN sets s ON a.resource_type = 'set' AND s.bk_set_id = a.resource_id \
     LEFT JOIN modules m ON a.resource_type = 'module' AND m.bk_module_id = a.resource_id \
     WHERE a.id > ?1 ORDER BY a.id LIMIT ?2";
const SELECT_TENANT_ATTRIBUTES: &str =
    "SELECT doc FROM set_attributes WHERE bk_supplier_account = ?1";
const SELECT_UNIQUE_RULES: &str =
    "SELECT doc FROM unique_rules WHERE bk_supplier_account = ?1 ORDER BY rule_key";
const SELECT_SEQUENCE: &str = "SELECT last FROM sequences WHERE kind = ?1";
const UPSERT_SEQUENCE: &str = "INSERT INTO sequences (kind, last) VALUES (?1, ?2) \
     ON CONFLICT (kind) DO UPDATE SET last = excluded.last";

/// The unique rules of a tenant, in rule-key order.
pub(crate) fn unique_rules(conn: &Connection, sup: &str) -> Result<Vec<UniqueRule>, StoreError> {
    all_json(conn, SELECT_UNIQUE_RULES, [sup], "unique rule")
}

/// A transaction begun and ended through the statement cache (no statement prepared per
/// transaction); rolled back when dropped before [`Begun::commit`] (an error or a panic in
/// between, a failed commit).
pub(crate) struct Begun<'c>(&'c Connection);

impl<'c> Begun<'c> {
    /// Runs `begin` (`BEGIN`, `BEGIN IMMEDIATE`) on `conn`.
    pub(crate) fn begin(conn: &'c Connection, begin: &str) -> rusqlite::Result<Self> {
        conn.prepare_cached(begin)?.execute([])?;
        Ok(Begun(conn))
    }

    /// Commits. On an error the transaction is rolled back as the value drops.
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        self.0.prepare_cached("COMMIT")?.execute([])?;
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        // Nothing to do when SQLite already ended the transaction (it does on some errors).
        if !self.0.is_autocommit() {
            let _ = self
                .0
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]));
        }
    }
}

/// The business with this id.
pub(crate) fn business(conn: &Connection, id: BizId) -> Result<Option<Business>, StoreError> {
    one_json(
        conn,
        "SELECT doc FROM businesses WHERE bk_biz_id = ?1",
        [id.0],
        "business",
    )
}

/// The mainline levels of a tenant, `None` while not fixed.
pub(crate) fn mainline(conn: &Connection, sup: &str) -> Result<Option<Vec<String>>, StoreError> {
    one_json(
        conn,
        "SELECT levels FROM mainline WHERE bk_supplier_account = ?1",
        [sup],
        "mainline",
    )
}

/// The mainline instance with this id.
pub(crate) fn mainline_instance(
    conn: &Connection,
    id: i64,
) -> Result<Option<MainlineInstance>, StoreError> {
    one_json(
        conn,
        "SELECT doc FROM mainline_instances WHERE bk_inst_id = ?1",
        [id],
        "mainline instance",
    )
}

/// The service template with this id.
pub(crate) fn service_template(
    conn: &Connection,
    id: i64,
) -> Result<Option<ServiceTemplate>, StoreError> {
    one_json(
        conn,
        "SELECT doc FROM service_templates WHERE id = ?1",
        [id],
        "service template",
    )
}

/// The set template with this id.
pub(crate) fn set_template(conn: &Connection, id: i64) -> Result<Option<SetTemplate>, StoreError> {
    one_json(
        conn,
        "SELECT doc FROM set_templates WHERE id = ?1",
        [id],
        "set template",
    )
}

/// The catalog object under `key` (reads of the write transaction and of the reader alike).
pub(crate) fn catalog_item(
    conn: &Connection,
    key: &CatalogKey,
) -> Result<Option<CatalogItem>, StoreError> {
    Ok(match key {
        CatalogKey::Mainline(sup) => mainline(conn, sup)?.map(CatalogItem::Mainline),
        CatalogKey::Business(id) => business(conn, *id)?.map(CatalogItem::Business),
        CatalogKey::MainlineInstance(id) => {
            mainline_instance(conn, *id)?.map(CatalogItem::MainlineInstance)
        }
        CatalogKey::Attribute {
            supplier_account,
            property_id,
        } => one_json::<StoredAttribute>(
            conn,
            "SELECT doc FROM set_attributes WHERE bk_supplier_account = ?1 AND bk_property_id = ?2",
            [supplier_account, property_id],
            "set attribute",
        )?
        .map(CatalogItem::Attribute),
        CatalogKey::UniqueRule {
            supplier_account,
            key,
        } => one_json::<UniqueRule>(
            conn,
            "SELECT doc FROM unique_rules WHERE bk_supplier_account = ?1 AND rule_key = ?2",
            [supplier_account, key],
            "unique rule",
        )?
        .map(CatalogItem::UniqueRule),
        CatalogKey::ServiceTemplate(id) => {
            service_template(conn, *id)?.map(CatalogItem::ServiceTemplate)
        }
        CatalogKey::SetTemplate(id) => set_template(conn, *id)?.map(CatalogItem::SetTemplate),
    })
}

/// The built-in set of a biz.
pub(crate) fn builtin_set(conn: &Connection, biz: BizId) -> Result<Option<SetId>, StoreError> {
    conn.prepare_cached("SELECT bk_set_id FROM sets WHERE bk_biz_id = ?1 AND builtin = 1")
        .and_then(|mut stmt| stmt.query_row([biz.0], |r| r.get(0)).optional())
        .map(|id| id.map(SetId))
        .map_err(store_error)
}

/// The number stored under a counter (0 when none): a sequence's last id, a listing's size.
fn counter_value(conn: &Connection, counter: Counter) -> Result<i64, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached(SELECT_SEQUENCE)
        .and_then(|mut stmt| stmt.query_row([counter.name()], |r| r.get(0)).optional())
        .map_err(store_error)?;
    Ok(last.unwrap_or(0))
}

/// The backend's view of one open transaction: a `BEGIN IMMEDIATE` write transaction of the
/// writer connection, or a `BEGIN` read snapshot of the reader connection (whose writes SQLite
/// refuses: it is `query_only`).
pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The JSON text of the document being inserted, reused across the inserts of a
    /// transaction: one growing buffer instead of a fresh ~1–2 KiB string per document (a large
    /// allocation each, which also makes glibc consolidate its small free chunks every time).
    json: Vec<u8>,
}

impl<'c> SqliteTx<'c> {
    /// A view of the transaction open on `conn`.
    pub(crate) fn new(conn: &'c Connection) -> Self {
        SqliteTx {
            conn,
            json: Vec::new(),
        }
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        let conn = self.conn;
        let doc = json_text(&mut self.json, &*record.doc)?;
        execute(
            conn,
            "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                record.id.0,
                record.biz.0,
                record.parent,
                record.name,
                record.builtin,
                doc
            ],
        )?;
        for key in &record.unique_keys {
            execute(
                self.conn,
                "INSERT INTO set_unique_keys (storage_key, bk_set_id) VALUES (?1, ?2)",
                params![key.storage_key(), record.id.0],
            )?;
        }
        Ok(())
    }

    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError> {
        let conn = self.conn;
        let doc = json_text(&mut self.json, &*record.doc)?;
        execute(
            conn,
            "INSERT INTO modules (bk_module_id, bk_set_id, bk_biz_id, doc) VALUES (?1, ?2, ?3, ?4)",
            params![record.id.0, record.set.0, record.biz.0, doc],
        )
    }

    /// An audit record without a copy of the document it records (`cur_data` null: a read
    /// takes it from the set's or module's row).
    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        let doc = json_text(
            &mut self.json,
            &record.with_rendered_cur_data(RawValue::NULL),
        )?;
        execute(
            self.conn,
            "INSERT INTO audit_records (bk_biz_id, id, resource_type, resource_id, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.biz.0,
                record.id.0,
                record.resource_type.name(),
                record.resource_id,
                doc
            ],
        )
    }
}

impl BackendRead for SqliteTx<'_> {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        catalog_item(self.conn, key)
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        Ok(match list {
            CatalogList::Attributes { supplier_account } => all_json(
                self.conn,
                SELECT_TENANT_ATTRIBUTES,
                [supplier_account],
                "set attribute",
            )?
            .into_iter()
            .map(CatalogItem::Attribute)
            .collect(),
            CatalogList::UniqueRules { supplier_account } => {
                unique_rules(self.conn, supplier_account)?
                    .into_iter()
                    .map(CatalogItem::UniqueRule)
                    .collect()
            }
        })
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        match key {
            IndexKey::Name { biz, parent, name } => one_id(
                self.conn,
                "SELECT bk_set_id FROM sets WHERE bk_biz_id = ?1 AND bk_parent_id = ?2 AND name = ?3",
                params![biz.0, parent, name],
            ),
            IndexKey::Unique(key) => one_id(
                self.conn,
                "SELECT bk_set_id FROM set_unique_keys WHERE storage_key = ?1",
                [key.storage_key()],
            ),
            IndexKey::Builtin(biz) => builtin_set(self.conn, biz),
        }
    }

    /// The page is a `LIMIT`/`OFFSET` range of an index; the count is the listing's stored
    /// counter (a set's modules: an index-only `COUNT(*)`).
    fn page(&mut self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let conn = self.conn;
        let limit = i64::try_from(window.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(window.start).unwrap_or(i64::MAX);
        let (docs, count) = match query {
            DocQuery::Sets { biz, set: Some(id) } => {
                let one = documents(conn, SELECT_ONE_SET, [biz.0, id.0], "set")?;
                return Ok(window.cut(one));
            }
            DocQuery::Sets { biz, set: None } => (
                documents(conn, SELECT_SETS, [biz.0, limit, offset], "set")?,
                self.stored_count(query)?,
            ),
            DocQuery::Modules { set } => (
                documents(conn, SELECT_MODULES, [set.0, limit, offset], "module")?,
                count(conn, COUNT_MODULES, [set.0])?,
            ),
            DocQuery::Audit { biz, resource_type } => {
                let of_type = resource_type.map(ResourceType::name);
                let docs =
                    audit_documents(conn, SELECT_AUDIT, params![biz.0, of_type, limit, offset])?;
                (docs, self.stored_count(query)?)
            }
        };
        Ok(DocPage { count, docs })
    }

    fn audit_after(&mut self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        audit_documents(self.conn, SELECT_AUDIT_AFTER, [after.0, limit])
    }

    fn counter(&mut self, counter: Counter) -> Result<i64, StoreError> {
        counter_value(self.conn, counter)
    }
}

impl SqliteTx<'_> {
    /// The stored size of a counted listing.
    fn stored_count(&mut self, query: DocQuery) -> Result<usize, StoreError> {
        self.listing_count(query)?
            .ok_or_else(|| StoreError::Backend(format!("{query:?} has no counter").into()))
    }
}

/// Savepoints are SQLite's own.
impl BackendTx for SqliteTx<'_> {
    fn put_counter(&mut self, counter: Counter, value: i64) -> Result<(), StoreError> {
        execute(self.conn, UPSERT_SEQUENCE, params![counter.name(), value])
    }

    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError> {
        match record {
            Record::Set(record) => self.insert_set(record),
            Record::Module(record) => self.insert_module(record),
            Record::Audit(record) => self.insert_audit(record),
        }
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        execute(self.conn, "SAVEPOINT one_create", [])
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        execute(self.conn, "RELEASE one_create", [])
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        execute(self.conn, "ROLLBACK TO one_create", [])?;
        execute(self.conn, "RELEASE one_create", [])
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        match entry {
            CatalogEntry::Mainline {
                supplier_account,
                levels,
            } => execute(
                self.conn,
                "INSERT INTO mainline (bk_supplier_account, levels) VALUES (?1, ?2) \
                 ON CONFLICT (bk_supplier_account) DO UPDATE SET levels = excluded.levels",
                params![supplier_account, to_json(&levels)?],
            ),
            CatalogEntry::Business(business) => execute(
                self.conn,
                "INSERT INTO businesses (bk_biz_id, doc) VALUES (?1, ?2) \
                 ON CONFLICT (bk_biz_id) DO UPDATE SET doc = excluded.doc",
                params![business.bk_biz_id.0, to_json(business)?],
            ),
            CatalogEntry::MainlineInstance(instance) => execute(
                self.conn,
                "INSERT INTO mainline_instances (bk_inst_id, doc) VALUES (?1, ?2) \
                 ON CONFLICT (bk_inst_id) DO UPDATE SET doc = excluded.doc",
                params![instance.bk_inst_id, to_json(instance)?],
            ),
            CatalogEntry::Attribute(attribute) => execute(
                self.conn,
                "INSERT INTO set_attributes \
                 (bk_supplier_account, bk_property_id, ordinal, bk_biz_id, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (bk_supplier_account, bk_property_id) DO UPDATE SET \
                 ordinal = excluded.ordinal, bk_biz_id = excluded.bk_biz_id, doc = excluded.doc",
                params![
                    attribute.bk_supplier_account,
                    attribute.raw.bk_property_id,
                    attribute.ordinal,
                    attribute.raw.bk_biz_id,
                    to_json(attribute)?
                ],
            ),
            CatalogEntry::UniqueRule(rule) => execute(
                self.conn,
                "INSERT INTO unique_rules (bk_supplier_account, rule_key, doc) VALUES (?1, ?2, ?3)",
                params![rule.bk_supplier_account, rule.key(), to_json(rule)?],
            ),
            CatalogEntry::ServiceTemplate(template) => execute(
                self.conn,
                "INSERT INTO service_templates (id, doc) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                params![template.id, to_json(template)?],
            ),
            CatalogEntry::SetTemplate(template) => execute(
                self.conn,
                "INSERT INTO set_templates (id, doc) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                params![template.id, to_json(template)?],
            ),
        }
    }
}

/// The audit records of `biz` (of one resource type, or all) in id order, each with its
/// `cur_data`: a record stored without it (null) gets the document of the set or module it
/// records, which a create writes in the same transaction and nothing changes afterwards.
/// The audit records `sql` ([`SELECT_AUDIT`], [`SELECT_AUDIT_AFTER`]) reads, with the
/// recorded documents joined back.
fn audit_documents(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<Document>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_error)?;
    let mut rows = stmt.query(params).map_err(store_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        let text: String = row.get(0).map_err(store_error)?;
        let mut doc: Document =
            serde_json::from_str(&text).map_err(|e| decode_error("audit record", e))?;
        let id = doc.get("id").and_then(Value::as_i64).unwrap_or_default();
        let details = doc
            .get_mut("operation_detail")
            .and_then(|d| d.get_mut("details"))
            .and_then(Value::as_object_mut);
        if let Some(slot) = details
            .and_then(|d| d.get_mut("cur_data"))
            .filter(|v| v.is_null())
        {
            let recorded: Option<String> = row.get(1).map_err(store_error)?;
            let recorded = recorded.ok_or_else(|| {
                StoreError::Corrupt(
                    format!("the set or module of audit record {id} is missing").into(),
                )
            })?;
            *slot = serde_json::from_str(&recorded).map_err(|e| decode_error("audit record", e))?;
        }
        out.push(doc);
    }
    Ok(out)
}

/// Decodes stored documents (sets, modules, audit records).
pub(crate) fn documents(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    what: &str,
) -> Result<Vec<Document>, StoreError> {
    all_json(conn, sql, params, what)
}

#[cfg(test)]
mod tests;
