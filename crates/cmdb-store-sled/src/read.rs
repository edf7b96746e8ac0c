//! [`Reader`]: the reads of a [`SledBackend`](crate::SledBackend) over sled's trees, outside
//! transactions (sled transactions cannot scan), on the store's reader threads.

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, CatalogList, DocQuery, IndexKey};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::records::{Document, ResourceType};
use serde::de::DeserializeOwned;

use crate::backend::Handles;
use crate::catalog;
use crate::codec::{decode, hex};
use crate::error::map_sled_error;
use crate::layout::{T, id_key, pair_key, set_name_key, tenant_prefix, trailing_id};

/// The reads of committed state through sled's handles.
pub(crate) struct Reader<'a>(pub(crate) &'a Handles);

impl Reader<'_> {
    fn get<V: DeserializeOwned>(&self, t: T, key: &[u8]) -> Result<Option<V>, StoreError> {
        match self.0.tree(t).get(key).map_err(map_sled_error)? {
            Some(bytes) => decode(t.name(), key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The values of `t` under `prefix`, in key order.
    fn scan<V: DeserializeOwned>(&self, t: T, prefix: &[u8]) -> Result<Vec<V>, StoreError> {
        self.0
            .tree(t)
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, bytes) = entry.map_err(map_sled_error)?;
                decode(t.name(), &key, &bytes)
            })
            .collect()
    }

    /// The ids ending the keys of index `t` under `prefix`, with their values, in key order.
    fn scan_ids(&self, t: T, prefix: &[u8]) -> Result<Vec<(i64, sled::IVec)>, StoreError> {
        self.0
            .tree(t)
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry.map_err(map_sled_error)?;
                match trailing_id(&key) {
                    Some(id) if key.len() == prefix.len() + 8 => Ok((id, value)),
                    _ => Err(StoreError::Corrupt(
                        format!("tree `{}`: malformed index key {}", t.name(), hex(&key)).into(),
                    )),
                }
            })
            .collect()
    }

    /// The document stored in `t` under the id an index pointed at; a dangling index is corrupt.
    fn document(&self, t: T, index: T, id: i64) -> Result<Document, StoreError> {
        self.get(t, &id_key(id))?.ok_or_else(|| {
            StoreError::Corrupt(
                format!(
                    "tree `{}` points at id {id}, missing from tree `{}`",
                    index.name(),
                    t.name()
                )
                .into(),
            )
        })
    }

    fn sets(&self, biz: i64, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let ids: Vec<i64> = match set {
            Some(set) => {
                let key = pair_key(biz, set.0);
                match self.0.tree(T::SetsByBiz).get(key).map_err(map_sled_error)? {
                    Some(_) => vec![set.0],
                    None => Vec::new(),
                }
            }
            None => self
                .scan_ids(T::SetsByBiz, &id_key(biz))?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        };
        ids.into_iter()
            .map(|id| self.document(T::Sets, T::SetsByBiz, id))
            .collect()
    }

    fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.scan_ids(T::ModulesBySet, &id_key(set.0))?
            .into_iter()
            .map(|(id, _)| self.document(T::Modules, T::ModulesBySet, id))
            .collect()
    }

    fn audit(
        &self,
        biz: i64,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        let mut docs = Vec::new();
        for (id, value) in self.scan_ids(T::AuditByBiz, &id_key(biz))? {
            let kind: ResourceType = decode(T::AuditByBiz.name(), &pair_key(biz, id), &value)?;
            if resource_type.is_none_or(|wanted| wanted == kind) {
                docs.push(self.document(T::Audit, T::AuditByBiz, id)?);
            }
        }
        Ok(docs)
    }
}

impl BackendRead for Reader<'_> {
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        let (t, raw_key) = catalog::slot(key);
        match self.0.tree(t).get(&raw_key).map_err(map_sled_error)? {
            Some(bytes) => catalog::decode_item(key, t, &raw_key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        // Keys are the tenant prefix then the property id or rule key.
        Ok(match list {
            CatalogList::Attributes { supplier_account } => self
                .scan(T::Attributes, &tenant_prefix(supplier_account))?
                .into_iter()
                .map(CatalogItem::Attribute)
                .collect(),
            CatalogList::UniqueRules { supplier_account } => self
                .scan(T::UniqueRules, &tenant_prefix(supplier_account))?
                .into_iter()
                .map(CatalogItem::UniqueRule)
                .collect(),
        })
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

    fn documents(&mut self, query: DocQuery) -> Result<Vec<Document>, StoreError> {
        match query {
            DocQuery::Sets { biz, set } => self.sets(biz.0, set),
            DocQuery::Modules { set } => self.modules(set),
            DocQuery::Audit { biz, resource_type } => self.audit(biz.0, resource_type),
        }
    }

    fn sequence(&mut self, kind: SequenceKind) -> Result<i64, StoreError> {
        Ok(self
            .get::<i64>(T::Sequences, kind.name().as_bytes())?
            .unwrap_or(0))
    }
}
