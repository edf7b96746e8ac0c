//! The language of messages (spec section 15): English, bk-cmdb's English templates with the
//! property id filled in (the `Display` of [`Error`]), or Chinese, bk-cmdb's default templates.
//!
//! Where bk-cmdb's Chinese template set has the code, its template is used as it stands, with
//! the same values filled in as in English. Four codes have no Chinese template there: 1101092
//! and 1101108 (absent from its Chinese topo-server set), 1199092 (in neither set) and 9900403
//! (a bare constant, sent with the text of 1199047, whose Chinese template is used). Their
//! Chinese wording below is ours.

use crate::error::Error;

/// The language of an answer's `message`. Only the message changes with it: codes, order and
/// data do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Language {
    /// English (the default here).
    #[default]
    En,
    /// Simplified Chinese, bk-cmdb's own default language.
    Zh,
}

impl Language {
    /// Reads a language tag as bk-cmdb does: `en` English; `zh`, `zh-cn`, `cn` Chinese (case
    /// and surrounding blanks ignored, `_` read as `-`). Anything else is `None`.
    pub fn parse(tag: &str) -> Option<Language> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        match tag.as_str() {
            "en" | "en-us" => Some(Language::En),
            "zh" | "zh-cn" | "cn" | "zh-hans" => Some(Language::Zh),
            _ => None,
        }
    }

    /// The tag this crate writes: `en` or `zh-cn`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh-cn",
        }
    }
}

impl Error {
    /// The message of this error in `language`. English is exactly `to_string()`.
    pub fn message_in(&self, language: Language) -> String {
        match language {
            Language::En => self.to_string(),
            Language::Zh => self.message_zh(),
        }
    }

    fn message_zh(&self) -> String {
        match self {
            Error::JsonDecode { detail: None } => "反序列化JSON数据失败".to_owned(),
            Error::JsonDecode {
                detail: Some(problem),
            } => format!("反序列化JSON数据失败: {}", problem.zh()),
            Error::ParamInvalid { field } => format!("'{field}' 数据参数校验不通过"),
            Error::NeedString { field } => format!("'{field}' 必须为字符串类型"),
            Error::NeedInt { field } => format!("'{field}' 参数必须是整型"),
            Error::NeedSet { field } => format!("'{field}' 未赋值"),
            Error::InvalidOrMissing { field } => format!("'{field}' 参数无效或不存在"),
            Error::DuplicateItem { fields } => {
                format!("数据唯一性校验失败， [{}] 重复", fields.join(","))
            }
            Error::CatalogConflict { entity } => format!("数据唯一性校验失败， {entity} 重复"),
            Error::OverLimit { field } => format!("'{field}' 数据越界"),
            Error::RegexFailed { field } => format!("'{field}' 字段正则校验失败"),
            Error::NotFound => "未找到相关数据".to_owned(),
            // bk-cmdb's Chinese template for 1199024 is the string-type one.
            Error::NeedTimezone { field } => format!("'{field}' 必须为字符串类型"),
            Error::NeedBool { field } => format!("'{field}' 必须为布尔类型"),
            Error::NoUser => "[user]授权信息查询失败".to_owned(),
            Error::ParseAuthorize => "解析授权信息失败".to_owned(),
            Error::AuthorizeFailed => "鉴权请求失败".to_owned(),
            Error::DuplicateKey { key } => format!("反序列化JSON数据失败: 重复的键 '{key}'"),
            Error::ExceedLimit { limit } => format!("set 超过限制 {limit}"),
            Error::BuiltinForbidden => "内置结点，禁止删除".to_owned(),
            Error::SingleChoice { field } => format!("'{field}' 只允许单选"),
            Error::RequiredCustomAttribute { field } => {
                format!("'{field}' 主线模型的自定义字段不能设为必填")
            }
            Error::SetNameDuplicated => "同一父节点下已存在同名集群".to_owned(),
            Error::EventChainNodeMissing => "事件节点不存在".to_owned(),
            Error::PermissionDenied => "没有操作的权限".to_owned(),
            Error::Store(e) => crate::error::store_message_zh(e).to_owned(),
        }
    }
}
