//! The table layout and [`Tx`]: the reads of a snapshot or of a write transaction, and the
//! writes of one, with the undo log that makes its savepoints.

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::records::{Document, RenderedDocs, ResourceType, UniqueKey};
use redb::{ReadableTable, Table, TableDefinition};

/// Every table maps byte keys to byte values.
pub(crate) type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// The tables, indexed by [`T`].
pub(crate) const TABLES: [Def; 9] = [
    Def::new("meta"),
    Def::new("sequences"),
    Def::new("catalog"),
    Def::new("sets"),
    Def::new("set_names"),
    Def::new("unique_keys"),
    Def::new("builtin_sets"),
    Def::new("modules"),
    Def::new("audit"),
];

/// A table of [`TABLES`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum T {
    /// `format` → [`crate::FORMAT_NAME`], `version` → i64.
    Meta,
    /// [`SequenceKind::name`] → the last id (i64).
    Sequences,
    /// [`catalog_key`] → the object's JSON.
    Catalog,
    /// (biz, set id) → the set's document.
    Sets,
    /// (biz, parent, name) → set id.
    SetNames,
    /// [`UniqueKey::storage_key`] → set id.
    UniqueKeys,
    /// biz → its built-in set's id.
    Builtin,
    /// (set id, module id) → the module's document.
    Modules,
    /// (biz, audit id) → resource type byte, then the audit document.
    Audit,
}

/// An id as a key that sorts as the number does.
fn id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn pair(a: i64, b: i64) -> Vec<u8> {
    [id(a), id(b)].concat()
}

/// A catalog tag and a tenant, length-prefixed so that one tenant is never a prefix of another.
fn tenant(tag: u8, supplier_account: &str) -> Vec<u8> {
    let mut key = vec![tag];
    key.extend((supplier_account.len() as u32).to_be_bytes());
    key.extend(supplier_account.as_bytes());
    key
}

/// The catalog table's key of `key`: a kind tag, then the kind's identity.
pub(crate) fn catalog_key(key: &CatalogKey) -> Vec<u8> {
    let tagged = |tag: u8, v: i64| [&[tag][..], &id(v)].concat();
    match key {
        CatalogKey::Mainline(sup) => tenant(0, sup),
        CatalogKey::Business(biz) => tagged(1, biz.0),
        CatalogKey::MainlineInstance(i) => tagged(2, *i),
        CatalogKey::Attribute {
            supplier_account,
            property_id: rest,
        }
        | CatalogKey::UniqueRule {
            supplier_account,
            key: rest,
        } => {
            let tag = if matches!(key, CatalogKey::Attribute { .. }) {
                3
            } else {
                4
            };
            [tenant(tag, supplier_account), rest.as_bytes().to_vec()].concat()
        }
        CatalogKey::ServiceTemplate(i) => tagged(5, *i),
        CatalogKey::SetTemplate(i) => tagged(6, *i),
    }
}

fn encode_entry(entry: CatalogEntry<'_>) -> Result<Vec<u8>, serde_json::Error> {
    match entry {
        CatalogEntry::Mainline { levels, .. } => serde_json::to_vec(levels),
        CatalogEntry::Business(v) => serde_json::to_vec(v),
        CatalogEntry::MainlineInstance(v) => serde_json::to_vec(v),
        CatalogEntry::Attribute(v) => serde_json::to_vec(v),
        CatalogEntry::UniqueRule(v) => serde_json::to_vec(v),
        CatalogEntry::ServiceTemplate(v) => serde_json::to_vec(v),
        CatalogEntry::SetTemplate(v) => serde_json::to_vec(v),
    }
}

fn corrupt(table: T, key: &[u8], what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("redb table {table:?} key {key:02x?}: {what}").into())
}

fn json<V: serde::de::DeserializeOwned>(t: T, key: &[u8], value: &[u8]) -> Result<V, StoreError> {
    serde_json::from_slice(value).map_err(|e| corrupt(t, key, e))
}

/// The catalog object stored under the raw `key`, decoded by the key's kind tag.
fn decode_item(key: &[u8], v: &[u8]) -> Result<CatalogItem, StoreError> {
    let c = T::Catalog;
    Ok(match key.first() {
        Some(0) => CatalogItem::Mainline(json(c, key, v)?),
        Some(1) => CatalogItem::Business(json(c, key, v)?),
        Some(2) => CatalogItem::MainlineInstance(json(c, key, v)?),
        Some(3) => CatalogItem::Attribute(json(c, key, v)?),
        Some(4) => CatalogItem::UniqueRule(json(c, key, v)?),
        Some(5) => CatalogItem::ServiceTemplate(json(c, key, v)?),
        Some(6) => CatalogItem::SetTemplate(json(c, key, v)?),
        _ => return Err(corrupt(c, key, "unknown kind tag")),
    })
}

fn decode_i64(table: T, key: &[u8], value: &[u8]) -> Result<i64, StoreError> {
    let bytes = value
        .try_into()
        .map_err(|_| corrupt(table, key, "not an i64"))?;
    Ok(i64::from_be_bytes(bytes))
}

/// A failure of redb itself.
pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(m) => StoreError::Corrupt(format!("redb: {m}").into()),
        e => StoreError::Backend(cmdb_core::error::Detail::caused_by(format!("redb: {e}"), e)),
    }
}

fn exists(what: String) -> StoreError {
    StoreError::AlreadyExists(what.into())
}

/// One undone write: the table, the key and the value it replaced (none: it was absent).
type Undo = (T, Vec<u8>, Option<Vec<u8>>);

/// The open tables of a snapshot (`R` = [`redb::ReadOnlyTable`]) or of a write transaction
/// (`R` = [`Table`]), with what a write transaction keeps besides.
pub(crate) struct Tx<R> {
    tables: Vec<R>,
    /// The writes since the open savepoint, while one is open.
    undo: Option<Vec<Undo>>,
    /// The JSON of the current create's set and modules, for its audit records.
    rendered: RenderedDocs,
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> Tx<R> {
    pub(crate) fn new(tables: Vec<R>) -> Self {
        Tx {
            tables,
            undo: None,
            rendered: RenderedDocs::default(),
        }
    }

    fn get(&self, t: T, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let found = self.tables[t as usize].get(key).map_err(storage)?;
        Ok(found.map(|v| v.value().to_vec()))
    }

    /// Calls `each` with every entry of `t` whose key starts with `prefix`, in key order.
    fn scan(
        &self,
        t: T,
        prefix: &[u8],
        mut each: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for entry in self.tables[t as usize].range(prefix..).map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            each(key.value(), value.value())?;
        }
        Ok(())
    }

    /// The documents under `prefix` of `t`; in the audit table (`tagged`), only those whose
    /// tag is `want`, if given.
    fn docs(
        &self,
        t: T,
        prefix: &[u8],
        tagged: bool,
        want: Option<u8>,
    ) -> Result<Vec<Document>, StoreError> {
        let mut out = Vec::new();
        self.scan(t, prefix, |key, value| {
            let doc = match value.split_first() {
                _ if !tagged => value,
                Some((tag, _)) if want.is_some_and(|w| w != *tag) => return Ok(()),
                Some((_, doc)) => doc,
                None => return Err(corrupt(t, key, "empty value")),
            };
            out.push(json(t, key, doc)?);
            Ok(())
        })?;
        Ok(out)
    }
}

fn name_key(biz: i64, parent: i64, name: &str) -> Vec<u8> {
    [pair(biz, parent), name.as_bytes().to_vec()].concat()
}

/// The byte an audit row starts with.
fn audit_tag(resource_type: ResourceType) -> u8 {
    match resource_type {
        ResourceType::Set => 0,
        ResourceType::Module => 1,
    }
}

impl<R: ReadableTable<&'static [u8], &'static [u8]>> BackendRead for Tx<R> {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        let key = catalog_key(key);
        self.get(T::Catalog, &key)?
            .map(|value| decode_item(&key, &value))
            .transpose()
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        let prefix = match list {
            CatalogList::Attributes { supplier_account } => tenant(3, supplier_account),
            CatalogList::UniqueRules { supplier_account } => tenant(4, supplier_account),
        };
        let mut out = Vec::new();
        self.scan(T::Catalog, &prefix, |key, value| {
            out.push(decode_item(key, value)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        let (t, key) = match key {
            IndexKey::Name { biz, parent, name } => (T::SetNames, name_key(biz.0, parent, name)),
            IndexKey::Unique(key) => (T::UniqueKeys, key.storage_key().into_bytes()),
            IndexKey::Builtin(biz) => (T::Builtin, id(biz.0).to_vec()),
        };
        let found = self.get(t, &key)?;
        found
            .map(|v| decode_i64(t, &key, &v).map(SetId))
            .transpose()
    }

    fn documents(&mut self, query: DocQuery) -> Result<Vec<Document>, StoreError> {
        match query {
            DocQuery::Sets { biz, set: Some(s) } => {
                let key = pair(biz.0, s.0);
                let found = self.get(T::Sets, &key)?;
                found
                    .map(|v| json::<Document>(T::Sets, &key, &v))
                    .into_iter()
                    .collect()
            }
            DocQuery::Sets { biz, set: None } => self.docs(T::Sets, &id(biz.0), false, None),
            DocQuery::Modules { set } => self.docs(T::Modules, &id(set.0), false, None),
            DocQuery::Audit { biz, resource_type } => {
                self.docs(T::Audit, &id(biz.0), true, resource_type.map(audit_tag))
            }
        }
    }

    fn sequence(&mut self, kind: SequenceKind) -> Result<i64, StoreError> {
        let key = kind.name().as_bytes();
        let found = self.get(T::Sequences, key)?;
        found.map_or(Ok(0), |v| decode_i64(T::Sequences, key, &v))
    }
}

/// A write transaction's tables.
pub(crate) type WriteTables<'t> = Table<'t, &'static [u8], &'static [u8]>;

impl Tx<WriteTables<'_>> {
    /// Stores `value` under `key`, logging what it replaced while a savepoint is open.
    fn put(&mut self, t: T, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let old = self.tables[t as usize]
            .insert(key, value)
            .map_err(storage)?;
        let old = old.map(|v| v.value().to_vec());
        if let Some(undo) = &mut self.undo {
            undo.push((t, key.to_vec(), old));
        }
        Ok(())
    }

    /// Stores a new row; refuses a key that is taken.
    fn put_new(&mut self, t: T, key: &[u8], value: &[u8], what: &str) -> Result<(), StoreError> {
        if self.get(t, key)?.is_some() {
            return Err(exists(what.to_owned()));
        }
        self.put(t, key, value)
    }

    fn insert_set(&mut self, r: &cmdb_core::records::SetRecord) -> Result<(), StoreError> {
        let name = name_key(r.biz.0, r.parent, &r.name);
        let unique: Vec<String> = r.unique_keys.iter().map(UniqueKey::storage_key).collect();
        if self.get(T::SetNames, &name)?.is_some() {
            let (n, p, b) = (&r.name, r.parent, r.biz);
            return Err(exists(format!(
                "set name {n:?} under parent {p} of biz {b}"
            )));
        }
        for (i, key) in unique.iter().enumerate() {
            if unique[..i].contains(key) || self.get(T::UniqueKeys, key.as_bytes())?.is_some() {
                let k = &r.unique_keys[i];
                return Err(exists(format!(
                    "unique key [{}] {}",
                    k.fields.join(","),
                    k.values
                )));
            }
        }
        if r.builtin && self.get(T::Builtin, &id(r.biz.0))?.is_some() {
            return Err(exists(format!("built-in set of biz {}", r.biz)));
        }
        self.rendered.clear();
        let json = self
            .rendered
            .render(&r.doc)
            .map_err(encoding)?
            .as_bytes()
            .to_vec();
        self.put_new(
            T::Sets,
            &pair(r.biz.0, r.id.0),
            &json,
            &format!("set {}", r.id),
        )?;
        let set = r.id.0.to_be_bytes();
        self.put(T::SetNames, &name, &set)?;
        for key in &unique {
            self.put(T::UniqueKeys, key.as_bytes(), &set)?;
        }
        if r.builtin {
            self.put(T::Builtin, &id(r.biz.0), &set)?;
        }
        Ok(())
    }
}

fn encoding(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("cannot encode a value: {e}").into())
}

impl BackendTx for Tx<WriteTables<'_>> {
    fn put_sequence(&mut self, kind: SequenceKind, last: i64) -> Result<(), StoreError> {
        self.put(T::Sequences, kind.name().as_bytes(), &last.to_be_bytes())
    }

    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError> {
        match record {
            Record::Set(r) => self.insert_set(r),
            Record::Module(m) => {
                let json = self
                    .rendered
                    .render(&m.doc)
                    .map_err(encoding)?
                    .as_bytes()
                    .to_vec();
                let what = format!("module {}", m.id);
                self.put_new(T::Modules, &pair(m.set.0, m.id.0), &json, &what)
            }
            Record::Audit(a) => {
                let mut row = vec![audit_tag(a.resource_type)];
                match self.rendered.rendered(&a.cur_data) {
                    Some(raw) => serde_json::to_writer(&mut row, &a.with_rendered_cur_data(raw)),
                    None => serde_json::to_writer(&mut row, a),
                }
                .map_err(encoding)?;
                let what = format!("audit record {}", a.id);
                self.put_new(T::Audit, &pair(a.biz.0, a.id.0), &row, &what)
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        let value = encode_entry(entry).map_err(encoding)?;
        self.put(T::Catalog, &catalog_key(&entry.key()), &value)
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.undo = Some(Vec::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let undo = self
            .undo
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        for (t, key, old) in undo.into_iter().rev() {
            let table = &mut self.tables[t as usize];
            match old {
                Some(v) => drop(
                    table
                        .insert(key.as_slice(), v.as_slice())
                        .map_err(storage)?,
                ),
                None => drop(table.remove(key.as_slice()).map_err(storage)?),
            }
        }
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.undo = None;
        Ok(())
    }
}
