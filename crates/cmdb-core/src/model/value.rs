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
mod tests;
