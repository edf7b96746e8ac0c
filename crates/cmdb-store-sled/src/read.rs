//! [`Reader`]: the reads of a [`SledBackend`](crate::SledBackend) over sled's trees, outside
//! transactions (sled transactions cannot scan), on the store's reader threads.

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, CatalogList, DocQuery, IndexKey};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::ids::{AuditId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::{Document, ResourceType};
use serde::de::DeserializeOwned;

use crate::backend::Handles;
use crate::catalog;
use crate::codec::{decode, hex};
use crate::error::map_sled_error;
use crate::layout::{T, id_key, pair_key, set_name_key, tenant_prefix, trailing_id};

/// The window of a page, and the listing's stored count when it has one.
type At = (Window, Option<usize>);

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

    /// The page `window` of the records index `index` lists under `prefix` (those `keep`
    /// accepts, by id and index value), read from `t`, and the count of all it accepts: the
    /// index is walked (up to the page's end when the count is `known`), only the page's
    /// documents are read.
    fn page_of(
        &self,
        (index, t): (T, T),
        (prefix, window, known): (&[u8], Window, Option<usize>),
        keep: impl Fn(i64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<DocPage, StoreError> {
        let mut page = DocPage::default();
        let end = window.start.saturating_add(window.limit);
        for entry in self.0.tree(index).scan_prefix(prefix) {
            if known.is_some() && page.count >= end {
                break;
            }
            let (key, value) = entry.map_err(map_sled_error)?;
            let id = match trailing_id(&key) {
                Some(id) if key.len() == prefix.len() + 8 => id,
                _ => {
                    let key = hex(&key);
                    let why = format!("tree `{}`: malformed index key {key}", index.name());
                    return Err(StoreError::Corrupt(why.into()));
                }
            };
            if !keep(id, &value)? {
                continue;
            }
            if page.count >= window.start && page.docs.len() < window.limit {
                page.docs.push(self.document(t, index, id)?);
            }
            page.count += 1;
        }
        page.count = known.unwrap_or(page.count);
        Ok(page)
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

    fn sets(&self, biz: i64, set: Option<SetId>, at: At) -> Result<DocPage, StoreError> {
        let Some(set) = set else {
            let by_biz = (T::SetsByBiz, T::Sets);
            return self.page_of(by_biz, (&id_key(biz), at.0, at.1), |_, _| Ok(true));
        };
        let listed = self.0.tree(T::SetsByBiz).get(pair_key(biz, set.0));
        let one = match listed.map_err(map_sled_error)? {
            Some(_) => vec![self.document(T::Sets, T::SetsByBiz, set.0)?],
            None => Vec::new(),
        };
        Ok(at.0.cut(one))
    }

    fn audit(
        &self,
        biz: i64,
        resource_type: Option<ResourceType>,
        at: At,
    ) -> Result<DocPage, StoreError> {
        let of_type = |id, value: &[u8]| {
            let kind: ResourceType = decode(T::AuditByBiz.name(), &pair_key(biz, id), value)?;
            Ok(resource_type.is_none_or(|wanted| wanted == kind))
        };
        self.page_of(
            (T::AuditByBiz, T::Audit),
            (&id_key(biz), at.0, at.1),
            of_type,
        )
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

    fn page(&mut self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let at = (window, self.listing_count(query)?);
        match query {
            DocQuery::Sets { biz, set } => self.sets(biz.0, set, at),
            DocQuery::Modules { set } => {
                let by_set = (T::ModulesBySet, T::Modules);
                self.page_of(by_set, (&id_key(set.0), window, None), |_, _| Ok(true))
            }
            DocQuery::Audit { biz, resource_type } => self.audit(biz.0, resource_type, at),
        }
    }

    /// A range of the `audit` tree (keyed by audit id); each commit is atomic for a scan and
    /// ids follow commit order, so a scan sees a prefix of the log.
    fn audit_after(&mut self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        let from = id_key(after.0.saturating_add(1));
        let t = T::Audit;
        let entries = self.0.tree(t).range(from..).take(limit);
        entries
            .map(|entry| {
                let (key, bytes) = entry.map_err(map_sled_error)?;
                decode(t.name(), &key, &bytes)
            })
            .collect()
    }

    fn counter(&mut self, counter: Counter) -> Result<i64, StoreError> {
        let name = counter.name();
        Ok(self.get::<i64>(T::Sequences, name.as_bytes())?.unwrap_or(0))
    }
}
