//! The `option` of an attribute definition: its shape per type, checked and compiled once into
//! a [`Rule`] that [`crate::model::value`] applies to values (spec sections 3 and 14).
//!
//! Accepted option shapes:
//! - `singlechar`, `longchar`: `null`, `""` (no pattern) or a regex string (unanchored search,
//!   as bk-cmdb's Go `MatchString`).
//! - `int`, `float`: `null` (unbounded) or an object with only the keys `min` and `max`; each
//!   bound is absent, `null`, a string (empty or blank = unbounded) or a JSON number. Int bounds
//!   must be integers within i64; float bounds finite decimals. `min > max` is refused.
//! - `enum`, `enummulti`: a non-empty array of `{"id", "name", "is_default"}` objects; `id` is a
//!   non-empty string without surrounding whitespace, unique; `name`, when present, a string;
//!   `is_default`, when present, a bool or null. Other keys (bk-cmdb's `type`) are ignored.
//! - `list`: a non-empty array of unique, non-empty strings without surrounding whitespace.
//! - every other type: `null` only.
//!
//! `ismultiple: true` is only meaningful for `enummulti`, `objuser` and `organization`; on any
//! other type it is refused.

use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::kind::AttributeType;

/// Inclusive bounds; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds<T> {
    /// The lowest accepted value.
    pub(crate) min: Option<T>,
    /// The highest accepted value.
    pub(crate) max: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    /// Whether `v` lies within the bounds.
    pub(crate) fn contains(&self, v: T) -> bool {
        self.min.is_none_or(|min| v >= min) && self.max.is_none_or(|max| v <= max)
    }

    /// Bounds whose minimum is not above their maximum.
    fn checked(min: Option<T>, max: Option<T>) -> Option<Self> {
        match (min, max) {
            (Some(lo), Some(hi)) if lo > hi => None,
            _ => Some(Bounds { min, max }),
        }
    }
}

/// One option of an enum or enummulti attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    /// The option id, the stored value.
    pub(crate) id: String,
    /// Whether this option is a default.
    pub(crate) is_default: bool,
}

/// The options of an enum or enummulti attribute, in definition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choices(pub(crate) Vec<Choice>);

impl Choices {
    /// The index of the option with this id.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.0.iter().position(|c| c.id == id)
    }

    /// The ids marked `is_default`, in definition order.
    pub(crate) fn defaults(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|c| c.is_default)
            .map(|c| c.id.as_str())
            .collect()
    }
}

/// A compiled type rule: the type, its parsed option and its multiplicity.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// `singlechar` / `longchar`: a byte limit and an optional pattern.
    Text {
        /// The longest trimmed value, in UTF-8 bytes.
        max_bytes: usize,
        /// The pattern the trimmed value must contain a match of. Shared, not cloned, by copies
        /// of the rule (the engine's attribute cache hands out copies): cloning a `Regex`
        /// gives it a fresh match-cache pool, rebuilt on its first match in every create.
        pattern: Option<Arc<Regex>>,
    },
    /// `int`.
    Int(Bounds<i64>),
    /// `float`.
    Float(Bounds<f64>),
    /// `enum`.
    Enum(Choices),
    /// `enummulti`.
    EnumMulti {
        /// The options.
        choices: Choices,
        /// Whether several ids may be chosen.
        multiple: bool,
    },
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `timezone`.
    Timezone,
    /// `bool`.
    Bool,
    /// `objuser`.
    Objuser {
        /// Whether several comma-separated names are allowed.
        multiple: bool,
    },
    /// `list`.
    List(Vec<String>),
    /// `organization`.
    Organization {
        /// Whether several ids are allowed.
        multiple: bool,
    },
}

/// The longest singlechar value, in UTF-8 bytes.
pub const SINGLECHAR_MAX_BYTES: usize = 256;
/// The longest longchar value, in UTF-8 bytes.
pub const LONGCHAR_MAX_BYTES: usize = 2000;

impl Rule {
    /// Checks `option` and `ismultiple` for `kind` and compiles them; `None` when invalid.
    pub(crate) fn compile(kind: AttributeType, option: &Value, ismultiple: bool) -> Option<Rule> {
        if ismultiple && !kind.allows_multiple() {
            return None;
        }
        let multiple = ismultiple;
        Some(match kind {
            AttributeType::Singlechar => text_rule(SINGLECHAR_MAX_BYTES, option)?,
            AttributeType::Longchar => text_rule(LONGCHAR_MAX_BYTES, option)?,
            AttributeType::Int => Rule::Int(bounds(option, int_bound)?),
            AttributeType::Float => Rule::Float(bounds(option, float_bound)?),
            AttributeType::Enum => Rule::Enum(choices(option, false)?),
            AttributeType::Enummulti => Rule::EnumMulti {
                choices: choices(option, multiple)?,
                multiple,
            },
            AttributeType::List => Rule::List(list(option)?),
            AttributeType::Date => no_option(option, Rule::Date)?,
            AttributeType::Time => no_option(option, Rule::Time)?,
            AttributeType::Timezone => no_option(option, Rule::Timezone)?,
            AttributeType::Bool => no_option(option, Rule::Bool)?,
            AttributeType::Objuser => no_option(option, Rule::Objuser { multiple })?,
            AttributeType::Organization => no_option(option, Rule::Organization { multiple })?,
        })
    }
}

/// Types without an option take `null` only.
fn no_option(option: &Value, rule: Rule) -> Option<Rule> {
    option.is_null().then_some(rule)
}

/// `null` or `""`: no pattern; a string: a regex; anything else is invalid.
fn text_rule(max_bytes: usize, option: &Value) -> Option<Rule> {
    let pattern = match option {
        Value::Null => None,
        Value::String(p) if p.is_empty() => None,
        Value::String(p) => Some(Arc::new(Regex::new(p).ok()?)),
        _ => return None,
    };
    Some(Rule::Text { max_bytes, pattern })
}

/// `null` or `{"min": …, "max": …}` with each bound parsed by `parse`.
fn bounds<T: PartialOrd + Copy>(
    option: &Value,
    parse: fn(&Value) -> Option<Option<T>>,
) -> Option<Bounds<T>> {
    let map = match option {
        Value::Null => {
            return Some(Bounds {
                min: None,
                max: None,
            });
        }
        Value::Object(map) => map,
        _ => return None,
    };
    if map.keys().any(|k| k != "min" && k != "max") {
        return None;
    }
    let bound = |key: &str| map.get(key).map_or(Some(None), parse);
    Bounds::checked(bound("min")?, bound("max")?)
}

/// A bound that is absent: `null` or a blank string. `None` when `v` is not one.
fn unbounded(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// An int bound: `Some(None)` when unbounded, `Some(Some(n))` for an i64, `None` when invalid.
fn int_bound(v: &Value) -> Option<Option<i64>> {
    if unbounded(v) {
        return Some(None);
    }
    match v {
        Value::String(s) => s.trim().parse().ok().map(Some),
        Value::Number(n) => n.as_i64().map(Some),
        _ => None,
    }
}

/// A float bound: `Some(None)` when unbounded, `Some(Some(x))` for a finite number, `None`
/// when invalid.
fn float_bound(v: &Value) -> Option<Option<f64>> {
    if unbounded(v) {
        return Some(None);
    }
    match v {
        Value::String(s) => parse_decimal(s.trim()).map(Some),
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).map(Some),
        _ => None,
    }
}

/// Parses a finite decimal number: `[+-]digits[.digits][(e|E)[+-]digits]`, where the integer
/// or the fraction digits (not both) may be empty. `inf`, `NaN`, hex and overflowing numbers
/// (`1e400`) are refused.
pub(crate) fn parse_decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        frac_digits = count_digits(&b[i + 1..]);
        i += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(b.get(i), Some(b'+' | b'-')));
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// How many ASCII digits `b` starts with.
fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// A non-empty string without surrounding whitespace: the shape of option ids and list items.
fn option_string(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() && s.trim() == s => Some(s),
        _ => None,
    }
}

/// Enum options; several defaults only when `several_defaults`.
fn choices(option: &Value, several_defaults: bool) -> Option<Choices> {
    let items = option.as_array().filter(|a| !a.is_empty())?;
    let mut out: Vec<Choice> = Vec::with_capacity(items.len());
    for item in items {
        let choice = choice(item.as_object()?)?;
        if out.iter().any(|c| c.id == choice.id) {
            return None;
        }
        out.push(choice);
    }
    let choices = Choices(out);
    (several_defaults || choices.defaults().len() <= 1).then_some(choices)
}

/// One enum option object.
fn choice(item: &Map<String, Value>) -> Option<Choice> {
    let id = option_string(item.get("id")?)?;
    if !matches!(item.get("name"), None | Some(Value::String(_))) {
        return None;
    }
    let is_default = match item.get("is_default") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    Some(Choice {
        id: id.to_owned(),
        is_default,
    })
}

/// List items.
fn list(option: &Value) -> Option<Vec<String>> {
    let items = option.as_array().filter(|a| !a.is_empty())?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = option_string(item)?;
        if out.iter().any(|o| o == s) {
            return None;
        }
        out.push(s.to_owned());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(kind: AttributeType, option: Value) -> Option<Rule> {
        Rule::compile(kind, &option, false)
    }

    #[test]
    fn decimals() {
        for (s, x) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("1e-400", 0.0),
            ("007", 7.0),
        ] {
            assert_eq!(parse_decimal(s), Some(x), "{s}");
        }
        for s in [
            "", ".", "+", "-", "e3", "1e", "1e+", "inf", "NaN", "infinity", "0x10", "1e400", " 1",
            "1 ", "1.2.3", "1,5", "--1", "1e3.5",
        ] {
            assert_eq!(parse_decimal(s), None, "{s}");
        }
    }

    #[test]
    fn int_bounds_shapes() {
        let ok = |o: Value, min: Option<i64>, max: Option<i64>| match compile(AttributeType::Int, o)
        {
            Some(Rule::Int(b)) => assert_eq!(b, Bounds { min, max }),
            other => panic!("{other:?}"),
        };
        ok(Value::Null, None, None);
        ok(json!({}), None, None);
        ok(json!({"min": "1", "max": "10"}), Some(1), Some(10));
        ok(json!({"min": 1, "max": 10}), Some(1), Some(10));
        ok(json!({"min": "", "max": " 10 "}), None, Some(10));
        ok(json!({"min": null, "max": "  "}), None, None);
        ok(json!({"min": "5", "max": "5"}), Some(5), Some(5));
        ok(
            json!({"min": i64::MIN, "max": i64::MAX}),
            Some(i64::MIN),
            Some(i64::MAX),
        );
        for bad in [
            json!(""),
            json!("1"),
            json!([1, 2]),
            json!({"min": "10", "max": "1"}),
            json!({"min": 1.5}),
            json!({"min": 10.0}),
            json!({"min": "1.5"}),
            json!({"max": u64::MAX}),
            json!({"max": "9223372036854775808"}),
            json!({"min": true}),
            json!({"min": [1]}),
            json!({"min": "a"}),
            json!({"mn": "1"}),
        ] {
            assert!(compile(AttributeType::Int, bad.clone()).is_none(), "{bad}");
        }
    }

    #[test]
    fn float_bounds_shapes() {
        match compile(AttributeType::Float, json!({"min": "-1.5", "max": 2})) {
            Some(Rule::Float(b)) => assert_eq!(
                b,
                Bounds {
                    min: Some(-1.5),
                    max: Some(2.0)
                }
            ),
            other => panic!("{other:?}"),
        }
        for bad in [
            json!({"min": "2", "max": "1.5"}),
            json!({"min": "inf"}),
            json!({"max": "1e400"}),
            json!({"max": "NaN"}),
            json!({"max": false}),
            json!({"other": 1}),
            json!("1"),
        ] {
            assert!(
                compile(AttributeType::Float, bad.clone()).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn choices_shapes() {
        let c = choices(
            &json!([{"id": "a", "name": "A", "is_default": true, "type": "text"}, {"id": "b"}]),
            false,
        )
        .unwrap();
        assert_eq!(c.defaults(), vec!["a"]);
        assert_eq!(c.position("b"), Some(1));
        assert_eq!(c.position("B"), None);
        for bad in [
            Value::Null,
            json!([]),
            json!("a"),
            json!(["a"]),
            json!([{"name": "A"}]),
            json!([{"id": ""}]),
            json!([{"id": " a"}]),
            json!([{"id": 1}]),
            json!([{"id": "a"}, {"id": "a"}]),
            json!([{"id": "a", "name": 3}]),
            json!([{"id": "a", "is_default": "true"}]),
            json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]),
        ] {
            assert!(choices(&bad, false).is_none(), "{bad}");
        }
        let two = json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]);
        assert_eq!(choices(&two, true).unwrap().defaults(), vec!["a", "b"]);
    }

    #[test]
    fn list_shapes() {
        assert_eq!(list(&json!(["x", "y"])).unwrap(), vec!["x", "y"]);
        for bad in [
            Value::Null,
            json!([]),
            json!("x"),
            json!(["x", "x"]),
            json!([""]),
            json!(["x "]),
            json!([1]),
        ] {
            assert!(list(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn multiple_only_where_meaningful() {
        for kind in AttributeType::ALL {
            let option = match kind {
                AttributeType::Enum | AttributeType::Enummulti => json!([{"id": "a"}]),
                AttributeType::List => json!(["a"]),
                _ => Value::Null,
            };
            assert!(Rule::compile(kind, &option, false).is_some(), "{kind:?}");
            assert_eq!(
                Rule::compile(kind, &option, true).is_some(),
                kind.allows_multiple(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn definitions_refused_for_their_option() {
        // `AttributeDef::compile` turns each refusal into 1199006 naming the property
        // (attribute.rs, `definition_errors_are_1199006_naming_the_property`).
        let enum_option = json!([
            {"id": "a", "name": "A", "is_default": false},
            {"id": "b", "name": "B"},
            {"id": "A", "name": "upper a", "type": "text"}
        ]);
        let bad = [
            (AttributeType::Singlechar, json!("("), false),
            (AttributeType::Singlechar, json!("[a-"), false),
            (AttributeType::Longchar, json!(12), false),
            (AttributeType::Singlechar, json!(["a"]), false),
            (AttributeType::Int, json!({"min": "10", "max": "1"}), false),
            (AttributeType::Float, json!({"min": 2.5, "max": "1"}), false),
            (AttributeType::Int, json!({"min": "x"}), false),
            (AttributeType::Int, json!("1-10"), false),
            (
                AttributeType::Enum,
                json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]),
                false,
            ),
            (
                AttributeType::Enummulti,
                json!([{"id": "a", "is_default": true}, {"id": "b", "is_default": true}]),
                false,
            ),
            (AttributeType::Enum, json!([]), false),
            (AttributeType::Enum, Value::Null, false),
            (
                AttributeType::Enum,
                json!([{"id": "a"}, {"id": "a"}]),
                false,
            ),
            (AttributeType::Enum, json!([{"id": ""}]), false),
            (AttributeType::List, json!([]), false),
            (AttributeType::List, json!(["a", 1]), false),
            // ismultiple on a type without multiple values.
            (AttributeType::Singlechar, Value::Null, true),
            (AttributeType::Enum, enum_option, true),
            (AttributeType::Int, Value::Null, true),
        ];
        for (kind, option, multiple) in bad {
            assert!(
                Rule::compile(kind, &option, multiple).is_none(),
                "{kind:?} {option} {multiple}"
            );
        }
    }

    #[test]
    fn types_without_option_take_null_only() {
        for kind in [
            AttributeType::Date,
            AttributeType::Time,
            AttributeType::Timezone,
            AttributeType::Bool,
            AttributeType::Objuser,
            AttributeType::Organization,
        ] {
            for option in [
                json!(""),
                json!("x"),
                json!({}),
                json!([]),
                json!(0),
                json!(false),
            ] {
                assert!(compile(kind, option.clone()).is_none(), "{kind:?} {option}");
            }
            assert!(compile(kind, Value::Null).is_some(), "{kind:?}");
        }
    }
}
