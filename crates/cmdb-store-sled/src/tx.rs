//! [`SledTx`]: the domain's [`StoreTx`] over the views of one open sled transaction.
//!
//! Only point reads and writes: sled transactions cannot iterate, and the domain needs none.

use cmdb_core::StoreError;
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{BizId, IdRange, Sequence, SequenceKind, SetId};
use std::collections::HashMap;
use std::sync::Arc;

use cmdb_core::ports::{GroupTx, StoreTx};
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

/// One attempt of a sled transaction, seen through the domain's [`StoreTx`].
///
/// A sled conflict is remembered so that the caller can hand it back to sled (which retries the
/// closure) instead of reporting it as the domain's error.
pub(crate) struct SledTx<'a> {
    views: &'a [TransactionalTree],
    conflict: bool,
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
            staged: None,
            rendered: RenderedDocs::default(),
        }
    }

    /// Whether sled reported a conflict during this attempt (the attempt must be retried).
    pub(crate) fn conflicted(&self) -> bool {
        self.conflict
    }

    /// The view of `t`; an error when the transaction was opened over fewer trees (a store bug:
    /// creates open theirs over [`T::CREATES`] only).
    fn tree(&self, t: T) -> Result<&TransactionalTree, StoreError> {
        self.views.get(t.index()).ok_or_else(|| {
            StoreError::Backend(
                format!("tree `{}` is not part of this transaction", t.name()).into(),
            )
        })
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
        if let Some(value) = self
            .staged
            .as_ref()
            .and_then(|staged| staged.get(&(t.index(), key.to_vec())))
        {
            return Ok(Some(IVec::from(value.as_slice())));
        }
        self.tree(t)?.get(key).map_err(|e| self.fail(e))
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
        if let Some(staged) = self.staged.as_mut() {
            staged.insert((t.index(), key.to_vec()), value);
            return Ok(());
        }
        self.tree(t)?
            .insert(key, value)
            .map(drop)
            .map_err(|e| self.fail(e))
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

    fn sequence(&mut self, kind: SequenceKind) -> Result<Sequence, StoreError> {
        let last: Option<i64> = self.get(T::Sequences, kind.name().as_bytes())?;
        Ok(Sequence::from_last(last.unwrap_or(0)))
    }

    fn put_sequence(&mut self, kind: SequenceKind, sequence: Sequence) -> Result<(), StoreError> {
        self.put(T::Sequences, kind.name().as_bytes(), &sequence.last())
    }
}

impl GroupTx for SledTx<'_> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.staged = Some(HashMap::new());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        for ((index, key), value) in self.staged.take().unwrap_or_default() {
            self.views[index]
                .insert(key, value)
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.staged = None;
        Ok(())
    }
}

impl StoreTx for SledTx<'_> {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        let mut sequence = self.sequence(kind)?;
        let range = sequence
            .take(count)
            .map_err(|e| StoreError::Backend(format!("{} {e}", kind.name()).into()))?;
        if count > 0 {
            self.put_sequence(kind, sequence)?;
        }
        Ok(range)
    }

    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        let mut sequence = self.sequence(kind)?;
        let changed = sequence.raise_to(value);
        if changed {
            self.put_sequence(kind, sequence)?;
        }
        Ok(changed)
    }

    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError> {
        self.contains(T::SetNames, &set_name_key(biz.0, parent, name))
    }

    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError> {
        self.contains(T::SetUnique, key.storage_key().as_bytes())
    }

    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        Ok(self.get::<i64>(T::BuiltinSets, &id_key(biz.0))?.map(SetId))
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        let id = id_key(record.id.0);
        let name_key = set_name_key(record.biz.0, record.parent, &record.name);
        let unique_keys: Vec<String> = record
            .unique_keys
            .iter()
            .map(UniqueKey::storage_key)
            .collect();
        // The name, unique keys and built-in marker were checked by the domain through this
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

    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        let (t, raw_key) = catalog::slot(&key);
        match self.raw_get(t, &raw_key)? {
            Some(bytes) => catalog::decode_item(&key, t, &raw_key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        let (t, key, value) = catalog::encode_entry(entry)?;
        self.raw_put(t, &key, value)
    }
}
