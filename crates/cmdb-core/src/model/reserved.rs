//! The reserved names of the set model: the built-in attribute ids and the stored fields that
//! are not attributes, which no custom attribute may take ([`is_reserved`]).

/// `bk_set_name`.
pub const SET_NAME: &str = "bk_set_name";
/// `bk_parent_id`.
pub const PARENT_ID: &str = "bk_parent_id";
/// `set_template_id`.
pub const SET_TEMPLATE_ID: &str = "set_template_id";
/// `set_template_version`.
pub const SET_TEMPLATE_VERSION: &str = "set_template_version";
/// `default`.
pub const DEFAULT: &str = "default";

/// Every built-in attribute id, in model (and validation) order.
pub const BUILTIN_ATTRIBUTE_IDS: [&str; 13] = [
    SET_NAME,
    "bk_set_desc",
    "bk_set_env",
    "bk_service_status",
    "description",
    "bk_capacity",
    PARENT_ID,
    SET_TEMPLATE_ID,
    SET_TEMPLATE_VERSION,
    "bk_created_at",
    "bk_updated_at",
    "bk_created_by",
    "bk_updated_by",
];

/// Stored fields of a set that are not attributes.
pub const STORED_FIELDS: [&str; 6] = [
    "bk_set_id",
    "bk_biz_id",
    "bk_supplier_account",
    DEFAULT,
    "create_time",
    "last_time",
];

/// Whether `id` is a built-in attribute or a stored field of the set model.
pub fn is_reserved(id: &str) -> bool {
    BUILTIN_ATTRIBUTE_IDS.contains(&id) || STORED_FIELDS.contains(&id)
}
