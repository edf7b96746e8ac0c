//! Validation of one present, non-null value against a compiled [`Rule`]: the per-type rules of
//! spec section 3, returning the normalized value to store.
//!
//! `null`, the required flag and the defaults are handled by
//! [`AttributeDef`](crate::model::AttributeDef); here every type only sees a value that is not
//! `null`. Where the spec left room, these are the choices made:
//! - singlechar, longchar and objuser values are trimmed (Unicode whitespace); the length limit
//!   and the pattern apply to the trimmed value; a value that trims to `""` is stored as `""`
//!   without looking at the pattern.
//! - date and time values are not trimmed: they must have the exact shape, and are stored as
//!   given. `""` is stored as `""`. Leap seconds (`:60`) are refused; time strings longer than
//!   64 bytes are refused before parsing.
//! - enum, enummulti and list values are trimmed and stored as the matching option.
//! - enummulti and organization arrays may not repeat an element (1199006); element checks come
//!   before the single-choice check. An empty array is a broken single choice (1199092 for
//!   enummulti, 1199006 for organization) and fine when `ismultiple`.
//! - objuser: every comma-separated name must match the user pattern (1199016) before the
//!   single-name rule (1199006) is checked. Names are not trimmed one by one: `"a, b"` is
//!   refused (1199016).
//! - float: a JSON number is stored as given; a numeric string as the number it parses to.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use serde_json::{Number, Value};

use super::option::{Bounds, Choices, Rule, parse_decimal};
use crate::error::{Error, Result};

/// The longest objuser value, in UTF-8 bytes.
pub const OBJUSER_MAX_BYTES: usize = 2000;
/// The longest time value, in bytes (well above the longest RFC 3339 rendering).
pub const TIME_MAX_BYTES: usize = 64;

impl Rule {
    /// Validates a non-null value for the attribute `field`; returns the value to store.
    pub(crate) fn check(&self, field: &str, value: &Value) -> Result<Value> {
        match self {
            Rule::Text { max_bytes, pattern } => text(field, value, *max_bytes, pattern.as_deref()),
            Rule::Int(bounds) => int(field, value, bounds),
            Rule::Float(bounds) => float(field, value, bounds),
            Rule::Enum(choices) => enum_one(field, value, choices),
            Rule::EnumMulti { choices, multiple } => enum_many(field, value, choices, *multiple),
            Rule::Date => date(field, value),
            Rule::Time => time(field, value),
            Rule::Timezone => timezone(field, value),
            Rule::Bool => boolean(field, value),
            Rule::Objuser { multiple } => objuser(field, value, *multiple),
            Rule::List(items) => list(field, value, items),
            Rule::Organization { multiple } => organization(field, value, *multiple),
        }
    }
}

fn invalid(field: &str) -> Error {
    Error::invalid(field)
}

/// singlechar / longchar: string (1199007), trimmed, ≤ `max_bytes` (1199015), pattern (1199016).
fn text(
    field: &str,
    value: &Value,
    max_bytes: usize,
    pattern: Option<&regex::Regex>,
) -> Result<Value> {
    let Value::String(s) = value else {
        return Err(Error::NeedString {
            field: field.into(),
        });
    };
    let s = s.trim();
    if s.is_empty() {
        return Ok(Value::String(String::new()));
    }
    if s.len() > max_bytes {
        return Err(Error::OverLimit {
            field: field.into(),
        });
    }
    if pattern.is_some_and(|p| !p.is_match(s)) {
        return Err(Error::RegexFailed {
            field: field.into(),
        });
    }
    Ok(Value::String(s.to_owned()))
}

/// int: a JSON integer within i64 (1199009), within the bounds (1199006).
fn int(field: &str, value: &Value, bounds: &Bounds<i64>) -> Result<Value> {
    let n = match value {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| Error::NeedInt {
        field: field.into(),
    })?;
    if !bounds.contains(n) {
        return Err(invalid(field));
    }
    Ok(Value::from(n))
}

/// float: a JSON number (stored as given) or a numeric string (stored as its number), within
/// the bounds; anything else 1199006.
fn float(field: &str, value: &Value, bounds: &Bounds<f64>) -> Result<Value> {
    let (x, stored) = match value {
        Value::Number(n) => (n.as_f64(), value.clone()),
        Value::String(s) => {
            let x = parse_decimal(s.trim());
            let stored = x.and_then(Number::from_f64).map(Value::Number);
            (x, stored.unwrap_or(Value::Null))
        }
        _ => (None, Value::Null),
    };
    match x {
        Some(x) if x.is_finite() && bounds.contains(x) => Ok(stored),
        _ => Err(invalid(field)),
    }
}

/// The option index of a (trimmed) string value.
fn choice_index(value: &Value, choices: &Choices) -> Option<usize> {
    value.as_str().and_then(|s| choices.position(s.trim()))
}

/// enum: a string equal, once trimmed, to an option id; stored as the id.
fn enum_one(field: &str, value: &Value, choices: &Choices) -> Result<Value> {
    let i = choice_index(value, choices).ok_or_else(|| invalid(field))?;
    Ok(Value::String(choices.0[i].id.clone()))
}

/// enummulti: an array of distinct option ids (1199006); one element unless `multiple` (1199092).
fn enum_many(field: &str, value: &Value, choices: &Choices, multiple: bool) -> Result<Value> {
    let items = value.as_array().ok_or_else(|| invalid(field))?;
    let mut seen = vec![false; choices.0.len()];
    let mut ids = Vec::with_capacity(items.len().min(choices.0.len()));
    for item in items {
        let i = choice_index(item, choices).ok_or_else(|| invalid(field))?;
        if std::mem::replace(&mut seen[i], true) {
            return Err(invalid(field));
        }
        ids.push(Value::String(choices.0[i].id.clone()));
    }
    if !multiple && ids.len() != 1 {
        return Err(Error::SingleChoice {
            field: field.into(),
        });
    }
    Ok(Value::Array(ids))
}

/// Whether `s` has the shape of `pattern`, where `d` stands for an ASCII digit and every other
/// byte for itself.
fn has_shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// date: exactly `YYYY-MM-DD`, a real calendar date; `""` allowed; else 1199006.
fn date(field: &str, value: &Value) -> Result<Value> {
    let s = value.as_str().ok_or_else(|| invalid(field))?;
    if s.is_empty() || is_date(s) {
        return Ok(Value::String(s.to_owned()));
    }
    Err(invalid(field))
}

/// Whether `s` is a zero-padded `YYYY-MM-DD` calendar date.
fn is_date(s: &str) -> bool {
    has_shape(s, "dddd-dd-dd") && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// time: `YYYY-MM-DD hh:mm:ss` or RFC 3339, a real instant; `""` allowed; else 1199006.
fn time(field: &str, value: &Value) -> Result<Value> {
    let s = value.as_str().ok_or_else(|| invalid(field))?;
    if s.is_empty() || is_time(s) {
        return Ok(Value::String(s.to_owned()));
    }
    Err(invalid(field))
}

/// Whether `s` is a `YYYY-MM-DD hh:mm:ss` or RFC 3339 instant without a leap second.
fn is_time(s: &str) -> bool {
    if s.len() > TIME_MAX_BYTES {
        return false;
    }
    let nanos = if has_shape(s, "dddd-dd-dd dd:dd:dd") {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|t| t.nanosecond())
    } else {
        DateTime::parse_from_rfc3339(s).map(|t| t.nanosecond())
    };
    nanos.is_ok_and(|n| n < 1_000_000_000)
}

/// timezone: a string of `[a-zA-Z0-9-_/+]`, at least one; else 1199024.
fn timezone(field: &str, value: &Value) -> Result<Value> {
    match value.as_str() {
        Some(s) if is_timezone(s) => Ok(value.clone()),
        _ => Err(Error::NeedTimezone {
            field: field.into(),
        }),
    }
}

/// Whether `s` matches `^[a-zA-Z0-9\-_/+]+$`.
fn is_timezone(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'/' | b'+'))
}

/// bool: JSON true/false; else 1199025.
fn boolean(field: &str, value: &Value) -> Result<Value> {
    match value {
        Value::Bool(_) => Ok(value.clone()),
        _ => Err(Error::NeedBool {
            field: field.into(),
        }),
    }
}

/// objuser: string (1199007), trimmed, ≤ 2000 bytes (1199015), comma-separated user names
/// (1199016), one name unless `multiple` (1199006).
fn objuser(field: &str, value: &Value, multiple: bool) -> Result<Value> {
    // The string, trimming and length rules are the char types'; then the names.
    let checked = text(field, value, OBJUSER_MAX_BYTES, None)?;
    let s = checked.as_str().unwrap_or_default();
    if s.is_empty() {
        return Ok(checked);
    }
    if !s.split(',').all(is_user_name) {
        return Err(Error::RegexFailed {
            field: field.into(),
        });
    }
    if !multiple && s.contains(',') {
        return Err(invalid(field));
    }
    Ok(checked)
}

/// Whether `name` matches `^[a-zA-Z0-9][a-zA-Z0-9@._-]*$`.
fn is_user_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'@' | b'.' | b'_' | b'-'))
}

/// list: a string equal, once trimmed, to one of the items; stored as the item; else 1199006.
fn list(field: &str, value: &Value, items: &[String]) -> Result<Value> {
    let s = value
        .as_str()
        .map(str::trim)
        .ok_or_else(|| invalid(field))?;
    let item = items
        .iter()
        .find(|i| *i == s)
        .ok_or_else(|| invalid(field))?;
    Ok(Value::String(item.clone()))
}

/// organization: an array of distinct JSON integer ids, one unless `multiple`; else 1199006.
fn organization(field: &str, value: &Value, multiple: bool) -> Result<Value> {
    let items = value.as_array().ok_or_else(|| invalid(field))?;
    let mut ids: Vec<i64> = Vec::with_capacity(items.len());
    for item in items {
        ids.push(item.as_i64().ok_or_else(|| invalid(field))?);
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() || (!multiple && ids.len() != 1) {
        return Err(invalid(field));
    }
    Ok(Value::Array(ids.into_iter().map(Value::from).collect()))
}

#[cfg(test)]
mod tests {
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
}
