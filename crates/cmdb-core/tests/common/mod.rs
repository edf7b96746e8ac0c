//! Catalog objects the core's port tests store and read back: a business, a mainline instance,
//! an `owner` attribute and its unique rule, service and set templates, all of tenant "0"; and
//! a bare create plan.

#![allow(dead_code)] // Each test binary uses its own subset.

use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::ids::BizId;
use cmdb_core::model::RawAttribute;
use cmdb_core::plan::{CreatePlan, RequestContext};
use cmdb_core::records::Document;
use serde_json::Value;

/// Business `biz`, named "demo".
pub(crate) fn business(biz: i64) -> Business {
    Business {
        bk_biz_id: BizId(biz),
        bk_biz_name: "demo".into(),
        archived: false,
        bk_supplier_account: "0".into(),
    }
}

/// Mainline instance 50 ("gd", a "zone") directly under business `biz`.
pub(crate) fn instance(biz: i64) -> MainlineInstance {
    MainlineInstance {
        bk_obj_id: "zone".into(),
        bk_inst_id: 50,
        bk_inst_name: "gd".into(),
        bk_biz_id: BizId(biz),
        bk_parent_id: biz,
        bk_supplier_account: "0".into(),
    }
}

/// The global custom attribute `owner` (singlechar).
pub(crate) fn owner_attribute() -> StoredAttribute {
    StoredAttribute {
        ordinal: 1,
        bk_supplier_account: "0".into(),
        raw: RawAttribute {
            bk_property_id: "owner".into(),
            bk_property_name: "Owner".into(),
            bk_property_type: "singlechar".into(),
            isrequired: false,
            option: Value::Null,
            default: Value::Null,
            ismultiple: false,
            bk_biz_id: 0,
        },
    }
}

/// The unique rule on `owner`.
pub(crate) fn owner_rule() -> UniqueRule {
    UniqueRule {
        fields: vec!["owner".into()],
        bk_supplier_account: "0".into(),
    }
}

/// Service template `id` of business `biz`.
pub(crate) fn service(id: i64, name: &str, biz: i64) -> ServiceTemplate {
    ServiceTemplate {
        id,
        bk_biz_id: BizId(biz),
        name: name.into(),
        service_category_id: 2,
        bk_supplier_account: "0".into(),
    }
}

/// Set template 1 ("web", version 3) of business `biz`, with these service templates.
pub(crate) fn web_template(biz: i64, service_template_ids: Vec<i64>) -> SetTemplate {
    SetTemplate {
        id: 1,
        bk_biz_id: BizId(biz),
        name: "web".into(),
        version: 3,
        service_template_ids,
        attributes: Vec::new(),
        bk_supplier_account: "0".into(),
    }
}

/// A plan of set `name` under business 1, with an empty document and no module or unique key,
/// checked against catalog version `catalog_version`.
pub(crate) fn bare_plan(name: &str, catalog_version: Option<u64>) -> CreatePlan {
    CreatePlan {
        biz: BizId(1),
        supplier_account: "0".into(),
        parent: 1,
        name: name.into(),
        builtin: false,
        set_doc: Document::new(),
        module_docs: Vec::new(),
        unique_keys: Vec::new(),
        context: RequestContext {
            user: "u".into(),
            supplier_account: "0".into(),
            app_code: String::new(),
            request_id: String::new(),
        },
        time: String::new(),
        catalog_version,
    }
}
