//! The backend contract over any ordered map of byte keys: [`KvTx`] answers [`BackendRead`] and
//! [`BackendTx`] for an engine that can only get, insert, remove and walk keys in order (redb's
//! one table; any B-tree or LSM engine), with the layout of every record, index, counter and
//! catalog object in one key space, savepoints as an undo log, and the layout's upgrades.
//!
//! A key's first byte is its space:
//!
//! | space | key after it | value (JSON) |
//! |---|---|---|
//! | `_` | — | the marker `[format name, version]` ([`KvTx::marker`]) |
//! | `q` | a [`Counter`]'s name | its value: a sequence's last id or a listing's size |
//! | `s` | biz, set id | the set's document |
//! | `n` | biz, parent, name | the set's id |
//! | `u` | the unique key's `storage_key` | the set's id |
//! | `b` | biz | its built-in set's id |
//! | `m` | set id, module id | the module's document |
//! | `a` | biz, audit id | the audit document |
//! | `e` | audit id | its biz (the event log, in commit order) |
//! | `c` | the JSON of the `CatalogKey` (`{"Business":1}`) | the JSON of the `CatalogItem` |
//!
//! Ids are 8 bytes big-endian with the sign bit flipped, so key order is id order and the sets
//! or audit records of a biz, or the modules of a set, are one range.

use std::collections::BTreeMap;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::ids::{AuditId, BizId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{Document, ResourceType};
use serde::de::DeserializeOwned;

/// The newest layout version [`KvTx`] reads and writes. Version 2 added the event log (`e`),
/// version 3 the listing counters; [`KvTx::upgrade`] brings older maps to it.
pub const LAYOUT_VERSION: i64 = 3;

type Res<V = ()> = Result<V, StoreError>;

/// What [`KvRead::scan`] calls with each entry (key, value); `false` stops the walk.
pub type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StoreError> + 'v;

/// A snapshot of an ordered map of byte keys.
pub trait KvRead {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>>;

    /// Calls `visit` with each entry from `from` on, in key order, until it answers `false`
    /// or the map ends.
    fn scan(&self, from: &[u8], visit: &mut Visit<'_>) -> Res;
}

/// A write transaction of an ordered map of byte keys.
pub trait KvWrite: KvRead {
    /// Stores `value` under `key`, answering the value it replaced.
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Res<Option<Vec<u8>>>;

    /// Removes `key` (absent is fine).
    fn remove(&mut self, key: &[u8]) -> Res;
}

/// Each write's key and the value it replaced (`None`: absent).
type Undo = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A map's transaction as a backend's: the layout above, and while a savepoint is open, the
/// value each write replaced (a rollback puts them back, newest first).
#[derive(Debug)]
pub struct KvTx<T> {
    kv: T,
    undo: Option<Undo>,
}

/// The field of an audit record that the reads by type look at.
#[derive(serde::Deserialize)]
struct Of {
    resource_type: ResourceType,
}

/// The key of the format marker.
const MARKER: &[u8] = b"_";

fn key(space: u8, parts: &[&[u8]]) -> Vec<u8> {
    [&[space][..], &parts.concat()].concat()
}

/// An id as a key part that sorts as the number does.
fn id(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The biz of an `s` or `a` key (space, biz, id).
fn biz_of(k: &[u8]) -> Option<BizId> {
    let bytes = k.get(1..9)?.try_into().ok()?;
    Some(BizId((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64))
}

/// The key of an index entry: `n` a name under its parent, `u` a unique key, `b` a built-in set.
fn index_key(index: IndexKey<'_>) -> Vec<u8> {
    match index {
        IndexKey::Name { biz, parent, name } => {
            key(b'n', &[&id(biz.0), &id(parent), name.as_bytes()])
        }
        IndexKey::Unique(u) => key(b'u', &[u.storage_key().as_bytes()]),
        IndexKey::Builtin(biz) => key(b'b', &[&id(biz.0)]),
    }
}

fn counter_key(counter: Counter) -> Vec<u8> {
    key(b'q', &[counter.name().as_bytes()])
}

fn json<V: DeserializeOwned>(key: &[u8], value: &[u8]) -> Res<V> {
    let corrupt = |e| StoreError::Corrupt(format!("key {key:02x?}: {e}").into());
    serde_json::from_slice(value).map_err(corrupt)
}

fn encode(value: &impl serde::Serialize) -> Res<Vec<u8>> {
    let failed = |e| StoreError::Backend(format!("encoding: {e}").into());
    serde_json::to_vec(value).map_err(failed)
}

impl<T> KvTx<T> {
    /// The map's transaction, no savepoint open.
    pub fn new(kv: T) -> Self {
        KvTx { kv, undo: None }
    }
}

impl<T: KvRead> KvTx<T> {
    fn get<V: DeserializeOwned>(&self, k: &[u8]) -> Res<Option<V>> {
        self.kv.get(k)?.map(|v| json(k, &v)).transpose()
    }

    /// The format marker: the name and layout version written by [`KvTx::write_marker`], or
    /// `None` when the map has none (not a store of this layout).
    pub fn marker(&self) -> Res<Option<(String, i64)>> {
        self.get(MARKER)
    }

    /// Calls `visit` with each entry under `prefix`, in key order, until it answers `false`.
    fn walk(&self, prefix: &[u8], mut visit: impl FnMut(&[u8], &[u8]) -> Res<bool>) -> Res {
        self.kv.scan(
            prefix,
            &mut |k, v| Ok(k.starts_with(prefix) && visit(k, v)?),
        )
    }

    /// The count of the values under `prefix` that `keep` accepts (by their bytes), and the
    /// page `window` of them, decoded (the others are not); with a `known` count, the walk
    /// stops at the page's end.
    fn range<V: DeserializeOwned>(
        &self,
        prefix: &[u8],
        (window, known): (Window, Option<usize>),
        keep: impl Fn(&[u8]) -> Res<bool>,
    ) -> Res<(usize, Vec<V>)> {
        let (mut count, mut page) = (0, Vec::new());
        let end = window.start.saturating_add(window.limit);
        self.walk(prefix, |k, v| {
            if known.is_some() && count >= end {
                return Ok(false);
            }
            if keep(v)? {
                if count >= window.start && page.len() < window.limit {
                    page.push(json(k, v)?);
                }
                count += 1;
            }
            Ok(true)
        })?;
        Ok((known.unwrap_or(count), page))
    }
}

impl<T: KvWrite> KvTx<T> {
    /// Stores `value` under `k`, logging what it replaced while a savepoint is open.
    fn put(&mut self, k: &[u8], value: &[u8]) -> Res {
        let old = self.kv.insert(k, value)?;
        if let Some(undo) = &mut self.undo {
            undo.push((k.to_vec(), old));
        }
        Ok(())
    }

    /// Writes the format marker `[name, LAYOUT_VERSION]`.
    pub fn write_marker(&mut self, name: &str) -> Res {
        self.put(MARKER, &encode(&(name, LAYOUT_VERSION))?)
    }

    /// Brings a map of layout `version` to [`LAYOUT_VERSION`] and writes the marker: version 1
    /// lacks the event log (`e` from each `a` key), version 2 the listing counters (counted
    /// from the `s` and `a` keys). Nothing to do at the current version.
    pub fn upgrade(&mut self, name: &str, version: i64) -> Res {
        if version >= LAYOUT_VERSION {
            return Ok(());
        }
        let (mut counts, mut events) = (BTreeMap::new(), Vec::new());
        self.walk(b"a", |k, v| {
            let biz = biz_of(k).filter(|_| k.len() == 17);
            let Some(biz) = biz else { return Ok(true) };
            let of: Of = json(k, v)?;
            *counts
                .entry(Counter::Audit(biz, of.resource_type))
                .or_insert(0) += 1;
            events.push((key(b'e', &[&k[9..]]), encode(&biz.0)?));
            Ok(true)
        })?;
        self.walk(b"s", |k, _| {
            if let Some(biz) = biz_of(k).filter(|_| k.len() == 17) {
                *counts.entry(Counter::Sets(biz)).or_insert(0) += 1;
            }
            Ok(true)
        })?;
        for (k, biz) in events.iter().filter(|_| version < 2) {
            self.put(k, biz)?;
        }
        for (counter, n) in counts {
            self.put_counter(counter, n)?;
        }
        self.write_marker(name)
    }
}

impl<T: KvRead> BackendRead for KvTx<T> {
    fn catalog_get(&mut self, k: &CatalogKey) -> Res<Option<CatalogItem>> {
        self.get(&key(b'c', &[&encode(k)?]))
    }

    /// The catalog keys (JSON) starting `{"Attribute":{"supplier_account":"…"`, in order.
    fn catalog_list(&mut self, list: CatalogList<'_>) -> Res<Vec<CatalogItem>> {
        let (kind, tenant) = match list {
            CatalogList::Attributes { supplier_account } => ("Attribute", supplier_account),
            CatalogList::UniqueRules { supplier_account } => ("UniqueRule", supplier_account),
        };
        let tenant = serde_json::Value::from(tenant);
        let prefix = format!(r#"{{"{kind}":{{"supplier_account":{tenant}"#);
        let all = (Window::ALL, None);
        Ok(self
            .range(&key(b'c', &[prefix.as_bytes()]), all, |_| Ok(true))?
            .1)
    }

    fn probe(&mut self, index: IndexKey<'_>) -> Res<Option<SetId>> {
        Ok(self.get(&index_key(index))?.map(SetId))
    }

    fn page(&mut self, query: DocQuery, window: Window) -> Res<DocPage> {
        let all = |_: &[u8]| Ok(true);
        let window = (window, self.listing_count(query)?);
        let (count, docs) = match query {
            DocQuery::Sets { biz, set: Some(s) } => {
                self.range(&key(b's', &[&id(biz.0), &id(s.0)]), window, all)?
            }
            DocQuery::Sets { biz, set: None } => {
                self.range(&key(b's', &[&id(biz.0)]), window, all)?
            }
            DocQuery::Modules { set } => self.range(&key(b'm', &[&id(set.0)]), window, all)?,
            DocQuery::Audit { biz, resource_type } => {
                let of_type = |v: &[u8]| -> Res<bool> {
                    let of: Of = json(b"a", v)?;
                    Ok(resource_type.is_none_or(|t| t == of.resource_type))
                };
                self.range(&key(b'a', &[&id(biz.0)]), window, of_type)?
            }
        };
        Ok(DocPage { count, docs })
    }

    /// A range of the event log (`e` audit id → biz), each record read from its `a` key.
    fn audit_after(&mut self, after: AuditId, limit: usize) -> Res<Vec<Document>> {
        let mut events = Vec::new();
        let from = key(b'e', &[&id(after.0.saturating_add(1))]);
        self.kv.scan(&from, &mut |k, v| {
            if events.len() >= limit || !k.starts_with(b"e") {
                return Ok(false);
            }
            events.push((k[1..].to_vec(), json::<i64>(k, v)?));
            Ok(true)
        })?;
        let event_record = |(audit, biz): (Vec<u8>, i64)| {
            let record = self.get(&key(b'a', &[&id(biz), &audit]))?;
            let lost = || format!("the event {audit:02x?} has no audit record").into();
            record.ok_or_else(|| StoreError::Corrupt(lost()))
        };
        events.into_iter().map(event_record).collect()
    }

    fn counter(&mut self, counter: Counter) -> Res<i64> {
        Ok(self.get(&counter_key(counter))?.unwrap_or(0))
    }
}

/// The domain probed the indexes through this transaction before each insert, and there is
/// one writer: no index here can refuse one.
impl<T: KvWrite> BackendTx for KvTx<T> {
    fn put_counter(&mut self, counter: Counter, value: i64) -> Res {
        self.put(&counter_key(counter), &encode(&value)?)
    }

    fn insert(&mut self, record: Record<'_>) -> Res {
        match record {
            Record::Set(r) => {
                let set = encode(&r.id.0)?;
                for index in r.index_keys() {
                    self.put(&index_key(index), &set)?;
                }
                self.put(&key(b's', &[&id(r.biz.0), &id(r.id.0)]), &encode(&*r.doc)?)
            }
            Record::Module(m) => {
                let doc = encode(&*m.doc)?;
                self.put(&key(b'm', &[&id(m.set.0), &id(m.id.0)]), &doc)
            }
            Record::Audit(a) => {
                self.put(&key(b'e', &[&id(a.id.0)]), &encode(&a.biz.0)?)?;
                self.put(&key(b'a', &[&id(a.biz.0), &id(a.id.0)]), &encode(a)?)
            }
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Res {
        let k = key(b'c', &[&encode(&entry.key())?]);
        self.put(&k, &encode(&entry.to_item())?)
    }

    fn savepoint(&mut self) -> Res {
        self.undo = Some(Vec::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Res {
        let none = || StoreError::Backend("no savepoint to roll back to".into());
        for (k, old) in self.undo.take().ok_or_else(none)?.into_iter().rev() {
            match old {
                Some(v) => self.kv.insert(&k, &v).map(drop)?,
                None => self.kv.remove(&k)?,
            }
        }
        Ok(())
    }

    fn release_savepoint(&mut self) -> Res {
        self.undo = None;
        Ok(())
    }
}
