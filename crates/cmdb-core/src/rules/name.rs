//! `bk_set_name`: type, trimming, length and forbidden characters (spec section 6).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::builtin::SET_NAME;

/// The longest name, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Characters a name may not contain (besides inner whitespace and control characters).
pub const FORBIDDEN_CHARS: [char; 11] = ['\\', '|', '/', ':', '*', ',', '<', '>', '"', '?', '#'];

/// Checks a set name and returns it trimmed. In order: a string (1199007), non-empty after
/// trimming Unicode whitespace (1199010), ≤ 256 bytes (1199015), no forbidden character, no
/// control character (U+0000–U+001F, U+007F: spec section 16) and no inner whitespace (1199006).
pub fn normalize_set_name(value: &Value) -> Result<String> {
    let field = || SET_NAME.to_owned();
    // Anything but a string, `null` included, is not a string (spec 14).
    let Value::String(raw) = value else {
        return Err(Error::NeedString { field: field() });
    };
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::NeedSet { field: field() });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::OverLimit { field: field() });
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || is_control(c) || FORBIDDEN_CHARS.contains(&c))
    {
        return Err(Error::ParamInvalid { field: field() });
    }
    Ok(name.to_owned())
}

/// U+0000–U+001F and U+007F: refused anywhere in a name (spec section 16), also where they are
/// not whitespace (NUL, ESC, DEL, …).
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    fn code(v: Value) -> Code {
        normalize_set_name(&v).unwrap_err().code()
    }

    #[test]
    fn trims_and_accepts() {
        assert_eq!(normalize_set_name(&json!("  web-01\t")).unwrap(), "web-01");
        assert_eq!(
            normalize_set_name(&json!("\u{3000}集群\u{3000}")).unwrap(),
            "集群"
        );
        assert_eq!(
            normalize_set_name(&json!("a".repeat(256))).unwrap().len(),
            256
        );
    }

    #[test]
    fn rejects_in_order() {
        assert_eq!(code(json!(12)), Code::NeedString);
        assert_eq!(code(json!(["a"])), Code::NeedString);
        // An explicit null is not a string (spec 14).
        assert_eq!(code(Value::Null), Code::NeedString);
        assert_eq!(code(json!("   ")), Code::NeedSet);
        assert_eq!(code(json!("\u{3000}")), Code::NeedSet);
        assert_eq!(code(json!("a".repeat(257))), Code::OverLimit);
        // 86 three-byte characters = 258 bytes: too long before the character check.
        assert_eq!(code(json!("集".repeat(86))), Code::OverLimit);
        assert_eq!(
            code(json!(format!("{} x", "a".repeat(300)))),
            Code::OverLimit
        );
        for c in FORBIDDEN_CHARS {
            assert_eq!(code(json!(format!("a{c}b"))), Code::ParamInvalid, "{c}");
        }
        assert_eq!(code(json!("a b")), Code::ParamInvalid);
        assert_eq!(code(json!("a\u{3000}b")), Code::ParamInvalid);
        assert_eq!(code(json!("a\nb")), Code::ParamInvalid);
    }

    #[test]
    fn control_characters_are_refused_anywhere() {
        for c in (0u32..=0x1f).chain([0x7f]).filter_map(char::from_u32) {
            // Inside, and at either end where trimming keeps the non-whitespace ones.
            assert_eq!(code(json!(format!("a{c}b"))), Code::ParamInvalid, "{c:?}");
            if !c.is_whitespace() {
                assert_eq!(code(json!(format!("{c}ab"))), Code::ParamInvalid, "{c:?}");
                assert_eq!(code(json!(format!("ab{c}"))), Code::ParamInvalid, "{c:?}");
            }
        }
        // U+0080 (a C1 control) is not in the spec's range: whitespace rules only.
        assert_eq!(normalize_set_name(&json!("a\u{80}b")).unwrap(), "a\u{80}b");
    }

    #[test]
    fn message_names_the_property() {
        let err = normalize_set_name(&json!("a/b")).unwrap_err();
        assert_eq!(err.to_string(), "'bk_set_name' the parameter is invalid");
    }
}
