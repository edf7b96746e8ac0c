//! The bk-cmdb response envelope and the failures use cases answer with.

use cmdb_core::{BizId, Code, Error, Language};
use serde::Serialize;
use serde_json::{Value, json};

/// The response envelope, serialized with its keys in bk-cmdb's order:
/// `result, code, message, permission, request_id, data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// Whether the request succeeded.
    pub result: bool,
    /// 0 on success, else the bk-cmdb error code.
    pub code: i64,
    /// `""` on success, else the error message.
    pub message: String,
    /// The denial object on 9900403, else null.
    pub permission: Option<Value>,
    /// The request chain id.
    pub request_id: String,
    /// The answer's data; null on failure (except batch element reports).
    pub data: Value,
}

impl Envelope {
    /// A success carrying `data`.
    pub fn success(request_id: String, data: Value) -> Self {
        Envelope {
            result: true,
            code: 0,
            message: String::new(),
            permission: None,
            request_id,
            data,
        }
    }

    /// A failure with null data.
    pub fn failure(request_id: String, failure: &Failure) -> Self {
        Envelope {
            result: false,
            code: failure.code.number(),
            message: failure.message.clone(),
            permission: failure.permission.clone(),
            request_id,
            data: Value::Null,
        }
    }

    /// The failure envelope of a refusal that is not a [`Failure`] (one an adapter makes
    /// itself, such as an HTTP server over its rate limit): `code`, `message` as given, null
    /// permission and data.
    ///
    /// ```
    /// use cmdb_app::Envelope;
    /// use cmdb_core::Code;
    ///
    /// let envelope = Envelope::refusal("r1".to_owned(), Code::TooManyRequests, "too many requests".to_owned());
    /// assert_eq!(
    ///     envelope.to_json(),
    ///     r#"{"result":false,"code":1199997,"message":"too many requests","permission":null,"request_id":"r1","data":null}"#
    /// );
    /// ```
    pub fn refusal(request_id: String, code: Code, message: String) -> Self {
        Envelope {
            result: false,
            code: code.number(),
            message,
            permission: None,
            request_id,
            data: Value::Null,
        }
    }

    /// The envelope as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Serializing plain JSON values cannot fail; keep a well-formed answer regardless.
            r#"{"result":false,"code":1199999,"message":"internal error","permission":null,"request_id":"","data":null}"#.to_owned()
        })
    }
}

/// Why a use case failed: the code, the message shown to the client, the denial object, and
/// (for internal failures only) the cause, which is for logs and never shown.
///
/// It is a [`std::error::Error`] (`code: message`, with the rule's error as its source), so `?`
/// carries it into `Box<dyn Error>` or `anyhow::Error`; [`Failure::is`] tells its code.
///
/// ```
/// use cmdb_app::{Failure, Language};
/// use cmdb_core::{Code, Error};
///
/// let failure = Failure::from(Error::SetNameDuplicated);
/// assert!(failure.is(Code::SetNameDuplicated));
/// assert_eq!(failure.to_string(), "1101108: the same set name exist");
/// let source = std::error::Error::source(&failure).map(|e| e.to_string());
/// assert_eq!(source.as_deref(), Some("the same set name exist"));
/// let zh = failure.clone().in_language(Language::Zh);
/// assert_eq!(zh.to_string(), "1101108: 同一父节点下已存在同名集群");
///
/// fn create() -> anyhow::Result<()> {
///     Err(Failure::from(Error::SetNameDuplicated))?
/// }
/// let report = create().unwrap_err();
/// assert!(report.downcast_ref::<Failure>().is_some_and(|f| f.is(Code::SetNameDuplicated)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The bk-cmdb code.
    code: Code,
    /// The message shown to the client.
    message: String,
    /// The 9900403 denial object.
    permission: Option<Value>,
    /// The rule's error this failure reports: what renders `message` in another language
    /// ([`Failure::in_language`]), and the hidden cause of an internal failure.
    error: Box<Error>,
    /// The batch element the failure belongs to (`sets[i]: ` before the message).
    element: Option<usize>,
}

impl Failure {
    /// The bk-cmdb code (its number: [`Code::number`]; numbers pinned by the golden test).
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message shown to the client, in the language it was rendered in.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 9900403 denial object (bk-cmdb's `permission`), on a permission failure.
    pub fn permission(&self) -> Option<&Value> {
        self.permission.as_ref()
    }

    /// The rule's error this failure reports (also its [`std::error::Error::source`]).
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The hidden cause of an internal failure (1199999), for logs: never shown to a client.
    pub fn cause(&self) -> Option<String> {
        match &*self.error {
            Error::Store(cause) => Some(cause.to_string()),
            _ => None,
        }
    }

    /// The batch element the failure belongs to, when it is an element's.
    pub fn element(&self) -> Option<usize> {
        self.element
    }

    /// The same failure with its message in `language` (codes, permission and data unchanged).
    pub fn in_language(mut self, language: Language) -> Self {
        let message = self.error.message_in(language);
        self.message = match self.element {
            Some(index) => format!("sets[{index}]: {message}"),
            None => message,
        };
        self
    }

    /// The same failure, as the failure of batch element `index` (its message prefixed with
    /// `sets[index]: `).
    pub fn of_element(mut self, index: usize) -> Self {
        self.message = format!("sets[{index}]: {}", self.message);
        self.element = Some(index);
        self
    }

    /// Whether the failure has this code.
    pub fn is(&self, code: Code) -> bool {
        self.code == code
    }

    /// The 9900403 failure whose denial object names the biz and the create action.
    pub fn permission_denied(biz: BizId, biz_name: &str) -> Self {
        let action = cmdb_core::ports::Action::CreateBizTopology;
        Self::denied(action.id(), action.display_name(), biz, biz_name)
    }

    /// The 9900403 failure of a read: the denial object names the biz and bk-cmdb's view
    /// action, `find_business_resource` ("Business access").
    pub fn view_denied(biz: BizId, biz_name: &str) -> Self {
        Self::denied("find_business_resource", "Business access", biz, biz_name)
    }

    fn denied(action_id: &str, action_name: &str, biz: BizId, biz_name: &str) -> Self {
        Failure {
            code: Code::PermissionDenied,
            message: Error::PermissionDenied.to_string(),
            permission: Some(json!({
                "system_id": "bk_cmdb",
                "system_name": "CMDB",
                "actions": [{
                    "id": action_id,
                    "name": action_name,
                    "related_resource_types": [{
                        "system_id": "bk_cmdb",
                        "system_name": "CMDB",
                        "type": "biz",
                        "type_name": "Business",
                        "instances": [[{
                            "type": "biz",
                            "type_name": "Business",
                            "id": biz.0.to_string(),
                            "name": biz_name,
                        }]]
                    }]
                }]
            })),
            error: Box::new(Error::PermissionDenied),
            element: None,
        }
    }
}

/// `{code}: {message}`, as the client is told (never the hidden cause).
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.number(), self.message)
    }
}

/// The source is the rule's error the failure reports, when it reports one (and, through it,
/// a store failure's backend error): so `?` carries a failure into `Box<dyn Error>` or
/// `anyhow::Error` with its chain.
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

impl From<Error> for Failure {
    /// A store failure is masked: the client sees "internal error", [`Failure::cause`] the
    /// cause.
    fn from(error: Error) -> Self {
        Failure {
            code: error.code(),
            message: error.to_string(),
            permission: None,
            error: Box::new(error),
            element: None,
        }
    }
}

impl From<cmdb_core::StoreError> for Failure {
    fn from(error: cmdb_core::StoreError) -> Self {
        Failure::from(Error::Store(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_bk_cmdb_order() {
        let e = Envelope::success("ab".into(), json!({"z": 1, "a": 2}));
        assert_eq!(
            e.to_json(),
            r#"{"result":true,"code":0,"message":"","permission":null,"request_id":"ab","data":{"a":2,"z":1}}"#
        );
    }

    #[test]
    fn store_failures_are_masked() {
        let f = Failure::from(cmdb_core::StoreError::Backend("disk I/O error".into()));
        assert_eq!(f.code().number(), 1_199_999);
        assert_eq!(f.message, "internal error");
        assert_eq!(
            f.cause().as_deref(),
            Some("backend failure: disk I/O error")
        );
    }

    #[test]
    fn a_failure_renders_in_either_language_and_keeps_its_element() {
        let f = Failure::from(Error::SetNameDuplicated).of_element(2);
        assert_eq!(f.message, "sets[2]: the same set name exist");
        let zh = f.clone().in_language(Language::Zh);
        assert_eq!(zh.message, "sets[2]: 同一父节点下已存在同名集群");
        assert_eq!(zh.code().number(), 1_101_108);
        assert_eq!(zh.in_language(Language::En), f);
        let denied = Failure::permission_denied(BizId(3), "demo").in_language(Language::Zh);
        assert_eq!(denied.message, "没有操作的权限");
        assert!(denied.permission.is_some());
        let masked = Failure::from(cmdb_core::StoreError::Busy("locked".into()));
        assert_eq!(masked.in_language(Language::Zh).message, "服务器内部错误");
    }

    #[test]
    fn denial_names_the_biz() {
        let f = Failure::permission_denied(BizId(3), "demo");
        assert_eq!(f.code().number(), 9_900_403);
        assert_eq!(f.message, "Do not have access permission.");
        let p = f.permission.unwrap();
        assert_eq!(
            p["actions"][0]["related_resource_types"][0]["instances"][0][0],
            json!({"type": "biz", "type_name": "Business", "id": "3", "name": "demo"})
        );
        assert_eq!(p["actions"][0]["id"], json!("create_biz_topology"));
        let view = Failure::view_denied(BizId(3), "demo");
        let v = view.permission.unwrap();
        assert_eq!(v["actions"][0]["id"], json!("find_business_resource"));
        assert_eq!(v["actions"][0]["name"], json!("Business access"));
        assert_eq!(
            v["actions"][0]["related_resource_types"],
            p["actions"][0]["related_resource_types"]
        );
    }

    #[test]
    fn a_failure_is_an_error_with_its_chain() {
        let io = std::io::Error::other("disk on fire");
        let store =
            cmdb_core::StoreError::Backend(cmdb_core::error::Detail::caused_by("write failed", io));
        let failure = Failure::from(Error::Store(store));
        assert_eq!(failure.to_string(), "1199999: internal error");
        let boxed: Box<dyn std::error::Error> = Box::new(failure.clone());
        let mut chain = Vec::new();
        let mut next = boxed.source();
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        assert_eq!(
            chain.last().map(String::as_str),
            Some("disk on fire"),
            "the backend's error ends the chain: {chain:?}"
        );
        let question_mark = || -> Result<(), Box<dyn std::error::Error>> { Err(failure)? };
        assert!(question_mark().is_err());
    }
}
