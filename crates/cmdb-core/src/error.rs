//! The domain error type, its bk-cmdb numeric codes and the backend-neutral store error.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// A numeric bk-cmdb error code. The discriminants are the wire numbers and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i64)]
#[non_exhaustive]
pub enum Code {
    /// Success.
    Success = 0,
    /// A custom attribute of a mainline model was declared required.
    RequiredCustomAttribute = 1_101_092,
    /// Another set under the same parent has this name.
    SetNameDuplicated = 1_101_108,
    /// A watch cursor names no event of this store, tenant and resource.
    EventChainNodeMissing = 1_103_007,
    /// The body is not JSON, not an object, or over a limit.
    JsonDecode = 1_199_000,
    /// A parameter has an invalid value.
    ParamInvalid = 1_199_006,
    /// A parameter must be a string.
    NeedString = 1_199_007,
    /// A parameter must be an integer.
    NeedInt = 1_199_009,
    /// A required parameter is missing.
    NeedSet = 1_199_010,
    /// A parameter is invalid or names something that does not exist.
    InvalidOrMissing = 1_199_011,
    /// A custom unique rule is violated.
    DuplicateItem = 1_199_014,
    /// A value is longer than allowed.
    OverLimit = 1_199_015,
    /// A value does not match its pattern.
    RegexFailed = 1_199_016,
    /// The asked record does not exist.
    NotFound = 1_199_019,
    /// A value is not a time zone name.
    NeedTimezone = 1_199_024,
    /// A value is not a bool.
    NeedBool = 1_199_025,
    /// The acting user is unknown.
    NoUser = 1_199_027,
    /// The authorization header cannot be parsed.
    ParseAuthorize = 1_199_045,
    /// The calling app is unknown or its secret is wrong.
    AuthorizeFailed = 1_199_046,
    /// A batch has too many elements.
    ExceedLimit = 1_199_035,
    /// A built-in object may not be operated on this way.
    BuiltinForbidden = 1_199_054,
    /// A single-choice attribute got several values.
    SingleChoice = 1_199_092,
    /// The caller sent more requests than it may (rate limit, connection limit). Raised by
    /// the HTTP adapter only: no [`enum@Error`] has this code.
    TooManyRequests = 1_199_997,
    /// Something went wrong inside the engine; details are logged, not shown.
    Internal = 1_199_999,
    /// The user may not perform the action.
    PermissionDenied = 9_900_403,
}

impl Code {
    /// The wire number of this code.
    pub fn number(self) -> i64 {
        self as i64
    }
}

/// Every way a request can be refused by the domain rules, or fail in a store.
///
/// Messages are the bk-cmdb English templates with the property id filled in.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// 1199000: the body is not a JSON object, or it exceeds a limit.
    #[error("Deserializing JSON data failed{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    JsonDecode {
        /// Which limit was exceeded, if any.
        detail: Option<BodyProblem>,
    },
    /// 1199006: the value of `field` is invalid.
    #[error("'{field}' the parameter is invalid")]
    ParamInvalid {
        /// The property id or parameter name.
        field: String,
    },
    /// 1199007: `field` must be a string.
    #[error("'{field}' must be a string")]
    NeedString {
        /// The property id.
        field: String,
    },
    /// 1199009: `field` must be an integer.
    #[error("'{field}' parameters must be integral")]
    NeedInt {
        /// The property id or parameter name.
        field: String,
    },
    /// 1199010: `field` is required but absent, null or empty.
    #[error("'{field}' unassigned")]
    NeedSet {
        /// The property id or parameter name.
        field: String,
    },
    /// 1199011: `field` is invalid or names something that does not exist.
    #[error("'{field}' the parameter is invalid or does not exist")]
    InvalidOrMissing {
        /// The property id or parameter name.
        field: String,
    },
    /// 1199014: a custom unique rule over `fields` is violated.
    #[error("duplicated instances exist, fields [{}] duplicated", fields.join(","))]
    DuplicateItem {
        /// The fields of the violated rule.
        fields: Vec<String>,
    },
    /// 1199014: a catalog entity exists with other content.
    #[error("duplicated instances exist, {entity} exists with other content")]
    CatalogConflict {
        /// The entity, e.g. `business 1`.
        entity: String,
    },
    /// 1199015: `field` is longer than allowed.
    #[error("'{field}' exceeds the maximum length")]
    OverLimit {
        /// The property id.
        field: String,
    },
    /// 1199016: `field` does not match its pattern.
    #[error("'{field}' regular verification failed")]
    RegexFailed {
        /// The property id.
        field: String,
    },
    /// 1199019: the asked record does not exist.
    #[error("No relevant data found")]
    NotFound,
    /// 1199024: `field` is not a time zone.
    #[error("'{field}' must be a time zone")]
    NeedTimezone {
        /// The property id.
        field: String,
    },
    /// 1199025: `field` is not a bool.
    #[error("'{field}' must be a bool")]
    NeedBool {
        /// The property id.
        field: String,
    },
    /// 1199027: no acting user.
    #[error("'user' authorization information query failed")]
    NoUser,
    /// 1199045: the `X-Bkapi-Authorization` header is not a JSON object.
    #[error("Parse authorize attributes failed.")]
    ParseAuthorize,
    /// 1199046: the calling app is unknown, or its secret is missing or wrong.
    #[error("Authorize request failed.")]
    AuthorizeFailed,
    /// 1199000: the body holds `key` twice in one object (spec section 16).
    #[error("Deserializing JSON data failed: duplicate key '{key}'")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// 1199035: a batch holds more than `limit` sets.
    #[error("set exceed the limit {limit}")]
    ExceedLimit {
        /// The limit.
        limit: usize,
    },
    /// 1199054: the biz already has its built-in set.
    #[error("operate built-in object forbidden")]
    BuiltinForbidden,
    /// 1199092: a single-choice attribute got several values.
    #[error("'{field}' allows a single choice only")]
    SingleChoice {
        /// The property id.
        field: String,
    },
    /// 1101092: a custom set attribute was declared required.
    #[error("'{field}' custom attributes of a mainline model may not be required")]
    RequiredCustomAttribute {
        /// The property id.
        field: String,
    },
    /// 1101108: the name is taken under this parent.
    #[error("the same set name exist")]
    SetNameDuplicated,
    /// 1103007: a well-formed watch cursor that is not of this store, tenant or resource; the
    /// client starts again from a time or from now.
    #[error("Event chain node not exist")]
    EventChainNodeMissing,
    /// 9900403: the user may not create topology in this biz.
    #[error("Do not have access permission.")]
    PermissionDenied,
    /// 1199999: a store failure, masked at the envelope (its detail goes to the log); a lost
    /// connection to a database server is named, so a client knows to retry.
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
}

impl Error {
    /// The bk-cmdb code of this error. Exhaustive on purpose: a new variant must pick its code.
    pub fn code(&self) -> Code {
        match self {
            Error::JsonDecode { .. } => Code::JsonDecode,
            Error::ParamInvalid { .. } => Code::ParamInvalid,
            Error::NeedString { .. } => Code::NeedString,
            Error::NeedInt { .. } => Code::NeedInt,
            Error::NeedSet { .. } => Code::NeedSet,
            Error::InvalidOrMissing { .. } => Code::InvalidOrMissing,
            Error::DuplicateItem { .. } => Code::DuplicateItem,
            Error::CatalogConflict { .. } => Code::DuplicateItem,
            Error::OverLimit { .. } => Code::OverLimit,
            Error::RegexFailed { .. } => Code::RegexFailed,
            Error::NotFound => Code::NotFound,
            Error::NeedTimezone { .. } => Code::NeedTimezone,
            Error::NeedBool { .. } => Code::NeedBool,
            Error::NoUser => Code::NoUser,
            Error::ParseAuthorize => Code::ParseAuthorize,
            Error::AuthorizeFailed => Code::AuthorizeFailed,
            Error::DuplicateKey { .. } => Code::JsonDecode,
            Error::ExceedLimit { .. } => Code::ExceedLimit,
            Error::BuiltinForbidden => Code::BuiltinForbidden,
            Error::SingleChoice { .. } => Code::SingleChoice,
            Error::RequiredCustomAttribute { .. } => Code::RequiredCustomAttribute,
            Error::SetNameDuplicated => Code::SetNameDuplicated,
            Error::EventChainNodeMissing => Code::EventChainNodeMissing,
            Error::PermissionDenied => Code::PermissionDenied,
            Error::Store(_) => Code::Internal,
        }
    }

    /// Shorthand for [`Error::ParamInvalid`].
    pub fn invalid(field: impl Into<String>) -> Self {
        Error::ParamInvalid {
            field: field.into(),
        }
    }

    /// Shorthand for [`Error::InvalidOrMissing`].
    pub fn invalid_or_missing(field: impl Into<String>) -> Self {
        Error::InvalidOrMissing {
            field: field.into(),
        }
    }
}

/// What made a body undecodable beyond "not a JSON object": the detail of a 1199000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyProblem {
    /// The body is larger than `max_bytes`.
    TooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// The body nests deeper than `max_depth` levels.
    TooDeep {
        /// The limit (the top-level object is level 1).
        max_depth: usize,
    },
    /// An imported file ends inside this row (an unclosed quoted CSV cell).
    Truncated,
    /// An imported CSV row has another number of cells than its header.
    CellCount {
        /// The header's cells.
        expected: usize,
        /// The row's cells.
        found: usize,
    },
}

impl BodyProblem {
    /// A size as people say it: whole MiB, else bytes.
    fn size(bytes: usize) -> String {
        if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
            format!("{} MiB", bytes >> 20)
        } else {
            format!("{bytes} bytes")
        }
    }

    /// The Chinese wording.
    pub(crate) fn zh(self) -> String {
        match self {
            BodyProblem::TooLarge { max_bytes } => format!("请求体超过 {}", Self::size(max_bytes)),
            BodyProblem::TooDeep { max_depth } => format!("嵌套超过 {max_depth} 层"),
            BodyProblem::Truncated => "文件在此行中途结束".to_owned(),
            BodyProblem::CellCount { expected, found } => {
                format!("该行有 {found} 个单元格，表头有 {expected} 个")
            }
        }
    }
}

impl fmt::Display for BodyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyProblem::TooLarge { max_bytes } => {
                write!(f, "body exceeds {}", Self::size(*max_bytes))
            }
            BodyProblem::TooDeep { max_depth } => {
                write!(f, "nested deeper than {max_depth} levels")
            }
            BodyProblem::Truncated => f.write_str("the file ends inside this row"),
            BodyProblem::CellCount { expected, found } => {
                write!(f, "the row has {found} cells, the header {expected}")
            }
        }
    }
}

/// A failure inside a store, independent of the backend. Adapters map their own errors into it
/// at the seam, keeping the backend's error as the [`std::error::Error::source`] (see
/// [`Detail`]) instead of flattening it to text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique index refused a write (a race the domain checks did not see).
    AlreadyExists(Detail),
    /// A record the write depends on is missing.
    NotFound(Detail),
    /// The store is locked by another writer and the wait timed out.
    Busy(Detail),
    /// Stored data cannot be decoded, or the file is not a store of ours.
    Corrupt(Detail),
    /// Any other backend failure.
    Backend(Detail),
    /// The backend cannot be reached: the connection to a database server was lost or
    /// refused. Nothing of the failed write is stored (or it is all stored, if only the answer
    /// was lost); the store reconnects by itself.
    Unavailable(Detail),
    /// The catalog changed between the read of the facts a plan was checked against and its
    /// commit (a store that versions its catalog, see [`crate::facts::FactsSource`]): nothing
    /// was stored; plan again on fresh facts.
    StaleFacts(Detail),
}

/// The envelope message of a store failure: its detail is never shown, only whether the
/// database was unreachable.
fn store_message(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "internal error: the connection to the database was lost",
        StoreError::StaleFacts(_) => {
            "internal error: the model kept changing while the set was created; try again"
        }
        _ => "internal error",
    }
}

/// [`store_message`] in Chinese.
pub(crate) fn store_message_zh(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "服务器内部错误：与数据库的连接已断开",
        StoreError::StaleFacts(_) => "服务器内部错误：创建集群期间模型持续变化，请重试",
        _ => "服务器内部错误",
    }
}

impl StoreError {
    /// What it says, without the kind.
    pub fn detail(&self) -> &Detail {
        match self {
            StoreError::AlreadyExists(d)
            | StoreError::NotFound(d)
            | StoreError::Busy(d)
            | StoreError::Corrupt(d)
            | StoreError::Backend(d)
            | StoreError::Unavailable(d)
            | StoreError::StaleFacts(d) => d,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            StoreError::AlreadyExists(_) => "already exists",
            StoreError::NotFound(_) => "not found",
            StoreError::Busy(_) => "store busy",
            StoreError::Corrupt(_) => "corrupt store",
            StoreError::Backend(_) => "backend failure",
            StoreError::Unavailable(_) => "backend unavailable",
            StoreError::StaleFacts(_) => "stale facts",
        };
        write!(f, "{kind}: {}", self.detail())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.detail()
            .backend_error()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The backend's own error behind a [`StoreError`], shared so the error stays `Clone`.
pub type BackendError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What a [`StoreError`] says: a one-line message, and the backend's error it came from (a
/// `rusqlite::Error`, a `sled::Error`, an `io::Error`) when there is one, for callers that
/// inspect or log the cause. Two details are equal when their messages are; it reads as its
/// message (`Deref<Target = str>`).
#[derive(Clone)]
pub struct Detail {
    message: String,
    source: Option<BackendError>,
}

impl Detail {
    /// A detail with no backend error behind it.
    pub fn new(message: impl Into<String>) -> Self {
        Detail {
            message: message.into(),
            source: None,
        }
    }

    /// A detail keeping the backend's error `source`.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Detail {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The same backend error under another message.
    pub fn renamed(self, message: impl Into<String>) -> Self {
        Detail {
            message: message.into(),
            source: self.source,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The backend's error, when kept.
    pub fn backend_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            None => fmt::Debug::fmt(&self.message, f),
            Some(source) => f
                .debug_struct("Detail")
                .field("message", &self.message)
                .field("source", source)
                .finish(),
        }
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for Detail {
    type Target = str;

    fn deref(&self) -> &str {
        &self.message
    }
}

impl PartialEq for Detail {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for Detail {}

impl PartialEq<str> for Detail {
    fn eq(&self, other: &str) -> bool {
        self.message == other
    }
}

impl PartialEq<&str> for Detail {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Self {
        Detail::new(message)
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Self {
        Detail::new(message)
    }
}

/// The result type of the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_limits_name_sizes_as_people_say_them() {
        let too_large = |max_bytes| BodyProblem::TooLarge { max_bytes }.to_string();
        assert_eq!(too_large(1 << 20), "body exceeds 1 MiB");
        assert_eq!(too_large(3 << 20), "body exceeds 3 MiB");
        assert_eq!(too_large((1 << 20) + 1), "body exceeds 1048577 bytes");
        assert_eq!(too_large(1 << 19), "body exceeds 524288 bytes");
        assert_eq!(too_large(0), "body exceeds 0 bytes");
        assert_eq!(
            BodyProblem::TooLarge { max_bytes: 2 << 20 }.zh(),
            "请求体超过 2 MiB"
        );
        assert_eq!(
            BodyProblem::TooLarge { max_bytes: 1000 }.zh(),
            "请求体超过 1000 bytes"
        );
    }

    #[test]
    fn a_store_error_keeps_its_backend_error_as_source_and_compares_by_message() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        let kept = StoreError::Backend(Detail::caused_by("cannot write", io));
        assert_eq!(kept.to_string(), "backend failure: cannot write");
        let source = std::error::Error::source(&kept).expect("a source");
        assert_eq!(
            source
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::PermissionDenied)
        );
        // Equal to the same message without a source; reads as its message.
        assert_eq!(kept, StoreError::Backend("cannot write".into()));
        assert!(kept.detail().starts_with("cannot"));
        assert_eq!(*kept.detail(), "cannot write");
        assert!(std::error::Error::source(&StoreError::Busy("x".into())).is_none());
        assert_ne!(kept, StoreError::Corrupt("cannot write".into()));
        assert_ne!(kept, StoreError::Backend("cannot read".into()));
        assert_eq!(kept.detail().message(), "cannot write");
        assert!(*kept.detail() == *"cannot write" && *kept.detail() != *"cannot");
        assert!(*kept.detail() == "cannot write" && *kept.detail() != "cannot");
        // Debug shows the source when there is one, and just the message otherwise.
        assert_eq!(format!("{:?}", Detail::new("plain")), "\"plain\"");
        let debug = format!("{:?}", kept.detail());
        assert!(
            debug.starts_with("Detail { message: \"cannot write\", source: ")
                && debug.contains("PermissionDenied"),
            "{debug}"
        );
    }
}
