//! Authenticated apps (spec section 16): the apps file of `cmdb serve --apps`, which app codes
//! may call with which secret, and for which tenants and users they may act.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cmdb_core::Error;
use serde_json::Value;

use crate::strict_json;

/// The tenants or users an app may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// `"any"`.
    Any,
    /// The listed names.
    Only(BTreeSet<String>),
}

impl Scope {
    fn contains(&self, name: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Only(names) => names.contains(name),
        }
    }
}

/// One app of the file. Its secret is never printed.
#[derive(Clone, PartialEq, Eq)]
struct App {
    secret: Vec<u8>,
    tenants: Scope,
    users: Scope,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("secret", &"<hidden>")
            .field("tenants", &self.tenants)
            .field("users", &self.users)
            .finish()
    }
}

/// The apps a server accepts: `{"apps": [{"bk_app_code", "bk_app_secret", "tenants", "users"}]}`,
/// `tenants` and `users` each a list of names or `"any"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistry {
    apps: BTreeMap<String, App>,
}

/// An apps file that is not of the documented shape, by what is wrong (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppsError {
    /// The file is not JSON.
    #[error("invalid apps file: not JSON")]
    NotJson,
    /// An object holds `key` twice.
    #[error("invalid apps file: the key {key:?} is repeated")]
    RepeatedKey {
        /// The key.
        key: String,
    },
    /// The top level is not `{"apps": [...]}`.
    #[error("invalid apps file: expected {{\"apps\": [...]}}")]
    NoAppList,
    /// `apps[index].field` is absent, empty or not a string.
    #[error("invalid apps file: apps[{index}]: {field} must be a non-empty string")]
    NotAString {
        /// The app's index in the list.
        index: usize,
        /// `bk_app_code` or `bk_app_secret`.
        field: &'static str,
    },
    /// `apps[index].field` has leading or trailing whitespace (it could never match).
    #[error("invalid apps file: apps[{index}]: {field} has leading or trailing whitespace")]
    Whitespace {
        /// The app's index in the list.
        index: usize,
        /// `bk_app_code` or `bk_app_secret`.
        field: &'static str,
    },
    /// `apps[index].scope` is neither `"any"` nor a list of non-empty names.
    #[error("invalid apps file: apps[{index}]: {scope} must be \"any\" or a list of names")]
    BadScope {
        /// The app's index in the list.
        index: usize,
        /// `tenants` or `users`.
        scope: &'static str,
    },
    /// The app `code` at `apps[index]` was listed before.
    #[error("invalid apps file: apps[{index}]: {code:?} is listed twice")]
    Repeated {
        /// The app's index in the list.
        index: usize,
        /// Its code.
        code: String,
    },
}

/// An app whose code and secret matched: what it may act for.
#[derive(Debug, Clone, Copy)]
pub struct AppGrant<'a> {
    code: &'a str,
    app: &'a App,
}

impl<'a> AppGrant<'a> {
    /// The app's code.
    pub fn code(&self) -> &'a str {
        self.code
    }

    /// Whether the app may act for `tenant` (a supplier account).
    pub fn covers_tenant(&self, tenant: &str) -> bool {
        self.app.tenants.contains(tenant)
    }

    /// Whether the app may act as `user`.
    pub fn covers_user(&self, user: &str) -> bool {
        self.app.users.contains(user)
    }
}

impl AppRegistry {
    /// Parses an apps file. A key repeated in any object, an empty code or secret, one with
    /// leading or trailing whitespace, a code listed twice, or a scope that is neither `"any"` nor a list of non-empty strings is refused.
    ///
    /// # Errors
    /// [`AppsError`] naming what is wrong (never the secret).
    pub fn from_json(text: &str) -> Result<Self, AppsError> {
        let value = strict_json::from_slice(text.as_bytes()).map_err(|e| match e {
            strict_json::StrictError::DuplicateKey(key) => AppsError::RepeatedKey { key },
            strict_json::StrictError::Syntax => AppsError::NotJson,
        })?;
        let list = value
            .as_object()
            .and_then(|o| o.get("apps"))
            .and_then(Value::as_array)
            .ok_or(AppsError::NoAppList)?;
        let mut apps = BTreeMap::new();
        for (index, entry) in list.iter().enumerate() {
            let field = |name: &'static str| {
                entry
                    .get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or(AppsError::NotAString { index, field: name })
            };
            // A code or secret with surrounding whitespace could never match what a client
            // sends (compared exactly): refused rather than loaded and never usable.
            let exact = |name: &'static str| {
                field(name).and_then(|value| {
                    if value.trim() == value {
                        Ok(value)
                    } else {
                        Err(AppsError::Whitespace { index, field: name })
                    }
                })
            };
            let code = exact("bk_app_code")?.to_owned();
            let secret = exact("bk_app_secret")?.as_bytes().to_vec();
            let tenants = scope(entry.get("tenants"), index, "tenants")?;
            let users = scope(entry.get("users"), index, "users")?;
            let app = App {
                secret,
                tenants,
                users,
            };
            if apps.insert(code.clone(), app).is_some() {
                return Err(AppsError::Repeated { index, code });
            }
        }
        Ok(AppRegistry { apps })
    }

    /// The app whose code is `code` and secret is `secret`. Secrets are compared in constant
    /// time; an unknown code costs the same comparison.
    ///
    /// # Errors
    /// 1199046 [`Error::AuthorizeFailed`] for a missing code or secret, an unknown code or a
    /// wrong secret (one answer for all, so that callers cannot probe which codes exist).
    pub fn authenticate(
        &self,
        code: Option<&str>,
        secret: Option<&str>,
    ) -> Result<AppGrant<'_>, Error> {
        let secret = secret.unwrap_or_default().as_bytes();
        let found = code.and_then(|c| self.apps.get_key_value(c));
        // Compare against something even for an unknown code, so both paths take alike.
        let expected: &[u8] = found.map_or(b"", |(_, app)| app.secret.as_slice());
        let equal = constant_time_eq(expected, secret);
        match found {
            Some((code, app)) if equal && !secret.is_empty() => Ok(AppGrant { code, app }),
            _ => Err(Error::AuthorizeFailed),
        }
    }
}

/// `tenants` or `users`: `"any"` or a list of non-empty strings.
fn scope(value: Option<&Value>, index: usize, name: &'static str) -> Result<Scope, AppsError> {
    let bad = || AppsError::BadScope { index, scope: name };
    match value {
        Some(Value::String(s)) if s == "any" => Ok(Scope::Any),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(bad)
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scope::Only),
        _ => Err(bad()),
    }
}

/// Whether `a == b`, in time that depends on the lengths only, not on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..longest {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"apps": [
        {"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "tenants": ["0", "123"], "users": ["admin", "alice"]},
        {"bk_app_code": "ops", "bk_app_secret": "other", "tenants": "any", "users": "any"}
    ]}"#;

    #[test]
    fn the_code_and_its_secret_authenticate() {
        let apps = AppRegistry::from_json(FILE).unwrap();
        let grant = apps.authenticate(Some("esb_test"), Some("s3cr3t")).unwrap();
        assert_eq!(grant.code(), "esb_test");
        assert!(grant.covers_tenant("123") && !grant.covers_tenant("9"));
        assert!(grant.covers_user("alice") && !grant.covers_user("mallory"));
        let ops = apps.authenticate(Some("ops"), Some("other")).unwrap();
        assert!(ops.covers_tenant("anything") && ops.covers_user("anyone"));
        for (code, secret) in [
            (None, None),
            (Some("esb_test"), None),
            (Some("esb_test"), Some("")),
            (Some("esb_test"), Some("s3cr3")),
            (Some("esb_test"), Some("s3cr3tt")),
            (Some("esb_test"), Some("other")),
            (Some("nobody"), Some("s3cr3t")),
            (None, Some("s3cr3t")),
        ] {
            assert_eq!(
                apps.authenticate(code, secret).unwrap_err(),
                Error::AuthorizeFailed,
                "{code:?} {secret:?}"
            );
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let apps = AppRegistry::from_json(FILE).unwrap();
        let shown = format!("{apps:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("other"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_files_are_refused_by_kind_without_their_secret() {
        let app = |fields: &str| format!(r#"{{"apps": [{{{fields}}}]}}"#);
        let scope = |index, scope| AppsError::BadScope { index, scope };
        let cases: Vec<(String, AppsError)> = vec![
            (String::new(), AppsError::NotJson),
            ("[]".into(), AppsError::NoAppList),
            (
                app(r#""bk_app_code": "a", "tenants": "any", "users": "any""#),
                AppsError::NotAString { index: 0, field: "bk_app_secret" },
            ),
            (
                app(r#""bk_app_code": "", "bk_app_secret": "x", "tenants": "any", "users": "any""#),
                AppsError::NotAString { index: 0, field: "bk_app_code" },
            ),
            (
                app(r#""bk_app_code": "a", "bk_app_secret": "x", "tenants": "all", "users": "any""#),
                scope(0, "tenants"),
            ),
            (
                app(r#""bk_app_code": "a", "bk_app_secret": "x", "tenants": [1], "users": "any""#),
                scope(0, "tenants"),
            ),
            (
                app(r#""bk_app_code": "a", "bk_app_secret": "x", "tenants": "any""#),
                scope(0, "users"),
            ),
            (
                app(r#""bk_app_code": "a", "bk_app_secret": "x", "bk_app_secret": "y", "tenants": "any", "users": "any""#),
                AppsError::RepeatedKey { key: "bk_app_secret".into() },
            ),
            (
                r#"{"apps": [{"bk_app_code": "a", "bk_app_secret": "x", "tenants": "any", "users": "any"},
                          {"bk_app_code": "a", "bk_app_secret": "z", "tenants": "any", "users": "any"}]}"#
                    .into(),
                AppsError::Repeated { index: 1, code: "a".into() },
            ),
            (
                app(r#""bk_app_code": "a", "bk_app_secret": "s3cr3t ", "tenants": "any", "users": "any""#),
                AppsError::Whitespace { index: 0, field: "bk_app_secret" },
            ),
            (
                app(r#""bk_app_code": " a", "bk_app_secret": "x", "tenants": "any", "users": "any""#),
                AppsError::Whitespace { index: 0, field: "bk_app_code" },
            ),
        ];
        for (bad, expected) in cases {
            let err = AppRegistry::from_json(&bad).unwrap_err();
            assert_eq!(err, expected, "{bad}");
            let shown = err.to_string();
            assert!(shown.starts_with("invalid apps file: "), "{shown}");
            assert!(
                !shown.contains("\"x\"") && !shown.contains("s3cr3t"),
                "{shown}"
            );
        }
        assert_eq!(
            AppsError::Repeated {
                index: 1,
                code: "a".into()
            }
            .to_string(),
            "invalid apps file: apps[1]: \"a\" is listed twice"
        );
        assert_eq!(
            AppsError::NoAppList.to_string(),
            "invalid apps file: expected {\"apps\": [...]}"
        );
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
