//! `proptest` strategies for a user's property tests (feature `proptest`): values an
//! attribute accepts, values it refuses with the code create_set answers for them, and whole
//! valid create_set requests for a model.
//!
//! ```
//! use cmdb_core::model::{AttributeDef, RawAttribute};
//! use cmdb_core::strategies::{invalid_value, valid_value};
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//!
//! let def = AttributeDef::define_custom(RawAttribute {
//!     bk_property_id: "port".into(),
//!     bk_property_name: "Port".into(),
//!     bk_property_type: "int".into(),
//!     isrequired: false,
//!     option: serde_json::json!({"min": "1", "max": "65535"}),
//!     default: serde_json::Value::Null,
//!     ismultiple: false,
//!     bk_biz_id: 0,
//! })?;
//! let mut runner = TestRunner::default();
//! runner
//!     .run(&valid_value(&def), |v| {
//!         prop_assert!(def.validate(&v).is_ok());
//!         Ok(())
//!     })
//!     .unwrap();
//! runner
//!     .run(&invalid_value(&def), |(v, code)| {
//!         prop_assert_eq!(def.validate(&v).map_err(|e| e.code()), Err(code));
//!         Ok(())
//!     })
//!     .unwrap();
//! # Ok::<(), cmdb_core::Error>(())
//! ```

use proptest::prelude::*;
use serde_json::{Number, Value, json};

use crate::error::Code;
use crate::model::AttributeDef;
use crate::model::builtin::generic_builtin_attributes;
use crate::model::option::{Bounds, Choices, Rule};
use crate::model::value::OBJUSER_MAX_BYTES;
use crate::records::Document;

/// A value `def` accepts ([`AttributeDef::validate`] answers `Ok`): `null` when the attribute
/// is optional, else a value of its type within its options (bounds, choices, pattern, length,
/// multiplicity), now and then padded with the whitespace the type trims.
///
/// For a text attribute with a pattern, candidates are generated from the pattern (a leading
/// `^` and a trailing `$` are dropped first) and kept when they validate; a pattern proptest
/// cannot generate from falls back to short alphanumeric strings that validate.
pub fn valid_value(def: &AttributeDef) -> BoxedStrategy<Value> {
    let typed = typed_valid(def.rule());
    let checked = def.clone();
    let typed = typed
        .prop_filter("the attribute accepts it", move |v| {
            checked.validate(v).is_ok()
        })
        .boxed();
    if def.required() {
        typed
    } else {
        prop_oneof![1 => Just(Value::Null), 9 => typed].boxed()
    }
}

/// A value `def` refuses, with the code create_set answers for it (spec section 3): wrong JSON
/// kinds, values out of bounds, unknown options, broken multiplicity, over-long text, and
/// `null` on a required attribute.
pub fn invalid_value(def: &AttributeDef) -> BoxedStrategy<(Value, Code)> {
    let mut cases = typed_invalid(def.rule());
    if def.required() {
        cases.push(Just((Value::Null, Code::NeedSet)).boxed());
    }
    proptest::strategy::Union::new(cases).boxed()
}

/// A create_set `data` object that is valid for a biz whose custom set attributes are
/// `custom`, under the parent `parent` (the biz id when the mainline has no custom levels): a
/// set name, then any of the optional built-in attributes and of `custom`, each with a
/// [`valid_value`]. Two requests may share a name; a test creating several makes them unique.
pub fn valid_request(parent: i64, custom: &[AttributeDef]) -> BoxedStrategy<Document> {
    let fields: Vec<(String, BoxedStrategy<Value>)> = generic_builtin_attributes()
        .iter()
        .chain(custom)
        .map(|def| (def.id().to_owned(), valid_value(def)))
        .collect();
    let values: Vec<_> = fields
        .into_iter()
        .map(|(id, value)| proptest::option::of(value).prop_map(move |v| (id.clone(), v)))
        .collect();
    ("[a-z][a-z0-9-]{0,23}", values)
        .prop_map(move |(name, values)| {
            let mut data = Document::new();
            data.insert("bk_parent_id".into(), json!(parent));
            data.insert("bk_set_name".into(), Value::String(name));
            for (id, value) in values {
                if let Some(value) = value {
                    data.insert(id, value);
                }
            }
            data
        })
        .boxed()
}

/// Whitespace the text types trim around their value.
fn padded(core: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    (core, "[ \t]{0,1}", "[ \n]{0,1}")
        .prop_map(|(c, l, r)| format!("{l}{c}{r}"))
        .boxed()
}

fn text(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Value> {
    s.prop_map(Value::String).boxed()
}

/// Candidates of the attribute's type and options ([`valid_value`] keeps those it accepts).
fn typed_valid(rule: &Rule) -> BoxedStrategy<Value> {
    match rule {
        Rule::Text { pattern, .. } => {
            let from_pattern = pattern.as_ref().and_then(|p| {
                let p = p.as_str();
                let p = p.strip_prefix('^').unwrap_or(p);
                let p = p.strip_suffix('$').unwrap_or(p);
                proptest::string::string_regex(p).ok()
            });
            match from_pattern {
                Some(generated) => text(padded(generated)),
                None if pattern.is_some() => text("[a-zA-Z0-9]{1,8}"),
                // At most 64 characters of at most 3 bytes: within every text type's limit.
                None => text(padded("[a-zA-Z0-9_.中文 -]{0,64}")),
            }
        }
        Rule::Int(Bounds { min, max }) => {
            let (lo, hi) = (min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX));
            (lo..=hi).prop_map(Value::from).boxed()
        }
        Rule::Float(Bounds { min, max }) => {
            let lo = min.unwrap_or(-1e12).max(-1e300);
            let hi = max.unwrap_or(1e12).min(1e300);
            let number =
                (lo..=hi).prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number));
            prop_oneof![
                number.clone(),
                number.prop_map(|n| Value::String(n.to_string())),
            ]
            .boxed()
        }
        Rule::Enum(choices) => text(padded(proptest::sample::select(choice_ids(choices)))),
        Rule::List(items) => text(padded(proptest::sample::select(items.clone()))),
        Rule::EnumMulti { choices, multiple } => {
            let ids = choice_ids(choices);
            let n = ids.len();
            let sizes = if *multiple { 0..=n } else { 1..=n.min(1) };
            proptest::sample::subsequence(ids, sizes)
                .prop_shuffle()
                .prop_map(|ids| Value::Array(ids.into_iter().map(Value::String).collect()))
                .boxed()
        }
        Rule::Date => {
            let date = (1900u32..2100, 1u32..=12, 1u32..=28)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
            prop_oneof![1 => Just(String::new()), 9 => date]
                .prop_map(Value::String)
                .boxed()
        }
        Rule::Time => {
            let time = (
                1970u32..2100,
                1u32..=12,
                1u32..=28,
                0u32..24,
                0u32..60,
                0u32..60,
            )
                .prop_map(|(y, mo, d, h, mi, s)| {
                    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
                });
            text(time)
        }
        Rule::Timezone => text("[a-zA-Z0-9_/+-]{1,24}"),
        Rule::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Rule::Objuser { multiple } => {
            let count = if *multiple { 1..4 } else { 1..2 };
            let names = proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9@._-]{0,8}", count);
            text(padded(names.prop_map(|names| names.join(","))))
        }
        Rule::Organization { multiple } => {
            let count = if *multiple { 0..5 } else { 1..2 };
            proptest::collection::btree_set(0i64..10_000, count)
                .prop_map(|ids| ids.into_iter().map(Value::from).collect::<Vec<_>>())
                .prop_shuffle()
                .prop_map(Value::Array)
                .boxed()
        }
    }
}

/// The option ids of an enum or enummulti attribute, in definition order.
fn choice_ids(choices: &Choices) -> Vec<String> {
    choices.0.iter().map(|c| c.id.clone()).collect()
}

/// A string that is none of `taken` (and not blank, so no type reads it as empty).
fn other_than(taken: Vec<String>) -> BoxedStrategy<String> {
    "[a-z]{1,6}-?[0-9]{0,3}"
        .prop_filter("not a listed id", move |s| !taken.iter().any(|t| t == s))
        .boxed()
}

/// JSON values of kinds other than strings.
fn not_a_string() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(json!([])),
        Just(json!({"a": 1})),
    ]
    .boxed()
}

/// Refused values of the attribute's type and options, each with its code.
fn typed_invalid(rule: &Rule) -> Vec<BoxedStrategy<(Value, Code)>> {
    let with = |s: BoxedStrategy<Value>, code: Code| s.prop_map(move |v| (v, code)).boxed();
    let string = |s: BoxedStrategy<String>| s.prop_map(Value::String).boxed();
    match rule {
        Rule::Text { max_bytes, .. } => vec![
            with(not_a_string(), Code::NeedString),
            with(
                string(Just("x".repeat(max_bytes + 1)).boxed()),
                Code::OverLimit,
            ),
        ],
        Rule::Int(bounds) => {
            let mut cases = vec![with(
                prop_oneof![
                    "[0-9]{1,4}".prop_map(Value::String),
                    Just(json!(1.5)),
                    any::<bool>().prop_map(Value::Bool),
                    Just(json!(u64::MAX)),
                ]
                .boxed(),
                Code::NeedInt,
            )];
            if let Some(min) = bounds.min.filter(|m| *m > i64::MIN) {
                cases.push(with(
                    (i64::MIN..min).prop_map(Value::from).boxed(),
                    Code::ParamInvalid,
                ));
            }
            if let Some(max) = bounds.max.filter(|m| *m < i64::MAX) {
                cases.push(with(
                    (max + 1..=i64::MAX).prop_map(Value::from).boxed(),
                    Code::ParamInvalid,
                ));
            }
            cases
        }
        Rule::Float(bounds) => {
            let mut cases = vec![with(
                prop_oneof![
                    any::<bool>().prop_map(Value::Bool),
                    "[a-z]{1,5}".prop_map(Value::String),
                    Just(json!([1.0])),
                ]
                .boxed(),
                Code::ParamInvalid,
            )];
            if let Some(max) = bounds.max.filter(|m| *m < 1e300) {
                let above = (1.0f64..1e6).prop_map(move |d| json!(max + d.max(max.abs() * 1e-9)));
                cases.push(with(above.boxed(), Code::ParamInvalid));
            }
            if let Some(min) = bounds.min.filter(|m| *m > -1e300) {
                let below = (1.0f64..1e6).prop_map(move |d| json!(min - d.max(min.abs() * 1e-9)));
                cases.push(with(below.boxed(), Code::ParamInvalid));
            }
            cases
        }
        Rule::Enum(choices) => vec![
            with(string(other_than(choice_ids(choices))), Code::ParamInvalid),
            with(not_a_string(), Code::ParamInvalid),
        ],
        Rule::List(items) => vec![
            with(string(other_than(items.clone())), Code::ParamInvalid),
            with(not_a_string(), Code::ParamInvalid),
        ],
        Rule::EnumMulti { choices, multiple } => {
            let ids = choice_ids(choices);
            let unknown = other_than(ids.clone()).prop_map(|id| json!([id]));
            let mut cases = vec![
                with(unknown.boxed(), Code::ParamInvalid),
                with(string(Just(ids[0].clone()).boxed()), Code::ParamInvalid),
                with(Just(json!([ids[0], ids[0]])).boxed(), Code::ParamInvalid),
            ];
            if !multiple {
                cases.push(with(Just(json!([])).boxed(), Code::SingleChoice));
                if ids.len() >= 2 {
                    let two = proptest::sample::subsequence(ids, 2).prop_map(|ids| json!(ids));
                    cases.push(with(two.boxed(), Code::SingleChoice));
                }
            }
            cases
        }
        Rule::Date => vec![with(
            prop_oneof![
                (1900u32..2100).prop_map(|y| Value::String(format!("{y:04}-02-30"))),
                Just(json!("2024-1-01")),
                Just(json!(20240101)),
            ]
            .boxed(),
            Code::ParamInvalid,
        )],
        Rule::Time => vec![with(
            prop_oneof![
                (1970u32..2100).prop_map(|y| Value::String(format!("{y:04}-13-01 00:00:00"))),
                Just(json!("2024-01-01 24:00:00")),
                Just(json!(1_700_000_000)),
            ]
            .boxed(),
            Code::ParamInvalid,
        )],
        Rule::Timezone => vec![with(
            prop_oneof![
                Just(json!("")),
                "[a-z]{1,4} [a-z]{1,4}".prop_map(Value::String),
                any::<i64>().prop_map(Value::from),
            ]
            .boxed(),
            Code::NeedTimezone,
        )],
        Rule::Bool => vec![with(
            prop_oneof![
                Just(json!("true")),
                Just(json!(1)),
                Just(json!(0)),
                Just(json!(null)).prop_map(|_| json!([])),
            ]
            .boxed(),
            Code::NeedBool,
        )],
        Rule::Objuser { multiple } => {
            let mut cases = vec![
                with(not_a_string(), Code::NeedString),
                with(
                    prop_oneof![Just(json!(",a")), Just(json!("a b")), Just(json!("a,,b"))].boxed(),
                    Code::RegexFailed,
                ),
                with(
                    string(Just("a".repeat(OBJUSER_MAX_BYTES + 1)).boxed()),
                    Code::OverLimit,
                ),
            ];
            if !multiple {
                cases.push(with(Just(json!("a,b")).boxed(), Code::ParamInvalid));
            }
            cases
        }
        Rule::Organization { multiple } => {
            let mut cases = vec![with(
                prop_oneof![
                    Just(json!(1)),
                    Just(json!(["1"])),
                    Just(json!([1, 1])),
                    Just(json!([1.5])),
                ]
                .boxed(),
                Code::ParamInvalid,
            )];
            if !multiple {
                cases.push(with(Just(json!([])).boxed(), Code::ParamInvalid));
                cases.push(with(Just(json!([1, 2])).boxed(), Code::ParamInvalid));
            }
            cases
        }
    }
}
