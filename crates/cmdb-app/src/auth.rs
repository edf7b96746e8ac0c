//! Authorizers: allow-all by default, and a static policy read from a JSON file; for writes
//! (the core's [`Authorizer`] port) and for reads ([`ViewAuthorizer`]).

use std::collections::BTreeMap;

use cmdb_core::BizId;
use cmdb_core::ports::{Action, Authorizer};
use serde_json::Value;

/// Allows everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn allows(&self, _user: &str, _action: Action, _biz: BizId) -> bool {
        true
    }
}

impl ViewAuthorizer for AllowAll {
    fn may_view(&self, _user: &str, _biz: BizId) -> bool {
        true
    }
}

/// Decides whether a user may read a biz's sets, modules and audit records (bk-cmdb's
/// `find_business_resource`, "Business access"). Like [`Authorizer`], it answers from memory
/// without blocking.
///
/// It lives here rather than in the core's port because the port's `Action` has only the
/// create action today; when the port gains a view action this becomes that action.
pub trait ViewAuthorizer: Send + Sync + std::fmt::Debug {
    /// Whether `user` may view `biz`.
    fn may_view(&self, user: &str, biz: BizId) -> bool;
}

/// The reads of an engine built with a write [`Authorizer`] only: whoever may create
/// topology in a biz may view it, and nobody else.
#[derive(Debug, Clone)]
pub(crate) struct ViewByCreate(pub(crate) std::sync::Arc<dyn Authorizer>);

impl ViewAuthorizer for ViewByCreate {
    fn may_view(&self, user: &str, biz: BizId) -> bool {
        self.0.allows(user, Action::CreateBizTopology, biz)
    }
}

/// Which businesses a user may create topology in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    All,
    Some(Vec<i64>),
}

/// A static policy: `{"allow": {"alice": [1, 2], "bob": ["*"]}}` lets each listed user create
/// topology in (and view) the listed businesses (`"*"` = all) and denies everyone else; an
/// optional `"view": {"carol": [1]}` lets users view businesses they may not write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPolicy {
    allow: BTreeMap<String, Grant>,
    view: BTreeMap<String, Grant>,
}

/// A policy document that is not of the documented shape, by what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not JSON (the parser's error is the source).
    #[error("invalid policy: not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The top level is not `{"allow": {user: [biz ids]}, "view": {...}}`.
    #[error("invalid policy: expected {{\"allow\": {{user: [biz ids]}}}}")]
    NoAllow,
    /// `view` is there but not an object.
    #[error("invalid policy: \"view\" must be {{user: [biz ids]}}")]
    BadView,
    /// A user's grant is not a list.
    #[error("invalid policy: {user}: expected a list")]
    NotAList {
        /// The user.
        user: String,
    },
    /// A user's grant lists `item`, neither a positive business id nor `"*"`.
    #[error("invalid policy: {user}: {item} is neither a business id nor \"*\"")]
    BadItem {
        /// The user.
        user: String,
        /// The item, as JSON.
        item: String,
    },
}

impl StaticPolicy {
    /// Parses a policy document.
    ///
    /// # Errors
    /// [`PolicyError`] naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(PolicyError::NotJson)?;
        let object = value.as_object();
        let allow = object
            .and_then(|o| o.get("allow"))
            .and_then(Value::as_object)
            .ok_or(PolicyError::NoAllow)?;
        let view = match object.and_then(|o| o.get("view")) {
            None => BTreeMap::new(),
            Some(Value::Object(view)) => grants(view)?,
            Some(_) => return Err(PolicyError::BadView),
        };
        Ok(StaticPolicy {
            allow: grants(allow)?,
            view,
        })
    }
}

impl Grant {
    fn covers(&self, biz: BizId) -> bool {
        match self {
            Grant::All => true,
            Grant::Some(ids) => ids.contains(&biz.0),
        }
    }
}

/// The grants of one section: user → business ids or `"*"`.
fn grants(
    section: &serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, Grant>, PolicyError> {
    let mut grants = BTreeMap::new();
    for (user, list) in section {
        let items = list
            .as_array()
            .ok_or_else(|| PolicyError::NotAList { user: user.clone() })?;
        let mut ids = Vec::new();
        let mut all = false;
        for item in items {
            match item {
                Value::String(s) if s == "*" => all = true,
                Value::Number(n) if n.as_i64().is_some_and(|id| id > 0) => {
                    ids.extend(n.as_i64());
                }
                other => {
                    return Err(PolicyError::BadItem {
                        user: user.clone(),
                        item: other.to_string(),
                    });
                }
            }
        }
        let grant = if all { Grant::All } else { Grant::Some(ids) };
        grants.insert(user.clone(), grant);
    }
    Ok(grants)
}

impl Authorizer for StaticPolicy {
    fn allows(&self, user: &str, action: Action, biz: BizId) -> bool {
        match action {
            Action::CreateBizTopology => self.allow.get(user).is_some_and(|g| g.covers(biz)),
        }
    }
}

impl ViewAuthorizer for StaticPolicy {
    fn may_view(&self, user: &str, biz: BizId) -> bool {
        let covers =
            |section: &BTreeMap<String, Grant>| section.get(user).is_some_and(|g| g.covers(biz));
        covers(&self.allow) || covers(&self.view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_that_is_not_json_keeps_the_parser_error() {
        use std::error::Error as _;
        let e = StaticPolicy::from_json("{").expect_err("not JSON");
        assert!(
            e.to_string().starts_with("invalid policy: not JSON: "),
            "{e}"
        );
        assert!(e.source().is_some_and(|s| s.is::<serde_json::Error>()));
        let shape = StaticPolicy::from_json("{}").expect_err("no allow");
        assert!(shape.source().is_none());
    }

    #[test]
    fn policy_grants_listed_businesses_only() {
        let p = StaticPolicy::from_json(r#"{"allow": {"alice": [1, 2], "bob": ["*"]}}"#).unwrap();
        let a = Action::CreateBizTopology;
        assert!(p.allows("alice", a, BizId(2)));
        assert!(!p.allows("alice", a, BizId(3)));
        assert!(p.allows("bob", a, BizId(99)));
        assert!(!p.allows("carol", a, BizId(1)));
    }

    #[test]
    fn viewers_are_writers_and_the_view_section() {
        let p = StaticPolicy::from_json(
            r#"{"allow": {"alice": [1]}, "view": {"carol": [2], "dan": ["*"]}}"#,
        )
        .unwrap();
        assert!(p.may_view("alice", BizId(1)) && !p.may_view("alice", BizId(2)));
        assert!(p.may_view("carol", BizId(2)) && !p.may_view("carol", BizId(1)));
        assert!(!p.allows("carol", Action::CreateBizTopology, BizId(2)));
        assert!(p.may_view("dan", BizId(77)));
        assert!(!p.may_view("mallory", BizId(1)));
        assert!(StaticPolicy::from_json(r#"{"allow": {}, "view": []}"#).is_err());
    }

    #[test]
    fn malformed_policies_are_refused_by_kind() {
        let kind = |bad: &str| match StaticPolicy::from_json(bad) {
            Err(e) => (
                format!("{e:?}")
                    .split([' ', '('])
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                e.to_string(),
            ),
            Ok(_) => panic!("{bad} was accepted"),
        };
        for (bad, variant, message) in [
            (
                "",
                "NotJson",
                "invalid policy: not JSON: EOF while parsing a value at line 1 column 0",
            ),
            (
                "[]",
                "NoAllow",
                "invalid policy: expected {\"allow\": {user: [biz ids]}}",
            ),
            (
                r#"{"allow": []}"#,
                "NoAllow",
                "invalid policy: expected {\"allow\": {user: [biz ids]}}",
            ),
            (
                r#"{"allow": {}, "view": []}"#,
                "BadView",
                "invalid policy: \"view\" must be {user: [biz ids]}",
            ),
            (
                r#"{"allow": {"a": 1}}"#,
                "NotAList",
                "invalid policy: a: expected a list",
            ),
            (
                r#"{"allow": {"a": ["1"]}}"#,
                "BadItem",
                "invalid policy: a: \"1\" is neither a business id nor \"*\"",
            ),
            (
                r#"{"allow": {"a": [1.5]}}"#,
                "BadItem",
                "invalid policy: a: 1.5 is neither a business id nor \"*\"",
            ),
            (
                r#"{"allow": {"a": [0]}}"#,
                "BadItem",
                "invalid policy: a: 0 is neither a business id nor \"*\"",
            ),
        ] {
            assert_eq!(kind(bad), (variant.to_owned(), message.to_owned()), "{bad}");
        }
    }
}
