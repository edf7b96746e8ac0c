//! Golden test: every error's bk-cmdb code number and message template, pinned so none is
//! ever renumbered or reworded by accident.

use cmdb_core::{Code, Error, StoreError};

#[test]
fn code_numbers_are_pinned() {
    let pinned = [
        (Code::Success, 0),
        (Code::RequiredCustomAttribute, 1_101_092),
        (Code::SetNameDuplicated, 1_101_108),
        (Code::JsonDecode, 1_199_000),
        (Code::ParamInvalid, 1_199_006),
        (Code::NeedString, 1_199_007),
        (Code::NeedInt, 1_199_009),
        (Code::NeedSet, 1_199_010),
        (Code::InvalidOrMissing, 1_199_011),
        (Code::DuplicateItem, 1_199_014),
        (Code::OverLimit, 1_199_015),
        (Code::RegexFailed, 1_199_016),
        (Code::NotFound, 1_199_019),
        (Code::NeedTimezone, 1_199_024),
        (Code::NeedBool, 1_199_025),
        (Code::NoUser, 1_199_027),
        (Code::ExceedLimit, 1_199_035),
        (Code::BuiltinForbidden, 1_199_054),
        (Code::SingleChoice, 1_199_092),
        (Code::Internal, 1_199_999),
        (Code::PermissionDenied, 9_900_403),
    ];
    for (code, number) in pinned {
        assert_eq!(code.number(), number, "{code:?}");
    }
}

#[test]
fn every_error_has_its_code_and_clean_message() {
    let f = || "bk_capacity".to_owned();
    let cases: Vec<(Error, i64, &str)> = vec![
        (
            Error::JsonDecode { detail: None },
            1_199_000,
            "Deserializing JSON data failed",
        ),
        (
            Error::JsonDecode {
                detail: Some("body exceeds 1 MiB".into()),
            },
            1_199_000,
            "Deserializing JSON data failed: body exceeds 1 MiB",
        ),
        (
            Error::ParamInvalid { field: f() },
            1_199_006,
            "'bk_capacity' the parameter is invalid",
        ),
        (
            Error::NeedString { field: f() },
            1_199_007,
            "'bk_capacity' must be a string",
        ),
        (
            Error::NeedInt { field: f() },
            1_199_009,
            "'bk_capacity' parameters must be integral",
        ),
        (
            Error::NeedSet { field: f() },
            1_199_010,
            "'bk_capacity' unassigned",
        ),
        (
            Error::InvalidOrMissing { field: f() },
            1_199_011,
            "'bk_capacity' the parameter is invalid or does not exist",
        ),
        (
            Error::DuplicateItem {
                fields: vec!["bk_biz_id".into(), "owner".into()],
            },
            1_199_014,
            "duplicated instances exist, fields [bk_biz_id,owner] duplicated",
        ),
        (
            Error::CatalogConflict {
                entity: "business 1".into(),
            },
            1_199_014,
            "duplicated instances exist, business 1 exists with other content",
        ),
        (
            Error::OverLimit { field: f() },
            1_199_015,
            "'bk_capacity' exceeds the maximum length",
        ),
        (
            Error::RegexFailed { field: f() },
            1_199_016,
            "'bk_capacity' regular verification failed",
        ),
        (Error::NotFound, 1_199_019, "No relevant data found"),
        (
            Error::NeedTimezone { field: f() },
            1_199_024,
            "'bk_capacity' must be a time zone",
        ),
        (
            Error::NeedBool { field: f() },
            1_199_025,
            "'bk_capacity' must be a bool",
        ),
        (
            Error::NoUser,
            1_199_027,
            "'user' authorization information query failed",
        ),
        (
            Error::ExceedLimit { limit: 100 },
            1_199_035,
            "set exceed the limit 100",
        ),
        (
            Error::BuiltinForbidden,
            1_199_054,
            "operate built-in object forbidden",
        ),
        (
            Error::SingleChoice { field: f() },
            1_199_092,
            "'bk_capacity' allows a single choice only",
        ),
        (
            Error::RequiredCustomAttribute { field: f() },
            1_101_092,
            "'bk_capacity' custom attributes of a mainline model may not be required",
        ),
        (
            Error::SetNameDuplicated,
            1_101_108,
            "the same set name exist",
        ),
        (
            Error::PermissionDenied,
            9_900_403,
            "Do not have access permission.",
        ),
        (
            Error::Store(StoreError::Busy("locked".into())),
            1_199_999,
            "internal error",
        ),
    ];
    for (error, number, message) in cases {
        assert_eq!(error.code().number(), number, "{error:?}");
        assert_eq!(error.to_string(), message, "{error:?}");
    }
}
