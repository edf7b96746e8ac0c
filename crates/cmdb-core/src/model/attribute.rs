//! Attribute definitions of the set model and the validation of one value against one definition.
//!
//! A [`RawAttribute`] is what a fixture or a store holds; [`AttributeDef::compile`] checks it
//! (type name, option shape, default) and compiles its option once; [`AttributeDef::validate`]
//! then checks one client value and returns the normalized value to store. The per-type option
//! shapes are described and tested in `option.rs`, the per-type value rules in `value.rs`;
//! the tests here are those that need a definition: type by name, `null` and required, defaults
//! and absent values, custom ids, accessors.
//!
//! Rules common to every type:
//! - `null` is stored as `null` when the attribute is not required; a required attribute refuses
//!   it with 1199010 (`'<id>' unassigned`).
//! - `""` (after trimming, for char and objuser) is stored as `""` for char, date, time and
//!   objuser attributes that are not required; a required one refuses it with 1199010. For the
//!   other types `""` is judged by their own rule.
//! - A definition's `default` must be valid for its type (else 1199006 naming the attribute) and
//!   is kept normalized. For enum and enummulti, a non-null `default` and options marked
//!   `is_default` must agree (same id, or the same set of ids).
//! - Custom attributes ([`AttributeDef::define_custom`]) are checked in this order: the id's
//!   length (≤ 128 bytes) and pattern `^[a-zA-Z][a-zA-Z0-9_]*$`, then that it is not reserved
//!   (1199006 for all three); then `isrequired` (1101092); then [`AttributeDef::compile`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::option::Rule;
use super::reserved::is_reserved;
use crate::error::{Error, Result};
use crate::ids::BizId;

pub use super::kind::AttributeType;
pub use super::option::{LONGCHAR_MAX_BYTES, SINGLECHAR_MAX_BYTES};
pub use super::value::{OBJUSER_MAX_BYTES, TIME_MAX_BYTES};

/// The longest custom property id, in bytes.
pub const MAX_PROPERTY_ID_BYTES: usize = 128;

/// An attribute definition as a fixture or a store holds it (bk-cmdb's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawAttribute {
    /// The property id, e.g. `owner_team`.
    pub bk_property_id: String,
    /// The display name.
    #[serde(default)]
    pub bk_property_name: String,
    /// The type name, e.g. `singlechar`.
    pub bk_property_type: String,
    /// Whether a value is required.
    #[serde(default)]
    pub isrequired: bool,
    /// The type's option (regex, bounds, enum options, list strings), or null.
    #[serde(default)]
    pub option: Value,
    /// The default value, or null.
    #[serde(default)]
    pub default: Value,
    /// Whether several values are allowed (enummulti, objuser, organization).
    #[serde(default)]
    pub ismultiple: bool,
    /// 0 for a global attribute, else the biz it belongs to.
    #[serde(default)]
    pub bk_biz_id: i64,
}

/// A checked, compiled attribute definition.
///
/// Cheap to clone: copies share one compiled form (the engine's attribute cache hands a copy
/// to every create), regexes and their match caches included.
#[derive(Debug, Clone)]
pub struct AttributeDef(Arc<Compiled>);

/// What [`AttributeDef`] shares between its copies.
#[derive(Debug, Clone)]
struct Compiled {
    raw: RawAttribute,
    kind: AttributeType,
    rule: Rule,
    absent: Value,
}

impl PartialEq for AttributeDef {
    fn eq(&self, other: &Self) -> bool {
        self.0.raw == other.0.raw
    }
}

impl AttributeDef {
    /// Checks a definition's type, option shape and default (1199006 naming it) and compiles it.
    ///
    /// # Errors
    /// [`Error::ParamInvalid`] naming `bk_property_id` when the type is unknown, the option does
    /// not fit the type, `ismultiple` is set on a type without multiple values, or the default
    /// is not a valid value of the attribute.
    pub fn compile(raw: RawAttribute) -> Result<AttributeDef> {
        let id = raw.bk_property_id.clone();
        let invalid = || Error::invalid(id.as_str());
        let kind = AttributeType::from_name(&raw.bk_property_type).ok_or_else(invalid)?;
        let rule = Rule::compile(kind, &raw.option, raw.ismultiple).ok_or_else(invalid)?;
        let mut def = AttributeDef(Arc::new(Compiled {
            raw,
            kind,
            rule,
            absent: Value::Null,
        }));
        let default = match &def.0.raw.default {
            Value::Null => Value::Null,
            given => def.validate(given).map_err(|_| invalid())?,
        };
        let absent = def.absent_from(default).ok_or_else(invalid)?;
        // Not shared yet: this writes in place.
        Arc::make_mut(&mut def.0).absent = absent;
        Ok(def)
    }

    /// [`AttributeDef::compile`] plus the rules for custom attributes: id pattern and length,
    /// no clash with built-in or stored fields (1199006), not required (1101092).
    ///
    /// # Errors
    /// In this order: [`Error::ParamInvalid`] when the id is longer than 128 bytes, does not
    /// match `^[a-zA-Z][a-zA-Z0-9_]*$` or is reserved; [`Error::RequiredCustomAttribute`] when
    /// `isrequired`; then the errors of [`AttributeDef::compile`].
    pub fn define_custom(raw: RawAttribute) -> Result<AttributeDef> {
        let id = raw.bk_property_id.as_str();
        if !is_custom_id(id) || is_reserved(id) {
            return Err(Error::invalid(id));
        }
        if raw.isrequired {
            return Err(Error::RequiredCustomAttribute { field: id.into() });
        }
        Self::compile(raw)
    }

    /// The compiled type rule (for the `proptest` strategies).
    #[cfg(feature = "proptest")]
    pub(crate) fn rule(&self) -> &Rule {
        &self.0.rule
    }

    /// The property id.
    pub fn id(&self) -> &str {
        &self.0.raw.bk_property_id
    }

    /// The type.
    pub fn kind(&self) -> AttributeType {
        self.0.kind
    }

    /// Whether a value is required.
    pub fn required(&self) -> bool {
        self.0.raw.isrequired
    }

    /// Whether several values are allowed (enummulti, objuser, organization only).
    pub fn multiple(&self) -> bool {
        self.0.raw.ismultiple
    }

    /// The biz this attribute belongs to (`BizId(0)` when global).
    pub fn biz(&self) -> BizId {
        BizId(self.0.raw.bk_biz_id)
    }

    /// The definition as given.
    pub fn raw(&self) -> &RawAttribute {
        &self.0.raw
    }

    /// Validates a present value; returns the normalized value to store.
    ///
    /// # Errors
    /// [`Error::NeedSet`] for `null` or an empty string on a required attribute; otherwise the
    /// type's code (spec section 3): 1199006, 1199007, 1199009, 1199015, 1199016, 1199024,
    /// 1199025 or 1199092, each naming the property id.
    pub fn validate(&self, value: &Value) -> Result<Value> {
        let unassigned = || Error::NeedSet {
            field: self.id().to_owned(),
        };
        if value.is_null() {
            return if self.required() {
                Err(unassigned())
            } else {
                Ok(Value::Null)
            };
        }
        let stored = self.0.rule.check(self.id(), value)?;
        if self.required() && self.0.kind.accepts_empty_string() && stored == "" {
            return Err(unassigned());
        }
        Ok(stored)
    }

    /// The value stored when the client did not send this attribute: char → the default or
    /// `""`; enum → the option marked `is_default`, else the default or `null`; enummulti →
    /// the ids marked `is_default` as an array (definition order), else the default or `null`;
    /// bool → the default or `false`; every other type → the default or `null`. Defaults are
    /// normalized as by [`AttributeDef::validate`].
    pub fn absent_value(&self) -> Value {
        self.0.absent.clone()
    }

    /// The absent value from the normalized `default`; `None` when the default disagrees with
    /// the options marked `is_default`.
    fn absent_from(&self, default: Value) -> Option<Value> {
        let marked = match &self.0.rule {
            Rule::Enum(choices) | Rule::EnumMulti { choices, .. } => choices.defaults(),
            Rule::Text { .. } if default.is_null() => return Some(Value::from("")),
            Rule::Bool if default.is_null() => return Some(Value::Bool(false)),
            _ => return Some(default),
        };
        if marked.is_empty() {
            return Some(default);
        }
        let from_marks = match self.0.kind {
            AttributeType::Enum => Value::from(marked[0]),
            _ => Value::from(marked.clone()),
        };
        (default.is_null() || same_choice(&default, &from_marks)).then_some(from_marks)
    }
}

/// Whether two normalized enum / enummulti values choose the same ids (in any order).
fn same_choice(a: &Value, b: &Value) -> bool {
    let sorted = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = match v {
            Value::Array(items) => items.iter().map(Value::to_string).collect(),
            other => vec![other.to_string()],
        };
        ids.sort();
        ids
    };
    sorted(a) == sorted(b)
}

/// Whether `id` may name a custom attribute: 1 to 128 bytes, an ASCII letter then ASCII letters,
/// digits or `_` (reservation is checked apart).
pub fn is_custom_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    id.len() <= MAX_PROPERTY_ID_BYTES
        && bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    fn raw(kind: &str, option: Value, default: Value, multiple: bool) -> RawAttribute {
        RawAttribute {
            bk_property_id: "prop".into(),
            bk_property_name: "Prop".into(),
            bk_property_type: kind.into(),
            isrequired: false,
            option,
            default,
            ismultiple: multiple,
            bk_biz_id: 0,
        }
    }

    fn def(kind: &str, option: Value) -> AttributeDef {
        AttributeDef::compile(raw(kind, option, Value::Null, false)).unwrap()
    }

    fn required(kind: &str) -> AttributeDef {
        let mut r = raw(kind, Value::Null, Value::Null, false);
        r.isrequired = true;
        AttributeDef::compile(r).unwrap()
    }

    fn custom_code(id: &str, kind: &str, required: bool) -> Code {
        let mut r = raw(kind, Value::Null, Value::Null, false);
        r.bk_property_id = id.into();
        r.isrequired = required;
        AttributeDef::define_custom(r).unwrap_err().code()
    }

    fn enum_option() -> Value {
        json!([
            {"id": "a", "name": "A", "is_default": false},
            {"id": "b", "name": "B"},
            {"id": "A", "name": "upper a", "type": "text"}
        ])
    }

    #[test]
    fn type_names_round_trip() {
        // The names themselves are tested in kind.rs; here a definition takes its type by name.
        for t in AttributeType::ALL {
            assert_eq!(def(t.name(), sample_option(t)).kind(), t);
        }
        for bad in ["Singlechar", "string", "", "int ", "enumquote"] {
            let err = AttributeDef::compile(raw(bad, Value::Null, Value::Null, false));
            assert_eq!(err, Err(Error::invalid("prop")));
        }
    }

    fn sample_option(t: AttributeType) -> Value {
        match t {
            AttributeType::Enum | AttributeType::Enummulti => enum_option(),
            AttributeType::List => json!(["x"]),
            _ => Value::Null,
        }
    }

    #[test]
    fn null_is_stored_as_null_for_every_type() {
        for t in AttributeType::ALL {
            let d = def(t.name(), sample_option(t));
            assert_eq!(d.validate(&Value::Null), Ok(Value::Null), "{t:?}");
        }
    }

    #[test]
    fn required_refuses_null_and_empty_strings() {
        for t in AttributeType::ALL
            .into_iter()
            .filter(|t| t.accepts_empty_string())
        {
            let d = required(t.name());
            for v in [Value::Null, json!("")] {
                assert_eq!(
                    d.validate(&v),
                    Err(Error::NeedSet {
                        field: "prop".into()
                    }),
                    "{t:?} {v}"
                );
            }
        }
        assert_eq!(
            required("singlechar")
                .validate(&json!(" \t"))
                .unwrap_err()
                .code(),
            Code::NeedSet
        );
        assert_eq!(
            required("objuser")
                .validate(&json!("  "))
                .unwrap_err()
                .code(),
            Code::NeedSet
        );
        assert_eq!(
            required("int").validate(&Value::Null).unwrap_err().code(),
            Code::NeedSet
        );
        assert_eq!(
            required("int").validate(&json!("")).unwrap_err().code(),
            Code::NeedInt
        );
        assert_eq!(
            required("singlechar").validate(&json!(" x ")),
            Ok(json!("x"))
        );
    }

    #[test]
    fn definition_errors_are_1199006_naming_the_property() {
        // Every option shape and `ismultiple` that `Rule::compile` refuses is tested in option.rs
        // (`definitions_refused_for_their_option`); here: that such a refusal is 1199006 naming
        // the property, and the defaults, which only a definition checks.
        let bad = [
            // An option, and `ismultiple` on a type without multiple values.
            raw("singlechar", json!("("), Value::Null, false),
            raw("int", Value::Null, Value::Null, true),
            // A default that fails its own type.
            raw("int", Value::Null, json!("5"), false),
            raw("int", json!({"max": 3}), json!(5), false),
            raw("float", Value::Null, json!("x"), false),
            raw("singlechar", Value::Null, json!(5), false),
            raw("singlechar", json!("^a"), json!("b"), false),
            raw("singlechar", Value::Null, json!("a".repeat(257)), false),
            raw("enum", enum_option(), json!("z"), false),
            raw("enummulti", enum_option(), json!(["a", "b"]), false),
            raw("enummulti", enum_option(), json!("a"), false),
            raw("date", Value::Null, json!("2020-13-01"), false),
            raw("time", Value::Null, json!("yesterday"), false),
            raw("timezone", Value::Null, json!(""), false),
            raw("bool", Value::Null, json!("true"), false),
            raw("objuser", Value::Null, json!("a,b"), false),
            raw("list", json!(["x"]), json!("y"), false),
            raw("organization", Value::Null, json!([1, 2]), false),
            // A default that disagrees with the options marked is_default.
            raw(
                "enum",
                json!([{"id": "a", "is_default": true}, {"id": "b"}]),
                json!("b"),
                false,
            ),
            raw(
                "enummulti",
                json!([{"id": "a", "is_default": true}, {"id": "b"}]),
                json!(["b"]),
                true,
            ),
        ];
        for r in bad {
            let shown = format!("{r:?}");
            assert_eq!(
                AttributeDef::compile(r),
                Err(Error::invalid("prop")),
                "{shown}"
            );
        }
    }

    #[test]
    fn absent_values() {
        let absent = |kind: &str, option: Value, default: Value, multiple: bool| {
            AttributeDef::compile(raw(kind, option, default, multiple))
                .unwrap()
                .absent_value()
        };
        let marked =
            json!([{"id": "a"}, {"id": "b", "is_default": true}, {"id": "c", "is_default": true}]);
        let one_marked = json!([{"id": "a"}, {"id": "b", "is_default": true}]);
        let cases = [
            (
                absent("singlechar", Value::Null, Value::Null, false),
                json!(""),
            ),
            (
                absent("singlechar", Value::Null, json!(" x "), false),
                json!("x"),
            ),
            (absent("longchar", json!("^a"), json!(""), false), json!("")),
            (
                absent("enum", one_marked.clone(), Value::Null, false),
                json!("b"),
            ),
            (
                absent("enum", one_marked.clone(), json!(" b"), false),
                json!("b"),
            ),
            (absent("enum", enum_option(), json!("A"), false), json!("A")),
            (
                absent("enum", enum_option(), Value::Null, false),
                Value::Null,
            ),
            (
                absent("enummulti", marked.clone(), Value::Null, true),
                json!(["b", "c"]),
            ),
            (
                absent("enummulti", marked, json!(["c", "b"]), true),
                json!(["b", "c"]),
            ),
            (
                absent("enummulti", one_marked, Value::Null, false),
                json!(["b"]),
            ),
            (
                absent("enummulti", enum_option(), Value::Null, true),
                Value::Null,
            ),
            (
                absent("enummulti", enum_option(), json!(["a"]), false),
                json!(["a"]),
            ),
            (
                absent("bool", Value::Null, Value::Null, false),
                json!(false),
            ),
            (absent("bool", Value::Null, json!(true), false), json!(true)),
            (absent("int", Value::Null, Value::Null, false), Value::Null),
            (absent("int", Value::Null, json!(5), false), json!(5)),
            (
                absent("float", Value::Null, json!("1.5"), false),
                json!(1.5),
            ),
            (absent("date", Value::Null, Value::Null, false), Value::Null),
            (absent("date", Value::Null, json!(""), false), json!("")),
            (absent("time", Value::Null, Value::Null, false), Value::Null),
            (
                absent("timezone", Value::Null, json!("UTC"), false),
                json!("UTC"),
            ),
            (
                absent("objuser", Value::Null, Value::Null, false),
                Value::Null,
            ),
            (
                absent("objuser", Value::Null, json!(" bob "), false),
                json!("bob"),
            ),
            (
                absent("list", json!(["x", "y"]), json!("y"), false),
                json!("y"),
            ),
            (
                absent("organization", Value::Null, json!([3]), false),
                json!([3]),
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn custom_ids() {
        let long = format!("a{}", "b".repeat(127));
        for ok in ["a", "Owner_team", "x1", "a_", long.as_str()] {
            let mut r = raw("singlechar", Value::Null, Value::Null, false);
            r.bk_property_id = ok.into();
            assert_eq!(AttributeDef::define_custom(r).unwrap().id(), ok);
        }
        let too_long = format!("{long}c");
        for bad in [
            "",
            "1abc",
            "_a",
            "a-b",
            "a b",
            "ä",
            "aä",
            "a.b",
            " a",
            "a\n",
            too_long.as_str(),
        ] {
            assert_eq!(
                custom_code(bad, "singlechar", false),
                Code::ParamInvalid,
                "{bad:?}"
            );
        }
        for reserved in [
            "bk_set_name",
            "bk_capacity",
            "bk_biz_id",
            "bk_set_id",
            "default",
            "create_time",
        ] {
            let mut r = raw("singlechar", Value::Null, Value::Null, false);
            r.bk_property_id = reserved.into();
            assert_eq!(
                AttributeDef::define_custom(r),
                Err(Error::invalid(reserved))
            );
        }
    }

    #[test]
    fn custom_definition_order() {
        // A required custom attribute is refused with 1101092 naming it.
        let mut r = raw("singlechar", Value::Null, Value::Null, false);
        r.bk_property_id = "owner".into();
        r.isrequired = true;
        assert_eq!(
            AttributeDef::define_custom(r),
            Err(Error::RequiredCustomAttribute {
                field: "owner".into()
            })
        );
        // The id is checked first, then the required flag, then the definition.
        assert_eq!(custom_code("1bad", "singlechar", true), Code::ParamInvalid);
        assert_eq!(
            custom_code("bk_set_name", "singlechar", true),
            Code::ParamInvalid
        );
        assert_eq!(
            custom_code("owner", "no-such-type", true),
            Code::RequiredCustomAttribute
        );
        assert_eq!(
            custom_code("owner", "no-such-type", false),
            Code::ParamInvalid
        );
        // compile alone neither checks the id nor the required flag.
        let mut r = raw("singlechar", Value::Null, Value::Null, false);
        r.bk_property_id = "bk_set_desc".into();
        r.isrequired = true;
        assert!(AttributeDef::compile(r).unwrap().required());
    }

    #[test]
    fn accessors_and_equality() {
        let mut r = raw("enummulti", enum_option(), Value::Null, true);
        r.bk_biz_id = 4;
        let d = AttributeDef::define_custom(r.clone()).unwrap();
        assert_eq!(d.id(), "prop");
        assert_eq!(d.kind(), AttributeType::Enummulti);
        assert!(!d.required());
        assert!(d.multiple());
        assert_eq!(d.biz(), BizId(4));
        assert_eq!(d.raw(), &r);
        assert_eq!(d, AttributeDef::compile(r.clone()).unwrap());
        r.bk_property_name = "Other".into();
        assert_ne!(d, AttributeDef::compile(r).unwrap());
    }
}
