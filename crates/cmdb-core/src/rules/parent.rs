//! `bk_parent_id`: the parent rule as a pure function of the topology facts (spec section 5).

use serde_json::Value;

use crate::catalog::MainlineInstance;
use crate::error::{Error, Result};
use crate::ids::BizId;
use crate::model::builtin::PARENT_ID;

/// The parent id the client asked for, if it is a JSON integer > 0 (used to look up facts).
pub fn requested_parent(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64).filter(|id| *id > 0)
}

/// The topology facts the parent rule needs.
#[derive(Debug, Clone, Copy)]
pub struct ParentFacts<'a> {
    /// The biz of the new set.
    pub biz: BizId,
    /// Its tenant.
    pub supplier_account: &'a str,
    /// The tenant's custom mainline levels, top first.
    pub mainline: &'a [String],
    /// The stored instance whose id is the requested parent, if any.
    pub instance: Option<&'a MainlineInstance>,
    /// Whether the new set is the built-in set.
    pub builtin: bool,
}

/// Checks the parent: a JSON integer > 0 (1199006), then the biz itself when there is no
/// custom level or the set is built-in, else an instance of the lowest custom level in the same
/// biz and tenant (1199011).
pub fn check_parent(value: &Value, facts: ParentFacts<'_>) -> Result<i64> {
    let parent = value
        .as_i64()
        .filter(|id| *id > 0 && !value.is_f64())
        .ok_or_else(|| Error::invalid(PARENT_ID))?;
    let valid = match facts.mainline.last() {
        _ if facts.builtin => parent == facts.biz.0,
        None => parent == facts.biz.0,
        Some(lowest) => facts.instance.is_some_and(|inst| {
            inst.bk_inst_id == parent
                && inst.bk_obj_id == *lowest
                && inst.bk_biz_id == facts.biz
                && inst.bk_supplier_account == facts.supplier_account
        }),
    };
    if valid {
        Ok(parent)
    } else {
        Err(Error::invalid_or_missing(PARENT_ID))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    #[test]
    fn the_requested_parent_is_a_positive_integer() {
        assert_eq!(requested_parent(Some(&json!(50))), Some(50));
        assert_eq!(requested_parent(Some(&json!(1))), Some(1));
        for none in [json!(0), json!(-3), json!("50"), json!(null)] {
            assert_eq!(requested_parent(Some(&none)), None, "{none}");
        }
        assert_eq!(requested_parent(None), None);
    }

    fn inst(id: i64, obj: &str, biz: i64, sup: &str) -> MainlineInstance {
        MainlineInstance {
            bk_obj_id: obj.into(),
            bk_inst_id: id,
            bk_inst_name: "x".into(),
            bk_biz_id: BizId(biz),
            bk_parent_id: biz,
            bk_supplier_account: sup.into(),
        }
    }

    fn facts<'a>(
        mainline: &'a [String],
        instance: Option<&'a MainlineInstance>,
        builtin: bool,
    ) -> ParentFacts<'a> {
        ParentFacts {
            biz: BizId(3),
            supplier_account: "0",
            mainline,
            instance,
            builtin,
        }
    }

    #[test]
    fn without_levels_the_parent_is_the_biz() {
        assert_eq!(check_parent(&json!(3), facts(&[], None, false)).unwrap(), 3);
        let err = check_parent(&json!(4), facts(&[], None, false)).unwrap_err();
        assert_eq!(err.code(), Code::InvalidOrMissing);
        assert_eq!(
            err.to_string(),
            "'bk_parent_id' the parameter is invalid or does not exist"
        );
    }

    #[test]
    fn shape_errors_are_1199006() {
        for v in [
            json!("3"),
            json!(3.0),
            json!(0),
            json!(-3),
            json!(true),
            json!(null),
        ] {
            let err = check_parent(&v, facts(&[], None, false)).unwrap_err();
            assert_eq!(err.code(), Code::ParamInvalid, "{v}");
        }
    }

    #[test]
    fn with_levels_the_parent_is_a_lowest_level_instance_of_the_biz() {
        let levels = vec!["province".to_owned(), "city".to_owned()];
        let city = inst(50, "city", 3, "0");
        assert_eq!(
            check_parent(&json!(50), facts(&levels, Some(&city), false)).unwrap(),
            50
        );
        // The biz itself is not a valid parent once levels exist.
        assert_eq!(
            check_parent(&json!(3), facts(&levels, None, false))
                .unwrap_err()
                .code(),
            Code::InvalidOrMissing
        );
        for wrong in [
            inst(50, "province", 3, "0"),
            inst(50, "city", 4, "0"),
            inst(50, "city", 3, "9"),
        ] {
            assert_eq!(
                check_parent(&json!(50), facts(&levels, Some(&wrong), false))
                    .unwrap_err()
                    .code(),
                Code::InvalidOrMissing
            );
        }
    }

    #[test]
    fn a_builtin_set_hangs_under_the_biz_even_with_levels() {
        let levels = vec!["province".to_owned()];
        let p = inst(50, "province", 3, "0");
        assert_eq!(
            check_parent(&json!(3), facts(&levels, None, true)).unwrap(),
            3
        );
        assert_eq!(
            check_parent(&json!(50), facts(&levels, Some(&p), true))
                .unwrap_err()
                .code(),
            Code::InvalidOrMissing
        );
    }

    #[test]
    fn requested_parent_only_reads_positive_integers() {
        assert_eq!(requested_parent(Some(&json!(7))), Some(7));
        assert_eq!(requested_parent(Some(&json!("7"))), None);
        assert_eq!(requested_parent(Some(&json!(-7))), None);
        assert_eq!(requested_parent(None), None);
    }
}
