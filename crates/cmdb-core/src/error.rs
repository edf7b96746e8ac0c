//! The domain error type, its bk-cmdb numeric codes and the backend-neutral store error.

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
    /// A batch has too many elements.
    ExceedLimit = 1_199_035,
    /// A built-in object may not be operated on this way.
    BuiltinForbidden = 1_199_054,
    /// A single-choice attribute got several values.
    SingleChoice = 1_199_092,
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
    #[error("Deserializing JSON data failed{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    JsonDecode {
        /// Which limit was exceeded, if any.
        detail: Option<String>,
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
    /// 9900403: the user may not create topology in this biz.
    #[error("Do not have access permission.")]
    PermissionDenied,
    /// 1199999: a store failure, masked at the envelope.
    #[error("internal error")]
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
            Error::ExceedLimit { .. } => Code::ExceedLimit,
            Error::BuiltinForbidden => Code::BuiltinForbidden,
            Error::SingleChoice { .. } => Code::SingleChoice,
            Error::RequiredCustomAttribute { .. } => Code::RequiredCustomAttribute,
            Error::SetNameDuplicated => Code::SetNameDuplicated,
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

/// A failure inside a store, independent of the backend. Adapters map their own errors into it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique index refused a write (a race the domain checks did not see).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A record the write depends on is missing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store is locked by another writer and the wait timed out.
    #[error("store busy: {0}")]
    Busy(String),
    /// Stored data cannot be decoded, or the file is not a store of ours.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("backend failure: {0}")]
    Backend(String),
}

/// The result type of the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;
