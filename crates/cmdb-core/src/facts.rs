//! The facts a create depends on: what the store is asked for ([`FactsQuery`]), what it answers
//! ([`StoredFacts`], one call), and the compiled form the rules check against ([`CreateFacts`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use crate::error::{Detail, StoreError};
use crate::ids::{BizId, SetId};
use crate::model::AttributeDef;
use crate::model::builtin::{PARENT_ID, SET_TEMPLATE_ID};
use crate::records::Document;
use crate::rules::parent::requested_parent;
use crate::rules::template::requested_template;

/// What a create of `data` needs to read: the biz, the tenant, and the parent and template the
/// request names (when they parse as ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactsQuery {
    /// The tenant.
    pub supplier_account: String,
    /// The biz.
    pub biz: BizId,
    /// The requested `bk_parent_id`, when it is an id.
    pub parent: Option<i64>,
    /// The requested `set_template_id`, when it is an id.
    pub template: Option<i64>,
    /// Read from the database even where the store could answer from a cache: asked when a
    /// refusal was decided on cached facts, so that no create is refused on a stale catalog.
    pub fresh: bool,
}

impl FactsQuery {
    /// The query for a create of `data` in `biz` of a tenant.
    pub fn for_create(supplier_account: &str, biz: BizId, data: &Document) -> Self {
        FactsQuery {
            supplier_account: supplier_account.to_owned(),
            biz,
            parent: requested_parent(data.get(PARENT_ID)),
            template: requested_template(data.get(SET_TEMPLATE_ID)),
            fresh: false,
        }
    }

    /// The same query, to be answered from the database rather than a cache.
    pub fn fresh(self) -> Self {
        FactsQuery {
            fresh: true,
            ..self
        }
    }
}

/// Where a store's facts come from, for the stores that version their catalog and check every
/// plan against the version current at its commit (the PostgreSQL store, which caches facts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FactsSource {
    /// Read in a snapshot of their own, not versioned: the store does not check plans against
    /// a catalog version (the embedded stores, whose writers see every catalog change).
    #[default]
    Unversioned,
    /// Read from the database, at this catalog version.
    Read(u64),
    /// Answered from the store's cache, read at this catalog version and not known to be stale.
    Cached(u64),
}

impl FactsSource {
    /// The catalog version the facts describe, for a versioning store.
    pub fn catalog_version(self) -> Option<u64> {
        match self {
            FactsSource::Unversioned => None,
            FactsSource::Read(v) | FactsSource::Cached(v) => Some(v),
        }
    }

    /// Whether the facts came from a cache (a refusal decided on them is checked again on
    /// facts read afresh).
    pub fn is_cached(self) -> bool {
        matches!(self, FactsSource::Cached(_))
    }
}

/// Everything stored that a create depends on, as a store answers [`FactsQuery`] in one call.
///
/// When the biz does not exist, only `business` (`None`) is meaningful: a store may leave the
/// rest empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredFacts {
    /// The biz, if it exists (in any tenant).
    pub business: Option<Business>,
    /// The tenant's custom mainline levels, top first.
    pub mainline: Vec<String>,
    /// The instance named by the requested parent, when the tenant has custom levels.
    pub parent_instance: Option<MainlineInstance>,
    /// Custom attributes visible in the biz, in [`StoredAttribute::ordinal`] order.
    pub attributes: Vec<StoredAttribute>,
    /// The tenant's custom unique rules, in [`UniqueRule::key`] order.
    pub unique_rules: Vec<UniqueRule>,
    /// The requested set template, if any.
    pub template: Option<SetTemplate>,
    /// Its service templates that exist, in the template's order.
    pub service_templates: Vec<ServiceTemplate>,
    /// The biz's built-in set, if any.
    pub builtin_set: Option<SetId>,
    /// Where they come from.
    pub source: FactsSource,
}

impl StoredFacts {
    /// Compiles the attributes (reusing `cache`) into the facts the rules check against.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming a stored attribute that does not compile.
    pub fn compile(
        self,
        supplier_account: &str,
        cache: &AttributeCache,
    ) -> Result<CreateFacts, StoreError> {
        if self.business.is_none() {
            return Ok(CreateFacts {
                source: self.source,
                ..CreateFacts::default()
            });
        }
        Ok(CreateFacts {
            attributes: cache.compile(supplier_account, self.attributes)?,
            business: self.business,
            mainline: self.mainline,
            parent_instance: self.parent_instance,
            unique_rules: self.unique_rules,
            template: self.template,
            service_templates: self.service_templates,
            builtin_set: self.builtin_set,
            source: self.source,
        })
    }
}

/// Everything stored that a create depends on, read before the write transaction.
#[derive(Debug, Clone, Default)]
pub struct CreateFacts {
    /// The biz, if it exists (in any tenant).
    pub business: Option<Business>,
    /// The tenant's custom mainline levels.
    pub mainline: Vec<String>,
    /// The instance named by the requested parent id, if any.
    pub parent_instance: Option<MainlineInstance>,
    /// Custom attributes visible in the biz, in definition order.
    pub attributes: Vec<AttributeDef>,
    /// The tenant's custom unique rules.
    pub unique_rules: Vec<UniqueRule>,
    /// The requested set template, if any.
    pub template: Option<SetTemplate>,
    /// Its service templates.
    pub service_templates: Vec<ServiceTemplate>,
    /// The biz's built-in set, if any.
    pub builtin_set: Option<SetId>,
    /// Where they come from; a plan built on them carries their catalog version.
    pub source: FactsSource,
}

/// Compiled custom attribute definitions, reused while the stored definition is unchanged,
/// so that a create does not recompile (regexes included) every attribute of its biz.
#[derive(Debug, Default)]
pub struct AttributeCache {
    compiled: Mutex<HashMap<(String, String), AttributeDef>>,
}

impl AttributeCache {
    /// Compiles stored definitions of one tenant, reusing the compiled form of any definition
    /// identical to one compiled before.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming an attribute that does not compile.
    pub fn compile(
        &self,
        supplier_account: &str,
        stored: Vec<StoredAttribute>,
    ) -> Result<Vec<AttributeDef>, StoreError> {
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stored
            .into_iter()
            .map(|a| {
                let key = (supplier_account.to_owned(), a.raw.bk_property_id.clone());
                if let Some(def) = compiled.get(&key).filter(|d| *d.raw() == a.raw) {
                    return Ok(def.clone());
                }
                let def = compile_attributes(vec![a])?.pop().ok_or_else(|| {
                    StoreError::Corrupt("an attribute compiled to nothing".into())
                })?;
                compiled.insert(key, def.clone());
                Ok(def)
            })
            .collect()
    }
}

/// Compiles stored attribute definitions; one that fails is a corrupt store.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the attribute.
pub fn compile_attributes(stored: Vec<StoredAttribute>) -> Result<Vec<AttributeDef>, StoreError> {
    stored
        .into_iter()
        .map(|a| {
            let id = a.raw.bk_property_id.clone();
            AttributeDef::compile(a.raw).map_err(|e| {
                StoreError::Corrupt(Detail::caused_by(format!("set attribute {id}: {e}"), e))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RawAttribute;
    use serde_json::{Value, json};

    fn stored(option: &str) -> StoredAttribute {
        StoredAttribute {
            ordinal: 1,
            bk_supplier_account: "0".into(),
            raw: RawAttribute {
                bk_property_id: "owner".into(),
                bk_property_name: "Owner".into(),
                bk_property_type: "singlechar".into(),
                isrequired: false,
                option: json!(option),
                default: Value::Null,
                ismultiple: false,
                bk_biz_id: 0,
            },
        }
    }

    #[test]
    fn stored_facts_compile_into_the_facts_the_rules_check() {
        let business = Business {
            bk_biz_id: BizId(1),
            bk_biz_name: "demo".into(),
            archived: false,
            bk_supplier_account: "0".into(),
        };
        let read = StoredFacts {
            business: Some(business.clone()),
            mainline: vec!["zone".into()],
            attributes: vec![stored("^[a-z]+$")],
            builtin_set: Some(SetId(1)),
            ..StoredFacts::default()
        };
        let facts = read.compile("0", &AttributeCache::default()).unwrap();
        assert_eq!(facts.business, Some(business));
        assert_eq!(facts.mainline, ["zone"]);
        assert_eq!(facts.builtin_set, Some(SetId(1)));
        assert_eq!(facts.attributes.len(), 1);
        assert_eq!(facts.attributes[0].id(), "owner");
        // Without a business nothing else matters: the rules refuse the biz first.
        let none = StoredFacts {
            mainline: vec!["zone".into()],
            ..StoredFacts::default()
        };
        let facts = none.compile("0", &AttributeCache::default()).unwrap();
        assert!(facts.business.is_none() && facts.mainline.is_empty());
        // A stored attribute that no longer compiles is a corrupt store.
        let broken = StoredFacts {
            business: facts.business.clone().or(Some(Business {
                bk_biz_id: BizId(1),
                bk_biz_name: "demo".into(),
                archived: false,
                bk_supplier_account: "0".into(),
            })),
            attributes: vec![stored("(")],
            ..StoredFacts::default()
        };
        assert!(matches!(
            broken.compile("0", &AttributeCache::default()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn the_attribute_cache_follows_changed_definitions() {
        let cache = AttributeCache::default();
        let first = cache.compile("0", vec![stored("^[a-z]+$")]).unwrap();
        assert!(first[0].validate(&json!("ops")).is_ok());
        let again = cache.compile("0", vec![stored("^[a-z]+$")]).unwrap();
        assert_eq!(again, first);
        // Same id, new definition: the cache must not hand out the old regex.
        let changed = cache.compile("0", vec![stored("^[0-9]+$")]).unwrap();
        assert_eq!(changed[0].raw().option, json!("^[0-9]+$"));
        assert_eq!(
            changed[0].validate(&json!("ops")).unwrap_err().code(),
            crate::Code::RegexFailed
        );
        // Another tenant's attribute of the same id is compiled on its own.
        let other = cache.compile("9", vec![stored("^[a-z]+$")]).unwrap();
        assert!(other[0].validate(&json!("ops")).is_ok());
    }
}
