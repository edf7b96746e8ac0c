//! The first flight of a transaction, pipelined: `BEGIN`, the sequence-row locks and the reads
//! the domain needs (the name slots, unique keys and built-in sets of a group's plans; the
//! whole catalog for a fixture load).

use std::collections::HashSet;

use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::CatalogEntry;
use cmdb_core::ids::{Sequence, SequenceKind, SetId};
use cmdb_core::plan::CreatePlan;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::Conn;
use super::transaction::{AttemptError, Prefetch};
use crate::options::Isolation;
use crate::sql::{self, decode};
use crate::view::{Catalog, Prefetched};

/// The name slots (as three columns), unique keys and the bizs of built-in plans,
/// deduplicated: what the domain will ask the view about.
#[derive(Default)]
struct Slots {
    bizs: Vec<i64>,
    parents: Vec<i64>,
    names: Vec<String>,
    keys: Vec<String>,
    builtin_bizs: Vec<i64>,
}

fn slots(plans: &[CreatePlan]) -> Slots {
    let mut seen = HashSet::new();
    let mut out = Slots::default();
    let mut keys = HashSet::new();
    let mut builtin = HashSet::new();
    for p in plans {
        if seen.insert((p.biz.0, p.parent, p.name.clone())) {
            out.bizs.push(p.biz.0);
            out.parents.push(p.parent);
            out.names.push(p.name.clone());
        }
        keys.extend(p.unique_keys.iter().map(|k| k.storage_key()));
        if p.builtin {
            builtin.insert(p.biz.0);
        }
    }
    out.keys = keys.into_iter().collect();
    out.builtin_bizs = builtin.into_iter().collect();
    out
}

pub(super) async fn read_flight<E>(
    conn: &Conn,
    isolation: Isolation,
    prefetch: &Prefetch<'_>,
) -> Result<Prefetched, AttemptError<E>> {
    let c = &conn.client;
    let s = &conn.stmts;
    let begin = c.batch_execute(isolation.begin());
    let lock = c.query(&s.lock, &[]);
    let mut read = Prefetched::default();
    match prefetch {
        Prefetch::Plans(plans) => {
            let Slots {
                bizs,
                parents,
                names,
                keys,
                builtin_bizs,
            } = slots(plans);
            let name_params: [&(dyn ToSql + Sync); 3] = [&bizs, &parents, &names];
            let key_params: [&(dyn ToSql + Sync); 1] = [&keys];
            let builtin_params: [&(dyn ToSql + Sync); 1] = [&builtin_bizs];
            // A group without unique keys or built-in sets (the usual one) skips those reads.
            let keys_read = async {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                c.query(&s.keys, &key_params).await
            };
            let builtin_read = async {
                if builtin_bizs.is_empty() {
                    return Ok(Vec::new());
                }
                c.query(&s.builtin, &builtin_params).await
            };
            let (b, l, n, k, bi) = tokio::join!(
                begin,
                lock,
                c.query(&s.names, &name_params),
                keys_read,
                builtin_read,
            );
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
            for row in n.map_err(AttemptError::Pg)? {
                read.names_taken.insert((
                    row.try_get(0)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                    row.try_get(1)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                    row.try_get(2)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                ));
            }
            for row in k.map_err(AttemptError::Pg)? {
                read.keys_taken.insert(
                    row.try_get(0)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                );
            }
            read.builtin = builtin_bizs.iter().map(|b| (*b, None)).collect();
            for row in bi.map_err(AttemptError::Pg)? {
                let biz: i64 = row
                    .try_get(0)
                    .map_err(sql::corrupt)
                    .map_err(AttemptError::Store)?;
                let id: i64 = row
                    .try_get(1)
                    .map_err(sql::corrupt)
                    .map_err(AttemptError::Store)?;
                read.builtin.insert(biz, Some(SetId(id)));
            }
            read.name_domain = bizs
                .into_iter()
                .zip(parents)
                .zip(names)
                .map(|((b, p), n)| (b, p, n))
                .collect();
            read.key_domain = keys.into_iter().collect();
        }
        Prefetch::Catalog => {
            let (b, l, catalog) = tokio::join!(begin, lock, read_catalog(c));
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
            read.catalog = Some(catalog?);
        }
        Prefetch::Sequences => {
            let (b, l) = tokio::join!(begin, lock);
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
        }
    }
    Ok(read)
}

/// The id sequences and the catalog version, from the locked counter rows.
fn sequences<E>(rows: &[tokio_postgres::Row]) -> Result<([Sequence; 4], u64), AttemptError<E>> {
    let mut out = [Sequence::default(); 4];
    let mut catalog = None;
    for row in rows {
        let kind: String = row
            .try_get(0)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)?;
        let last: i64 = row
            .try_get(1)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)?;
        if kind == sql::CATALOG_VERSION {
            catalog = Some(last);
            continue;
        }
        let Some(kind) = SequenceKind::from_name(&kind) else {
            continue;
        };
        let index = SequenceKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        out[index] = Sequence::from_last(last);
    }
    let catalog = sql::catalog_version(catalog).map_err(AttemptError::Store)?;
    Ok((out, catalog))
}

/// Every catalog row (a fixture load reads them all: the catalog is small, and the domain's
/// loader asks about any of them).
async fn read_catalog<E>(c: &Client) -> Result<Catalog, AttemptError<E>> {
    let (mainline, businesses, instances, attributes, rules, services, templates) = tokio::join!(
        c.query(sql::ALL_MAINLINE, &[]),
        c.query(sql::ALL_BUSINESSES, &[]),
        c.query(sql::ALL_INSTANCES, &[]),
        c.query(sql::ALL_ATTRIBUTES, &[]),
        c.query(sql::ALL_RULES, &[]),
        c.query(sql::ALL_SERVICE_TEMPLATES, &[]),
        c.query(sql::ALL_SET_TEMPLATES, &[]),
    );
    let text = |row: &tokio_postgres::Row, i: usize| -> Result<String, AttemptError<E>> {
        row.try_get(i)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)
    };
    let store = AttemptError::Store;
    let mut catalog = Catalog::default();
    for row in mainline.map_err(AttemptError::Pg)? {
        let levels: Vec<String> = decode(&text(&row, 1)?, "mainline").map_err(store)?;
        catalog.put(CatalogEntry::Mainline {
            supplier_account: &text(&row, 0)?,
            levels: &levels,
        });
    }
    for row in businesses.map_err(AttemptError::Pg)? {
        let b: Business = decode(&text(&row, 0)?, "business").map_err(store)?;
        catalog.put(CatalogEntry::Business(&b));
    }
    for row in instances.map_err(AttemptError::Pg)? {
        let i: MainlineInstance = decode(&text(&row, 0)?, "mainline instance").map_err(store)?;
        catalog.put(CatalogEntry::MainlineInstance(&i));
    }
    for row in attributes.map_err(AttemptError::Pg)? {
        let a: StoredAttribute = decode(&text(&row, 0)?, "set attribute").map_err(store)?;
        catalog.put(CatalogEntry::Attribute(&a));
    }
    for row in rules.map_err(AttemptError::Pg)? {
        let r: UniqueRule = decode(&text(&row, 0)?, "unique rule").map_err(store)?;
        catalog.put(CatalogEntry::UniqueRule(&r));
    }
    for row in services.map_err(AttemptError::Pg)? {
        let s: ServiceTemplate = decode(&text(&row, 0)?, "service template").map_err(store)?;
        catalog.put(CatalogEntry::ServiceTemplate(&s));
    }
    for row in templates.map_err(AttemptError::Pg)? {
        let t: SetTemplate = decode(&text(&row, 0)?, "set template").map_err(store)?;
        catalog.put(CatalogEntry::SetTemplate(&t));
    }
    Ok(catalog)
}
