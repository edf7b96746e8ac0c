//! The records a store writes for a created set: the set, its modules, audit records and the
//! unique keys that guard them. Built by the domain, persisted verbatim by stores.
//!
//! Documents are built once and shared, never deep-copied on the way to storage: a set's and a
//! module's document sit behind an [`Arc`], and an audit record points at the document it
//! records instead of holding a copy (it serialises to the full audit document).

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
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
    /// The whole stored document, shared with its audit record.
    pub doc: Arc<Document>,
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
    /// The whole stored document, shared with its audit record.
    pub doc: Arc<Document>,
}

/// What an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// A set.
    Set,
    /// A module.
    Module,
}

impl ResourceType {
    /// Every type.
    pub const ALL: [ResourceType; 2] = [ResourceType::Set, ResourceType::Module];

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

/// An audit record to insert: the creation of one set or module.
///
/// It serialises (and [`AuditRecord::document`] renders) to the stored audit document, with
/// keys in sorted order as every stored document:
/// `{"action": "create", "audit_type": "business_resource", "bk_biz_id", "bk_supplier_account",
/// "code", "id", "operate_from": "user", "operation_detail": {"bk_obj_id", "details":
/// {"cur_data", "pre_data": null, "update_fields": null}}, "operation_time", "resource_id",
/// "resource_name", "resource_type", "rid", "user"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Its `id`.
    pub id: AuditId,
    /// `bk_biz_id`.
    pub biz: BizId,
    /// `resource_type` (and `operation_detail.bk_obj_id`).
    pub resource_type: ResourceType,
    /// `resource_id`: the set's or module's id.
    pub resource_id: i64,
    /// `resource_name`.
    pub resource_name: String,
    /// Who, when and for which tenant: shared by the audit records of one create.
    pub stamp: Arc<AuditStamp>,
    /// `operation_detail.details.cur_data`: the created document, shared with its record.
    pub cur_data: Arc<Document>,
}

/// The part of an audit record that every record of one create shares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditStamp {
    /// `user`: the operator.
    pub user: String,
    /// `code`: the calling app.
    pub app_code: String,
    /// `rid`: the request id.
    pub request_id: String,
    /// `operation_time`.
    pub time: String,
    /// `bk_supplier_account`.
    pub supplier_account: String,
}

impl AuditRecord {
    /// The stored audit document.
    pub fn document(&self) -> Document {
        match serde_json::to_value(self) {
            Ok(Value::Object(doc)) => doc,
            // Serialising maps of JSON values into a `Value` cannot fail.
            _ => Document::new(),
        }
    }
}

impl AuditRecord {
    /// The stored audit document with `cur_data` given as already rendered JSON (the text
    /// the store just wrote for the set or module), so a store serialises each document once.
    /// It renders exactly as the record itself does, given the JSON of [`AuditRecord::cur_data`].
    pub fn with_rendered_cur_data<'a>(&'a self, cur_data: &'a RawValue) -> impl Serialize + 'a {
        AuditJson {
            record: self,
            cur_data,
        }
    }
}

/// An audit record's document with `cur_data` rendered by `C`.
struct AuditJson<'a, C: ?Sized> {
    record: &'a AuditRecord,
    cur_data: &'a C,
}

/// `operation_detail` of an audit record.
struct OperationDetail<'a, C: ?Sized> {
    resource_type: ResourceType,
    cur_data: &'a C,
}

/// `operation_detail.details` of an audit record.
struct Details<'a, C: ?Sized>(&'a C);

impl<C: Serialize + ?Sized> Serialize for Details<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("cur_data", self.0)?;
        map.serialize_entry("pre_data", &())?;
        map.serialize_entry("update_fields", &())?;
        map.end()
    }
}

impl<C: Serialize + ?Sized> Serialize for OperationDetail<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("bk_obj_id", self.resource_type.name())?;
        map.serialize_entry("details", &Details(self.cur_data))?;
        map.end()
    }
}

impl<C: Serialize + ?Sized> Serialize for AuditJson<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        // Sorted keys, as a `Document` serialises.
        let mut map = serializer.serialize_map(Some(14))?;
        map.serialize_entry("action", "create")?;
        map.serialize_entry("audit_type", "business_resource")?;
        map.serialize_entry("bk_biz_id", &r.biz.0)?;
        map.serialize_entry("bk_supplier_account", &r.stamp.supplier_account)?;
        map.serialize_entry("code", &r.stamp.app_code)?;
        map.serialize_entry("id", &r.id.0)?;
        map.serialize_entry("operate_from", "user")?;
        let detail = OperationDetail {
            resource_type: r.resource_type,
            cur_data: self.cur_data,
        };
        map.serialize_entry("operation_detail", &detail)?;
        map.serialize_entry("operation_time", &r.stamp.time)?;
        map.serialize_entry("resource_id", &r.resource_id)?;
        map.serialize_entry("resource_name", &r.resource_name)?;
        map.serialize_entry("resource_type", r.resource_type.name())?;
        map.serialize_entry("rid", &r.stamp.request_id)?;
        map.serialize_entry("user", &r.stamp.user)?;
        map.end()
    }
}

impl Serialize for AuditRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AuditJson {
            record: self,
            cur_data: &*self.cur_data,
        }
        .serialize(serializer)
    }
}

/// The JSON a store wrote for the set and modules of the create it is inserting, kept for the
/// create's audit records, which embed those documents: each is then serialised once.
///
/// A store clears it when a create's set is inserted, renders each set and module document
/// through it, and asks it for the JSON of an audit record's `cur_data`.
#[derive(Debug, Default)]
pub struct RenderedDocs {
    docs: Vec<(Arc<Document>, Box<RawValue>)>,
}

impl RenderedDocs {
    /// Forgets the documents of the previous create.
    pub fn clear(&mut self) {
        self.docs.clear();
    }

    /// Serialises `doc` and keeps its JSON; returns it.
    ///
    /// # Errors
    /// When the document cannot be serialised (not expected for a JSON map).
    pub fn render(&mut self, doc: &Arc<Document>) -> Result<&str, serde_json::Error> {
        let json = serde_json::value::to_raw_value(&**doc)?;
        self.docs.push((Arc::clone(doc), json));
        Ok(self.docs.last().map_or("", |(_, json)| json.get()))
    }

    /// The JSON kept for exactly this document (the same `Arc`), if it was rendered.
    pub fn rendered(&self, doc: &Arc<Document>) -> Option<&RawValue> {
        self.docs
            .iter()
            .find(|(kept, _)| Arc::ptr_eq(kept, doc))
            .map(|(_, json)| &**json)
    }
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
