//! The tests of the per-type value rules, driving [`Rule`] directly (spec section 3).

use super::*;
use crate::error::Code;
use crate::model::kind::AttributeType;
use serde_json::json;

fn rule(kind: AttributeType, option: Value) -> Rule {
    Rule::compile(kind, &option, false).unwrap()
}

fn multi(kind: AttributeType, option: Value) -> Rule {
    Rule::compile(kind, &option, true).unwrap()
}

/// Asserts `r` accepts every `(input, stored)` pair.
fn accepts(r: &Rule, cases: &[(Value, Value)]) {
    for (input, stored) in cases {
        assert_eq!(r.check("prop", input).as_ref(), Ok(stored), "{input}");
    }
}

/// Asserts `r` refuses every input with `code`, naming the property.
fn refuses(r: &Rule, code: Code, inputs: &[Value]) {
    for input in inputs {
        let err = r.check("prop", input).unwrap_err();
        assert_eq!(err.code(), code, "{input} -> {err}");
        assert!(err.to_string().contains("'prop'"), "{err}");
    }
}

fn enum_option() -> Value {
    json!([
        {"id": "a", "name": "A", "is_default": false},
        {"id": "b", "name": "B"},
        {"id": "A", "name": "upper a", "type": "text"}
    ])
}

#[test]
fn shapes() {
    assert!(has_shape("2024-01-31", "dddd-dd-dd"));
    assert!(!has_shape("2024-01-3", "dddd-dd-dd"));
    assert!(!has_shape("2024-01-3x", "dddd-dd-dd"));
    assert!(!has_shape("2024/01/31", "dddd-dd-dd"));
    assert!(!has_shape("", "dddd-dd-dd"));
}

#[test]
fn dates_and_times() {
    assert!(is_date("2000-02-29"));
    assert!(!is_date("1900-02-29"));
    assert!(!is_date("2024-04-31"));
    assert!(is_time("2000-02-29 00:00:00"));
    assert!(is_time("2000-02-29T00:00:00.123456789Z"));
    assert!(!is_time("2000-02-29 00:00:60"));
    assert!(!is_time("2000-02-29 00:00:00Z0"));
    assert!(!is_time(&"9".repeat(TIME_MAX_BYTES + 1)));
    // The limit itself is accepted: a valid instant of exactly TIME_MAX_BYTES bytes.
    let longest = format!(
        "2000-02-29T00:00:00.{}+08:00",
        "1".repeat(TIME_MAX_BYTES - 26)
    );
    assert_eq!(longest.len(), TIME_MAX_BYTES);
    assert!(is_time(&longest), "{longest}");
}

#[test]
fn user_names_and_zones() {
    for ok in ["a", "7", "a@b.c", "x_y-z.1"] {
        assert!(is_user_name(ok), "{ok}");
    }
    for bad in ["", "_a", "@a", "a b", "a,b", "é", "a+b"] {
        assert!(!is_user_name(bad), "{bad}");
    }
    for ok in ["UTC", "Etc/GMT-3", "a_b+c"] {
        assert!(is_timezone(ok), "{ok}");
    }
    for bad in ["", "A B", "Asia\\Shanghai", "UTC\n", "Zürich"] {
        assert!(!is_timezone(bad), "{bad}");
    }
}

#[test]
fn empty_string_for_types_that_do_not_take_it() {
    let cases = [
        (AttributeType::Int, Value::Null, Code::NeedInt),
        (AttributeType::Float, Value::Null, Code::ParamInvalid),
        (AttributeType::Enum, enum_option(), Code::ParamInvalid),
        (AttributeType::Enummulti, enum_option(), Code::ParamInvalid),
        (AttributeType::Timezone, Value::Null, Code::NeedTimezone),
        (AttributeType::Bool, Value::Null, Code::NeedBool),
        (AttributeType::List, json!(["x"]), Code::ParamInvalid),
        (AttributeType::Organization, Value::Null, Code::ParamInvalid),
    ];
    for (kind, option, code) in cases {
        refuses(&rule(kind, option), code, &[json!("")]);
    }
}

#[test]
fn singlechar_values() {
    let r = rule(AttributeType::Singlechar, Value::Null);
    accepts(
        &r,
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
        &r,
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
        &r,
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
    let r = rule(AttributeType::Singlechar, json!("^[a-z-]+$"));
    accepts(
        &r,
        &[
            (json!("ops-team"), json!("ops-team")),
            (json!("  ops "), json!("ops")),
            (json!(""), json!("")),
            (json!("  "), json!("")),
        ],
    );
    refuses(
        &r,
        Code::RegexFailed,
        &[json!("Ops"), json!("ops team"), json!("ops1")],
    );
    // The length is checked before the pattern.
    refuses(&r, Code::OverLimit, &[json!("A".repeat(300))]);
    // An unanchored pattern searches, as Go's MatchString.
    let r = rule(AttributeType::Longchar, json!("b"));
    accepts(&r, &[(json!("abc"), json!("abc"))]);
    refuses(&r, Code::RegexFailed, &[json!("xyz")]);
    // "" as option means no pattern.
    accepts(
        &rule(AttributeType::Singlechar, json!("")),
        &[(json!("ANY thing"), json!("ANY thing"))],
    );
}

#[test]
fn longchar_values() {
    let r = rule(AttributeType::Longchar, Value::Null);
    accepts(
        &r,
        &[
            (json!("a".repeat(2000)), json!("a".repeat(2000))),
            (
                json!(format!(" {} ", "a".repeat(2000))),
                json!("a".repeat(2000)),
            ),
            (json!(""), json!("")),
        ],
    );
    refuses(&r, Code::OverLimit, &[json!("a".repeat(2001))]);
    refuses(&r, Code::NeedString, &[json!(0), json!(false)]);
}

#[test]
fn int_values() {
    let r = rule(AttributeType::Int, Value::Null);
    accepts(
        &r,
        &[
            (json!(0), json!(0)),
            (json!(-3), json!(-3)),
            (json!(i64::MAX), json!(i64::MAX)),
            (json!(i64::MIN), json!(i64::MIN)),
        ],
    );
    refuses(
        &r,
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
    let r = rule(AttributeType::Int, json!({"min": "1", "max": "10"}));
    accepts(&r, &[(json!(1), json!(1)), (json!(10), json!(10))]);
    refuses(
        &r,
        Code::ParamInvalid,
        &[json!(0), json!(11), json!(i64::MIN)],
    );
    refuses(&r, Code::NeedInt, &[json!(5.5)]);
    let r = rule(AttributeType::Int, json!({"min": -5, "max": ""}));
    accepts(
        &r,
        &[(json!(-5), json!(-5)), (json!(i64::MAX), json!(i64::MAX))],
    );
    refuses(&r, Code::ParamInvalid, &[json!(-6)]);
}

#[test]
fn float_values() {
    let r = rule(AttributeType::Float, Value::Null);
    accepts(
        &r,
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
        &r,
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
    let r = rule(AttributeType::Float, json!({"min": "0", "max": "2.5"}));
    accepts(&r, &[(json!(0), json!(0)), (json!("2.5"), json!(2.5))]);
    refuses(
        &r,
        Code::ParamInvalid,
        &[json!(-0.1), json!("2.51"), json!(3)],
    );
}

#[test]
fn enum_values() {
    let r = rule(AttributeType::Enum, enum_option());
    accepts(
        &r,
        &[
            (json!("a"), json!("a")),
            (json!(" b "), json!("b")),
            (json!("A"), json!("A")),
        ],
    );
    refuses(
        &r,
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
}

#[test]
fn enummulti_values() {
    let r = multi(AttributeType::Enummulti, enum_option());
    accepts(
        &r,
        &[
            (json!(["a", "b"]), json!(["a", "b"])),
            (json!(["b", " a"]), json!(["b", "a"])),
            (json!([]), json!([])),
        ],
    );
    refuses(
        &r,
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
    let r = rule(AttributeType::Enummulti, enum_option());
    accepts(
        &r,
        &[(json!(["a"]), json!(["a"])), (json!([" A "]), json!(["A"]))],
    );
    refuses(&r, Code::SingleChoice, &[json!(["a", "b"]), json!([])]);
    // Element checks come before the single-choice check.
    refuses(
        &r,
        Code::ParamInvalid,
        &[json!(["a", "a"]), json!(["a", "z"]), json!("a")],
    );
}

#[test]
fn date_values() {
    let r = rule(AttributeType::Date, Value::Null);
    accepts(
        &r,
        &[
            (json!("2024-02-29"), json!("2024-02-29")),
            (json!("1999-12-31"), json!("1999-12-31")),
            (json!(""), json!("")),
        ],
    );
    refuses(
        &r,
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
    let r = rule(AttributeType::Time, Value::Null);
    let kept = [
        "2024-02-29 23:59:59",
        "2024-02-29T23:59:59Z",
        "2022-02-22T20:34:01.386+08:00",
        "2022-02-22t20:34:01-05:30",
        "2022-02-22 20:34:01+08:00",
        "",
    ];
    for s in kept {
        accepts(&r, &[(json!(s), json!(s))]);
    }
    refuses(
        &r,
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
    let r = rule(AttributeType::Timezone, Value::Null);
    for s in [
        "Asia/Shanghai",
        "UTC",
        "Etc/GMT+8",
        "America/Port-au-Prince",
        "a_b",
    ] {
        accepts(&r, &[(json!(s), json!(s))]);
    }
    refuses(
        &r,
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
    let r = rule(AttributeType::Bool, Value::Null);
    accepts(
        &r,
        &[(json!(true), json!(true)), (json!(false), json!(false))],
    );
    refuses(
        &r,
        Code::NeedBool,
        &[json!("true"), json!(1), json!(0), json!(""), json!([true])],
    );
}

#[test]
fn objuser_values() {
    let r = rule(AttributeType::Objuser, Value::Null);
    accepts(
        &r,
        &[
            (json!("alice"), json!("alice")),
            (json!(" alice@corp.com "), json!("alice@corp.com")),
            (json!("1user_x-y.z"), json!("1user_x-y.z")),
            (json!(""), json!("")),
            (json!("a".repeat(2000)), json!("a".repeat(2000))),
        ],
    );
    refuses(
        &r,
        Code::NeedString,
        &[json!(1), json!(["alice"]), json!(true)],
    );
    refuses(&r, Code::OverLimit, &[json!("a".repeat(2001))]);
    refuses(
        &r,
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
    refuses(&r, Code::ParamInvalid, &[json!("alice,bob")]);
    let r = multi(AttributeType::Objuser, Value::Null);
    accepts(
        &r,
        &[(json!(" alice,bob,alice "), json!("alice,bob,alice"))],
    );
    refuses(
        &r,
        Code::RegexFailed,
        &[json!("alice,,bob"), json!("alice, bob")],
    );
}

#[test]
fn list_values() {
    let r = rule(AttributeType::List, json!(["x", "y z"]));
    accepts(
        &r,
        &[(json!("x"), json!("x")), (json!(" y z "), json!("y z"))],
    );
    refuses(
        &r,
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
    let r = rule(AttributeType::Organization, Value::Null);
    accepts(&r, &[(json!([7]), json!([7])), (json!([-1]), json!([-1]))]);
    refuses(
        &r,
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
    let r = multi(AttributeType::Organization, Value::Null);
    accepts(
        &r,
        &[(json!([3, 1, 2]), json!([3, 1, 2])), (json!([]), json!([]))],
    );
    refuses(&r, Code::ParamInvalid, &[json!([1, 1]), json!([1, "2"])]);
}
