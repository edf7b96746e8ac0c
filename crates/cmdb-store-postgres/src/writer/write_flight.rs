//! The second flight of a transaction, pipelined: the catalog rows, the sets, keys, modules
//! and audit records (column arrays, one statement each), the sequence bumps, what they add to
//! the listing counters, and `COMMIT`.

use std::pin::Pin;

use cmdb_core::StoreError;
use std::collections::BTreeMap;

use cmdb_core::catalog_key::CatalogEntry;
use cmdb_core::counter::Counter;
use futures::future::join_all;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::Conn;
use super::transaction::AttemptError;
use crate::sql::{self, encode};
use crate::view::Writes;

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// The column arrays of the writes, owned so the pipelined statements can borrow them.
#[derive(Default)]
struct Columns {
    set_ids: Vec<i64>,
    set_bizs: Vec<i64>,
    set_parents: Vec<i64>,
    set_names: Vec<String>,
    set_builtin: Vec<bool>,
    set_docs: Vec<String>,
    keys: Vec<String>,
    key_sets: Vec<i64>,
    module_ids: Vec<i64>,
    module_sets: Vec<i64>,
    module_bizs: Vec<i64>,
    module_docs: Vec<String>,
    audit_ids: Vec<i64>,
    audit_bizs: Vec<i64>,
    audit_types: Vec<String>,
    audit_docs: Vec<String>,
    seq_kinds: Vec<String>,
    seq_lasts: Vec<i64>,
    /// What the sets and audit records add to each listing counter.
    count_names: Vec<String>,
    count_added: Vec<i64>,
    /// Catalog rows: (statement slot, parameters).
    catalog: Vec<CatalogRow>,
}

/// One catalog row to write.
enum CatalogRow {
    Mainline(String, String),
    Business(i64, String),
    Instance(i64, String),
    Attribute(String, String, i64, i64, String),
    Rule(String, String, String),
    ServiceTemplate(i64, String),
    SetTemplate(i64, Vec<i64>, String),
}

fn columns(writes: &Writes, sequences: &[(&str, i64)]) -> Result<Columns, StoreError> {
    let mut c = Columns::default();
    let mut counts = BTreeMap::new();
    for counter in writes
        .sets
        .iter()
        .map(|s| Counter::Sets(s.biz))
        .chain((writes.audits.iter()).map(|a| Counter::Audit(a.biz, a.resource_type)))
    {
        *counts.entry(counter).or_insert(0) += 1;
    }
    for (counter, added) in counts {
        c.count_names.push(counter.name().into_owned());
        c.count_added.push(added);
    }
    for s in &writes.sets {
        c.set_ids.push(s.id.0);
        c.set_bizs.push(s.biz.0);
        c.set_parents.push(s.parent);
        c.set_names.push(s.name.clone());
        c.set_builtin.push(s.builtin);
        c.set_docs.push(encode(s.doc.as_ref())?);
        for k in &s.unique_keys {
            c.keys.push(k.storage_key());
            c.key_sets.push(s.id.0);
        }
    }
    for m in &writes.modules {
        c.module_ids.push(m.id.0);
        c.module_sets.push(m.set.0);
        c.module_bizs.push(m.biz.0);
        c.module_docs.push(encode(m.doc.as_ref())?);
    }
    for a in &writes.audits {
        c.audit_ids.push(a.id.0);
        c.audit_bizs.push(a.biz.0);
        c.audit_types.push(a.resource_type.name().to_owned());
        c.audit_docs.push(encode(a)?);
    }
    for (kind, last) in sequences {
        c.seq_kinds.push((*kind).to_owned());
        c.seq_lasts.push(*last);
    }
    for (key, item) in &writes.catalog {
        let row = match item.as_entry(key) {
            Some(CatalogEntry::Mainline {
                supplier_account,
                levels,
            }) => CatalogRow::Mainline(supplier_account.to_owned(), encode(&levels)?),
            Some(CatalogEntry::Business(b)) => CatalogRow::Business(b.bk_biz_id.0, encode(b)?),
            Some(CatalogEntry::MainlineInstance(i)) => {
                CatalogRow::Instance(i.bk_inst_id, encode(i)?)
            }
            Some(CatalogEntry::Attribute(a)) => CatalogRow::Attribute(
                a.bk_supplier_account.clone(),
                a.raw.bk_property_id.clone(),
                a.ordinal,
                a.raw.bk_biz_id,
                encode(a)?,
            ),
            Some(CatalogEntry::UniqueRule(r)) => {
                CatalogRow::Rule(r.bk_supplier_account.clone(), r.key(), encode(r)?)
            }
            Some(CatalogEntry::ServiceTemplate(t)) => CatalogRow::ServiceTemplate(t.id, encode(t)?),
            Some(CatalogEntry::SetTemplate(t)) => {
                CatalogRow::SetTemplate(t.id, t.service_template_ids.clone(), encode(t)?)
            }
            None => {
                return Err(StoreError::Backend(
                    format!("a catalog write under the wrong kind of key: {key:?}").into(),
                ));
            }
        };
        c.catalog.push(row);
    }
    Ok(c)
}

/// The writes, the sequence bumps and `COMMIT`, pipelined. `COMMIT` after a failed statement
/// only rolls back, so every statement's result is checked, not only the commit's.
pub(super) async fn write_flight<E>(
    conn: &Conn,
    writes: &Writes,
    sequences: &[(&str, i64)],
) -> Result<(), AttemptError<E>> {
    let cols = columns(writes, sequences).map_err(AttemptError::Store)?;
    write_columns(conn, &cols).await
}

async fn write_columns<'a, E>(conn: &'a Conn, cols: &'a Columns) -> Result<(), AttemptError<E>> {
    let c = &conn.client;
    let s = &conn.stmts;
    let mut flight: Vec<Pending<'_>> = Vec::new();
    let mut run = |stmt: &'a Statement, params: Vec<&'a (dyn ToSql + Sync)>| {
        flight.push(Box::pin(c.execute_raw(stmt, params)));
    };
    // Catalog rows first: the idle set of a new business follows its business row.
    for row in &cols.catalog {
        match row {
            CatalogRow::Mainline(a, b) => run(&s.upsert_mainline, vec![a, b]),
            CatalogRow::Business(a, b) => run(&s.upsert_business, vec![a, b]),
            CatalogRow::Instance(a, b) => run(&s.upsert_instance, vec![a, b]),
            CatalogRow::Attribute(a, b, d, e, f) => run(&s.upsert_attribute, vec![a, b, d, e, f]),
            CatalogRow::Rule(a, b, d) => run(&s.insert_rule, vec![a, b, d]),
            CatalogRow::ServiceTemplate(a, b) => run(&s.upsert_service_template, vec![a, b]),
            CatalogRow::SetTemplate(a, b, d) => run(&s.upsert_set_template, vec![a, b, d]),
        }
    }
    if !cols.set_ids.is_empty() {
        run(
            &s.insert_sets,
            vec![
                &cols.set_ids,
                &cols.set_bizs,
                &cols.set_parents,
                &cols.set_names,
                &cols.set_builtin,
                &cols.set_docs,
            ],
        );
    }
    if !cols.keys.is_empty() {
        run(&s.insert_keys, vec![&cols.keys, &cols.key_sets]);
    }
    if !cols.module_ids.is_empty() {
        run(
            &s.insert_modules,
            vec![
                &cols.module_ids,
                &cols.module_sets,
                &cols.module_bizs,
                &cols.module_docs,
            ],
        );
    }
    if !cols.audit_ids.is_empty() {
        run(
            &s.insert_audit,
            vec![
                &cols.audit_ids,
                &cols.audit_bizs,
                &cols.audit_types,
                &cols.audit_docs,
            ],
        );
    }
    if !cols.seq_kinds.is_empty() {
        run(&s.update_sequences, vec![&cols.seq_kinds, &cols.seq_lasts]);
    }
    if !cols.count_names.is_empty() {
        run(&s.add_counts, vec![&cols.count_names, &cols.count_added]);
    }
    if !cols.audit_ids.is_empty() {
        // Delivered to listening engines when (and only if) the transaction commits.
        flight.push(Box::pin(async move {
            c.batch_execute(sql::NOTIFY_COMMITS).await.map(|()| 0)
        }));
    }
    flight.push(Box::pin(async move {
        c.batch_execute(sql::COMMIT).await.map(|()| 0)
    }));
    for result in join_all(flight).await {
        result.map_err(AttemptError::Pg)?;
    }
    Ok(())
}
