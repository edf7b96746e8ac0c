//! Property tests of attribute validation: for every type, validating any JSON value never
//! panics, is deterministic, refuses only with the type's own codes, and stores values that
//! validate to themselves (normalization is idempotent).

use cmdb_core::Code;
use cmdb_core::model::{AttributeDef, AttributeType, RawAttribute};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// A raw definition named after its type and a variant tag.
fn raw(kind: &str, tag: &str, option: Value, default: Value, multiple: bool) -> RawAttribute {
    RawAttribute {
        bk_property_id: format!("{kind}_{tag}"),
        bk_property_name: kind.to_owned(),
        bk_property_type: kind.to_owned(),
        isrequired: false,
        option,
        default,
        ismultiple: multiple,
        bk_biz_id: 0,
    }
}

fn choices() -> Value {
    json!([
        {"id": "a", "name": "A", "is_default": true},
        {"id": "b", "name": "B"},
        {"id": "x y", "name": "spaced"}
    ])
}

/// Definitions covering every type, with and without options, single and multiple.
fn defs() -> Vec<AttributeDef> {
    let null = Value::Null;
    let mut raws = vec![
        raw("singlechar", "plain", null.clone(), null.clone(), false),
        raw(
            "singlechar",
            "re",
            json!("^[a-z -]+$"),
            json!(" ab "),
            false,
        ),
        raw("longchar", "plain", null.clone(), null.clone(), false),
        raw("longchar", "re", json!("\\d"), null.clone(), false),
        raw("int", "plain", null.clone(), null.clone(), false),
        raw(
            "int",
            "bounded",
            json!({"min": "-10", "max": "10"}),
            json!(3),
            false,
        ),
        raw("float", "plain", null.clone(), null.clone(), false),
        raw(
            "float",
            "bounded",
            json!({"min": "-1.5", "max": 1e6}),
            json!("1e3"),
            false,
        ),
        raw("enum", "plain", choices(), null.clone(), false),
        raw("enummulti", "single", choices(), null.clone(), false),
        raw("enummulti", "multi", choices(), json!([" a"]), true),
        raw("date", "plain", null.clone(), json!("2024-02-29"), false),
        raw("time", "plain", null.clone(), null.clone(), false),
        raw("timezone", "plain", null.clone(), json!("UTC"), false),
        raw("bool", "plain", null.clone(), null.clone(), false),
        raw("objuser", "single", null.clone(), null.clone(), false),
        raw("objuser", "multi", null.clone(), json!(" a,b "), true),
        raw(
            "list",
            "plain",
            json!(["x", "y z", "1.5"]),
            null.clone(),
            false,
        ),
        raw("organization", "single", null.clone(), null.clone(), false),
        raw("organization", "multi", null.clone(), json!([1, 2]), true),
    ];
    let mut required = raw("singlechar", "required", null.clone(), null, false);
    required.isrequired = true;
    raws.push(required);
    raws.into_iter()
        .map(|r| AttributeDef::compile(r).expect("test definitions are valid"))
        .collect()
}

/// The codes a value of this type may be refused with.
fn allowed_codes(kind: AttributeType) -> &'static [Code] {
    use AttributeType as T;
    match kind {
        T::Singlechar | T::Longchar | T::Objuser => &[
            Code::NeedSet,
            Code::NeedString,
            Code::OverLimit,
            Code::RegexFailed,
            Code::ParamInvalid,
        ],
        T::Int => &[Code::NeedInt, Code::ParamInvalid],
        T::Enummulti => &[Code::ParamInvalid, Code::SingleChoice],
        T::Timezone => &[Code::NeedTimezone],
        T::Bool => &[Code::NeedBool],
        _ => &[Code::ParamInvalid],
    }
}

/// Strings likely to meet some type's rule, padded with whitespace now and then.
fn near_valid_string() -> impl Strategy<Value = String> {
    let core = prop_oneof![
        "[a-z -]{0,12}",
        "[a-zA-Z0-9@._,-]{0,16}",
        "[+-]?[0-9]{0,4}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        "[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
        "20[0-9]{2}-0[1-9]-[0-2][0-9][ Tt][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])?",
        "[A-Za-z]{1,8}(/[A-Za-z_+-]{1,10})?",
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("x y".to_owned()),
        Just("y z".to_owned()),
        Just("1.5".to_owned()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just("1e400".to_owned()),
        ".{0,20}",
    ];
    (core, "[ \t\u{3000}]{0,2}", "[ \t\n]{0,2}").prop_map(|(c, l, r)| format!("{l}{c}{r}"))
}

/// Numbers at and around the integer bounds, and floats.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-20i64..20).prop_map(Value::from),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1, 1]).prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, i64::MAX as u64 + 1]).prop_map(Value::from),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        (-20.0f64..20.0).prop_map(|x| json!(x)),
        prop::sample::select(vec![15.0, -0.0, 1e300, f64::MIN_POSITIVE]).prop_map(|x| json!(x)),
    ]
}

/// Any JSON value: scalars of every kind, then arrays and objects of them, nested.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        near_valid_string().prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Arrays of option ids, list items and organization ids, the shapes multi types take.
fn near_valid_array() -> impl Strategy<Value = Value> {
    let item = prop_oneof![
        prop::sample::select(vec!["a", "b", "x y", " a ", "c", ""]).prop_map(Value::from),
        (-3i64..5).prop_map(Value::from),
        Just(json!(1.0)),
    ];
    prop::collection::vec(item, 0..5).prop_map(Value::Array)
}

/// Asserts every property of one validation; returns whether the value was accepted (the
/// branch where idempotence is checked).
fn check(def: &AttributeDef, value: &Value) -> Result<bool, TestCaseError> {
    let first = def.validate(value);
    prop_assert_eq!(&first, &def.validate(value), "not deterministic");
    match first {
        Ok(stored) => {
            let again = def.validate(&stored);
            prop_assert_eq!(
                again.as_ref(),
                Ok(&stored),
                "{} not idempotent on {}",
                def.id(),
                value
            );
            Ok(true)
        }
        Err(err) => {
            prop_assert!(
                allowed_codes(def.kind()).contains(&err.code()),
                "{} refused {} with {:?}",
                def.id(),
                value,
                err
            );
            let named = format!("'{}'", def.id());
            prop_assert!(err.to_string().contains(&named), "{}", err);
            Ok(false)
        }
    }
}

/// Runs 512 cases of `strategy` through [`check`] against every definition, and asserts that
/// at least `min_accepted` (definition, value) pairs took the accepted branch, so that the
/// idempotence property was really exercised. Prints the count.
fn run_checked<S: Strategy>(name: &str, strategy: S, min_accepted: usize)
where
    S::Value: Into<Value>,
{
    use proptest::test_runner::{Config, TestRunner};
    let accepted = std::cell::Cell::new(0usize);
    let defs = defs();
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |value| {
            let value: Value = value.into();
            for def in &defs {
                if check(def, &value)? {
                    accepted.set(accepted.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{name}: {} accepted (definition, value) pairs",
        accepted.get()
    );
    assert!(
        accepted.get() >= min_accepted,
        "{name}: only {} accepted pairs, fewer than {min_accepted}",
        accepted.get()
    );
}

#[test]
fn any_json_value() {
    run_checked("any_json_value", any_json(), 150);
}

#[test]
fn near_valid_strings() {
    run_checked("near_valid_strings", near_valid_string(), 1500);
}

#[test]
fn near_valid_arrays() {
    run_checked("near_valid_arrays", near_valid_array(), 200);
}

#[test]
fn numbers() {
    run_checked("numbers", number(), 500);
}

/// Any definition, however malformed, compiles or is refused with 1199006, deterministically;
/// a compiled one stores an absent value that validates to itself. Asserts that at least a
/// tenth of the 512 drawn definitions compiled (the branch the absent value is checked on).
#[test]
fn compile_any_definition() {
    use proptest::test_runner::{Config, TestRunner};
    // Weighted towards definitions that can compile (a known type, no option, no default), so
    // that both branches run often.
    let kinds = prop_oneof![
        4 => prop::sample::select(AttributeType::ALL.map(AttributeType::name).to_vec())
            .prop_map(str::to_owned),
        1 => "[a-z]{0,10}",
    ];
    let options = prop_oneof![
        4 => Just(Value::Null),
        1 => near_valid_string().prop_map(Value::String),
        1 => Just(choices()),
        1 => any_json()
    ];
    let defaults = prop_oneof![4 => Just(Value::Null), 1 => any_json()];
    let multiple = prop_oneof![4 => Just(false), 1 => Just(true)];
    let compiled_count = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(kinds, options, defaults, multiple),
            |(kind, option, default, multiple)| {
                let r = raw(&kind, "any", option, default, multiple);
                let compiled = AttributeDef::compile(r.clone());
                prop_assert_eq!(&compiled, &AttributeDef::compile(r));
                match compiled {
                    Ok(def) => {
                        compiled_count.set(compiled_count.get() + 1);
                        let absent = def.absent_value();
                        if !absent.is_null() {
                            prop_assert_eq!(def.validate(&absent), Ok(absent.clone()));
                        }
                    }
                    Err(err) => prop_assert_eq!(err.code(), Code::ParamInvalid),
                }
                Ok(())
            },
        )
        .unwrap();
    println!(
        "compile_any_definition: {} of 512 compiled",
        compiled_count.get()
    );
    assert!(
        compiled_count.get() >= 51,
        "only {} compiled",
        compiled_count.get()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Huge strings and arrays are refused (or accepted) without trouble, each refusal with a
    /// code of its kind (`check` asserts that): every kind refuses a huge array, and the
    /// character kinds refuse a string over their length limit.
    #[test]
    fn huge_inputs(len in 0usize..(1 << 20), fill in prop::sample::select(vec!['a', ' ', '1', ',', '集'])) {
        let s: String = std::iter::repeat_n(fill, len).collect();
        let arr = Value::Array(vec![json!("a"); len.min(100_000)]);
        for def in defs() {
            let accepted_string = check(&def, &Value::String(s.clone()))?;
            prop_assert!(
                !check(&def, &arr)?,
                "{} accepted an array of {} elements", def.id(), len.min(100_000)
            );
            let has_a_length_limit = def.id().starts_with("singlechar") || def.id().starts_with("longchar");
            if s.trim().len() > 1 << 16 && has_a_length_limit {
                prop_assert!(!accepted_string, "{} accepted a string of {} bytes", def.id(), s.len());
            }
        }
    }
}

/// A value nested `depth` levels deep, alternating arrays and objects.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("a"), |inner, i| {
        if i % 2 == 0 {
            Value::Array(vec![inner])
        } else {
            json!({ "k": inner })
        }
    })
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    for depth in [2, 3, 64, 65, 1000] {
        let value = nested(depth);
        for def in defs() {
            let err = def.validate(&value).unwrap_err();
            assert!(
                allowed_codes(def.kind()).contains(&err.code()),
                "{}",
                def.id()
            );
        }
    }
}

#[test]
fn every_type_is_covered() {
    let defs = defs();
    for kind in AttributeType::ALL {
        assert!(defs.iter().any(|d| d.kind() == kind), "{kind:?}");
    }
}

#[test]
fn absent_values_of_the_test_definitions() {
    let absent: Vec<(String, Value)> = defs()
        .iter()
        .map(|d| (d.id().to_owned(), d.absent_value()))
        .collect();
    let want = [
        ("singlechar_plain", json!("")),
        ("singlechar_re", json!("ab")),
        ("longchar_plain", json!("")),
        ("longchar_re", json!("")),
        ("int_plain", Value::Null),
        ("int_bounded", json!(3)),
        ("float_plain", Value::Null),
        ("float_bounded", json!(1000.0)),
        ("enum_plain", json!("a")),
        ("enummulti_single", json!(["a"])),
        ("enummulti_multi", json!(["a"])),
        ("date_plain", json!("2024-02-29")),
        ("time_plain", Value::Null),
        ("timezone_plain", json!("UTC")),
        ("bool_plain", json!(false)),
        ("objuser_single", Value::Null),
        ("objuser_multi", json!("a,b")),
        ("list_plain", Value::Null),
        ("organization_single", Value::Null),
        ("organization_multi", json!([1, 2])),
        ("singlechar_required", json!("")),
    ];
    let want: Vec<(String, Value)> = want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(absent, want);
}

/// The exported strategies (`cmdb_core::strategies`, feature `proptest`) against every
/// definition: each value `valid_value` draws is accepted and stored stably; each value
/// `invalid_value` draws is refused with exactly the code it comes with.
#[cfg(feature = "proptest")]
mod exported_strategies {
    use super::*;
    use cmdb_core::strategies::{invalid_value, valid_value};
    use proptest::test_runner::{Config, TestRunner};

    fn runner() -> TestRunner {
        TestRunner::new(Config {
            cases: 128,
            failure_persistence: None,
            ..Config::default()
        })
    }

    #[test]
    fn valid_values_are_accepted() {
        for def in defs() {
            let non_null = std::cell::Cell::new(0usize);
            runner()
                .run(&valid_value(&def), |value| {
                    prop_assert!(check(&def, &value)?, "{} refused {}", def.id(), value);
                    non_null.set(non_null.get() + usize::from(!value.is_null()));
                    Ok(())
                })
                .unwrap();
            // The type's own values were drawn, not only `null`.
            let non_null = non_null.get();
            assert!(non_null >= 64, "{}: {non_null} non-null values", def.id());
        }
    }

    #[test]
    fn invalid_values_are_refused_with_their_code() {
        for def in defs() {
            let codes = std::cell::RefCell::new(std::collections::BTreeSet::new());
            runner()
                .run(&invalid_value(&def), |(value, code)| {
                    let refused = def.validate(&value).map_err(|e| e.code());
                    prop_assert_eq!(refused, Err(code), "{} on {}", def.id(), value);
                    codes.borrow_mut().insert(code.number());
                    Ok(())
                })
                .unwrap();
            assert!(!codes.borrow().is_empty(), "{}", def.id());
        }
    }
}
