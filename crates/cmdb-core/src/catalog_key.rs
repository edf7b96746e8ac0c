//! Keyed access to stored catalog objects: one key type for every kind, so a backend writes one
//! get and one put ([`crate::tx::StoreTx::catalog_get`], [`crate::tx::StoreTx::catalog_put`],
//! [`crate::ports::SetStore::catalog_get`]) instead of a method pair per kind.

use crate::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use crate::error::StoreError;
use crate::ids::BizId;

/// Which stored catalog object to read.
///
/// Keys own their strings, so a store can move one onto its reader threads. A key serialises
/// (serde's externally tagged form) for stores that key objects by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum CatalogKey {
    /// The mainline custom levels of a tenant (by supplier account).
    Mainline(String),
    /// A business by id.
    Business(BizId),
    /// A mainline instance by id.
    MainlineInstance(i64),
    /// A custom set attribute of a tenant by property id.
    Attribute {
        /// The tenant.
        supplier_account: String,
        /// The attribute's `bk_property_id`.
        property_id: String,
    },
    /// A custom unique rule of a tenant by [`UniqueRule::key`].
    UniqueRule {
        /// The tenant.
        supplier_account: String,
        /// The rule's key.
        key: String,
    },
    /// A service template by id.
    ServiceTemplate(i64),
    /// A set template by id.
    SetTemplate(i64),
}

impl CatalogKey {
    /// The kind's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            CatalogKey::Mainline(_) => "mainline",
            CatalogKey::Business(_) => "business",
            CatalogKey::MainlineInstance(_) => "mainline instance",
            CatalogKey::Attribute { .. } => "attribute",
            CatalogKey::UniqueRule { .. } => "unique rule",
            CatalogKey::ServiceTemplate(_) => "service template",
            CatalogKey::SetTemplate(_) => "set template",
        }
    }
}

/// A stored catalog object, as read back. It serialises (serde's externally tagged form,
/// `{"Business": {…}}`) for stores that keep an object with its kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CatalogItem {
    /// The mainline custom levels of a tenant, top first.
    Mainline(Vec<String>),
    /// A business.
    Business(Business),
    /// A mainline instance.
    MainlineInstance(MainlineInstance),
    /// A custom set attribute.
    Attribute(StoredAttribute),
    /// A custom unique rule.
    UniqueRule(UniqueRule),
    /// A service template.
    ServiceTemplate(ServiceTemplate),
    /// A set template.
    SetTemplate(SetTemplate),
}

/// A catalog object to store: inserted, or replacing the one under the same key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CatalogEntry<'a> {
    /// Fixes the mainline custom levels of a tenant.
    Mainline {
        /// The tenant.
        supplier_account: &'a str,
        /// The levels, top first.
        levels: &'a [String],
    },
    /// A business, keyed by its id.
    Business(&'a Business),
    /// A mainline instance, keyed by its id.
    MainlineInstance(&'a MainlineInstance),
    /// A custom set attribute, keyed by tenant and property id.
    Attribute(&'a StoredAttribute),
    /// A custom unique rule, keyed by tenant and [`UniqueRule::key`].
    UniqueRule(&'a UniqueRule),
    /// A service template, keyed by its id.
    ServiceTemplate(&'a ServiceTemplate),
    /// A set template, keyed by its id.
    SetTemplate(&'a SetTemplate),
}

impl CatalogEntry<'_> {
    /// The key the entry is stored under.
    pub fn key(&self) -> CatalogKey {
        match *self {
            CatalogEntry::Mainline {
                supplier_account, ..
            } => CatalogKey::Mainline(supplier_account.to_owned()),
            CatalogEntry::Business(b) => CatalogKey::Business(b.bk_biz_id),
            CatalogEntry::MainlineInstance(i) => CatalogKey::MainlineInstance(i.bk_inst_id),
            CatalogEntry::Attribute(a) => CatalogKey::Attribute {
                supplier_account: a.bk_supplier_account.clone(),
                property_id: a.raw.bk_property_id.clone(),
            },
            CatalogEntry::UniqueRule(r) => CatalogKey::UniqueRule {
                supplier_account: r.bk_supplier_account.clone(),
                key: r.key(),
            },
            CatalogEntry::ServiceTemplate(t) => CatalogKey::ServiceTemplate(t.id),
            CatalogEntry::SetTemplate(t) => CatalogKey::SetTemplate(t.id),
        }
    }

    /// The object as it reads back (a copy).
    pub fn to_item(&self) -> CatalogItem {
        match *self {
            CatalogEntry::Mainline { levels, .. } => CatalogItem::Mainline(levels.to_vec()),
            CatalogEntry::Business(b) => CatalogItem::Business(b.clone()),
            CatalogEntry::MainlineInstance(i) => CatalogItem::MainlineInstance(i.clone()),
            CatalogEntry::Attribute(a) => CatalogItem::Attribute(a.clone()),
            CatalogEntry::UniqueRule(r) => CatalogItem::UniqueRule(r.clone()),
            CatalogEntry::ServiceTemplate(t) => CatalogItem::ServiceTemplate(t.clone()),
            CatalogEntry::SetTemplate(t) => CatalogItem::SetTemplate(t.clone()),
        }
    }
}

impl CatalogItem {
    /// The item as an entry to store under `key` (the key carries the mainline's tenant, which
    /// the item does not).
    pub fn as_entry<'a>(&'a self, key: &'a CatalogKey) -> Option<CatalogEntry<'a>> {
        Some(match (self, key) {
            (CatalogItem::Mainline(levels), CatalogKey::Mainline(tenant)) => {
                CatalogEntry::Mainline {
                    supplier_account: tenant,
                    levels,
                }
            }
            (CatalogItem::Business(b), _) => CatalogEntry::Business(b),
            (CatalogItem::MainlineInstance(i), _) => CatalogEntry::MainlineInstance(i),
            (CatalogItem::Attribute(a), _) => CatalogEntry::Attribute(a),
            (CatalogItem::UniqueRule(r), _) => CatalogEntry::UniqueRule(r),
            (CatalogItem::ServiceTemplate(t), _) => CatalogEntry::ServiceTemplate(t),
            (CatalogItem::SetTemplate(t), _) => CatalogEntry::SetTemplate(t),
            (CatalogItem::Mainline(_), _) => return None,
        })
    }
}

/// The error for a store that answered a key with an object of another kind (a store bug).
fn wrong_kind(kind: &str) -> StoreError {
    StoreError::Backend(format!("the store answered a {kind} read with another kind").into())
}

/// Generates `fn $name(item: Option<CatalogItem>, kind) -> Result<Option<$ty>, StoreError>`:
/// the typed view of one kind's answer.
macro_rules! typed_answer {
    ($name:ident, $variant:ident, $ty:ty) => {
        /// The answer to a key of this kind, typed.
        pub(crate) fn $name(
            item: Option<CatalogItem>,
            kind: &str,
        ) -> Result<Option<$ty>, StoreError> {
            match item {
                None => Ok(None),
                Some(CatalogItem::$variant(value)) => Ok(Some(value)),
                Some(_) => Err(wrong_kind(kind)),
            }
        }
    };
}

typed_answer!(as_mainline, Mainline, Vec<String>);
typed_answer!(as_business, Business, Business);
typed_answer!(as_instance, MainlineInstance, MainlineInstance);
typed_answer!(as_attribute, Attribute, StoredAttribute);
typed_answer!(as_unique_rule, UniqueRule, UniqueRule);
typed_answer!(as_service_template, ServiceTemplate, ServiceTemplate);
typed_answer!(as_set_template, SetTemplate, SetTemplate);
