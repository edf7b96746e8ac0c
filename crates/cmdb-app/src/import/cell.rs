//! A CSV cell as the JSON value create_set is sent, by its attribute's type. A cell that does
//! not convert is sent as the string it is, so create_set refuses it with the code it gives
//! for that value (1199009 for an int, 1199025 for a bool, …).

use cmdb_core::model::AttributeType;
use serde_json::{Number, Value};

/// The value of a non-empty cell of an attribute of type `kind`; `None` for an empty cell
/// (an absent field).
pub(crate) fn convert(kind: AttributeType, cell: &str) -> Option<Value> {
    if cell.is_empty() {
        return None;
    }
    let trimmed = cell.trim();
    let as_written = || Value::String(cell.to_owned());
    Some(match kind {
        AttributeType::Int => trimmed
            .parse::<i64>()
            .map_or_else(|_| as_written(), |n| Value::Number(n.into())),
        AttributeType::Float => trimmed
            .parse::<Number>()
            .ok()
            .filter(|n| n.as_f64().is_some_and(f64::is_finite))
            .map_or_else(as_written, Value::Number),
        AttributeType::Bool => match trimmed {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => as_written(),
        },
        AttributeType::Enummulti => {
            list(trimmed, |id| Some(Value::String(id.to_owned()))).unwrap_or_else(as_written)
        }
        AttributeType::Organization => {
            list(trimmed, |id| id.parse::<i64>().ok().map(Value::from)).unwrap_or_else(as_written)
        }
        AttributeType::Singlechar
        | AttributeType::Longchar
        | AttributeType::Enum
        | AttributeType::Date
        | AttributeType::Time
        | AttributeType::Timezone
        | AttributeType::Objuser
        | AttributeType::List => as_written(),
    })
}

/// A list cell: a JSON array as written (`["a","b"]`, `[1,2]`), or comma-separated elements
/// each converted by `element`; `None` when it is neither.
fn list(cell: &str, element: impl Fn(&str) -> Option<Value>) -> Option<Value> {
    if cell.starts_with('[') {
        return serde_json::from_str::<Value>(cell)
            .ok()
            .filter(Value::is_array);
    }
    cell.split(',')
        .map(|e| element(e.trim()))
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_convert_by_type() {
        use AttributeType::*;
        assert_eq!(convert(Int, ""), None);
        assert_eq!(convert(Int, " 42 "), Some(json!(42)));
        assert_eq!(convert(Int, "4.5"), Some(json!("4.5")));
        assert_eq!(convert(Float, "1.5"), Some(json!(1.5)));
        assert_eq!(convert(Float, "1e3"), Some(json!(1000.0)));
        assert_eq!(convert(Float, "abc"), Some(json!("abc")));
        assert_eq!(convert(Bool, "true"), Some(json!(true)));
        assert_eq!(convert(Bool, "0"), Some(json!(false)));
        assert_eq!(convert(Bool, "yes"), Some(json!("yes")));
        assert_eq!(convert(Enummulti, "a, b"), Some(json!(["a", "b"])));
        assert_eq!(convert(Enummulti, "[\"a\"]"), Some(json!(["a"])));
        assert_eq!(convert(Organization, "1,2"), Some(json!([1, 2])));
        assert_eq!(convert(Organization, "1,x"), Some(json!("1,x")));
        assert_eq!(convert(Singlechar, " a "), Some(json!(" a ")));
        assert_eq!(convert(Enum, "1"), Some(json!("1")));
    }
}
