//! Golden test: every error's bk-cmdb code number and message template, pinned so none is
//! ever renumbered or reworded by accident.

use cmdb_core::{Code, Error, Language, StoreError};

#[test]
fn code_numbers_are_pinned() {
    let pinned = [
        (Code::Success, 0),
        (Code::RequiredCustomAttribute, 1_101_092),
        (Code::SetNameDuplicated, 1_101_108),
        (Code::EventChainNodeMissing, 1_103_007),
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
        (Code::ParseAuthorize, 1_199_045),
        (Code::AuthorizeFailed, 1_199_046),
        // Raised by cmdb-http only (its own golden test pins the messages).
        (Code::TooManyRequests, 1_199_997),
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
fn language_tags_read_as_bk_cmdb_reads_them() {
    for tag in ["en", "EN", " en ", "en-US", "en_us"] {
        assert_eq!(Language::parse(tag), Some(Language::En), "{tag}");
    }
    for tag in ["zh", "zh-cn", "zh-CN", "zh_CN", "cn", "zh-Hans"] {
        assert_eq!(Language::parse(tag), Some(Language::Zh), "{tag}");
    }
    for tag in ["", "fr", "zh-tw", "english"] {
        assert_eq!(Language::parse(tag), None, "{tag}");
    }
    assert_eq!(Language::default(), Language::En);
    assert_eq!((Language::En.tag(), Language::Zh.tag()), ("en", "zh-cn"));
}

/// Every error, in both languages: bk-cmdb's English templates as this engine renders them,
/// and its Chinese ones (ours for the four codes it has none for; see `language.rs`).
#[test]
fn every_error_has_its_code_and_clean_message() {
    let f = || "bk_capacity".to_owned();
    let cases: Vec<(Error, i64, &str, &str)> = vec![
        (
            Error::JsonDecode { detail: None },
            1_199_000,
            "Deserializing JSON data failed",
            "反序列化JSON数据失败",
        ),
        (
            Error::JsonDecode {
                detail: Some(cmdb_core::BodyProblem::TooLarge { max_bytes: 1 << 20 }),
            },
            1_199_000,
            "Deserializing JSON data failed: body exceeds 1 MiB",
            "反序列化JSON数据失败: 请求体超过 1 MiB",
        ),
        (
            Error::JsonDecode {
                detail: Some(cmdb_core::BodyProblem::TooDeep { max_depth: 64 }),
            },
            1_199_000,
            "Deserializing JSON data failed: nested deeper than 64 levels",
            "反序列化JSON数据失败: 嵌套超过 64 层",
        ),
        (
            Error::ParamInvalid { field: f() },
            1_199_006,
            "'bk_capacity' the parameter is invalid",
            "'bk_capacity' 数据参数校验不通过",
        ),
        (
            Error::NeedString { field: f() },
            1_199_007,
            "'bk_capacity' must be a string",
            "'bk_capacity' 必须为字符串类型",
        ),
        (
            Error::NeedInt { field: f() },
            1_199_009,
            "'bk_capacity' parameters must be integral",
            "'bk_capacity' 参数必须是整型",
        ),
        (
            Error::NeedSet { field: f() },
            1_199_010,
            "'bk_capacity' unassigned",
            "'bk_capacity' 未赋值",
        ),
        (
            Error::InvalidOrMissing { field: f() },
            1_199_011,
            "'bk_capacity' the parameter is invalid or does not exist",
            "'bk_capacity' 参数无效或不存在",
        ),
        (
            Error::DuplicateItem {
                fields: vec!["bk_biz_id".into(), "owner".into()],
            },
            1_199_014,
            "duplicated instances exist, fields [bk_biz_id,owner] duplicated",
            "数据唯一性校验失败， [bk_biz_id,owner] 重复",
        ),
        (
            Error::CatalogConflict {
                entity: "business 1".into(),
            },
            1_199_014,
            "duplicated instances exist, business 1 exists with other content",
            "数据唯一性校验失败， business 1 重复",
        ),
        (
            Error::OverLimit { field: f() },
            1_199_015,
            "'bk_capacity' exceeds the maximum length",
            "'bk_capacity' 数据越界",
        ),
        (
            Error::RegexFailed { field: f() },
            1_199_016,
            "'bk_capacity' regular verification failed",
            "'bk_capacity' 字段正则校验失败",
        ),
        (
            Error::NotFound,
            1_199_019,
            "No relevant data found",
            "未找到相关数据",
        ),
        (
            Error::NeedTimezone { field: f() },
            1_199_024,
            "'bk_capacity' must be a time zone",
            "'bk_capacity' 必须为字符串类型",
        ),
        (
            Error::NeedBool { field: f() },
            1_199_025,
            "'bk_capacity' must be a bool",
            "'bk_capacity' 必须为布尔类型",
        ),
        (
            Error::ParseAuthorize,
            1_199_045,
            "Parse authorize attributes failed.",
            "解析授权信息失败",
        ),
        (
            Error::AuthorizeFailed,
            1_199_046,
            "Authorize request failed.",
            "鉴权请求失败",
        ),
        (
            Error::DuplicateKey {
                key: "bk_username".into(),
            },
            1_199_000,
            "Deserializing JSON data failed: duplicate key 'bk_username'",
            "反序列化JSON数据失败: 重复的键 'bk_username'",
        ),
        (
            Error::JsonDecode {
                detail: Some(cmdb_core::BodyProblem::Truncated),
            },
            1_199_000,
            "Deserializing JSON data failed: the file ends inside this row",
            "反序列化JSON数据失败: 文件在此行中途结束",
        ),
        (
            Error::JsonDecode {
                detail: Some(cmdb_core::BodyProblem::CellCount {
                    expected: 5,
                    found: 3,
                }),
            },
            1_199_000,
            "Deserializing JSON data failed: the row has 3 cells, the header 5",
            "反序列化JSON数据失败: 该行有 3 个单元格，表头有 5 个",
        ),
        (
            Error::NoUser,
            1_199_027,
            "'user' authorization information query failed",
            "[user]授权信息查询失败",
        ),
        (
            Error::ExceedLimit { limit: 100 },
            1_199_035,
            "set exceed the limit 100",
            "set 超过限制 100",
        ),
        (
            Error::BuiltinForbidden,
            1_199_054,
            "operate built-in object forbidden",
            "内置结点，禁止删除",
        ),
        (
            Error::SingleChoice { field: f() },
            1_199_092,
            "'bk_capacity' allows a single choice only",
            "'bk_capacity' 只允许单选",
        ),
        (
            Error::RequiredCustomAttribute { field: f() },
            1_101_092,
            "'bk_capacity' custom attributes of a mainline model may not be required",
            "'bk_capacity' 主线模型的自定义字段不能设为必填",
        ),
        (
            Error::SetNameDuplicated,
            1_101_108,
            "the same set name exist",
            "同一父节点下已存在同名集群",
        ),
        (
            Error::EventChainNodeMissing,
            1_103_007,
            "Event chain node not exist",
            "事件节点不存在",
        ),
        (
            Error::PermissionDenied,
            9_900_403,
            "Do not have access permission.",
            "没有操作的权限",
        ),
        (
            Error::Store(StoreError::Busy("locked".into())),
            1_199_999,
            "internal error",
            "服务器内部错误",
        ),
        (
            Error::Store(StoreError::Unavailable(
                "lost the connection to the PostgreSQL server: connection closed".into(),
            )),
            1_199_999,
            "internal error: the connection to the database was lost",
            "服务器内部错误：与数据库的连接已断开",
        ),
        (
            Error::Store(StoreError::StaleFacts(
                "the plan was checked against catalog version 3; the catalog is at version 4"
                    .into(),
            )),
            1_199_999,
            "internal error: the model kept changing while the set was created; try again",
            "服务器内部错误：创建集群期间模型持续变化，请重试",
        ),
    ];
    for (error, number, english, chinese) in cases {
        assert_eq!(error.code().number(), number, "{error:?}");
        assert_eq!(error.to_string(), english, "{error:?}");
        assert_eq!(error.message_in(Language::En), english, "{error:?}");
        assert_eq!(error.message_in(Language::Zh), chinese, "{error:?}");
    }
}
