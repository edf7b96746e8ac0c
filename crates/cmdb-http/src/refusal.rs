//! The refusals only the HTTP adapter makes (a head, a body or a caller refused before any use
//! case runs), and [`Refused`]: what a route answers when it does not succeed, one of those or
//! a use case's [`Failure`].
//!
//! Their codes are bk-cmdb's (`cmdb_core::Code`) and their messages read as the domain's do,
//! in English and Chinese, but the domain crate never raises them, so they live here.

use std::fmt;

use cmdb_app::{Envelope, Failure};
use cmdb_core::{Code, Error, Language};

use crate::http_io::failure_envelope;

/// A refusal of the HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpRefusal {
    /// 1199015: a request head with more than `max` header fields (answered 431).
    TooManyHeaders {
        /// The most header fields a head may have.
        max: usize,
    },
    /// 1199997: the caller is over its request rate or failed authentications, or the server
    /// over its connections or body budget (answered 429 or 503).
    TooManyRequests,
    /// 1199000: the request's content type is not JSON (answered 415).
    NotJsonContentType,
    /// 1199000: the body did not arrive within `seconds` (answered 408).
    BodyTimedOut {
        /// The body timeout.
        seconds: u64,
    },
}

/// The prefix of a 1199000 message in English, as the domain's body problems have it.
const JSON_DECODE_EN: &str = "Deserializing JSON data failed";
/// [`JSON_DECODE_EN`] in Chinese.
const JSON_DECODE_ZH: &str = "反序列化JSON数据失败";

impl HttpRefusal {
    /// The bk-cmdb code.
    pub(crate) fn code(self) -> Code {
        match self {
            HttpRefusal::TooManyHeaders { .. } => Code::OverLimit,
            HttpRefusal::TooManyRequests => Code::TooManyRequests,
            HttpRefusal::NotJsonContentType | HttpRefusal::BodyTimedOut { .. } => Code::JsonDecode,
        }
    }

    /// The message in `language`.
    pub(crate) fn message_in(self, language: Language) -> String {
        match (self, language) {
            (HttpRefusal::TooManyHeaders { max }, Language::En) => {
                format!("'headers' exceeds the maximum count of {max}")
            }
            (HttpRefusal::TooManyHeaders { max }, Language::Zh) => {
                format!("'headers' 数量超过上限 {max}")
            }
            (HttpRefusal::TooManyRequests, Language::En) => "too many requests".to_owned(),
            (HttpRefusal::TooManyRequests, Language::Zh) => "请求过多".to_owned(),
            (HttpRefusal::NotJsonContentType, Language::En) => {
                format!("{JSON_DECODE_EN}: content type must be application/json")
            }
            (HttpRefusal::NotJsonContentType, Language::Zh) => {
                format!("{JSON_DECODE_ZH}: Content-Type 必须为 application/json")
            }
            (HttpRefusal::BodyTimedOut { seconds }, Language::En) => {
                format!("{JSON_DECODE_EN}: body not received within {seconds} s")
            }
            (HttpRefusal::BodyTimedOut { seconds }, Language::Zh) => {
                format!("{JSON_DECODE_ZH}: 请求体未在 {seconds} 秒内收到")
            }
        }
    }
}

/// The English message.
impl fmt::Display for HttpRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_in(Language::En))
    }
}

impl std::error::Error for HttpRefusal {}

/// Why a route did not succeed: a use case's failure, or a refusal of the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refused {
    /// A failure of the domain rules or the engine.
    Failure(Failure),
    /// A refusal of the HTTP layer.
    Http(HttpRefusal),
}

impl Refused {
    /// The bk-cmdb code.
    pub(crate) fn code(&self) -> Code {
        match self {
            Refused::Failure(failure) => failure.code(),
            Refused::Http(refusal) => refusal.code(),
        }
    }

    /// The envelope of this refusal, its message in `language`; the hidden cause of an
    /// internal failure goes to the log (stderr).
    pub(crate) fn envelope(&self, request_id: String, language: Language) -> Envelope {
        match self {
            Refused::Failure(failure) => {
                failure_envelope(request_id, &failure.clone().in_language(language))
            }
            Refused::Http(refusal) => {
                Envelope::refusal(request_id, refusal.code(), refusal.message_in(language))
            }
        }
    }
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Self {
        Refused::Failure(failure)
    }
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Refused::Failure(error.into())
    }
}

impl From<HttpRefusal> for Refused {
    fn from(refusal: HttpRefusal) -> Self {
        Refused::Http(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden: each refusal's code number and both messages, as they were when these refusals
    /// were errors of the domain crate.
    #[test]
    fn refusal_codes_and_messages_are_pinned() {
        let cases = [
            (
                HttpRefusal::TooManyHeaders { max: 100 },
                1_199_015,
                "'headers' exceeds the maximum count of 100",
                "'headers' 数量超过上限 100",
            ),
            (
                HttpRefusal::TooManyRequests,
                1_199_997,
                "too many requests",
                "请求过多",
            ),
            (
                HttpRefusal::NotJsonContentType,
                1_199_000,
                "Deserializing JSON data failed: content type must be application/json",
                "反序列化JSON数据失败: Content-Type 必须为 application/json",
            ),
            (
                HttpRefusal::BodyTimedOut { seconds: 10 },
                1_199_000,
                "Deserializing JSON data failed: body not received within 10 s",
                "反序列化JSON数据失败: 请求体未在 10 秒内收到",
            ),
        ];
        for (refusal, number, en, zh) in cases {
            assert_eq!(refusal.code().number(), number, "{refusal:?}");
            assert_eq!(refusal.message_in(Language::En), en);
            assert_eq!(refusal.message_in(Language::Zh), zh);
            assert_eq!(refusal.to_string(), en);
            let refused = Refused::from(refusal);
            assert_eq!(refused.code().number(), number);
            let envelope = refused.envelope("rid".to_owned(), Language::Zh);
            assert_eq!(
                (envelope.result, envelope.code, envelope.message.as_str()),
                (false, number, zh)
            );
            assert_eq!(
                (
                    envelope.permission,
                    envelope.data,
                    envelope.request_id.as_str()
                ),
                (None, serde_json::Value::Null, "rid")
            );
        }
        // A domain failure keeps its own code and message.
        let refused = Refused::from(Error::NotFound);
        assert_eq!(refused.code(), Code::NotFound);
        assert_eq!(
            refused.envelope("rid".to_owned(), Language::Zh).message,
            "未找到相关数据"
        );
    }
}
