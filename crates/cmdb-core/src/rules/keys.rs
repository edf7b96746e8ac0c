//! The keys a client sends: server-owned keys, dropped keys and unknown keys (spec section 8).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::AttributeDef;
use crate::model::builtin::{self, DROPPED_KEYS, SERVER_OWNED_KEYS};
use crate::records::Document;

/// What to do with a key that is not an attribute of the set model in this biz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownKeys {
    /// Refuse the request with 1199011 naming the key (default).
    #[default]
    Reject,
    /// Drop the key silently, as bk-cmdb does.
    Drop,
}

/// Removes server-owned and dropped keys, and handles unknown keys per `policy`.
/// Keys are examined in sorted order, so the reported unknown key is deterministic.
///
/// # Errors
/// Under [`UnknownKeys::Reject`], 1199011 naming the first unknown key.
pub fn sanitize_keys(
    data: &mut Document,
    custom: &[AttributeDef],
    policy: UnknownKeys,
) -> Result<()> {
    check_keys(data, custom, policy)?;
    data.retain(|key, _| kept(key, custom));
    Ok(())
}

/// The check of [`sanitize_keys`] without removing anything: the planner reads only keys of
/// the model (never a server-owned, dropped or unknown one), so it needs no sanitised copy.
///
/// # Errors
/// Under [`UnknownKeys::Reject`], 1199011 naming the first unknown key.
pub fn check_keys(data: &Document, custom: &[AttributeDef], policy: UnknownKeys) -> Result<()> {
    if policy == UnknownKeys::Drop {
        return Ok(());
    }
    // The least unknown key, whatever order the map iterates in.
    match data
        .keys()
        .filter(|key| !ignored(key) && !kept(key, custom))
        .min()
    {
        Some(first) => Err(Error::invalid_or_missing(first.clone())),
        None => Ok(()),
    }
}

/// A key the server overwrites or drops without a trace.
fn ignored(key: &str) -> bool {
    SERVER_OWNED_KEYS.contains(&key) || DROPPED_KEYS.contains(&key)
}

/// A key a create keeps: an attribute of the model that the server does not own.
fn kept(key: &str, custom: &[AttributeDef]) -> bool {
    !ignored(key) && (builtin::is_reserved(key) || custom.iter().any(|a| a.id() == key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use crate::model::RawAttribute;
    use serde_json::{Value, json};

    fn doc(v: Value) -> Document {
        v.as_object().unwrap().clone()
    }

    fn custom(id: &str) -> AttributeDef {
        AttributeDef::define_custom(RawAttribute {
            bk_property_id: id.into(),
            bk_property_name: id.into(),
            bk_property_type: "singlechar".into(),
            isrequired: false,
            option: Value::Null,
            default: Value::Null,
            ismultiple: false,
            bk_biz_id: 0,
        })
        .unwrap()
    }

    #[test]
    fn server_owned_and_metadata_are_removed() {
        let mut d = doc(json!({"bk_set_name": "a", "bk_set_id": 9, "bk_biz_id": 2,
            "create_time": "x", "set_template_version": 3, "metadata": {"label": 1},
            "default": 0, "owner": "t"}));
        sanitize_keys(&mut d, &[custom("owner")], UnknownKeys::Reject).unwrap();
        assert_eq!(
            d,
            doc(json!({"bk_set_name": "a", "default": 0, "owner": "t"}))
        );
    }

    #[test]
    fn unknown_keys_are_rejected_first_sorted_or_dropped() {
        let original = doc(json!({"bk_set_name": "a", "zeta": 1, "bk_obj_id": "set"}));
        let mut d = original.clone();
        let err = sanitize_keys(&mut d, &[], UnknownKeys::Reject).unwrap_err();
        assert_eq!(err.code(), Code::InvalidOrMissing);
        assert_eq!(
            err.to_string(),
            "'bk_obj_id' the parameter is invalid or does not exist"
        );
        let mut d = original;
        sanitize_keys(&mut d, &[], UnknownKeys::Drop).unwrap();
        assert_eq!(d, doc(json!({"bk_set_name": "a"})));
    }

    #[test]
    fn check_keys_decides_as_sanitize_keys_and_leaves_the_request_alone() {
        let original = doc(
            json!({"bk_set_name": "a", "zeta": 1, "alpha": 2, "bk_set_id": 9,
                                  "metadata": {}, "owner": "t"}),
        );
        let owner = [custom("owner")];
        let checked = check_keys(&original, &owner, UnknownKeys::Reject).unwrap_err();
        assert_eq!(checked, Error::invalid_or_missing("alpha"));
        let mut copy = original.clone();
        assert_eq!(
            sanitize_keys(&mut copy, &owner, UnknownKeys::Reject).unwrap_err(),
            checked
        );
        assert_eq!(check_keys(&original, &owner, UnknownKeys::Drop), Ok(()));
        let known = doc(json!({"bk_set_name": "a", "bk_set_id": 9, "metadata": {}, "owner": "t"}));
        assert_eq!(check_keys(&known, &owner, UnknownKeys::Reject), Ok(()));
    }
}
