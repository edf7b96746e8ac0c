//! [`Module`]: a stored module document, checked once, read through typed accessors.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::{self, Checker, InvalidDocument};
use crate::ids::{BizId, ModuleId, SetId};
use crate::model::builtin::{STAMP_TIME_FIELDS, STAMP_USER_FIELDS};
use crate::records::Document;

/// A stored module (one per service template of the set's template, or one of the built-in
/// set's three). It serialises to exactly its stored document; [`TryFrom`] checks every field.
#[derive(Clone, PartialEq)]
pub struct Module(Arc<Document>);

impl Module {
    /// `bk_module_id`.
    pub fn id(&self) -> ModuleId {
        ModuleId(fields::int(&self.0, "bk_module_id"))
    }

    /// `bk_module_name`.
    pub fn name(&self) -> &str {
        fields::string(&self.0, "bk_module_name")
    }

    /// `bk_set_id`: the set it belongs to (also its `bk_parent_id`).
    pub fn set(&self) -> SetId {
        SetId(fields::int(&self.0, "bk_set_id"))
    }

    /// `bk_biz_id`.
    pub fn biz(&self) -> BizId {
        BizId(fields::int(&self.0, "bk_biz_id"))
    }

    /// `bk_supplier_account`: the tenant.
    pub fn supplier_account(&self) -> &str {
        fields::string(&self.0, "bk_supplier_account")
    }

    /// `service_template_id`: 0 for a module of the built-in set.
    pub fn service_template_id(&self) -> i64 {
        fields::int(&self.0, "service_template_id")
    }

    /// `set_template_id`: the template of the set that created the module.
    pub fn set_template_id(&self) -> i64 {
        fields::int(&self.0, "set_template_id")
    }

    /// `service_category_id`.
    pub fn service_category_id(&self) -> i64 {
        fields::int(&self.0, "service_category_id")
    }

    /// `default`: 0 for a template's module; 1, 2, 3 for the built-in set's.
    pub fn default_flag(&self) -> i64 {
        fields::int(&self.0, "default")
    }

    /// `host_apply_enabled`.
    pub fn host_apply_enabled(&self) -> bool {
        self.0
            .get("host_apply_enabled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or_default()
    }

    /// `bk_created_by`.
    pub fn created_by(&self) -> &str {
        fields::string(&self.0, "bk_created_by")
    }

    /// `create_time`, as rendered.
    pub fn create_time(&self) -> &str {
        fields::string(&self.0, "create_time")
    }

    /// The stored document (a copy).
    pub fn to_document(&self) -> Document {
        (*self.0).clone()
    }

    /// The stored document, shared.
    pub fn into_shared(self) -> Arc<Document> {
        self.0
    }
}

impl TryFrom<Arc<Document>> for Module {
    type Error = InvalidDocument;

    /// Checks every field of a stored module document.
    fn try_from(doc: Arc<Document>) -> Result<Self, InvalidDocument> {
        let c = Checker {
            kind: "module",
            doc: &doc,
        };
        for field in [
            "bk_module_id",
            "bk_set_id",
            "bk_parent_id",
            "bk_biz_id",
            "service_template_id",
            "set_template_id",
            "service_category_id",
            "default",
        ] {
            c.int(field)?;
        }
        for field in ["bk_module_name", "bk_supplier_account"]
            .into_iter()
            .chain(STAMP_TIME_FIELDS)
            .chain(STAMP_USER_FIELDS)
        {
            c.string(field)?;
        }
        c.boolean("host_apply_enabled")?;
        Ok(Module(doc))
    }
}

impl TryFrom<Document> for Module {
    type Error = InvalidDocument;

    fn try_from(doc: Document) -> Result<Self, InvalidDocument> {
        Module::try_from(Arc::new(doc))
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("id", &self.id().0)
            .field("name", &self.name())
            .field("set", &self.set().0)
            .finish_non_exhaustive()
    }
}

impl Serialize for Module {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Module {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let doc = Document::deserialize(deserializer)?;
        Module::try_from(doc).map_err(serde::de::Error::custom)
    }
}
