//! The built-in set attributes (spec section 3) and the keys the server owns or drops.
//!
//! The reserved names (built-in attribute ids, stored non-attribute fields, [`is_reserved`]) are
//! defined in `reserved.rs`, which [`AttributeDef`] also uses, and re-exported here.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::attribute::{AttributeDef, RawAttribute};
pub use super::reserved::{
    BUILTIN_ATTRIBUTE_IDS, DEFAULT, PARENT_ID, SET_NAME, SET_TEMPLATE_ID, SET_TEMPLATE_VERSION,
    STORED_FIELDS, is_reserved,
};

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

/// The fields a create stamps with its one timestamp, on a set and on each module.
pub const STAMP_TIME_FIELDS: [&str; 4] =
    ["create_time", "last_time", "bk_created_at", "bk_updated_at"];

/// The fields a create stamps with the acting user, on a set and on each module.
pub const STAMP_USER_FIELDS: [&str; 2] = ["bk_created_by", "bk_updated_by"];

/// Keys a client may send that are dropped without a trace.
pub const DROPPED_KEYS: [&str; 1] = ["metadata"];

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
    use crate::error::{Code, Error};

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

    #[test]
    fn bk_set_env_takes_its_option_ids() {
        let env = &generic_builtin_attributes()[1];
        assert_eq!(env.id(), "bk_set_env");
        assert_eq!(env.validate(&json!("2")), Ok(json!("2")));
        assert_eq!(
            env.validate(&json!(2)).unwrap_err(),
            Error::invalid("bk_set_env")
        );
    }

    #[test]
    fn builtins_validate_with_their_limits() {
        let defs = generic_builtin_attributes();
        let by_id = |id: &str| defs.iter().find(|d| d.id() == id).unwrap();
        let cap = by_id("bk_capacity");
        assert_eq!(cap.validate(&json!(999_999_999)), Ok(json!(999_999_999)));
        assert_eq!(
            cap.validate(&json!(1_000_000_000)),
            Err(Error::invalid("bk_capacity"))
        );
        assert_eq!(cap.validate(&json!(0)), Err(Error::invalid("bk_capacity")));
        assert_eq!(cap.validate(&json!("5")).unwrap_err().code(), Code::NeedInt);
        let desc = by_id("bk_set_desc");
        assert_eq!(
            desc.validate(&json!("a".repeat(257))).unwrap_err().code(),
            Code::OverLimit
        );
        assert_eq!(by_id("description").validate(&json!(" d ")), Ok(json!("d")));
        assert_eq!(
            by_id("bk_service_status").validate(&json!("3")),
            Err(Error::invalid("bk_service_status"))
        );
    }
}
