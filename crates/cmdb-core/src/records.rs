//! The records a store writes for a created set: the set, its modules, audit records and the
//! unique keys that guard them. Built by the domain, persisted verbatim by stores.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{AuditId, BizId, ModuleId, SetId};

/// A JSON document as stored (keys sorted).
pub type Document = Map<String, Value>;

/// One value tuple of a custom unique rule that a set occupies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UniqueKey {
    /// The tenant the rule belongs to.
    pub supplier_account: String,
    /// The rule's fields, as defined (its identity).
    pub fields: Vec<String>,
    /// The set's values of those fields, as a canonical JSON array.
    pub values: String,
}

impl UniqueKey {
    /// One string identifying the key, suitable as a unique index entry.
    pub fn storage_key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            self.supplier_account,
            self.fields.join(","),
            self.values
        )
    }
}

/// A set to insert, with the facts its indexes need.
#[derive(Debug, Clone, PartialEq)]
pub struct SetRecord {
    /// `bk_set_id`.
    pub id: SetId,
    /// `bk_biz_id`.
    pub biz: BizId,
    /// `bk_parent_id`.
    pub parent: i64,
    /// `bk_set_name`, trimmed.
    pub name: String,
    /// Whether this is the biz's built-in set (`default` 1): at most one per biz.
    pub builtin: bool,
    /// The custom unique keys the set occupies.
    pub unique_keys: Vec<UniqueKey>,
    /// The whole stored document.
    pub doc: Document,
}

/// A module to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRecord {
    /// `bk_module_id`.
    pub id: ModuleId,
    /// `bk_set_id` of its set.
    pub set: SetId,
    /// `bk_biz_id`.
    pub biz: BizId,
    /// The whole stored document.
    pub doc: Document,
}

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// A set.
    Set,
    /// A module.
    Module,
}

impl ResourceType {
    /// The wire name (`set` / `module`).
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Set => "set",
            ResourceType::Module => "module",
        }
    }

    /// The type named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "set" => Some(ResourceType::Set),
            "module" => Some(ResourceType::Module),
            _ => None,
        }
    }
}

/// An audit record to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Its `id`.
    pub id: AuditId,
    /// `bk_biz_id`.
    pub biz: BizId,
    /// `resource_type`.
    pub resource_type: ResourceType,
    /// The whole stored document.
    pub doc: Document,
}

/// What one successful create wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedSet {
    /// The set.
    pub set: SetRecord,
    /// Its modules, in id order.
    pub modules: Vec<ModuleRecord>,
    /// The audit records: the set's, then each module's.
    pub audits: Vec<AuditRecord>,
}
