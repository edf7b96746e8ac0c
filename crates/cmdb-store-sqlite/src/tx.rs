//! The SQL of the store: the [`StoreTx`] view of one open transaction, and the row readers
//! shared with the store's read methods.

use std::sync::Arc;

use cmdb_core::StoreError;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::ids::{BizId, IdRange, Sequence, SequenceKind, SetId};
use cmdb_core::ports::{GroupTx, StoreTx};
use cmdb_core::records::{AuditRecord, Document, ModuleRecord, RenderedDocs, SetRecord, UniqueKey};
use rusqlite::{Connection, OptionalExtension, Params, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode_error(what, &e)))
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
        out.push(serde_json::from_str(&text).map_err(|e| decode_error(what, &e))?);
    }
    Ok(out)
}

/// Whether the query returns a row.
fn exists(conn: &Connection, sql: &str, params: impl Params) -> Result<bool, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.exists(params))
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
    serde_json::to_writer(&mut *buffer, value)
        .map_err(|e| StoreError::Backend(format!("encode json: {e}").into()))?;
    std::str::from_utf8(buffer).map_err(|e| StoreError::Backend(format!("encode json: {e}").into()))
}

/// Serialises a value to JSON text.
fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("encode json: {e}").into()))
}

pub(crate) const SELECT_SETS: &str = "SELECT doc FROM sets WHERE bk_biz_id = ?1 ORDER BY bk_set_id";
pub(crate) const SELECT_ONE_SET: &str =
    "SELECT doc FROM sets WHERE bk_biz_id = ?1 AND bk_set_id = ?2";
pub(crate) const SELECT_MODULES: &str =
    "SELECT doc FROM modules WHERE bk_set_id = ?1 ORDER BY bk_module_id";
pub(crate) const SELECT_AUDIT: &str = "SELECT doc FROM audit WHERE bk_biz_id = ?1 ORDER BY id";
pub(crate) const SELECT_AUDIT_OF_TYPE: &str =
    "SELECT doc FROM audit WHERE bk_biz_id = ?1 AND resource_type = ?2 ORDER BY id";
const SELECT_SET_ATTRIBUTES: &str = "SELECT doc FROM set_attributes \
     WHERE bk_supplier_account = ?1 AND (bk_biz_id = 0 OR bk_biz_id = ?2) ORDER BY ordinal";
const SELECT_UNIQUE_RULES: &str =
    "SELECT doc FROM unique_rules WHERE bk_supplier_account = ?1 ORDER BY rule_key";
const SELECT_SEQUENCES: &str = "SELECT kind, last FROM sequences";
const SELECT_SEQUENCE: &str = "SELECT last FROM sequences WHERE kind = ?1";
const UPSERT_SEQUENCE: &str = "INSERT INTO sequences (kind, last) VALUES (?1, ?2) \
     ON CONFLICT (kind) DO UPDATE SET last = excluded.last";

/// The custom set attributes of a tenant visible in `biz`, in ordinal order.
pub(crate) fn set_attributes(
    conn: &Connection,
    sup: &str,
    biz: BizId,
) -> Result<Vec<StoredAttribute>, StoreError> {
    all_json(
        conn,
        SELECT_SET_ATTRIBUTES,
        params![sup, biz.0],
        "set attribute",
    )
}

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

/// Everything a create reads, from one connection in one read transaction (one snapshot).
pub(crate) fn create_facts(
    conn: &Connection,
    query: &FactsQuery,
) -> Result<StoredFacts, StoreError> {
    let read = Begun::begin(conn, "BEGIN").map_err(store_error)?;
    let snapshot = conn;
    let Some(business) = business(snapshot, query.biz)? else {
        return Ok(StoredFacts::default());
    };
    let sup = query.supplier_account.as_str();
    let mainline = mainline(snapshot, sup)?.unwrap_or_default();
    let parent_instance = match query.parent {
        Some(id) if !mainline.is_empty() => mainline_instance(snapshot, id)?,
        _ => None,
    };
    let template = match query.template {
        Some(id) => set_template(snapshot, id)?,
        None => None,
    };
    let mut service_templates = Vec::new();
    for id in template.iter().flat_map(|t| t.service_template_ids.iter()) {
        service_templates.extend(service_template(snapshot, *id)?);
    }
    let facts = StoredFacts {
        business: Some(business),
        parent_instance,
        attributes: set_attributes(snapshot, sup, query.biz)?,
        unique_rules: unique_rules(snapshot, sup)?,
        template,
        service_templates,
        builtin_set: builtin_set(snapshot, query.biz)?,
        source: cmdb_core::facts::FactsSource::Unversioned,
        mainline,
    };
    // A read transaction: ending it either way releases the snapshot.
    read.commit().map_err(store_error)?;
    Ok(facts)
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

/// The last id handed out by a sequence (0 when none).
pub(crate) fn sequence_last(conn: &Connection, kind: SequenceKind) -> Result<i64, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached(SELECT_SEQUENCE)
        .and_then(|mut stmt| stmt.query_row([kind.name()], |r| r.get(0)).optional())
        .map_err(store_error)?;
    Ok(last.unwrap_or(0))
}

/// The sequences of one transaction: read once on first use, written back by
/// [`SqliteTx::flush`] for those that changed.
#[derive(Debug, Clone, Copy)]
struct Sequences {
    /// The current state of each kind, indexed like [`SequenceKind::ALL`].
    current: [Sequence; 4],
    /// The value stored when read (`None` when the row is missing).
    stored: [Option<i64>; 4],
}

fn slot(kind: SequenceKind) -> usize {
    match kind {
        SequenceKind::Set => 0,
        SequenceKind::Module => 1,
        SequenceKind::Audit => 2,
        SequenceKind::Attribute => 3,
    }
}

/// The [`StoreTx`] of one open `BEGIN IMMEDIATE` transaction.
pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The JSON text of the document being inserted, reused across the inserts of a
    /// transaction: one growing buffer instead of a fresh ~1–2 KiB string per document (a large
    /// allocation each, which also makes glibc consolidate its small free chunks every time).
    json: Vec<u8>,
    sequences: Option<Sequences>,
    /// The sequences as they were at the open savepoint (`Some(None)`: not yet loaded then).
    savepoint: Option<Option<Sequences>>,
    /// The JSON of the set and modules of the create being inserted, kept for their audit
    /// records (which embed them), so each document is serialised once.
    rendered: RenderedDocs,
}

impl<'c> SqliteTx<'c> {
    /// A view of the transaction open on `conn`.
    pub(crate) fn new(conn: &'c Connection) -> Self {
        SqliteTx {
            conn,
            json: Vec::new(),
            sequences: None,
            savepoint: None,
            rendered: RenderedDocs::default(),
        }
    }

    /// Serialises a set's or module's document once, keeping it for its audit record.
    fn render(&mut self, doc: &Arc<Document>) -> Result<&str, StoreError> {
        self.rendered
            .render(doc)
            .map_err(|e| StoreError::Backend(format!("encode json: {e}").into()))
    }

    fn sequences(&mut self) -> Result<&mut Sequences, StoreError> {
        if self.sequences.is_none() {
            self.sequences = Some(self.load_sequences()?);
        }
        self.sequences
            .as_mut()
            .ok_or_else(|| StoreError::Backend("sequences not loaded".into()))
    }

    fn load_sequences(&self) -> Result<Sequences, StoreError> {
        let mut seqs = Sequences {
            current: [Sequence::default(); 4],
            stored: [None; 4],
        };
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_SEQUENCES)
            .map_err(store_error)?;
        let mut rows = stmt.query([]).map_err(store_error)?;
        while let Some(row) = rows.next().map_err(store_error)? {
            let name: String = row.get(0).map_err(store_error)?;
            let last: i64 = row.get(1).map_err(store_error)?;
            let Some(kind) = SequenceKind::from_name(&name) else {
                continue;
            };
            if last < 0 {
                return Err(StoreError::Corrupt(
                    format!("sequence {name} holds a negative value {last}").into(),
                ));
            }
            seqs.current[slot(kind)] = Sequence::from_last(last);
            seqs.stored[slot(kind)] = Some(last);
        }
        Ok(seqs)
    }

    /// Writes back the sequences that changed. Must run before the commit.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        let Some(seqs) = self.sequences else {
            return Ok(());
        };
        for kind in SequenceKind::ALL {
            let last = seqs.current[slot(kind)].last();
            if seqs.stored[slot(kind)] != Some(last) {
                execute(self.conn, UPSERT_SEQUENCE, params![kind.name(), last])?;
            }
        }
        self.sequences = None;
        Ok(())
    }
}

/// Savepoints: SQLite's own for the rows, a copy of the in-memory sequences for the ids.
impl GroupTx for SqliteTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        execute(self.conn, "SAVEPOINT one_create", [])?;
        self.savepoint = Some(self.sequences);
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = None;
        execute(self.conn, "RELEASE one_create", [])
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let sequences = self
            .savepoint
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        self.sequences = sequences;
        execute(self.conn, "ROLLBACK TO one_create", [])?;
        execute(self.conn, "RELEASE one_create", [])
    }
}

impl StoreTx for SqliteTx<'_> {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        self.sequences()?.current[slot(kind)]
            .take(count)
            .map_err(|e| StoreError::Backend(format!("{e}: {}", kind.name()).into()))
    }

    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        Ok(self.sequences()?.current[slot(kind)].raise_to(value))
    }

    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError> {
        exists(
            self.conn,
            "SELECT 1 FROM sets WHERE bk_biz_id = ?1 AND bk_parent_id = ?2 AND name = ?3",
            params![biz.0, parent, name],
        )
    }

    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError> {
        exists(
            self.conn,
            "SELECT 1 FROM set_unique_keys WHERE storage_key = ?1",
            [key.storage_key()],
        )
    }

    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        builtin_set(self.conn, biz)
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        // A new create begins: the documents of the previous one are no longer needed.
        self.rendered.clear();
        let conn = self.conn;
        let doc = self.render(&record.doc)?;
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
        let doc = self.render(&record.doc)?;
        execute(
            conn,
            "INSERT INTO modules (bk_module_id, bk_set_id, bk_biz_id, doc) VALUES (?1, ?2, ?3, ?4)",
            params![record.id.0, record.set.0, record.biz.0, doc],
        )
    }

    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        // The document it records was just inserted: embed the JSON written for it.
        let doc = match self.rendered.rendered(&record.cur_data) {
            Some(json) => json_text(&mut self.json, &record.with_rendered_cur_data(json))?,
            None => json_text(&mut self.json, record)?,
        };
        execute(
            self.conn,
            "INSERT INTO audit (id, bk_biz_id, resource_type, doc) VALUES (?1, ?2, ?3, ?4)",
            params![record.id.0, record.biz.0, record.resource_type.name(), doc],
        )
    }

    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        catalog_item(self.conn, &key)
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
mod tests {
    use cmdb_core::ids::{AuditId, ModuleId};
    use cmdb_core::records::ResourceType;
    use serde_json::{Value, json};

    use super::*;
    use crate::schema::migrate;

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().expect("an in-memory database");
        migrate(&mut conn).expect("the schema");
        conn
    }

    fn set(id: i64, parent: i64, name: &str, builtin: bool, keys: &[&str]) -> SetRecord {
        let Value::Object(doc) = json!({"bk_set_id": id, "bk_set_name": name}) else {
            unreachable!("an object literal")
        };
        SetRecord {
            id: SetId(id),
            biz: BizId(1),
            parent,
            name: name.into(),
            builtin,
            unique_keys: keys
                .iter()
                .map(|v| UniqueKey {
                    supplier_account: "0".into(),
                    fields: vec!["owner".into()],
                    values: format!("[\"{v}\"]"),
                })
                .collect(),
            doc: std::sync::Arc::new(doc),
        }
    }

    fn already_exists(result: Result<(), StoreError>) -> bool {
        matches!(result, Err(StoreError::AlreadyExists(_)))
    }

    #[test]
    fn the_indexes_refuse_what_the_domain_would_have_caught() {
        let conn = database();
        let mut tx = SqliteTx::new(&conn);
        tx.insert_set(&set(1, 1, "a", true, &["ops"]))
            .expect("first set");
        assert!(tx.set_name_taken(BizId(1), 1, "a").expect("read"));
        assert!(!tx.set_name_taken(BizId(1), 1, "A").expect("read"));
        assert!(!tx.set_name_taken(BizId(1), 2, "a").expect("read"));
        assert_eq!(tx.builtin_set(BizId(1)), Ok(Some(SetId(1))));

        assert!(already_exists(tx.insert_set(&set(2, 1, "a", false, &[]))));
        assert!(already_exists(tx.insert_set(&set(3, 1, "b", true, &[]))));
        assert!(already_exists(tx.insert_set(&set(
            4,
            1,
            "c",
            false,
            &["ops"]
        ))));
        assert!(already_exists(tx.insert_set(&set(1, 9, "d", false, &[]))));
        // Same name under another parent, and a free key, are fine.
        tx.insert_set(&set(5, 2, "a", false, &["dev"]))
            .expect("another parent");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM sets", [], |r| r.get(0))
            .expect("count");
        // Sets 1 and 5, and set 4 whose key was refused after its row went in: a failed
        // insert is never committed, the store rolls the whole transaction back.
        assert_eq!(count, 3);

        let module = ModuleRecord {
            id: ModuleId(1),
            set: SetId(1),
            biz: BizId(1),
            doc: Default::default(),
        };
        tx.insert_module(&module).expect("a module");
        assert!(already_exists(tx.insert_module(&module)));
        let audit = AuditRecord {
            id: AuditId(1),
            biz: BizId(1),
            resource_type: ResourceType::Set,
            resource_id: 1,
            resource_name: "a".into(),
            stamp: Default::default(),
            cur_data: Default::default(),
        };
        tx.insert_audit(&audit).expect("an audit record");
        assert!(already_exists(tx.insert_audit(&audit)));
    }

    #[test]
    fn documents_read_back_bit_for_bit() {
        let conn = database();
        let mut tx = SqliteTx::new(&conn);
        let floats = [
            0.1,
            1.0 / 3.0,
            2.225_073_858_507_201e-308,
            5e-324,
            1.797_693_134_862_315_7e308,
            -0.0,
            9_007_199_254_740_993.0,
            123_456.789_012_345_68,
            // Two that serde_json's default (not `float_roundtrip`) parser reads back wrong.
            1.071_566_039_146_582_6e-75,
            -1.603_964_615_428_183e143,
        ];
        let Value::Object(doc) = json!({
            "floats": floats,
            "big": u64::MAX,
            "small": i64::MIN,
            "text": "空闲机池 \u{0} \"quoted\" \\ \u{1f}",
            "nested": {"z": [null, true, {"a": []}], "a": {}},
        }) else {
            unreachable!("an object literal")
        };
        let mut record = set(1, 1, "a", false, &[]);
        record.doc = std::sync::Arc::new(doc.clone());
        tx.insert_set(&record).expect("insert");
        let read = documents(&conn, SELECT_SETS, [1], "set").expect("read");
        assert_eq!(read, vec![doc]);
        let read_floats: Vec<f64> = read[0]["floats"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|v| v.as_f64().expect("a float"))
            .collect();
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&read_floats), bits(&floats));
    }

    #[test]
    fn sequences_are_read_once_and_written_back_when_changed() {
        let conn = database();
        let mut tx = SqliteTx::new(&conn);
        assert_eq!(
            tx.take_ids(SequenceKind::Set, 1),
            Ok(IdRange { first: 1, len: 1 })
        );
        assert_eq!(
            tx.take_ids(SequenceKind::Module, 3),
            Ok(IdRange { first: 1, len: 3 })
        );
        assert_eq!(tx.take_ids(SequenceKind::Audit, 0).map(|r| r.len), Ok(0));
        assert_eq!(tx.raise_sequence(SequenceKind::Attribute, 10), Ok(true));
        // Nothing reaches the table before the flush.
        assert_eq!(sequence_last(&conn, SequenceKind::Set), Ok(0));
        tx.flush().expect("flush");
        assert_eq!(sequence_last(&conn, SequenceKind::Set), Ok(1));
        assert_eq!(sequence_last(&conn, SequenceKind::Module), Ok(3));
        assert_eq!(sequence_last(&conn, SequenceKind::Audit), Ok(0));
        assert_eq!(sequence_last(&conn, SequenceKind::Attribute), Ok(10));
        assert_eq!(
            tx.take_ids(SequenceKind::Set, 2),
            Ok(IdRange { first: 2, len: 2 })
        );
        tx.flush().expect("flush");
        assert_eq!(sequence_last(&conn, SequenceKind::Set), Ok(3));
    }

    #[test]
    fn undecodable_stored_json_is_corrupt() {
        let conn = database();
        conn.execute(
            "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
             VALUES (1, 1, 1, 'a', 0, '[1, 2]')",
            [],
        )
        .expect("a set whose document is not an object");
        conn.execute(
            "INSERT INTO businesses (bk_biz_id, doc) VALUES (2, '{\"bk_biz_id\": 2')",
            [],
        )
        .expect("a truncated business");
        conn.execute("UPDATE sequences SET last = -4 WHERE kind = 'audit'", [])
            .expect("a negative sequence");
        let sets = documents(&conn, SELECT_SETS, [1], "set");
        assert!(
            matches!(&sets, Err(StoreError::Corrupt(m)) if m.starts_with("set: stored JSON does not decode: ")),
            "{sets:?}"
        );
        let biz = business(&conn, BizId(2));
        assert!(
            matches!(&biz, Err(StoreError::Corrupt(m)) if m.starts_with("business: stored JSON does not decode: ")),
            "{biz:?}"
        );
        let mut tx = SqliteTx::new(&conn);
        assert_eq!(
            tx.take_ids(SequenceKind::Set, 1),
            Err(StoreError::Corrupt(
                "sequence audit holds a negative value -4".into()
            ))
        );
    }
}
