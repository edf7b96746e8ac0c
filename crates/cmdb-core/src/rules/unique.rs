//! Custom unique rules: which keys a set document occupies (spec section 6).

use serde_json::Value;

use crate::catalog::UniqueRule;
use crate::records::{Document, UniqueKey};

/// The unique keys `doc` occupies, one per rule whose fields all have a value that is neither
/// null, absent nor `""`. Rules keep their given order.
pub fn unique_keys(doc: &Document, rules: &[UniqueRule], supplier_account: &str) -> Vec<UniqueKey> {
    rules
        .iter()
        .filter_map(|rule| {
            let values: Option<Vec<&Value>> = rule
                .fields
                .iter()
                .map(|f| {
                    doc.get(f)
                        .filter(|v| !v.is_null() && v.as_str() != Some(""))
                })
                .collect();
            values.map(|values| UniqueKey {
                supplier_account: supplier_account.to_owned(),
                fields: rule.fields.clone(),
                values: Value::Array(values.into_iter().cloned().collect()).to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(fields: &[&str]) -> UniqueRule {
        UniqueRule {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            bk_supplier_account: "0".into(),
        }
    }

    #[test]
    fn keys_skip_null_absent_and_empty_values() {
        let doc = json!({"bk_biz_id": 1, "owner": "ops", "zone": "", "tag": null})
            .as_object()
            .unwrap()
            .clone();
        let rules = [
            rule(&["bk_biz_id", "owner"]),
            rule(&["bk_biz_id", "zone"]),
            rule(&["tag"]),
            rule(&["missing"]),
        ];
        let keys = unique_keys(&doc, &rules, "0");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].fields, vec!["bk_biz_id", "owner"]);
        assert_eq!(keys[0].values, r#"[1,"ops"]"#);
        assert_eq!(
            keys[0].storage_key(),
            "0\u{1f}bk_biz_id,owner\u{1f}[1,\"ops\"]"
        );
    }
}
