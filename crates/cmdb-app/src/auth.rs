//! Authorizers: allow-all by default, and a static policy read from a JSON file.

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

/// Which businesses a user may create topology in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    All,
    Some(Vec<i64>),
}

/// A static policy: `{"allow": {"alice": [1, 2], "bob": ["*"]}}` lets each listed user create
/// topology in the listed businesses (`"*"` = all) and denies everyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPolicy {
    allow: BTreeMap<String, Grant>,
}

/// A policy document that is not of the documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(String);

impl StaticPolicy {
    /// Parses a policy document.
    ///
    /// # Errors
    /// [`PolicyError`] naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyError(format!("not JSON: {e}")))?;
        let allow = value
            .as_object()
            .and_then(|o| o.get("allow"))
            .and_then(Value::as_object)
            .ok_or_else(|| PolicyError("expected {\"allow\": {user: [biz ids]}}".into()))?;
        let mut grants = BTreeMap::new();
        for (user, list) in allow {
            let items = list
                .as_array()
                .ok_or_else(|| PolicyError(format!("{user}: expected a list")))?;
            let mut ids = Vec::new();
            let mut all = false;
            for item in items {
                match item {
                    Value::String(s) if s == "*" => all = true,
                    Value::Number(n) if n.as_i64().is_some_and(|id| id > 0) => {
                        ids.extend(n.as_i64());
                    }
                    other => {
                        return Err(PolicyError(format!(
                            "{user}: {other} is neither a business id nor \"*\""
                        )));
                    }
                }
            }
            let grant = if all { Grant::All } else { Grant::Some(ids) };
            grants.insert(user.clone(), grant);
        }
        Ok(StaticPolicy { allow: grants })
    }
}

impl Authorizer for StaticPolicy {
    fn allows(&self, user: &str, action: Action, biz: BizId) -> bool {
        match action {
            Action::CreateBizTopology => match self.allow.get(user) {
                Some(Grant::All) => true,
                Some(Grant::Some(ids)) => ids.contains(&biz.0),
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn malformed_policies_are_refused() {
        for bad in [
            "",
            "[]",
            r#"{"allow": []}"#,
            r#"{"allow": {"a": 1}}"#,
            r#"{"allow": {"a": ["1"]}}"#,
            r#"{"allow": {"a": [1.5]}}"#,
        ] {
            assert!(StaticPolicy::from_json(bad).is_err(), "{bad}");
        }
    }
}
