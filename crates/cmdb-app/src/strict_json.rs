//! JSON parsing that refuses a key repeated in one object (spec section 16): serde_json keeps
//! the last of two equal keys, so two parsers could disagree about what a request says.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrictError {
    /// Not JSON (syntax, trailing characters, nesting beyond serde_json's own limit).
    Syntax,
    /// An object holds this key twice.
    DuplicateKey(String),
}

/// Parses `bytes` as one JSON value, refusing any object (at any depth) that holds a key twice.
///
/// # Errors
/// [`StrictError::DuplicateKey`] naming the first repeated key met, else [`StrictError::Syntax`].
pub(crate) fn from_slice(bytes: &[u8]) -> Result<Value, StrictError> {
    let repeated = RefCell::new(None);
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    let parsed = ValueSeed {
        repeated: &repeated,
    }
    .deserialize(&mut parser)
    .and_then(|value| parser.end().map(|()| value));
    parsed.map_err(|_| match repeated.into_inner() {
        Some(key) => StrictError::DuplicateKey(key),
        None => StrictError::Syntax,
    })
}

/// Builds a [`Value`] and records the first repeated key in `repeated`.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    repeated: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json never hands one over.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let message = format!("duplicate key {key:?}");
                self.repeated.borrow_mut().get_or_insert(key);
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_repeated_key_is_named_at_any_depth() {
        let cases: [(&str, &str); 5] = [
            (
                r#"{"bk_username":"mallory","bk_username":"alice"}"#,
                "bk_username",
            ),
            (
                r#"{"data":{"bk_set_name":"a","bk_set_name":"b"}}"#,
                "bk_set_name",
            ),
            (r#"{"data":{"sets":[{"x":1},{"y":1,"y":2}]}}"#, "y"),
            // Equal after unescaping is equal.
            (r#"{"a":1,"\u0061":2}"#, "a"),
            (r#"[{"k":{"k":1,"k":2}}]"#, "k"),
        ];
        for (text, key) in cases {
            assert_eq!(
                from_slice(text.as_bytes()),
                Err(StrictError::DuplicateKey(key.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        let text = r#"{"a":[1,-2,1.5,1e400000000000000000000,"s",null,true,{"a":{}}],"b":{"a":1}}"#;
        // serde_json refuses an out-of-range float too: both say "not JSON".
        assert_eq!(from_slice(text.as_bytes()), Err(StrictError::Syntax));
        let text = r#"{"a":[1,-2,1.5,18446744073709551615,"s\n",null,true,{"a":{}}],"b":{"a":1}}"#;
        let strict = from_slice(text.as_bytes()).unwrap();
        assert_eq!(strict, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(strict["a"][3], json!(u64::MAX));
        for bad in ["", "{", "{} x", "nul", "{\"a\":}"] {
            assert_eq!(
                from_slice(bad.as_bytes()),
                Err(StrictError::Syntax),
                "{bad}"
            );
        }
    }
}
