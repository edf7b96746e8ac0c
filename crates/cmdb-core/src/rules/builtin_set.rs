//! `default` and the built-in (idle pool) set rules (spec section 9).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::builtin::DEFAULT;

/// The name of a biz's built-in set.
pub const BUILTIN_SET_NAME: &str = "空闲机池";

/// The modules of a built-in set: name and `default` value, in id order.
pub const BUILTIN_MODULES: [(&str, i64); 3] = [("空闲机", 1), ("故障机", 2), ("待回收", 3)];

/// Reads `default`: absent → normal set; 0/1 as a JSON integer or `"0"`/`"1"`; anything else
/// 1199006. Returns whether the set is the built-in set.
pub fn parse_default(value: Option<&Value>) -> Result<bool> {
    match value {
        None => Ok(false),
        Some(v) if v.as_i64() == Some(0) || v.as_str() == Some("0") => Ok(false),
        Some(v) if v.as_i64() == Some(1) || v.as_str() == Some("1") => Ok(true),
        Some(_) => Err(Error::invalid(DEFAULT)),
    }
}

/// A built-in set is refused (1199054) when the biz already has one.
pub fn check_builtin_free(builtin: bool, biz_has_builtin_set: bool) -> Result<()> {
    if builtin && biz_has_builtin_set {
        Err(Error::BuiltinForbidden)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    #[test]
    fn default_accepts_zero_and_one_only() {
        assert!(!parse_default(None).unwrap());
        assert!(!parse_default(Some(&json!(0))).unwrap());
        assert!(!parse_default(Some(&json!("0"))).unwrap());
        assert!(parse_default(Some(&json!(1))).unwrap());
        assert!(parse_default(Some(&json!("1"))).unwrap());
        for bad in [
            json!(2),
            json!(-1),
            json!("01"),
            json!(1.0),
            json!(true),
            json!(null),
            json!(" 1"),
        ] {
            let err = parse_default(Some(&bad)).unwrap_err();
            assert_eq!(err.code(), Code::ParamInvalid, "{bad}");
            assert_eq!(err.to_string(), "'default' the parameter is invalid");
        }
    }

    #[test]
    fn a_second_builtin_set_is_forbidden() {
        assert!(check_builtin_free(true, false).is_ok());
        assert!(check_builtin_free(false, true).is_ok());
        let err = check_builtin_free(true, true).unwrap_err();
        assert_eq!(err.code(), Code::BuiltinForbidden);
        assert_eq!(err.to_string(), "operate built-in object forbidden");
    }
}
