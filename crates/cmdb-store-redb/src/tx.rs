//! The key layout and [`Tx`]: the reads of a snapshot or of a write transaction, and the
//! writes of one, with the undo log that makes its savepoints.

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::records::{Document, RenderedDocs};
use redb::{ReadableTable, Table, TableDefinition};
use serde::de::DeserializeOwned;

/// The one table: byte keys (a key space byte first, [`S`]) to byte values.
pub(crate) const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cmdb");
type Res<V = ()> = Result<V, StoreError>;
type WriteTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// The key spaces of [`DATA`] (what each holds: the crate doc).
#[derive(Debug, Clone, Copy)]
pub(crate) enum S {
    Meta,
    Sequences,
    Sets,
    SetNames,
    UniqueKeys,
    Builtin,
    Modules,
    Audit,
    Catalog,
}

/// A key: the space, then the parts.
pub(crate) fn key(s: S, parts: &[&[u8]]) -> Vec<u8> {
    [&[s as u8][..], &parts.concat()].concat()
}

/// An id as a key part that sorts as the number does.
fn id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// A catalog key of a tenant's object: the kind byte, the tenant length-prefixed (so one
/// tenant's keys never prefix another's), the name.
fn tenant_key(kind: u8, tenant: &str, name: &str) -> Vec<u8> {
    let len = (tenant.len() as u32).to_be_bytes();
    key(
        S::Catalog,
        &[&[kind], &len, tenant.as_bytes(), name.as_bytes()],
    )
}

/// The catalog key of `k`: a kind byte, then an id or [`tenant_key`]'s identity.
fn catalog_key(k: &CatalogKey) -> Vec<u8> {
    let by_id = |kind: u8, v: i64| key(S::Catalog, &[&[kind], &id(v)]);
    match k {
        CatalogKey::Mainline(sup) => tenant_key(0, sup, ""),
        CatalogKey::Business(biz) => by_id(1, biz.0),
        CatalogKey::MainlineInstance(i) => by_id(2, *i),
        CatalogKey::Attribute {
            supplier_account: s,
            property_id,
        } => tenant_key(3, s, property_id),
        CatalogKey::UniqueRule {
            supplier_account: s,
            key,
        } => tenant_key(4, s, key),
        CatalogKey::ServiceTemplate(i) => by_id(5, *i),
        CatalogKey::SetTemplate(i) => by_id(6, *i),
    }
}

pub(crate) fn json<V: DeserializeOwned>(key: &[u8], value: &[u8]) -> Res<V> {
    let corrupt = |e| StoreError::Corrupt(format!("redb key {key:02x?}: {e}").into());
    serde_json::from_slice(value).map_err(corrupt)
}

fn encode(value: &impl serde::Serialize) -> Res<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("encoding: {e}").into()))
}

/// A failure of redb itself.
pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(format!("redb: {m}").into()),
        e => StoreError::Backend(cmdb_core::error::Detail::caused_by(format!("redb: {e}"), e)),
    }
}

fn name_key(biz: i64, parent: i64, name: &str) -> Vec<u8> {
    key(S::SetNames, &[&id(biz), &id(parent), name.as_bytes()])
}

/// The open table of a snapshot (`R` = [`redb::ReadOnlyTable`]) or of a write transaction
/// (`R` = [`Table`]), with what a write transaction keeps besides: while a savepoint is open,
/// each write's key and the value it replaced (none: absent); the JSON of the current create's
/// set and modules, for its audit records.
pub(crate) struct Tx<R> {
    table: R,
    undo: Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>,
    rendered: RenderedDocs,
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> Tx<R> {
    pub(crate) fn new(table: R) -> Self {
        let (undo, rendered) = (None, RenderedDocs::default());
        Tx {
            table,
            undo,
            rendered,
        }
    }

    /// The value under `k`, decoded.
    pub(crate) fn get<V: DeserializeOwned>(&self, k: &[u8]) -> Res<Option<V>> {
        let found = self.table.get(k).map_err(storage)?;
        found.map(|v| json(k, v.value())).transpose()
    }

    /// Every value whose key starts with `prefix`, decoded, in key order.
    fn scan<V: DeserializeOwned>(&self, prefix: &[u8]) -> Res<Vec<V>> {
        let mut out = Vec::new();
        for entry in self.table.range(prefix..).map_err(storage)? {
            let (k, v) = entry.map_err(storage)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push(json(k.value(), v.value())?);
        }
        Ok(out)
    }
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> BackendRead for Tx<R> {
    fn catalog_get(&mut self, k: &CatalogKey) -> Res<Option<CatalogItem>> {
        self.get(&catalog_key(k))
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Res<Vec<CatalogItem>> {
        let (kind, tenant) = match list {
            CatalogList::Attributes { supplier_account } => (3, supplier_account),
            CatalogList::UniqueRules { supplier_account } => (4, supplier_account),
        };
        self.scan(&tenant_key(kind, tenant, ""))
    }

    fn probe(&mut self, index: IndexKey<'_>) -> Res<Option<SetId>> {
        let k = match index {
            IndexKey::Name { biz, parent, name } => name_key(biz.0, parent, name),
            IndexKey::Unique(u) => key(S::UniqueKeys, &[u.storage_key().as_bytes()]),
            IndexKey::Builtin(biz) => key(S::Builtin, &[&id(biz.0)]),
        };
        Ok(self.get(&k)?.map(SetId))
    }

    fn documents(&mut self, query: DocQuery) -> Res<Vec<Document>> {
        match query {
            DocQuery::Sets { biz, set: Some(s) } => {
                let found = self.get(&key(S::Sets, &[&id(biz.0), &id(s.0)]))?;
                Ok(found.into_iter().collect())
            }
            DocQuery::Sets { biz, set: None } => self.scan(&key(S::Sets, &[&id(biz.0)])),
            DocQuery::Modules { set } => self.scan(&key(S::Modules, &[&id(set.0)])),
            DocQuery::Audit { biz, resource_type } => {
                let mut docs: Vec<Document> = self.scan(&key(S::Audit, &[&id(biz.0)]))?;
                let of = |d: &Document| d.get("resource_type").cloned();
                docs.retain(|d| resource_type.is_none_or(|t| of(d) == Some(t.name().into())));
                Ok(docs)
            }
        }
    }

    fn sequence(&mut self, kind: SequenceKind) -> Res<i64> {
        Ok(self
            .get(&key(S::Sequences, &[kind.name().as_bytes()]))?
            .unwrap_or(0))
    }
}

impl Tx<WriteTable<'_>> {
    /// Stores `value` under `k`, logging what it replaced while a savepoint is open.
    fn put(&mut self, k: &[u8], value: &[u8]) -> Res {
        let old = self.table.insert(k, value).map_err(storage)?;
        let old = old.map(|v| v.value().to_vec());
        if let Some(undo) = &mut self.undo {
            undo.push((k.to_vec(), old));
        }
        Ok(())
    }

    /// The JSON of a set's or module's document, kept for its audit record.
    fn render(&mut self, doc: &std::sync::Arc<Document>) -> Res<Vec<u8>> {
        let json = self.rendered.render(doc).map(|j| j.as_bytes().to_vec());
        json.map_err(|e| StoreError::Backend(format!("encoding: {e}").into()))
    }
}

/// Writes go to the transaction's table. The domain probed the indexes through this
/// transaction before each insert, and there is one writer: no index of ours can refuse it.
impl BackendTx for Tx<WriteTable<'_>> {
    fn put_sequence(&mut self, kind: SequenceKind, last: i64) -> Res {
        self.put(
            &key(S::Sequences, &[kind.name().as_bytes()]),
            &encode(&last)?,
        )
    }

    fn insert(&mut self, record: Record<'_>) -> Res {
        match record {
            Record::Set(r) => {
                let (biz, set) = (id(r.biz.0), encode(&r.id.0)?);
                self.put(&name_key(r.biz.0, r.parent, &r.name), &set)?;
                for u in &r.unique_keys {
                    self.put(&key(S::UniqueKeys, &[u.storage_key().as_bytes()]), &set)?;
                }
                if r.builtin {
                    self.put(&key(S::Builtin, &[&biz]), &set)?;
                }
                self.rendered.clear();
                let doc = self.render(&r.doc)?;
                self.put(&key(S::Sets, &[&biz, &id(r.id.0)]), &doc)
            }
            Record::Module(m) => {
                let doc = self.render(&m.doc)?;
                self.put(&key(S::Modules, &[&id(m.set.0), &id(m.id.0)]), &doc)
            }
            Record::Audit(a) => {
                let doc = match self.rendered.rendered(&a.cur_data) {
                    Some(raw) => encode(&a.with_rendered_cur_data(raw))?,
                    None => encode(a)?,
                };
                self.put(&key(S::Audit, &[&id(a.biz.0), &id(a.id.0)]), &doc)
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Res {
        self.put(&catalog_key(&entry.key()), &encode(&entry.to_item())?)
    }

    fn savepoint(&mut self) -> Res {
        self.undo = Some(Vec::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Res {
        let none = || StoreError::Backend("no savepoint to roll back to".into());
        for (k, old) in self.undo.take().ok_or_else(none)?.into_iter().rev() {
            let undone = match old {
                Some(v) => self.table.insert(k.as_slice(), v.as_slice()).map(drop),
                None => self.table.remove(k.as_slice()).map(drop),
            };
            undone.map_err(storage)?;
        }
        Ok(())
    }

    fn release_savepoint(&mut self) -> Res {
        self.undo = None;
        Ok(())
    }
}
