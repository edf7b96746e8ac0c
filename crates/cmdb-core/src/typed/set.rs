//! [`Set`]: a stored set document, checked once, read through typed accessors.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::fields::{self, Checker, InvalidDocument, ServiceStatus, SetEnv};
use crate::ids::{BizId, SetId};
use crate::model::builtin::is_reserved as is_builtin_field;
use crate::model::builtin::{STAMP_TIME_FIELDS, STAMP_USER_FIELDS};
use crate::records::Document;

/// A stored set: the document a create answers and a store keeps, with an accessor for each
/// built-in field and [`Set::custom`] for the custom attributes.
///
/// It serialises to exactly its stored document (the keys in their stored order) and is made
/// from one with [`TryFrom`], which checks every built-in field once. Cloning shares the
/// document.
///
/// ```
/// use cmdb_core::typed::{Set, SetEnv};
/// use serde_json::json;
///
/// let stored = json!({
///     "bk_biz_id": 1, "bk_capacity": 1000, "bk_created_at": "T", "bk_created_by": "alice",
///     "bk_parent_id": 1, "bk_service_status": "1", "bk_set_desc": "", "bk_set_env": "3",
///     "bk_set_id": 4780, "bk_set_name": "web", "bk_supplier_account": "0",
///     "bk_updated_at": "T", "bk_updated_by": "alice", "create_time": "T", "default": 0,
///     "description": "", "last_time": "T", "owner": "ops", "set_template_id": 0,
///     "set_template_version": null
/// });
/// let set = Set::try_from(stored.as_object().unwrap().clone()).unwrap();
/// assert_eq!((set.id().0, set.name(), set.capacity()), (4780, "web", Some(1000)));
/// assert_eq!(set.env(), Some(SetEnv::Formal));
/// assert_eq!(set.custom("owner"), Some(&json!("ops")));
/// assert_eq!(serde_json::to_value(&set).unwrap(), stored);
/// ```
#[derive(Clone, PartialEq)]
pub struct Set(Arc<Document>);

impl Set {
    /// `bk_set_id`.
    pub fn id(&self) -> SetId {
        SetId(fields::int(&self.0, "bk_set_id"))
    }

    /// `bk_set_name` (trimmed, as stored).
    pub fn name(&self) -> &str {
        fields::string(&self.0, "bk_set_name")
    }

    /// `bk_biz_id`.
    pub fn biz(&self) -> BizId {
        BizId(fields::int(&self.0, "bk_biz_id"))
    }

    /// `bk_parent_id`: the biz, or the mainline instance above the set.
    pub fn parent(&self) -> i64 {
        fields::int(&self.0, "bk_parent_id")
    }

    /// `bk_supplier_account`: the tenant.
    pub fn supplier_account(&self) -> &str {
        fields::string(&self.0, "bk_supplier_account")
    }

    /// Whether this is the biz's built-in set (`default` 1).
    pub fn is_builtin(&self) -> bool {
        fields::int(&self.0, "default") == 1
    }

    /// `default` as stored (0 for a set a client created, 1 for the built-in set).
    pub fn default_flag(&self) -> i64 {
        fields::int(&self.0, "default")
    }

    /// `set_template_id`: 0 when the set was created without a template.
    pub fn template_id(&self) -> i64 {
        fields::int(&self.0, "set_template_id")
    }

    /// `set_template_version`: the template's version at the create, `None` without one.
    pub fn template_version(&self) -> Option<i64> {
        fields::int_or_null(&self.0, "set_template_version")
    }

    /// `bk_set_desc`.
    pub fn set_desc(&self) -> Option<&str> {
        fields::string_or_null(&self.0, "bk_set_desc")
    }

    /// `description`.
    pub fn description(&self) -> Option<&str> {
        fields::string_or_null(&self.0, "description")
    }

    /// `bk_set_env`.
    pub fn env(&self) -> Option<SetEnv> {
        fields::string_or_null(&self.0, "bk_set_env").and_then(SetEnv::from_id)
    }

    /// `bk_service_status`.
    pub fn service_status(&self) -> Option<ServiceStatus> {
        fields::string_or_null(&self.0, "bk_service_status").and_then(ServiceStatus::from_id)
    }

    /// `bk_capacity`.
    pub fn capacity(&self) -> Option<i64> {
        fields::int_or_null(&self.0, "bk_capacity")
    }

    /// `bk_created_by`: who created the set.
    pub fn created_by(&self) -> &str {
        fields::string(&self.0, "bk_created_by")
    }

    /// `bk_updated_by`.
    pub fn updated_by(&self) -> &str {
        fields::string(&self.0, "bk_updated_by")
    }

    /// `create_time`, as rendered (`2026-11-27T20:34:01.386+08:00`).
    pub fn create_time(&self) -> &str {
        fields::string(&self.0, "create_time")
    }

    /// `last_time`, as rendered.
    pub fn last_time(&self) -> &str {
        fields::string(&self.0, "last_time")
    }

    /// The value of the custom attribute `id`; `None` for a built-in field or an attribute
    /// the set does not hold.
    pub fn custom(&self, id: &str) -> Option<&Value> {
        if is_builtin_field(id) {
            return None;
        }
        self.0.get(id)
    }

    /// The custom attributes (every key that is not a built-in field), in stored order.
    pub fn customs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0
            .iter()
            .filter(|(k, _)| !is_builtin_field(k))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The stored document (a copy; [`Set`] itself serialises to it without one).
    pub fn to_document(&self) -> Document {
        (*self.0).clone()
    }

    /// The stored document, shared.
    pub fn into_shared(self) -> Arc<Document> {
        self.0
    }
}

impl TryFrom<Arc<Document>> for Set {
    type Error = InvalidDocument;

    /// Checks every built-in field of a stored set document.
    fn try_from(doc: Arc<Document>) -> Result<Self, InvalidDocument> {
        let c = Checker {
            kind: "set",
            doc: &doc,
        };
        for field in [
            "bk_set_id",
            "bk_biz_id",
            "bk_parent_id",
            "default",
            "set_template_id",
        ] {
            c.int(field)?;
        }
        for field in ["bk_capacity", "set_template_version"] {
            c.int_or_null(field)?;
        }
        for field in ["bk_set_name", "bk_supplier_account"]
            .into_iter()
            .chain(STAMP_TIME_FIELDS)
            .chain(STAMP_USER_FIELDS)
        {
            c.string(field)?;
        }
        for field in ["bk_set_desc", "description"] {
            c.string_or_null(field, |_| true, "a string or null")?;
        }
        let env = |s: &str| SetEnv::from_id(s).is_some();
        c.string_or_null("bk_set_env", env, "\"1\", \"2\", \"3\" or null")?;
        let status = |s: &str| ServiceStatus::from_id(s).is_some();
        c.string_or_null("bk_service_status", status, "\"1\", \"2\" or null")?;
        Ok(Set(doc))
    }
}

impl TryFrom<Document> for Set {
    type Error = InvalidDocument;

    fn try_from(doc: Document) -> Result<Self, InvalidDocument> {
        Set::try_from(Arc::new(doc))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Set")
            .field("id", &self.id().0)
            .field("name", &self.name())
            .field("biz", &self.biz().0)
            .field("parent", &self.parent())
            .finish_non_exhaustive()
    }
}

impl Serialize for Set {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Set {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let doc = Document::deserialize(deserializer)?;
        Set::try_from(doc).map_err(serde::de::Error::custom)
    }
}
