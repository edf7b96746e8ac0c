//! Parsing of ESB-shaped request bodies (spec sections 1, 14 and 16): the size and depth
//! limits, repeated keys, then the envelope fields in their fixed order, and the user-name rule.

use cmdb_core::catalog::DEFAULT_SUPPLIER_ACCOUNT;
use cmdb_core::records::Document;
use cmdb_core::{BizId, BodyProblem, Error};
use serde_json::Value;

use crate::strict_json::{self, StrictError};

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The deepest nesting accepted; the top-level object is depth 1.
pub const MAX_DEPTH: usize = 64;
/// The longest acting user name, in bytes (spec section 16).
pub const MAX_USER_BYTES: usize = 256;

/// The common ESB fields of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct EsbArgs {
    /// The acting user (`bk_username`, or the engine's default user).
    pub user: String,
    /// The tenant (`bk_supplier_account`, default `"0"`).
    pub supplier_account: String,
    /// `bk_app_code`, `""` when absent.
    pub app_code: String,
    /// `bk_app_secret`, `""` when absent.
    pub app_secret: String,
    /// `bk_biz_id`.
    pub biz: BizId,
    /// `data`.
    pub data: Document,
}

/// Refuses a body over [`MAX_BODY_BYTES`], not UTF-8, or nested deeper than [`MAX_DEPTH`]
/// without parsing it, then parses it as a JSON object (1199000 otherwise), refusing a key
/// repeated in any object (spec section 16).
///
/// # Errors
/// [`Error::JsonDecode`] naming the limit when one is exceeded; [`Error::DuplicateKey`]
/// (1199000) naming a repeated key.
pub fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Error> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::JsonDecode {
            detail: Some(BodyProblem::TooLarge {
                max_bytes: MAX_BODY_BYTES,
            }),
        });
    }
    // Not UTF-8 anywhere (inside strings too) is not JSON: refused before any other check.
    if std::str::from_utf8(body).is_err() {
        return Err(Error::JsonDecode { detail: None });
    }
    let scan = scan(body, MAX_DEPTH);
    if scan.too_deep {
        return Err(Error::JsonDecode {
            detail: Some(BodyProblem::TooDeep {
                max_depth: MAX_DEPTH,
            }),
        });
    }
    let parsed = if scan.negative_zero_integers.is_empty() {
        strict_json::from_slice(body)
    } else {
        // RFC 8259: `-0` (no fraction, no exponent) is the integer zero, but serde_json reads
        // it as the float -0.0. Dropping those minus signs keeps it an integer.
        let mut fixed = Vec::with_capacity(body.len());
        let mut from = 0;
        for &at in &scan.negative_zero_integers {
            fixed.extend_from_slice(&body[from..at]);
            from = at + 1;
        }
        fixed.extend_from_slice(&body[from..]);
        strict_json::from_slice(&fixed)
    };
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Err(StrictError::DuplicateKey(key)) => Err(Error::DuplicateKey { key }),
        _ => Err(Error::JsonDecode { detail: None }),
    }
}

/// What one pass over a body finds outside its strings.
struct Scan {
    /// Brackets nest deeper than the limit (the scan stopped there).
    too_deep: bool,
    /// Offsets of the `-` of each `-0` integer token.
    negative_zero_integers: Vec<usize>,
}

/// One linear pass over the bytes, skipping strings: nesting depth against `max`, and `-0`
/// integer tokens. Malformed input is left for the parser to refuse.
fn scan(body: &[u8], max: usize) -> Scan {
    let mut found = Scan {
        too_deep: false,
        negative_zero_integers: Vec::new(),
    };
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, &b) in body.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    found.too_deep = true;
                    return found;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' if body.get(at + 1) == Some(&b'0')
                && !matches!(body.get(at + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) =>
            {
                found.negative_zero_integers.push(at);
            }
            _ => {}
        }
    }
    found
}

/// Reads the ESB fields in the spec's order: `bk_username` (1199027 unless `default_user`),
/// `bk_biz_id` (1199010 / 1199009 / 1199011), `data` (1199010 / 1199006).
///
/// # Errors
/// The first failing field's error.
pub fn parse_esb(
    body: &serde_json::Map<String, Value>,
    default_user: Option<&str>,
) -> Result<EsbArgs, Error> {
    parse_esb_with(body, None, default_user)
}

/// The caller's credentials as an ESB request carries them (spec section 15): each of
/// `bk_app_code`, `bk_app_secret`, `bk_username` from the body when it has it as a non-empty
/// string, else from the `X-Bkapi-Authorization` header. The user is trimmed; the code and
/// secret are kept exactly as sent (`"s3cr3t "` is not `"s3cr3t"`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// `bk_app_code`, when given.
    pub app_code: Option<String>,
    /// `bk_app_secret`, when given (never printed by `Debug`).
    pub app_secret: Option<String>,
    /// `bk_username`, when given (not yet checked against the user-name rule).
    pub user: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_code", &self.app_code)
            .field("app_secret", &self.app_secret.as_ref().map(|_| "<hidden>"))
            .field("user", &self.user)
            .finish()
    }
}

/// Reads the credentials of an ESB request from its body and raw `X-Bkapi-Authorization`
/// header (body first).
///
/// # Errors
/// 1199045 when the header is present but not a JSON object (a repeated key included).
pub fn credentials(
    body: &serde_json::Map<String, Value>,
    authorization: Option<&[u8]>,
) -> Result<Credentials, Error> {
    let header = match authorization {
        None => serde_json::Map::new(),
        Some(bytes) => match strict_json::from_slice(bytes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::ParseAuthorize),
        },
    };
    // The user is trimmed; the app code and secret are taken exactly (compared as sent).
    let credential = |key: &str, trim: bool| -> Option<String> {
        let non_empty = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(|s| if trim { s.trim() } else { s })
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        non_empty(body.get(key)).or_else(|| non_empty(header.get(key)))
    };
    Ok(Credentials {
        app_code: credential("bk_app_code", false),
        app_secret: credential("bk_app_secret", false),
        user: credential("bk_username", true),
    })
}

/// Whether `user` may act: the objuser pattern of spec section 3
/// (`^(\d|[a-zA-Z])([a-zA-Z0-9@.,_-])*$`) and at most [`MAX_USER_BYTES`] bytes (section 16).
pub fn is_valid_user(user: &str) -> bool {
    let mut bytes = user.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok
        && user.len() <= MAX_USER_BYTES
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b',' | b'_' | b'-'))
}

/// `user` when it is a valid user name ([`is_valid_user`]).
///
/// # Errors
/// 1199027 otherwise.
pub fn check_user(user: &str) -> Result<&str, Error> {
    if is_valid_user(user) {
        Ok(user)
    } else {
        Err(Error::NoUser)
    }
}

/// [`parse_esb`] for a caller that may authenticate in a header (spec section 15):
/// `authorization` is the raw `X-Bkapi-Authorization` value. A header that is present but not a
/// JSON object is 1199045, checked first. Then each of `bk_app_code`, `bk_app_secret` and
/// `bk_username` comes from the body when the body has it as a non-empty string, else from the
/// header ([`credentials`]). The user must be a valid user name ([`check_user`]).
///
/// # Errors
/// 1199045 for an unreadable header, then as [`parse_esb`].
pub fn parse_esb_with(
    body: &serde_json::Map<String, Value>,
    authorization: Option<&[u8]>,
    default_user: Option<&str>,
) -> Result<EsbArgs, Error> {
    let credentials = credentials(body, authorization)?;
    let user = esb_user(credentials.user, default_user)?;
    let biz = parse_biz_id(body.get("bk_biz_id"))?;
    let data = match body.get("data") {
        None | Some(Value::Null) => {
            return Err(Error::NeedSet {
                field: "data".into(),
            });
        }
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(Error::invalid("data")),
    };
    let supplier_account = esb_tenant(body)?;
    Ok(EsbArgs {
        user,
        supplier_account,
        app_code: credentials.app_code.unwrap_or_default(),
        app_secret: credentials.app_secret.unwrap_or_default(),
        biz,
        data,
    })
}

/// The acting user of an ESB request: the one its credentials name, else `default_user`;
/// checked by [`check_user`].
///
/// # Errors
/// 1199027 when there is none or it is not a valid user name.
pub fn esb_user(named: Option<String>, default_user: Option<&str>) -> Result<String, Error> {
    let user = match named {
        Some(u) => u,
        // An empty default user is refused by `check_user` below, as any invalid name.
        None => default_user.ok_or(Error::NoUser)?.to_owned(),
    };
    check_user(&user)?;
    Ok(user)
}

/// The tenant of an ESB body: `bk_supplier_account` trimmed, the default when absent, null or
/// blank.
///
/// # Errors
/// 1199006 naming it when it is not a string.
pub fn esb_tenant(body: &serde_json::Map<String, Value>) -> Result<String, Error> {
    Ok(match body.get("bk_supplier_account") {
        None | Some(Value::Null) => DEFAULT_SUPPLIER_ACCOUNT.to_owned(),
        Some(Value::String(s)) if s.trim().is_empty() => DEFAULT_SUPPLIER_ACCOUNT.to_owned(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(Error::invalid("bk_supplier_account")),
    })
}

/// Reads `bk_biz_id`: a JSON integer or a string of ASCII digits; missing or null 1199010;
/// anything else (signs, spaces, floats, beyond i64, bools) 1199009; ≤ 0 1199011.
///
/// # Errors
/// As above.
pub fn parse_biz_id(value: Option<&Value>) -> Result<BizId, Error> {
    let field = "bk_biz_id";
    let id = match value {
        None | Some(Value::Null) => {
            return Err(Error::NeedSet {
                field: field.into(),
            });
        }
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Some(_) => None,
    }
    .ok_or_else(|| Error::NeedInt {
        field: field.into(),
    })?;
    if id <= 0 {
        return Err(Error::invalid_or_missing(field));
    }
    Ok(BizId(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_core::Code;
    use serde_json::json;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_body_that_is_not_utf8_anywhere_is_not_json() {
        // Invalid UTF-8 inside a string of `data`, with no user: 1199000, not 1199027.
        let body = b"{\"bk_biz_id\":1,\"data\":{\"bk_set_name\":\"\xff\xfe\",\"bk_parent_id\":1}}";
        let err = parse_body(body).unwrap_err();
        assert_eq!(err, Error::JsonDecode { detail: None });
        assert_eq!(err.code(), Code::JsonDecode);
        // The same body in valid UTF-8 parses.
        let fine = br#"{"bk_biz_id":1,"data":{"bk_set_name":"ok","bk_parent_id":1}}"#;
        assert!(parse_body(fine).is_ok());
    }

    #[test]
    fn the_limits_are_inclusive_and_closing_brackets_count() {
        // Exactly 1 MiB is accepted.
        let mut body = br#"{"a":1}"#.to_vec();
        body.resize(MAX_BODY_BYTES, b' ');
        assert!(parse_body(&body).is_ok());
        body.push(b' ');
        assert_eq!(
            parse_body(&body).unwrap_err(),
            Error::JsonDecode {
                detail: Some(BodyProblem::TooLarge {
                    max_bytes: MAX_BODY_BYTES
                })
            }
        );
        // Siblings do not nest: 100 objects side by side are two levels deep.
        let siblings = format!(r#"{{"a":[{}]}}"#, vec!["{}"; 100].join(","));
        assert!(parse_body(siblings.as_bytes()).is_ok());
    }

    #[test]
    fn only_a_bare_minus_zero_becomes_the_integer_zero() {
        let map = parse_body(br#"{"a":-5,"b":-0.5,"c":-0,"d":-0e1,"e":-07,"f":"-0"}"#);
        // `-07` is not JSON: the whole body is refused, as serde_json refuses it.
        assert_eq!(map.unwrap_err(), Error::JsonDecode { detail: None });
        let map = parse_body(br#"{"a":-5,"b":-0.5,"c":-0,"d":-0e1,"f":"-0"}"#).unwrap();
        assert_eq!(map["a"], json!(-5));
        assert_eq!(map["b"], json!(-0.5));
        assert_eq!(map["c"], json!(0));
        assert!(map["c"].is_i64());
        assert!(map["d"].is_f64() && map["d"].as_f64().unwrap().is_sign_negative());
        assert_eq!(map["f"], json!("-0"));
    }

    #[test]
    fn blank_defaults_are_no_defaults() {
        let body = obj(json!({"bk_biz_id": 1, "data": {}, "bk_supplier_account": "  "}));
        // An empty default user is no user.
        assert_eq!(parse_esb(&body, Some("")).unwrap_err(), Error::NoUser);
        // A blank tenant is the default tenant.
        let args = parse_esb(&body, Some("admin")).unwrap();
        assert_eq!(args.supplier_account, "0");
        assert_eq!(args.user, "admin");
    }

    #[test]
    fn credentials_come_from_the_body_first_then_the_header() {
        let body = obj(json!({"bk_biz_id": 1, "data": {}}));
        let header = br#"{"bk_app_code":"sdk-app","bk_app_secret":"s3","bk_username":"alice"}"#;
        let args = parse_esb_with(&body, Some(header), None).unwrap();
        assert_eq!(
            (
                args.user.as_str(),
                args.app_code.as_str(),
                args.app_secret.as_str()
            ),
            ("alice", "sdk-app", "s3")
        );
        // Body fields win when non-empty; an empty one falls back to the header.
        let body =
            obj(json!({"bk_biz_id": 1, "data": {}, "bk_username": "bob", "bk_app_code": ""}));
        let args = parse_esb_with(&body, Some(header), None).unwrap();
        assert_eq!(
            (args.user.as_str(), args.app_code.as_str()),
            ("bob", "sdk-app")
        );
        // No user anywhere: 1199027 as before; a header without one changes nothing.
        let body = obj(json!({"bk_biz_id": 1, "data": {}}));
        assert_eq!(
            parse_esb_with(&body, Some(br#"{"bk_app_code":"x"}"#), None).unwrap_err(),
            Error::NoUser
        );
        // A header that is not a JSON object: 1199045, before anything else.
        for bad in [&b"alice"[..], b"[1]", b"\"alice\"", b"{", b"\xff"] {
            let err = parse_esb_with(&obj(json!({})), Some(bad), None).unwrap_err();
            assert_eq!(err, Error::ParseAuthorize, "{bad:?}");
            assert_eq!(err.code().number(), 1_199_045);
        }
    }

    #[test]
    fn limits_are_refused_before_parsing() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let err = parse_body(&big).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deserializing JSON data failed: body exceeds 1 MiB"
        );
        let deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
        let deep = format!("{{\"a\":{deep}}}");
        assert_eq!(
            parse_body(deep.as_bytes()).unwrap_err().to_string(),
            "Deserializing JSON data failed: nested deeper than 64 levels"
        );
        // 64 levels exactly is fine; brackets inside strings do not count.
        let ok = format!(
            "{{\"a\":{}{}, \"s\": \"[[[[\\\"{{\"}}",
            "[".repeat(63),
            "]".repeat(63)
        );
        assert!(parse_body(ok.as_bytes()).is_ok());
    }

    #[test]
    fn minus_zero_is_the_integer_zero_and_minus_zero_point_zero_a_float() {
        let map = parse_body(br#"{"a": -0, "b": -0.0, "c": "-0", "d": [-0,-0e1], "e": -05}"#);
        // `-05` is not JSON: the whole body is refused.
        assert_eq!(map.unwrap_err(), Error::JsonDecode { detail: None });
        let map = parse_body(br#"{"a": -0, "b": -0.0, "c": "x\"-0", "d": [-0,-0e1]}"#).unwrap();
        assert_eq!(map["a"], serde_json::json!(0));
        assert!(map["a"].is_i64());
        assert!(map["b"].is_f64());
        assert_eq!(map["c"], serde_json::json!("x\"-0"));
        assert!(map["d"][0].is_i64());
        assert!(map["d"][1].is_f64());
    }

    #[test]
    fn a_repeated_key_is_1199000_naming_it() {
        // The parser-differential bypass: "mallory" then "alice".
        let body = br#"{"bk_username":"mallory","bk_username":"alice","bk_biz_id":1,"data":{}}"#;
        let err = parse_body(body).unwrap_err();
        assert_eq!(
            err,
            Error::DuplicateKey {
                key: "bk_username".into()
            }
        );
        assert_eq!(err.code(), Code::JsonDecode);
        assert_eq!(
            err.to_string(),
            "Deserializing JSON data failed: duplicate key 'bk_username'"
        );
        // Also inside data, and on the `-0` path.
        let body = br#"{"data":{"bk_capacity":-0,"bk_set_name":"a","bk_set_name":"b"}}"#;
        assert_eq!(
            parse_body(body).unwrap_err(),
            Error::DuplicateKey {
                key: "bk_set_name".into()
            }
        );
        // In the authorization header: not a (clean) JSON object, 1199045.
        let header = br#"{"bk_username":"mallory","bk_username":"alice"}"#;
        let body = obj(json!({"bk_biz_id": 1, "data": {}}));
        assert_eq!(
            parse_esb_with(&body, Some(header), None).unwrap_err(),
            Error::ParseAuthorize
        );
    }

    #[test]
    fn the_acting_user_must_be_a_user_name() {
        for good in [
            "a",
            "7",
            "admin",
            "alice@corp.example",
            "a.b,c_d-e",
            &"u".repeat(256),
        ] {
            assert!(is_valid_user(good), "{good}");
            let body = obj(json!({"bk_username": good, "bk_biz_id": 1, "data": {}}));
            assert_eq!(parse_esb(&body, None).unwrap().user, good);
        }
        for bad in [
            "_a",
            "-a",
            "@a",
            ".a",
            "a b",
            "a\u{0}",
            "al/ice",
            "アリス",
            "a:b",
            &"u".repeat(257),
        ] {
            assert!(!is_valid_user(bad), "{bad}");
            let body = obj(json!({"bk_username": bad, "bk_biz_id": 1, "data": {}}));
            assert_eq!(parse_esb(&body, None).unwrap_err(), Error::NoUser, "{bad}");
            // A default user is held to the same rule.
            let body = obj(json!({"bk_biz_id": 1, "data": {}}));
            assert_eq!(
                parse_esb(&body, Some(bad)).unwrap_err(),
                Error::NoUser,
                "{bad}"
            );
        }
        // Trimmed before the check (as before): " alice " acts as alice.
        let body = obj(json!({"bk_username": " alice ", "bk_biz_id": 1, "data": {}}));
        assert_eq!(parse_esb(&body, None).unwrap().user, "alice");
    }

    #[test]
    fn credentials_hide_the_secret_in_debug() {
        let body = obj(json!({"bk_app_code": "app", "bk_app_secret": "s3cr3t"}));
        let creds = credentials(&body, None).unwrap();
        assert_eq!(creds.app_secret.as_deref(), Some("s3cr3t"));
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("<hidden>"),
            "{shown}"
        );
    }

    #[test]
    fn non_objects_are_1199000() {
        for body in ["", "[]", "3", "{", "nul", "\"x\""] {
            assert_eq!(
                parse_body(body.as_bytes()).unwrap_err(),
                Error::JsonDecode { detail: None },
                "{body}"
            );
        }
    }

    #[test]
    fn biz_id_forms() {
        assert_eq!(parse_biz_id(Some(&json!(3))).unwrap(), BizId(3));
        assert_eq!(parse_biz_id(Some(&json!("03"))).unwrap(), BizId(3));
        for bad in [
            json!("-3"),
            json!("+3"),
            json!(" 1"),
            json!(""),
            json!(3.0),
            json!(1e20),
            json!(u64::MAX),
            json!("9223372036854775808"),
            json!(true),
            json!([3]),
        ] {
            let err = parse_biz_id(Some(&bad)).unwrap_err();
            assert_eq!(err.code(), Code::NeedInt, "{bad}");
            assert_eq!(err.to_string(), "'bk_biz_id' parameters must be integral");
        }
        assert_eq!(parse_biz_id(None).unwrap_err().code(), Code::NeedSet);
        assert_eq!(
            parse_biz_id(Some(&Value::Null)).unwrap_err().code(),
            Code::NeedSet
        );
        for bad in [json!(0), json!(-3), json!("0")] {
            assert_eq!(
                parse_biz_id(Some(&bad)).unwrap_err().code(),
                Code::InvalidOrMissing
            );
        }
    }

    #[test]
    fn envelope_fields_in_order() {
        let no_user = obj(json!({"bk_biz_id": "x", "data": 1}));
        assert_eq!(parse_esb(&no_user, None).unwrap_err(), Error::NoUser);
        assert_eq!(
            parse_esb(&no_user, Some("admin")).unwrap_err().code(),
            Code::NeedInt
        );
        let no_data = obj(json!({"bk_username": "u", "bk_biz_id": 1}));
        assert_eq!(
            parse_esb(&no_data, None).unwrap_err().to_string(),
            "'data' unassigned"
        );
        let bad_data = obj(json!({"bk_username": "u", "bk_biz_id": 1, "data": []}));
        assert_eq!(
            parse_esb(&bad_data, None).unwrap_err().code(),
            Code::ParamInvalid
        );
        let ok = obj(json!({"bk_username": "u", "bk_biz_id": 1, "data": {"a": 1},
            "bk_app_code": "esb_test", "bk_supplier_account": "123"}));
        let args = parse_esb(&ok, None).unwrap();
        assert_eq!(args.user, "u");
        assert_eq!(args.supplier_account, "123");
        assert_eq!(args.app_code, "esb_test");
        assert_eq!(args.biz, BizId(1));
        assert_eq!(args.data, obj(json!({"a": 1})));
        let defaults = obj(json!({"bk_username": "u", "bk_biz_id": 1, "data": {}}));
        let args = parse_esb(&defaults, None).unwrap();
        assert_eq!(
            (args.supplier_account.as_str(), args.app_code.as_str()),
            ("0", "")
        );
    }
}
