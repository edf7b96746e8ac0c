//! Where each catalog kind lives in sled (tree and key) and how an entry is encoded and a
//! value decoded back into its kind, shared by the write transaction and the readers.

use cmdb_core::StoreError;
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};

use crate::codec::{decode, encode};
use crate::layout::{T, id_key, tenant_key};

/// The tree and key holding the object under `key`.
pub(crate) fn slot(key: &CatalogKey) -> (T, Vec<u8>) {
    match key {
        CatalogKey::Mainline(sup) => (T::Mainline, sup.as_bytes().to_vec()),
        CatalogKey::Business(id) => (T::Businesses, id_key(id.0).to_vec()),
        CatalogKey::MainlineInstance(id) => (T::MainlineInstances, id_key(*id).to_vec()),
        CatalogKey::Attribute {
            supplier_account,
            property_id,
        } => (T::Attributes, tenant_key(supplier_account, property_id)),
        CatalogKey::UniqueRule {
            supplier_account,
            key,
        } => (T::UniqueRules, tenant_key(supplier_account, key)),
        CatalogKey::ServiceTemplate(id) => (T::ServiceTemplates, id_key(*id).to_vec()),
        CatalogKey::SetTemplate(id) => (T::SetTemplates, id_key(*id).to_vec()),
    }
}

/// The tree, key and encoded value of an entry.
///
/// # Errors
/// An entry that cannot be encoded.
pub(crate) fn encode_entry(entry: CatalogEntry<'_>) -> Result<(T, Vec<u8>, Vec<u8>), StoreError> {
    Ok(match entry {
        CatalogEntry::Mainline {
            supplier_account,
            levels,
        } => (
            T::Mainline,
            supplier_account.as_bytes().to_vec(),
            encode(levels)?,
        ),
        CatalogEntry::Business(b) => (T::Businesses, id_key(b.bk_biz_id.0).to_vec(), encode(b)?),
        CatalogEntry::MainlineInstance(i) => (
            T::MainlineInstances,
            id_key(i.bk_inst_id).to_vec(),
            encode(i)?,
        ),
        CatalogEntry::Attribute(a) => (
            T::Attributes,
            tenant_key(&a.bk_supplier_account, &a.raw.bk_property_id),
            encode(a)?,
        ),
        CatalogEntry::UniqueRule(r) => (
            T::UniqueRules,
            tenant_key(&r.bk_supplier_account, &r.key()),
            encode(r)?,
        ),
        CatalogEntry::ServiceTemplate(s) => {
            (T::ServiceTemplates, id_key(s.id).to_vec(), encode(s)?)
        }
        CatalogEntry::SetTemplate(s) => (T::SetTemplates, id_key(s.id).to_vec(), encode(s)?),
    })
}

/// Decodes the value stored at `key`'s slot into its kind.
///
/// # Errors
/// [`StoreError::Corrupt`] when the value does not decode.
pub(crate) fn decode_item(
    key: &CatalogKey,
    t: T,
    raw_key: &[u8],
    bytes: &[u8],
) -> Result<CatalogItem, StoreError> {
    let tree = t.name();
    Ok(match key {
        CatalogKey::Mainline(_) => CatalogItem::Mainline(decode(tree, raw_key, bytes)?),
        CatalogKey::Business(_) => CatalogItem::Business(decode(tree, raw_key, bytes)?),
        CatalogKey::MainlineInstance(_) => {
            CatalogItem::MainlineInstance(decode(tree, raw_key, bytes)?)
        }
        CatalogKey::Attribute { .. } => CatalogItem::Attribute(decode(tree, raw_key, bytes)?),
        CatalogKey::UniqueRule { .. } => CatalogItem::UniqueRule(decode(tree, raw_key, bytes)?),
        CatalogKey::ServiceTemplate(_) => {
            CatalogItem::ServiceTemplate(decode(tree, raw_key, bytes)?)
        }
        CatalogKey::SetTemplate(_) => CatalogItem::SetTemplate(decode(tree, raw_key, bytes)?),
    })
}
