//! [`SledTx`]: a [`BackendTx`] over the views of one attempt of a sled transaction.
//!
//! Only point reads and writes: sled transactions cannot iterate, and the domain's writes
//! need none. sled has no savepoints either: a savepoint stages the writes made after it
//! (reads see them), its release hands them to sled's transaction, its rollback drops them.

use std::collections::HashMap;
use std::sync::Arc;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey, Record};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::ids::{AuditId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{AuditRecord, Document, ModuleRecord, RenderedDocs, SetRecord, UniqueKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::IVec;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::catalog;
use crate::codec::{ENCODING_V1, decode, encode, hex};
use crate::error::map_sled_error;
use crate::layout::{T, id_key, pair_key, set_name_key};

/// Writes staged under a savepoint: (tree index, key) → value.
type Staged = HashMap<(usize, Vec<u8>), Vec<u8>>;

/// One attempt of a sled transaction, as a [`BackendTx`].
///
/// A sled conflict is remembered so that the caller can hand it back to sled (which retries the
/// closure) instead of reporting it as the body's error; so is a tree the transaction was not
/// opened over (the caller runs the body again over every tree).
pub(crate) struct SledTx<'a> {
    views: &'a [TransactionalTree],
    conflict: bool,
    /// A tree beyond `views` was asked for.
    widen: bool,
    /// Something was handed to sled's transaction.
    wrote: bool,
    /// While a savepoint is open: the writes made since, by (tree index, key), not yet handed
    /// to sled. sled transactions have no savepoints, so this is the savepoint: releasing it
    /// hands the writes to sled's transaction, rolling back drops them.
    staged: Option<Staged>,
    /// The JSON of the set and modules of the create being inserted, kept for their audit
    /// records (which embed them), so each document is serialised once.
    rendered: RenderedDocs,
}

impl<'a> SledTx<'a> {
    /// A view over `views`, indexed by [`T::index`].
    pub(crate) fn new(views: &'a [TransactionalTree]) -> Self {
        SledTx {
            views,
            conflict: false,
            widen: false,
            wrote: false,
            staged: None,
            rendered: RenderedDocs::default(),
        }
    }

    /// Whether sled reported a conflict during this attempt (the attempt must be retried).
    pub(crate) fn conflicted(&self) -> bool {
        self.conflict
    }

    /// Whether the body asked for a tree this transaction was not opened over: the attempt
    /// must be dropped and run again over every tree.
    pub(crate) fn needs_every_tree(&self) -> bool {
        self.widen
    }

    /// Whether this attempt handed any write to sled's transaction.
    pub(crate) fn wrote(&self) -> bool {
        self.wrote
    }

    /// The view of `t`; an error, remembered, when the transaction was opened over fewer trees
    /// (writes start over [`T::CREATES`] only).
    fn tree(&mut self, t: T) -> Result<&TransactionalTree, StoreError> {
        match self.views.get(t.index()) {
            Some(view) => Ok(view),
            None => {
                self.widen = true;
                Err(StoreError::Backend(
                    format!("tree `{}` is not part of this transaction", t.name()).into(),
                ))
            }
        }
    }

    fn fail(&mut self, error: UnabortableTransactionError) -> StoreError {
        match error {
            UnabortableTransactionError::Conflict => {
                self.conflict = true;
                StoreError::Backend("sled transaction conflict".into())
            }
            UnabortableTransactionError::Storage(e) => map_sled_error(e),
        }
    }

    fn raw_get(&mut self, t: T, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        self.tree(t)?;
        if let Some(value) = self
            .staged
            .as_ref()
            .and_then(|staged| staged.get(&(t.index(), key.to_vec())))
        {
            return Ok(Some(IVec::from(value.as_slice())));
        }
        let got = self.tree(t)?.get(key);
        got.map_err(|e| self.fail(e))
    }

    fn contains(&mut self, t: T, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.raw_get(t, key)?.is_some())
    }

    fn get<V: DeserializeOwned>(&mut self, t: T, key: &[u8]) -> Result<Option<V>, StoreError> {
        match self.raw_get(t, key)? {
            Some(bytes) => decode(t.name(), key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn raw_put(&mut self, t: T, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.tree(t)?;
        if let Some(staged) = self.staged.as_mut() {
            staged.insert((t.index(), key.to_vec()), value);
            return Ok(());
        }
        let inserted = self.tree(t)?.insert(key, value);
        self.wrote = true;
        inserted.map(drop).map_err(|e| self.fail(e))
    }

    fn put<V: Serialize + ?Sized>(
        &mut self,
        t: T,
        key: &[u8],
        value: &V,
    ) -> Result<(), StoreError> {
        let bytes = encode(value)?;
        self.raw_put(t, key, bytes)
    }

    /// Encodes a set's or module's document (as [`encode`] does), keeping its JSON for the
    /// create's audit records.
    fn encode_document(&mut self, doc: &Arc<Document>) -> Result<Vec<u8>, StoreError> {
        let json = self
            .rendered
            .render(doc)
            .map_err(|e| StoreError::Backend(format!("cannot encode a value: {e}").into()))?;
        let mut value = Vec::with_capacity(1 + json.len());
        value.push(ENCODING_V1);
        value.extend_from_slice(json.as_bytes());
        Ok(value)
    }

    /// Fails with [`StoreError::AlreadyExists`] when `key` is present in `t`.
    fn require_free(&mut self, t: T, key: &[u8]) -> Result<(), StoreError> {
        if self.contains(t, key)? {
            Err(StoreError::AlreadyExists(
                format!("tree `{}` key {}", t.name(), hex(key)).into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl SledTx<'_> {
    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        let id = id_key(record.id.0);
        let name_key = set_name_key(record.biz.0, record.parent, &record.name);
        let unique_keys: Vec<String> = record
            .unique_keys
            .iter()
            .map(UniqueKey::storage_key)
            .collect();
        // The name, unique keys and built-in marker were probed by the domain through this
        // same transaction (`commit_plan`), so they are not probed again. The id was not: an id
        // already taken means a sequence went wrong, and is refused rather than overwritten.
        self.require_free(T::Sets, &id)?;
        self.rendered.clear();
        let value = self.encode_document(&record.doc)?;
        self.raw_put(T::Sets, &id, value)?;
        self.raw_put(
            T::SetsByBiz,
            &pair_key(record.biz.0, record.id.0),
            Vec::new(),
        )?;
        self.put(T::SetNames, &name_key, &record.id.0)?;
        for key in &unique_keys {
            self.put(T::SetUnique, key.as_bytes(), &record.id.0)?;
        }
        if record.builtin {
            self.put(T::BuiltinSets, &id_key(record.biz.0), &record.id.0)?;
        }
        Ok(())
    }

    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError> {
        let id = id_key(record.id.0);
        self.require_free(T::Modules, &id)?;
        let value = self.encode_document(&record.doc)?;
        self.raw_put(T::Modules, &id, value)?;
        self.raw_put(
            T::ModulesBySet,
            &pair_key(record.set.0, record.id.0),
            Vec::new(),
        )
    }

    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        let id = id_key(record.id.0);
        self.require_free(T::Audit, &id)?;
        let value = match self.rendered.rendered(&record.cur_data) {
            Some(json) => encode(&record.with_rendered_cur_data(json))?,
            None => encode(record)?,
        };
        self.raw_put(T::Audit, &id, value)?;
        self.put(
            T::AuditByBiz,
            &pair_key(record.biz.0, record.id.0),
            &record.resource_type,
        )
    }
}

/// Point reads see the writes of this transaction, staged ones included.
impl BackendRead for SledTx<'_> {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        let (t, raw_key) = catalog::slot(key);
        match self.raw_get(t, &raw_key)? {
            Some(bytes) => catalog::decode_item(key, t, &raw_key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Not available: sled transactions cannot scan, and the domain's writes list nothing
    /// ([`StoreTx`](cmdb_core::ports::StoreTx) has no list).
    fn catalog_list(&mut self, _list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        Err(no_scan())
    }

    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        let found: Option<i64> = match key {
            IndexKey::Name { biz, parent, name } => {
                self.get(T::SetNames, &set_name_key(biz.0, parent, name))?
            }
            IndexKey::Unique(key) => self.get(T::SetUnique, key.storage_key().as_bytes())?,
            IndexKey::Builtin(biz) => self.get(T::BuiltinSets, &id_key(biz.0))?,
        };
        Ok(found.map(SetId))
    }

    /// Not available: sled transactions cannot scan, and the domain's writes read no
    /// documents.
    fn page(&mut self, _query: DocQuery, _window: Window) -> Result<DocPage, StoreError> {
        Err(no_scan())
    }

    /// Not available: sled transactions cannot scan, and the domain's writes read no log.
    fn audit_after(&mut self, _after: AuditId, _limit: usize) -> Result<Vec<Document>, StoreError> {
        Err(no_scan())
    }

    fn counter(&mut self, counter: Counter) -> Result<i64, StoreError> {
        let name = counter.name();
        Ok(self.get::<i64>(T::Sequences, name.as_bytes())?.unwrap_or(0))
    }
}

fn no_scan() -> StoreError {
    StoreError::Backend("a sled write transaction cannot list or scan".into())
}

impl BackendTx for SledTx<'_> {
    fn put_counter(&mut self, counter: Counter, value: i64) -> Result<(), StoreError> {
        self.put(T::Sequences, counter.name().as_bytes(), &value)
    }

    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError> {
        match record {
            Record::Set(record) => self.insert_set(record),
            Record::Module(record) => self.insert_module(record),
            Record::Audit(record) => self.insert_audit(record),
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        let (t, key, value) = catalog::encode_entry(entry)?;
        self.raw_put(t, &key, value)
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.staged = Some(HashMap::new());
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.staged = None;
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        for ((index, key), value) in self.staged.take().unwrap_or_default() {
            let inserted = self.views[index].insert(key, value);
            self.wrote = true;
            inserted.map_err(|e| self.fail(e))?;
        }
        Ok(())
    }
}
