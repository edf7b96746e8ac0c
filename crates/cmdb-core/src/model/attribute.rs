//! Attribute definitions of the set model and the validation of one value against one definition.
//!
//! A [`RawAttribute`] is what a fixture or a store holds; [`AttributeDef::compile`] checks it
//! (type name, option shape, default) and compiles its option once; [`AttributeDef::validate`]
//! then checks one client value and returns the normalized value to store. The per-type option
//! shapes are described in `option.rs`, the per-type value rules in `value.rs`.
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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::builtin::is_reserved;
use super::option::Rule;
use crate::error::{Error, Result};
use crate::ids::BizId;

pub use super::option::{LONGCHAR_MAX_BYTES, SINGLECHAR_MAX_BYTES};
pub use super::value::{OBJUSER_MAX_BYTES, TIME_MAX_BYTES};

/// The longest custom property id, in bytes.
pub const MAX_PROPERTY_ID_BYTES: usize = 128;

/// The 13 attribute types of the set model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// Short string, ≤ 256 bytes, optional regex.
    Singlechar,
    /// Long string, ≤ 2000 bytes, optional regex.
    Longchar,
    /// Integer with optional bounds.
    Int,
    /// Number with optional bounds.
    Float,
    /// One option id.
    Enum,
    /// A list of option ids.
    Enummulti,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD hh:mm:ss` or RFC 3339.
    Time,
    /// An IANA-style zone name.
    Timezone,
    /// true / false.
    Bool,
    /// User names.
    Objuser,
    /// One of a list of strings.
    List,
    /// Organization ids.
    Organization,
}

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

impl AttributeType {
    /// Every type, in the spec's table order.
    pub const ALL: [AttributeType; 13] = [
        AttributeType::Singlechar,
        AttributeType::Longchar,
        AttributeType::Int,
        AttributeType::Float,
        AttributeType::Enum,
        AttributeType::Enummulti,
        AttributeType::Date,
        AttributeType::Time,
        AttributeType::Timezone,
        AttributeType::Bool,
        AttributeType::Objuser,
        AttributeType::List,
        AttributeType::Organization,
    ];

    /// The bk-cmdb type name, e.g. `singlechar`.
    pub fn name(self) -> &'static str {
        match self {
            AttributeType::Singlechar => "singlechar",
            AttributeType::Longchar => "longchar",
            AttributeType::Int => "int",
            AttributeType::Float => "float",
            AttributeType::Enum => "enum",
            AttributeType::Enummulti => "enummulti",
            AttributeType::Date => "date",
            AttributeType::Time => "time",
            AttributeType::Timezone => "timezone",
            AttributeType::Bool => "bool",
            AttributeType::Objuser => "objuser",
            AttributeType::List => "list",
            AttributeType::Organization => "organization",
        }
    }

    /// The type with this exact (lowercase) name.
    pub fn from_name(name: &str) -> Option<AttributeType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether `ismultiple: true` is allowed: enummulti, objuser and organization.
    pub fn allows_multiple(self) -> bool {
        matches!(
            self,
            AttributeType::Enummulti | AttributeType::Objuser | AttributeType::Organization
        )
    }

    /// Whether a non-required attribute of this type stores `""` as `""`: char, date, time
    /// and objuser.
    pub fn accepts_empty_string(self) -> bool {
        matches!(
            self,
            AttributeType::Singlechar
                | AttributeType::Longchar
                | AttributeType::Date
                | AttributeType::Time
                | AttributeType::Objuser
        )
    }
}

/// A checked, compiled attribute definition.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    raw: RawAttribute,
    kind: AttributeType,
    rule: Rule,
    absent: Value,
}

impl PartialEq for AttributeDef {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
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
        let mut def = AttributeDef {
            raw,
            kind,
            rule,
            absent: Value::Null,
        };
        let default = match &def.raw.default {
            Value::Null => Value::Null,
            given => def.validate(given).map_err(|_| invalid())?,
        };
        def.absent = def.absent_from(default).ok_or_else(invalid)?;
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

    /// The property id.
    pub fn id(&self) -> &str {
        &self.raw.bk_property_id
    }

    /// The type.
    pub fn kind(&self) -> AttributeType {
        self.kind
    }

    /// Whether a value is required.
    pub fn required(&self) -> bool {
        self.raw.isrequired
    }

    /// Whether several values are allowed (enummulti, objuser, organization only).
    pub fn multiple(&self) -> bool {
        self.raw.ismultiple
    }

    /// The biz this attribute belongs to (`BizId(0)` when global).
    pub fn biz(&self) -> BizId {
        BizId(self.raw.bk_biz_id)
    }

    /// The definition as given.
    pub fn raw(&self) -> &RawAttribute {
        &self.raw
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
        let stored = self.rule.check(self.id(), value)?;
        if self.required() && self.kind.accepts_empty_string() && stored == "" {
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
        self.absent.clone()
    }

    /// The absent value from the normalized `default`; `None` when the default disagrees with
    /// the options marked `is_default`.
    fn absent_from(&self, default: Value) -> Option<Value> {
        let marked = match &self.rule {
            Rule::Enum(choices) | Rule::EnumMulti { choices, .. } => choices.defaults(),
            Rule::Text { .. } if default.is_null() => return Some(Value::from("")),
            Rule::Bool if default.is_null() => return Some(Value::Bool(false)),
            _ => return Some(default),
        };
        if marked.is_empty() {
            return Some(default);
        }
        let from_marks = match self.kind {
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

    fn multi(kind: &str, option: Value) -> AttributeDef {
        AttributeDef::compile(raw(kind, option, Value::Null, true)).unwrap()
    }

    fn required(kind: &str) -> AttributeDef {
        let mut r = raw(kind, Value::Null, Value::Null, false);
        r.isrequired = true;
        AttributeDef::compile(r).unwrap()
    }

    /// Asserts `d` accepts every `(input, stored)` pair.
    fn accepts(d: &AttributeDef, cases: &[(Value, Value)]) {
        for (input, stored) in cases {
            assert_eq!(d.validate(input).as_ref(), Ok(stored), "{input}");
        }
    }

    /// Asserts `d` refuses every input with `code`, naming the property.
    fn refuses(d: &AttributeDef, code: Code, inputs: &[Value]) {
        for input in inputs {
            let err = d.validate(input).unwrap_err();
            assert_eq!(err.code(), code, "{input} -> {err}");
            assert!(err.to_string().contains("'prop'"), "{err}");
        }
    }

    fn definition_code(r: RawAttribute) -> Code {
        AttributeDef::compile(r).unwrap_err().code()
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
        for t in AttributeType::ALL {
            assert_eq!(AttributeType::from_name(t.name()), Some(t));
            let via_serde: AttributeType = serde_json::from_value(json!(t.name())).unwrap();
            assert_eq!(via_serde, t);
            assert_eq!(def(t.name(), sample_option(t)).kind(), t);
        }
        for bad in ["Singlechar", "string", "", "int ", "enumquote"] {
            assert_eq!(AttributeType::from_name(bad), None);
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
    fn empty_string_for_types_that_do_not_take_it() {
        let cases = [
            ("int", Value::Null, Code::NeedInt),
            ("float", Value::Null, Code::ParamInvalid),
            ("enum", enum_option(), Code::ParamInvalid),
            ("enummulti", enum_option(), Code::ParamInvalid),
            ("timezone", Value::Null, Code::NeedTimezone),
            ("bool", Value::Null, Code::NeedBool),
            ("list", json!(["x"]), Code::ParamInvalid),
            ("organization", Value::Null, Code::ParamInvalid),
        ];
        for (kind, option, code) in cases {
            refuses(&def(kind, option), code, &[json!("")]);
        }
    }

    #[test]
    fn singlechar_values() {
        let d = def("singlechar", Value::Null);
        accepts(
            &d,
            &[
                (json!("web"), json!("web")),
                (json!("  web 01\t\n"), json!("web 01")),
                (json!(""), json!("")),
                (json!(" \u{3000} "), json!("")),
                (json!("a".repeat(256)), json!("a".repeat(256))),
                (
                    json!(format!("  {}  ", "a".repeat(256))),
                    json!("a".repeat(256)),
                ),
                (json!("集".repeat(85)), json!("集".repeat(85))),
            ],
        );
        refuses(
            &d,
            Code::NeedString,
            &[
                json!(12),
                json!(1.5),
                json!(true),
                json!([]),
                json!(["a"]),
                json!({"a": "b"}),
            ],
        );
        refuses(
            &d,
            Code::OverLimit,
            &[
                json!("a".repeat(257)),
                json!("集".repeat(86)),
                json!("a".repeat(1 << 20)),
            ],
        );
    }

    #[test]
    fn char_patterns() {
        let d = def("singlechar", json!("^[a-z-]+$"));
        accepts(
            &d,
            &[
                (json!("ops-team"), json!("ops-team")),
                (json!("  ops "), json!("ops")),
                (json!(""), json!("")),
                (json!("  "), json!("")),
            ],
        );
        refuses(
            &d,
            Code::RegexFailed,
            &[json!("Ops"), json!("ops team"), json!("ops1")],
        );
        // The length is checked before the pattern.
        refuses(&d, Code::OverLimit, &[json!("A".repeat(300))]);
        // An unanchored pattern searches, as Go's MatchString.
        let d = def("longchar", json!("b"));
        accepts(&d, &[(json!("abc"), json!("abc"))]);
        refuses(&d, Code::RegexFailed, &[json!("xyz")]);
        // "" as option means no pattern.
        accepts(
            &def("singlechar", json!("")),
            &[(json!("ANY thing"), json!("ANY thing"))],
        );
    }

    #[test]
    fn longchar_values() {
        let d = def("longchar", Value::Null);
        accepts(
            &d,
            &[
                (json!("a".repeat(2000)), json!("a".repeat(2000))),
                (
                    json!(format!(" {} ", "a".repeat(2000))),
                    json!("a".repeat(2000)),
                ),
                (json!(""), json!("")),
            ],
        );
        refuses(&d, Code::OverLimit, &[json!("a".repeat(2001))]);
        refuses(&d, Code::NeedString, &[json!(0), json!(false)]);
    }

    #[test]
    fn int_values() {
        let d = def("int", Value::Null);
        accepts(
            &d,
            &[
                (json!(0), json!(0)),
                (json!(-3), json!(-3)),
                (json!(i64::MAX), json!(i64::MAX)),
                (json!(i64::MIN), json!(i64::MIN)),
            ],
        );
        refuses(
            &d,
            Code::NeedInt,
            &[
                json!("5"),
                json!(1.5),
                json!(15.0),
                json!(u64::MAX),
                json!(i64::MAX as u64 + 1),
                json!(true),
                json!([1]),
                json!({"n": 1}),
                json!(""),
            ],
        );
        let d = def("int", json!({"min": "1", "max": "10"}));
        accepts(&d, &[(json!(1), json!(1)), (json!(10), json!(10))]);
        refuses(
            &d,
            Code::ParamInvalid,
            &[json!(0), json!(11), json!(i64::MIN)],
        );
        refuses(&d, Code::NeedInt, &[json!(5.5)]);
        let d = def("int", json!({"min": -5, "max": ""}));
        accepts(
            &d,
            &[(json!(-5), json!(-5)), (json!(i64::MAX), json!(i64::MAX))],
        );
        refuses(&d, Code::ParamInvalid, &[json!(-6)]);
    }

    #[test]
    fn float_values() {
        let d = def("float", Value::Null);
        accepts(
            &d,
            &[
                (json!(1.5), json!(1.5)),
                (json!(5), json!(5)),
                (json!(u64::MAX), json!(u64::MAX)),
                (json!(" 1.5"), json!(1.5)),
                (json!("1e3"), json!(1000.0)),
                (json!("-2"), json!(-2.0)),
                (json!("\t.25\n"), json!(0.25)),
            ],
        );
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!(""),
                json!(" "),
                json!("abc"),
                json!("1.5x"),
                json!("inf"),
                json!("-infinity"),
                json!("NaN"),
                json!("1e400"),
                json!("0x1A"),
                json!("1,5"),
                json!(true),
                json!([1.5]),
                json!({"x": 1}),
            ],
        );
        let d = def("float", json!({"min": "0", "max": "2.5"}));
        accepts(&d, &[(json!(0), json!(0)), (json!("2.5"), json!(2.5))]);
        refuses(
            &d,
            Code::ParamInvalid,
            &[json!(-0.1), json!("2.51"), json!(3)],
        );
    }

    #[test]
    fn enum_values() {
        let d = def("enum", enum_option());
        accepts(
            &d,
            &[
                (json!("a"), json!("a")),
                (json!(" b "), json!("b")),
                (json!("A"), json!("A")),
            ],
        );
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!("B"),
                json!("c"),
                json!(""),
                json!(1),
                json!(["a"]),
                json!(true),
            ],
        );
        let env = &crate::model::builtin::generic_builtin_attributes()[1];
        assert_eq!(env.id(), "bk_set_env");
        assert_eq!(env.validate(&json!("2")), Ok(json!("2")));
        assert_eq!(
            env.validate(&json!(2)).unwrap_err(),
            Error::invalid("bk_set_env")
        );
    }

    #[test]
    fn enummulti_values() {
        let d = multi("enummulti", enum_option());
        accepts(
            &d,
            &[
                (json!(["a", "b"]), json!(["a", "b"])),
                (json!(["b", " a"]), json!(["b", "a"])),
                (json!([]), json!([])),
            ],
        );
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!("a"),
                json!(["a", "a"]),
                json!(["a", " a "]),
                json!(["z"]),
                json!([1]),
                json!([["a"]]),
                json!({"0": "a"}),
            ],
        );
        let d = def("enummulti", enum_option());
        accepts(
            &d,
            &[(json!(["a"]), json!(["a"])), (json!([" A "]), json!(["A"]))],
        );
        refuses(&d, Code::SingleChoice, &[json!(["a", "b"]), json!([])]);
        // Element checks come before the single-choice check.
        refuses(
            &d,
            Code::ParamInvalid,
            &[json!(["a", "a"]), json!(["a", "z"]), json!("a")],
        );
    }

    #[test]
    fn date_values() {
        let d = def("date", Value::Null);
        accepts(
            &d,
            &[
                (json!("2024-02-29"), json!("2024-02-29")),
                (json!("1999-12-31"), json!("1999-12-31")),
                (json!(""), json!("")),
            ],
        );
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!("2023-02-29"),
                json!("2024-13-01"),
                json!("2024-00-10"),
                json!("2024-2-9"),
                json!(" 2024-02-29"),
                json!("2024-02-29 "),
                json!("20240229"),
                json!("2024/02/29"),
                json!("+024-02-29"),
                json!("２０２４-02-29"),
                json!("2024-02-29 00:00:00"),
                json!(" "),
                json!(20240229),
                json!(["2024-02-29"]),
            ],
        );
    }

    #[test]
    fn time_values() {
        let d = def("time", Value::Null);
        let kept = [
            "2024-02-29 23:59:59",
            "2024-02-29T23:59:59Z",
            "2022-02-22T20:34:01.386+08:00",
            "2022-02-22t20:34:01-05:30",
            "2022-02-22 20:34:01+08:00",
            "",
        ];
        for s in kept {
            accepts(&d, &[(json!(s), json!(s))]);
        }
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!("2024-02-30 00:00:00"),
                json!("2024-02-29 24:00:00"),
                json!("2024-02-29 23:60:00"),
                json!("2016-12-31 23:59:60"),
                json!("2016-12-31T23:59:60Z"),
                json!("2024-02-29T23:59:59"),
                json!("2024-02-29 23:59"),
                json!("2024-2-29 23:59:59"),
                json!(" 2024-02-29 23:59:59"),
                json!("2024-02-29"),
                json!("2024-02-29T23:59:59+24:00"),
                json!(format!("2024-02-29T23:59:59.{}Z", "1".repeat(60))),
                json!(1_700_000_000),
                json!(true),
            ],
        );
    }

    #[test]
    fn timezone_values() {
        let d = def("timezone", Value::Null);
        for s in [
            "Asia/Shanghai",
            "UTC",
            "Etc/GMT+8",
            "America/Port-au-Prince",
            "a_b",
        ] {
            accepts(&d, &[(json!(s), json!(s))]);
        }
        refuses(
            &d,
            Code::NeedTimezone,
            &[
                json!(""),
                json!("Asia Shanghai"),
                json!(" UTC"),
                json!("Asia/上海"),
                json!(8),
                json!(["UTC"]),
            ],
        );
    }

    #[test]
    fn bool_values() {
        let d = def("bool", Value::Null);
        accepts(
            &d,
            &[(json!(true), json!(true)), (json!(false), json!(false))],
        );
        refuses(
            &d,
            Code::NeedBool,
            &[json!("true"), json!(1), json!(0), json!(""), json!([true])],
        );
    }

    #[test]
    fn objuser_values() {
        let d = def("objuser", Value::Null);
        accepts(
            &d,
            &[
                (json!("alice"), json!("alice")),
                (json!(" alice@corp.com "), json!("alice@corp.com")),
                (json!("1user_x-y.z"), json!("1user_x-y.z")),
                (json!(""), json!("")),
                (json!("a".repeat(2000)), json!("a".repeat(2000))),
            ],
        );
        refuses(
            &d,
            Code::NeedString,
            &[json!(1), json!(["alice"]), json!(true)],
        );
        refuses(&d, Code::OverLimit, &[json!("a".repeat(2001))]);
        refuses(
            &d,
            Code::RegexFailed,
            &[
                json!("_alice"),
                json!("-a"),
                json!("al ice"),
                json!("alice,"),
                json!(",alice"),
                json!("a, b"),
                json!("用户"),
                json!("a;b"),
            ],
        );
        refuses(&d, Code::ParamInvalid, &[json!("alice,bob")]);
        let d = multi("objuser", Value::Null);
        accepts(
            &d,
            &[(json!(" alice,bob,alice "), json!("alice,bob,alice"))],
        );
        refuses(
            &d,
            Code::RegexFailed,
            &[json!("alice,,bob"), json!("alice, bob")],
        );
    }

    #[test]
    fn list_values() {
        let d = def("list", json!(["x", "y z"]));
        accepts(
            &d,
            &[(json!("x"), json!("x")), (json!(" y z "), json!("y z"))],
        );
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!("X"),
                json!("y"),
                json!(""),
                json!(1),
                json!(["x"]),
                json!({"x": 1}),
            ],
        );
    }

    #[test]
    fn organization_values() {
        let d = def("organization", Value::Null);
        accepts(&d, &[(json!([7]), json!([7])), (json!([-1]), json!([-1]))]);
        refuses(
            &d,
            Code::ParamInvalid,
            &[
                json!([]),
                json!([1, 2]),
                json!(7),
                json!("7"),
                json!(["7"]),
                json!([1.5]),
                json!([7.0]),
                json!([u64::MAX]),
                json!([[1]]),
                json!({"id": 1}),
            ],
        );
        let d = multi("organization", Value::Null);
        accepts(
            &d,
            &[(json!([3, 1, 2]), json!([3, 1, 2])), (json!([]), json!([]))],
        );
        refuses(&d, Code::ParamInvalid, &[json!([1, 1]), json!([1, "2"])]);
    }

    #[test]
    fn definition_errors_are_1199006_naming_the_property() {
        let bad = [
            raw("singlechar", json!("("), Value::Null, false),
            raw("singlechar", json!("[a-"), Value::Null, false),
            raw("longchar", json!(12), Value::Null, false),
            raw("singlechar", json!(["a"]), Value::Null, false),
            raw("int", json!({"min": "10", "max": "1"}), Value::Null, false),
            raw("float", json!({"min": 2.5, "max": "1"}), Value::Null, false),
            raw("int", json!({"min": "x"}), Value::Null, false),
            raw("int", json!("1-10"), Value::Null, false),
            raw(
                "enum",
                json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]),
                Value::Null,
                false,
            ),
            raw(
                "enummulti",
                json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]),
                Value::Null,
                false,
            ),
            raw("enum", json!([]), Value::Null, false),
            raw("enum", Value::Null, Value::Null, false),
            raw(
                "enum",
                json!([{"id": "a"}, {"id": "a"}]),
                Value::Null,
                false,
            ),
            raw("enum", json!([{"id": ""}]), Value::Null, false),
            raw("list", json!([]), Value::Null, false),
            raw("list", json!(["a", 1]), Value::Null, false),
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
            // ismultiple on a type without multiple values.
            raw("singlechar", Value::Null, Value::Null, true),
            raw("enum", enum_option(), Value::Null, true),
            raw("int", Value::Null, Value::Null, true),
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
    fn types_without_option_take_null_only() {
        for kind in [
            "date",
            "time",
            "timezone",
            "bool",
            "objuser",
            "organization",
        ] {
            for option in [
                json!(""),
                json!("x"),
                json!({}),
                json!([]),
                json!(0),
                json!(false),
            ] {
                let code = definition_code(raw(kind, option.clone(), Value::Null, false));
                assert_eq!(code, Code::ParamInvalid, "{kind} {option}");
            }
            assert_eq!(def(kind, Value::Null).kind().name(), kind);
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

    #[test]
    fn builtins_validate_with_their_limits() {
        let defs = crate::model::builtin::generic_builtin_attributes();
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
