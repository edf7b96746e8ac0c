//! The key layout (the crate doc) and [`Tx`]: the reads of a snapshot or of a write
//! transaction, and the writes of one, with the undo log that makes its savepoints.

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::records::{Document, RenderedDocs};
use redb::{ReadableTable, Table, TableDefinition};
use serde::de::DeserializeOwned;

/// The one table: byte keys (a key space byte first) to JSON values.
pub(crate) const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cmdb");
type Res<V = ()> = Result<V, StoreError>;

/// A key: the space byte, then the parts.
pub(crate) fn key(space: u8, parts: &[&[u8]]) -> Vec<u8> {
    [&[space][..], &parts.concat()].concat()
}

/// An id as a key part that sorts as the number does.
fn id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// A catalog object's key: the JSON of its [`CatalogKey`] (`{"Business":1}`).
fn catalog_key(k: &CatalogKey) -> Res<Vec<u8>> {
    Ok(key(b'c', &[&encode(k)?]))
}

pub(crate) fn json<V: DeserializeOwned>(key: &[u8], value: &[u8]) -> Res<V> {
    let corrupt = |e| StoreError::Corrupt(format!("redb key {key:02x?}: {e}").into());
    serde_json::from_slice(value).map_err(corrupt)
}

fn encode(value: &impl serde::Serialize) -> Res<Vec<u8>> {
    let failed = |e| StoreError::Backend(format!("encoding: {e}").into());
    serde_json::to_vec(value).map_err(failed)
}

/// A failure of redb itself.
pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    let e = e.into();
    StoreError::Backend(cmdb_core::error::Detail::caused_by(format!("redb: {e}"), e))
}

fn name_key(biz: i64, parent: i64, name: &str) -> Vec<u8> {
    key(b'n', &[&id(biz), &id(parent), name.as_bytes()])
}

fn seq_key(kind: SequenceKind) -> Vec<u8> {
    key(b'q', &[kind.name().as_bytes()])
}

/// The open table of a snapshot (`R` = [`redb::ReadOnlyTable`]) or of a write transaction
/// (`R` = [`Table`]), and for the latter, while a savepoint is open, each write's key and the
/// value it replaced (`None`: absent), and the JSON of the current create's set and modules,
/// for its audit records.
pub(crate) struct Tx<R>(R, Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>, RenderedDocs);

impl<R: ReadableTable<&'static [u8], &'static [u8]>> Tx<R> {
    pub(crate) fn new(table: R) -> Self {
        Tx(table, None, RenderedDocs::default())
    }

    /// The value under `k`, decoded.
    pub(crate) fn get<V: DeserializeOwned>(&self, k: &[u8]) -> Res<Option<V>> {
        let found = self.0.get(k).map_err(storage)?;
        found.map(|v| json(k, v.value())).transpose()
    }

    /// Every value whose key starts with `prefix`, decoded, in key order.
    fn scan<V: DeserializeOwned>(&self, prefix: &[u8]) -> Res<Vec<V>> {
        let mut out = Vec::new();
        for entry in self.0.range(prefix..).map_err(storage)? {
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
        self.get(&catalog_key(k)?)
    }

    /// A range: the key of the tenant's object with an empty name, less its closing `"}}`.
    fn catalog_list(&mut self, list: CatalogList<'_>) -> Res<Vec<CatalogItem>> {
        let first = match list {
            CatalogList::Attributes {
                supplier_account: s,
            } => CatalogKey::Attribute {
                supplier_account: s.to_owned(),
                property_id: String::new(),
            },
            CatalogList::UniqueRules {
                supplier_account: s,
            } => CatalogKey::UniqueRule {
                supplier_account: s.to_owned(),
                key: String::new(),
            },
        };
        let prefix = catalog_key(&first)?;
        self.scan(&prefix[..prefix.len() - 3])
    }

    fn probe(&mut self, index: IndexKey<'_>) -> Res<Option<SetId>> {
        let k = match index {
            IndexKey::Name { biz, parent, name } => name_key(biz.0, parent, name),
            IndexKey::Unique(u) => key(b'u', &[u.storage_key().as_bytes()]),
            IndexKey::Builtin(biz) => key(b'b', &[&id(biz.0)]),
        };
        Ok(self.get(&k)?.map(SetId))
    }

    fn documents(&mut self, query: DocQuery) -> Res<Vec<Document>> {
        match query {
            DocQuery::Sets { biz, set: Some(s) } => {
                let found = self.get(&key(b's', &[&id(biz.0), &id(s.0)]))?;
                Ok(found.into_iter().collect())
            }
            DocQuery::Sets { biz, set: None } => self.scan(&key(b's', &[&id(biz.0)])),
            DocQuery::Modules { set } => self.scan(&key(b'm', &[&id(set.0)])),
            DocQuery::Audit { biz, resource_type } => {
                let mut docs: Vec<Document> = self.scan(&key(b'a', &[&id(biz.0)]))?;
                let of = |d: &Document| d.get("resource_type").cloned();
                docs.retain(|d| resource_type.is_none_or(|t| of(d) == Some(t.name().into())));
                Ok(docs)
            }
        }
    }

    fn sequence(&mut self, kind: SequenceKind) -> Res<i64> {
        Ok(self.get(&seq_key(kind))?.unwrap_or(0))
    }
}

type WriteTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

impl Tx<WriteTable<'_>> {
    /// Stores `value` under `k`, logging what it replaced while a savepoint is open.
    fn put(&mut self, k: &[u8], value: &[u8]) -> Res {
        let old = self.0.insert(k, value).map_err(storage)?;
        let old = old.map(|v| v.value().to_vec());
        if let Some(undo) = &mut self.1 {
            undo.push((k.to_vec(), old));
        }
        Ok(())
    }

    /// The JSON of a set's or module's document, kept for its audit record.
    fn render(&mut self, doc: &std::sync::Arc<Document>) -> Res<Vec<u8>> {
        let json = self.2.render(doc).map(|j| j.as_bytes().to_vec());
        json.map_err(|e| StoreError::Backend(format!("encoding: {e}").into()))
    }
}

/// The domain probed the indexes through this transaction before each insert, and there is
/// one writer: no index here can refuse one.
impl BackendTx for Tx<WriteTable<'_>> {
    fn put_sequence(&mut self, kind: SequenceKind, last: i64) -> Res {
        self.put(&seq_key(kind), &encode(&last)?)
    }

    fn insert(&mut self, record: Record<'_>) -> Res {
        match record {
            Record::Set(r) => {
                let (biz, set) = (id(r.biz.0), encode(&r.id.0)?);
                self.put(&name_key(r.biz.0, r.parent, &r.name), &set)?;
                for u in &r.unique_keys {
                    self.put(&key(b'u', &[u.storage_key().as_bytes()]), &set)?;
                }
                if r.builtin {
                    self.put(&key(b'b', &[&biz]), &set)?;
                }
                self.2.clear();
                let doc = self.render(&r.doc)?;
                self.put(&key(b's', &[&biz, &id(r.id.0)]), &doc)
            }
            Record::Module(m) => {
                let doc = self.render(&m.doc)?;
                self.put(&key(b'm', &[&id(m.set.0), &id(m.id.0)]), &doc)
            }
            Record::Audit(a) => {
                let doc = match self.2.rendered(&a.cur_data) {
                    Some(raw) => encode(&a.with_rendered_cur_data(raw))?,
                    None => encode(a)?,
                };
                self.put(&key(b'a', &[&id(a.biz.0), &id(a.id.0)]), &doc)
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Res {
        self.put(&catalog_key(&entry.key())?, &encode(&entry.to_item())?)
    }

    fn savepoint(&mut self) -> Res {
        self.1 = Some(Vec::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Res {
        let none = || StoreError::Backend("no savepoint to roll back to".into());
        for (k, old) in self.1.take().ok_or_else(none)?.into_iter().rev() {
            let undone = match old {
                Some(v) => self.0.insert(k.as_slice(), v.as_slice()).map(drop),
                None => self.0.remove(k.as_slice()).map(drop),
            };
            undone.map_err(storage)?;
        }
        Ok(())
    }

    fn release_savepoint(&mut self) -> Res {
        self.1 = None;
        Ok(())
    }
}
