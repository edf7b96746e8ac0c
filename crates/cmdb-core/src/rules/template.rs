//! `set_template_id`: parsing, lookup rules and the attribute overrides of a set template
//! (spec section 7).

use serde_json::Value;

use crate::catalog::{ServiceTemplate, SetTemplate};
use crate::error::{Error, Result};
use crate::ids::BizId;
use crate::model::builtin::SET_TEMPLATE_ID;
use crate::records::Document;

/// The template id the client asked for, if it is a JSON integer > 0 (used to look up facts).
pub fn requested_template(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64).filter(|id| *id > 0)
}

/// Reads `set_template_id`: absent or 0 → no template; a JSON integer > 0 → that id;
/// anything else, `null` included (spec 14), 1199006. A built-in set may not use a template
/// (1199006).
pub fn parse_template_id(value: Option<&Value>, builtin: bool) -> Result<Option<i64>> {
    let id = match value {
        None => None,
        Some(v) => match v.as_i64() {
            Some(0) => None,
            Some(id) if id > 0 => Some(id),
            _ => return Err(Error::invalid(SET_TEMPLATE_ID)),
        },
    };
    if builtin && id.is_some() {
        return Err(Error::invalid(SET_TEMPLATE_ID));
    }
    Ok(id)
}

/// The template and its service templates, checked to belong to `biz` of `supplier_account`
/// (1199019 otherwise). Service templates come back in id order.
pub fn resolve_template<'a>(
    id: i64,
    template: Option<&'a SetTemplate>,
    services: &'a [ServiceTemplate],
    biz: BizId,
    supplier_account: &str,
) -> Result<(&'a SetTemplate, Vec<&'a ServiceTemplate>)> {
    let template = template
        .filter(|t| t.id == id && t.bk_biz_id == biz && t.bk_supplier_account == supplier_account)
        .ok_or(Error::NotFound)?;
    let mut ordered = Vec::with_capacity(template.service_template_ids.len());
    for sid in &template.service_template_ids {
        let service = services
            .iter()
            .find(|s| s.id == *sid && s.bk_biz_id == biz)
            .ok_or(Error::NotFound)?;
        ordered.push(service);
    }
    ordered.sort_by_key(|s| s.id);
    Ok((template, ordered))
}

/// Writes the template's attribute values over the client's.
/// The value `template` gives attribute `key`, which wins over the client's; `None` when it
/// gives none.
pub fn override_of<'t>(template: &'t SetTemplate, key: &str) -> Option<&'t serde_json::Value> {
    // The last of repeated entries wins, as applying them in order would.
    template
        .attributes
        .iter()
        .rev()
        .find(|a| a.bk_property_id == key)
        .map(|a| &a.bk_property_value)
}

/// Writes `template`'s attribute values over `data`'s.
pub fn apply_overrides(data: &mut Document, template: &SetTemplate) {
    for attr in &template.attributes {
        data.insert(attr.bk_property_id.clone(), attr.bk_property_value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TemplateAttribute;
    use crate::error::Code;
    use serde_json::json;

    fn template() -> SetTemplate {
        SetTemplate {
            id: 1,
            bk_biz_id: BizId(3),
            name: "web".into(),
            version: 4,
            service_template_ids: vec![9, 7],
            attributes: vec![TemplateAttribute {
                bk_property_id: "bk_capacity".into(),
                bk_property_value: json!(500),
            }],
            bk_supplier_account: "0".into(),
        }
    }

    fn service(id: i64) -> ServiceTemplate {
        ServiceTemplate {
            id,
            bk_biz_id: BizId(3),
            name: format!("svc{id}"),
            service_category_id: 2,
            bk_supplier_account: "0".into(),
        }
    }

    #[test]
    fn parse_reads_integers_and_refuses_the_rest() {
        assert_eq!(parse_template_id(None, false).unwrap(), None);
        assert_eq!(parse_template_id(Some(&json!(0)), false).unwrap(), None);
        assert_eq!(parse_template_id(Some(&json!(5)), false).unwrap(), Some(5));
        // Absent or 0 is the only way to ask for no template: null is refused (spec 14).
        for bad in [
            json!(null),
            json!(-1),
            json!("5"),
            json!(5.5),
            json!(true),
            json!([5]),
        ] {
            let err = parse_template_id(Some(&bad), false).unwrap_err();
            assert_eq!(err.code(), Code::ParamInvalid, "{bad}");
            assert_eq!(
                err.to_string(),
                "'set_template_id' the parameter is invalid"
            );
        }
    }

    #[test]
    fn a_builtin_set_takes_no_template() {
        assert_eq!(parse_template_id(Some(&json!(0)), true).unwrap(), None);
        assert_eq!(
            parse_template_id(Some(&json!(5)), true).unwrap_err().code(),
            Code::ParamInvalid
        );
    }

    #[test]
    fn resolve_checks_biz_and_tenant_and_orders_services() {
        let t = template();
        let services = [service(9), service(7)];
        let (found, ordered) = resolve_template(1, Some(&t), &services, BizId(3), "0").unwrap();
        assert_eq!(found.version, 4);
        assert_eq!(ordered.iter().map(|s| s.id).collect::<Vec<_>>(), vec![7, 9]);
        for (biz, sup) in [(BizId(4), "0"), (BizId(3), "1")] {
            assert_eq!(
                resolve_template(1, Some(&t), &services, biz, sup)
                    .unwrap_err()
                    .code(),
                Code::NotFound
            );
        }
        assert_eq!(
            resolve_template(1, None, &services, BizId(3), "0").unwrap_err(),
            Error::NotFound
        );
    }

    #[test]
    fn resolve_takes_exactly_the_listed_services() {
        let mut t = template();
        t.service_template_ids = vec![7];
        let services = [service(9), service(7)];
        let (_, ordered) = resolve_template(1, Some(&t), &services, BizId(3), "0").unwrap();
        assert_eq!(ordered.iter().map(|s| s.id).collect::<Vec<_>>(), vec![7]);
        // A listed service that is missing is 1199019.
        t.service_template_ids = vec![7, 8];
        assert_eq!(
            resolve_template(1, Some(&t), &services, BizId(3), "0").unwrap_err(),
            Error::NotFound
        );
        // The template read must be the one asked for.
        assert_eq!(
            resolve_template(2, Some(&template()), &services, BizId(3), "0").unwrap_err(),
            Error::NotFound
        );
    }

    #[test]
    fn the_requested_template_is_a_positive_integer() {
        assert_eq!(requested_template(Some(&json!(5))), Some(5));
        assert_eq!(requested_template(Some(&json!(1))), Some(1));
        for none in [json!(0), json!(-1), json!("5"), json!(null), json!(5.5)] {
            assert_eq!(requested_template(Some(&none)), None, "{none}");
        }
        assert_eq!(requested_template(None), None);
    }

    #[test]
    fn overrides_replace_client_values() {
        let mut data = Document::new();
        data.insert("bk_capacity".into(), json!(1000));
        apply_overrides(&mut data, &template());
        assert_eq!(data["bk_capacity"], json!(500));
    }
}
