//! The built-in set attributes (spec section 3), the stored non-attribute fields and the
//! keys the server owns.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::attribute::{AttributeDef, RawAttribute};

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

/// Keys a client may send that the server overwrites (spec section 8).
pub const SERVER_OWNED_KEYS: [&str; 10] = [
    "bk_biz_id",
    "bk_supplier_account",
    "bk_set_id",
    "create_time",
    "last_time",
    "bk_created_at",
    "bk_updated_at",
    "bk_created_by",
    "bk_updated_by",
    SET_TEMPLATE_VERSION,
];

/// Keys a client may send that are dropped without a trace.
pub const DROPPED_KEYS: [&str; 1] = ["metadata"];

/// Whether `id` is a built-in attribute or a stored field of the set model.
pub fn is_reserved(id: &str) -> bool {
    BUILTIN_ATTRIBUTE_IDS.contains(&id) || STORED_FIELDS.contains(&id)
}

/// The built-in attributes validated through the generic attribute rules, in model order:
/// `bk_set_desc`, `bk_set_env`, `bk_service_status`, `description`, `bk_capacity`.
/// (`bk_set_name`, `bk_parent_id` and `set_template_id` have rules of their own.)
pub fn generic_builtin_attributes() -> &'static [AttributeDef] {
    static DEFS: OnceLock<Vec<AttributeDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let defs = [
            raw(
                "bk_set_desc",
                "Set description",
                "singlechar",
                Value::Null,
                json!(""),
            ),
            raw(
                "bk_set_env",
                "Environment",
                "enum",
                json!([
                    {"id": "1", "name": "test", "is_default": false},
                    {"id": "2", "name": "experience", "is_default": false},
                    {"id": "3", "name": "formal", "is_default": true}
                ]),
                Value::Null,
            ),
            raw(
                "bk_service_status",
                "Service status",
                "enum",
                json!([
                    {"id": "1", "name": "open", "is_default": true},
                    {"id": "2", "name": "closed", "is_default": false}
                ]),
                Value::Null,
            ),
            raw(
                "description",
                "Description",
                "longchar",
                Value::Null,
                json!(""),
            ),
            raw(
                "bk_capacity",
                "Capacity",
                "int",
                json!({"min": "1", "max": "999999999"}),
                Value::Null,
            ),
        ];
        defs.into_iter()
            .map(|r| AttributeDef::compile(r).expect("built-in attribute definitions are valid"))
            .collect()
    })
}

fn raw(id: &str, name: &str, kind: &str, option: Value, default: Value) -> RawAttribute {
    RawAttribute {
        bk_property_id: id.to_owned(),
        bk_property_name: name.to_owned(),
        bk_property_type: kind.to_owned(),
        isrequired: false,
        option,
        default,
        ismultiple: false,
        bk_biz_id: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_builtins_compile_and_fill_spec_defaults() {
        let defs = generic_builtin_attributes();
        let filled: Vec<(&str, Value)> = defs.iter().map(|d| (d.id(), d.absent_value())).collect();
        assert_eq!(
            filled,
            vec![
                ("bk_set_desc", json!("")),
                ("bk_set_env", json!("3")),
                ("bk_service_status", json!("1")),
                ("description", json!("")),
                ("bk_capacity", Value::Null),
            ]
        );
    }
}
