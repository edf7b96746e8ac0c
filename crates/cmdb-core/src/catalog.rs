//! Catalog entities (businesses, mainline, templates, unique rules) and the fixture that defines them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::BizId;
use crate::model::RawAttribute;

/// The default supplier account (tenant).
pub const DEFAULT_SUPPLIER_ACCOUNT: &str = "0";

/// A business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    /// Its id (global across tenants).
    pub bk_biz_id: BizId,
    /// Its name.
    pub bk_biz_name: String,
    /// Archived businesses accept no new sets but can still be read.
    pub archived: bool,
    /// The tenant it belongs to.
    pub bk_supplier_account: String,
}

/// An instance of a custom mainline level (e.g. a `province`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MainlineInstance {
    /// The level, e.g. `province`.
    pub bk_obj_id: String,
    /// Its id (global across levels and tenants).
    pub bk_inst_id: i64,
    /// Its name.
    pub bk_inst_name: String,
    /// The biz it belongs to.
    pub bk_biz_id: BizId,
    /// The biz id for the top level, else an instance of the level above.
    pub bk_parent_id: i64,
    /// The tenant.
    pub bk_supplier_account: String,
}

/// A service template: one module of a set created from a set template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTemplate {
    /// Its id.
    pub id: i64,
    /// The biz it belongs to.
    pub bk_biz_id: BizId,
    /// The module name it gives.
    pub name: String,
    /// The service category of its modules.
    pub service_category_id: i64,
    /// The tenant.
    pub bk_supplier_account: String,
}

/// One attribute value a set template imposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateAttribute {
    /// The property id.
    pub bk_property_id: String,
    /// The value, validated like a client's.
    pub bk_property_value: Value,
}

/// A set template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTemplate {
    /// Its id.
    pub id: i64,
    /// The biz it belongs to.
    pub bk_biz_id: BizId,
    /// Its name.
    pub name: String,
    /// Its current version, stored in `set_template_version`.
    pub version: i64,
    /// Its service templates (one module each), same biz.
    pub service_template_ids: Vec<i64>,
    /// Attribute values that override the client's.
    pub attributes: Vec<TemplateAttribute>,
    /// The tenant.
    pub bk_supplier_account: String,
}

/// A custom unique rule on the set model: no two sets share all these field values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueRule {
    /// The attribute or stored-field ids, as defined.
    pub fields: Vec<String>,
    /// The tenant.
    pub bk_supplier_account: String,
}

impl UniqueRule {
    /// The storage key of the rule: its fields joined by commas.
    pub fn key(&self) -> String {
        self.fields.join(",")
    }
}

/// A custom attribute as stored: the definition and its definition order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAttribute {
    /// Definition order within the store (from the attribute sequence).
    pub ordinal: i64,
    /// The tenant.
    pub bk_supplier_account: String,
    /// The definition as given.
    pub raw: RawAttribute,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_rule_is_keyed_by_its_fields_in_order() {
        let rule = |fields: &[&str]| UniqueRule {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            bk_supplier_account: "0".into(),
        };
        assert_eq!(rule(&["bk_biz_id", "owner"]).key(), "bk_biz_id,owner");
        assert_eq!(rule(&["owner", "bk_biz_id"]).key(), "owner,bk_biz_id");
        assert_eq!(rule(&["bk_set_desc"]).key(), "bk_set_desc");
    }
}
