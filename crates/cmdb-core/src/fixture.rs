//! Fixtures: parsing a catalog batch, checking it, and applying it through one store transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{
    Business, DEFAULT_SUPPLIER_ACCOUNT, MainlineInstance, ServiceTemplate, SetTemplate,
    StoredAttribute, TemplateAttribute, UniqueRule,
};
use crate::error::{Error, Result};
use crate::ids::{BizId, SequenceKind};
use crate::model::builtin::{self, SET_NAME};
use crate::model::{AttributeDef, RawAttribute};
use crate::plan::builtin_set_records;
use crate::tx::StoreTx;

/// A business as a fixture declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureBusiness {
    /// Its id (> 0).
    pub bk_biz_id: i64,
    /// Its name.
    pub bk_biz_name: String,
    /// Archived businesses take no new sets.
    #[serde(default)]
    pub archived: bool,
    /// Whether to create the built-in idle set and its three modules (default true).
    #[serde(default = "yes")]
    pub create_idle_set: bool,
}

fn yes() -> bool {
    true
}

/// A mainline instance as a fixture declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureInstance {
    /// The level.
    pub bk_obj_id: String,
    /// Its id (> 0).
    pub bk_inst_id: i64,
    /// Its name.
    pub bk_inst_name: String,
    /// Its biz.
    pub bk_biz_id: i64,
    /// Its parent: the biz for the top level, else an instance of the level above.
    pub bk_parent_id: i64,
}

/// A service template as a fixture declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureServiceTemplate {
    /// Its id (> 0).
    pub id: i64,
    /// Its biz.
    pub bk_biz_id: i64,
    /// The module name it gives.
    pub name: String,
    /// The service category of its modules.
    #[serde(default)]
    pub service_category_id: i64,
}

/// A set template as a fixture declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSetTemplate {
    /// Its id (> 0).
    pub id: i64,
    /// Its biz.
    pub bk_biz_id: i64,
    /// Its name.
    pub name: String,
    /// Its current version.
    #[serde(default)]
    pub version: i64,
    /// Its service templates, at least one, same biz.
    pub service_template_ids: Vec<i64>,
    /// Attribute values it imposes.
    #[serde(default)]
    pub attributes: Vec<TemplateAttribute>,
}

/// A fixture file (spec `catalog-and-cli.md`). Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The tenant of every entity of the fixture (default `"0"`).
    #[serde(default)]
    pub bk_supplier_account: Option<String>,
    /// Sequences to raise: `set`, `module`, `audit`.
    #[serde(default)]
    pub id_generator: BTreeMap<String, i64>,
    /// The custom mainline levels, top first.
    #[serde(default)]
    pub mainline: Option<Vec<String>>,
    /// Businesses.
    #[serde(default)]
    pub businesses: Vec<FixtureBusiness>,
    /// Mainline instances.
    #[serde(default)]
    pub mainline_instances: Vec<FixtureInstance>,
    /// Custom set attributes.
    #[serde(default)]
    pub set_attributes: Vec<RawAttribute>,
    /// Custom unique rules (lists of field ids).
    #[serde(default)]
    pub set_unique_rules: Vec<Vec<String>>,
    /// Service templates.
    #[serde(default)]
    pub service_templates: Vec<FixtureServiceTemplate>,
    /// Set templates.
    #[serde(default)]
    pub set_templates: Vec<FixtureSetTemplate>,
}

impl Fixture {
    /// Parses a fixture from JSON. A shape error is 1199006 naming `fixture` and the problem.
    pub fn from_json(value: Value) -> Result<Fixture> {
        if !value.is_object() {
            return Err(Error::JsonDecode { detail: None });
        }
        serde_json::from_value(value).map_err(|e| Error::invalid(format!("fixture: {e}")))
    }
}

/// A checked fixture, ready for [`apply_fixture`] inside one store transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogBatch {
    /// The tenant.
    pub supplier_account: String,
    /// The parts of the fixture.
    pub fixture: Fixture,
    /// The custom attributes, compiled (same order as `fixture.set_attributes`).
    pub attributes: Vec<AttributeDef>,
    /// The sequences to raise, parsed.
    pub id_generator: Vec<(SequenceKind, i64)>,
    /// The timestamp written on created idle sets and modules.
    pub now: String,
    /// The user written on created idle sets and modules.
    pub operator: String,
}

impl CatalogBatch {
    /// Checks everything that needs no stored data: attribute definitions (1101092, 1199006),
    /// ids > 0, names non-empty, sequence names.
    pub fn prepare(fixture: Fixture, now: String, operator: String) -> Result<CatalogBatch> {
        let supplier_account = fixture
            .bk_supplier_account
            .clone()
            .unwrap_or_else(|| DEFAULT_SUPPLIER_ACCOUNT.to_owned());
        if let Some(levels) = &fixture.mainline {
            check_mainline_levels(levels)?;
        }
        for (i, b) in fixture.businesses.iter().enumerate() {
            positive(b.bk_biz_id, || format!("businesses[{i}].bk_biz_id"))?;
            non_empty(&b.bk_biz_name, || format!("businesses[{i}].bk_biz_name"))?;
        }
        for (i, inst) in fixture.mainline_instances.iter().enumerate() {
            positive(inst.bk_inst_id, || {
                format!("mainline_instances[{i}].bk_inst_id")
            })?;
            non_empty(&inst.bk_inst_name, || {
                format!("mainline_instances[{i}].bk_inst_name")
            })?;
        }
        let attributes = fixture
            .set_attributes
            .iter()
            .map(|raw| AttributeDef::define_custom(raw.clone()))
            .collect::<Result<Vec<_>>>()?;
        for (i, rule) in fixture.set_unique_rules.iter().enumerate() {
            let mut sorted = rule.clone();
            sorted.sort();
            sorted.dedup();
            if rule.is_empty()
                || sorted.len() != rule.len()
                || rule.iter().any(|f| f == "bk_set_id")
            {
                return Err(Error::invalid(format!("set_unique_rules[{i}]")));
            }
        }
        for (i, t) in fixture.service_templates.iter().enumerate() {
            positive(t.id, || format!("service_templates[{i}].id"))?;
            non_empty(&t.name, || format!("service_templates[{i}].name"))?;
        }
        for (i, t) in fixture.set_templates.iter().enumerate() {
            positive(t.id, || format!("set_templates[{i}].id"))?;
            non_empty(&t.name, || format!("set_templates[{i}].name"))?;
            // bk-cmdb names a set template once per business: a second of the same name is
            // refused, whatever its id.
            let earlier = &fixture.set_templates[..i];
            if earlier
                .iter()
                .any(|e| e.bk_biz_id == t.bk_biz_id && e.name == t.name && e.id != t.id)
            {
                return Err(Error::invalid(format!("set_templates[{i}].name")));
            }
            if t.version < 0 {
                return Err(Error::invalid(format!("set_templates[{i}].version")));
            }
            if t.service_template_ids.is_empty() {
                return Err(Error::invalid(format!(
                    "set_templates[{i}].service_template_ids"
                )));
            }
        }
        let mut id_generator = Vec::new();
        for (name, value) in &fixture.id_generator {
            let kind = SequenceKind::from_name(name)
                .filter(|k| *k != SequenceKind::Attribute)
                .ok_or_else(|| Error::invalid(format!("id_generator.{name}")))?;
            if *value < 0 {
                return Err(Error::invalid(format!("id_generator.{name}")));
            }
            id_generator.push((kind, *value));
        }
        Ok(CatalogBatch {
            supplier_account,
            fixture,
            attributes,
            id_generator,
            now,
            operator,
        })
    }
}

/// What a fixture load did, per part: how many entities were created and how many were
/// already there, identical.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Entities written, per part name.
    pub created: BTreeMap<String, u64>,
    /// Entities already stored with identical content, per part name.
    pub unchanged: BTreeMap<String, u64>,
}

/// The part names of a fixture, as counted in a [`LoadReport`].
pub const FIXTURE_PARTS: [&str; 8] = [
    "mainline",
    "businesses",
    "mainline_instances",
    "set_attributes",
    "set_unique_rules",
    "service_templates",
    "set_templates",
    "id_generator",
];

impl LoadReport {
    fn new() -> Self {
        let zeros: BTreeMap<String, u64> =
            FIXTURE_PARTS.iter().map(|p| ((*p).to_owned(), 0)).collect();
        LoadReport {
            created: zeros.clone(),
            unchanged: zeros,
        }
    }

    fn count(&mut self, part: &str, created: bool) {
        let map = if created {
            &mut self.created
        } else {
            &mut self.unchanged
        };
        *map.entry(part.to_owned()).or_default() += 1;
    }
}

/// Applies a checked fixture through one open store transaction, part by part in the
/// documented order. Identical entities are no-ops; the same id with other content is
/// 1199014 naming the entity. On `Err` the store MUST roll the transaction back.
pub fn apply_fixture(tx: &mut dyn StoreTx, batch: &CatalogBatch) -> Result<LoadReport> {
    let sup = batch.supplier_account.as_str();
    let fx = &batch.fixture;
    let mut report = LoadReport::new();

    if let Some(levels) = &fx.mainline {
        match tx.mainline(sup)? {
            None => {
                tx.put_mainline(sup, levels)?;
                report.count("mainline", true);
            }
            Some(current) if &current == levels => report.count("mainline", false),
            Some(_) => return Err(Error::invalid("mainline")),
        }
    }

    for b in &fx.businesses {
        let business = Business {
            bk_biz_id: BizId(b.bk_biz_id),
            bk_biz_name: b.bk_biz_name.clone(),
            archived: b.archived,
            bk_supplier_account: sup.to_owned(),
        };
        match tx.business(business.bk_biz_id)? {
            Some(existing) if existing == business => report.count("businesses", false),
            Some(_) => {
                return Err(Error::CatalogConflict {
                    entity: format!("business {}", b.bk_biz_id),
                });
            }
            None => {
                if tx.mainline(sup)?.is_none() {
                    // The first business fixes the tenant's mainline.
                    tx.put_mainline(sup, &[])?;
                }
                tx.put_business(&business)?;
                if b.create_idle_set {
                    create_idle_set(tx, &business, batch)?;
                }
                report.count("businesses", true);
            }
        }
    }

    for (i, fi) in fx.mainline_instances.iter().enumerate() {
        let inst = MainlineInstance {
            bk_obj_id: fi.bk_obj_id.clone(),
            bk_inst_id: fi.bk_inst_id,
            bk_inst_name: fi.bk_inst_name.clone(),
            bk_biz_id: BizId(fi.bk_biz_id),
            bk_parent_id: fi.bk_parent_id,
            bk_supplier_account: sup.to_owned(),
        };
        if let Some(existing) = tx.mainline_instance(inst.bk_inst_id)? {
            if existing != inst {
                return Err(Error::CatalogConflict {
                    entity: format!("mainline instance {}", inst.bk_inst_id),
                });
            }
            report.count("mainline_instances", false);
            continue;
        }
        check_instance_placement(tx, &inst, sup, i)?;
        tx.put_mainline_instance(&inst)?;
        report.count("mainline_instances", true);
    }

    for (i, def) in batch.attributes.iter().enumerate() {
        let raw = def.raw();
        if raw.bk_biz_id != 0 {
            require_business(tx, BizId(raw.bk_biz_id), sup, || {
                format!("set_attributes[{i}].bk_biz_id")
            })?;
        }
        match tx.attribute(sup, def.id())? {
            Some(existing) if existing.raw == *raw => report.count("set_attributes", false),
            Some(_) => {
                return Err(Error::CatalogConflict {
                    entity: format!("set attribute {}", def.id()),
                });
            }
            None => {
                let ordinal = tx.take_ids(SequenceKind::Attribute, 1)?.first;
                tx.put_attribute(&StoredAttribute {
                    ordinal,
                    bk_supplier_account: sup.to_owned(),
                    raw: raw.clone(),
                })?;
                report.count("set_attributes", true);
            }
        }
    }

    for (i, fields) in fx.set_unique_rules.iter().enumerate() {
        for field in fields {
            let known = builtin::is_reserved(field) || tx.attribute(sup, field)?.is_some();
            if !known {
                return Err(Error::invalid(format!("set_unique_rules[{i}].{field}")));
            }
        }
        let rule = UniqueRule {
            fields: fields.clone(),
            bk_supplier_account: sup.to_owned(),
        };
        if tx.unique_rule(sup, &rule.key())?.is_some() {
            report.count("set_unique_rules", false);
        } else {
            tx.put_unique_rule(&rule)?;
            report.count("set_unique_rules", true);
        }
    }

    for (i, ft) in fx.service_templates.iter().enumerate() {
        let template = ServiceTemplate {
            id: ft.id,
            bk_biz_id: BizId(ft.bk_biz_id),
            name: ft.name.clone(),
            service_category_id: ft.service_category_id,
            bk_supplier_account: sup.to_owned(),
        };
        match tx.service_template(ft.id)? {
            Some(existing) if existing == template => report.count("service_templates", false),
            Some(_) => {
                return Err(Error::CatalogConflict {
                    entity: format!("service template {}", ft.id),
                });
            }
            None => {
                require_business(tx, template.bk_biz_id, sup, || {
                    format!("service_templates[{i}].bk_biz_id")
                })?;
                tx.put_service_template(&template)?;
                report.count("service_templates", true);
            }
        }
    }

    for (i, ft) in fx.set_templates.iter().enumerate() {
        let template = SetTemplate {
            id: ft.id,
            bk_biz_id: BizId(ft.bk_biz_id),
            name: ft.name.clone(),
            version: ft.version,
            service_template_ids: ft.service_template_ids.clone(),
            attributes: ft.attributes.clone(),
            bk_supplier_account: sup.to_owned(),
        };
        match tx.set_template(ft.id)? {
            Some(existing) if existing == template => report.count("set_templates", false),
            Some(_) => {
                return Err(Error::CatalogConflict {
                    entity: format!("set template {}", ft.id),
                });
            }
            None => {
                check_set_template(tx, &template, sup, i)?;
                tx.put_set_template(&template)?;
                report.count("set_templates", true);
            }
        }
    }

    for (kind, value) in &batch.id_generator {
        let changed = tx.raise_sequence(*kind, *value)?;
        report.count("id_generator", changed);
    }
    Ok(report)
}

fn create_idle_set(tx: &mut dyn StoreTx, business: &Business, batch: &CatalogBatch) -> Result<()> {
    let set_id = tx.take_ids(SequenceKind::Set, 1)?;
    let module_ids = tx.take_ids(SequenceKind::Module, 3)?;
    let (set, modules) = builtin_set_records(
        business,
        set_id.first,
        module_ids.first,
        &batch.now,
        &batch.operator,
    );
    tx.insert_set(&set)?;
    for module in &modules {
        tx.insert_module(module)?;
    }
    Ok(())
}

fn check_mainline_levels(levels: &[String]) -> Result<()> {
    let reserved = ["bk_biz", "biz", "set", "module", "host"];
    for (i, level) in levels.iter().enumerate() {
        let well_formed = level
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && level.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && level.len() <= 128
            && !reserved.contains(&level.as_str())
            && !levels[..i].contains(level);
        if !well_formed {
            return Err(Error::invalid("mainline"));
        }
    }
    Ok(())
}

fn positive(value: i64, field: impl FnOnce() -> String) -> Result<()> {
    if value > 0 {
        Ok(())
    } else {
        Err(Error::invalid(field()))
    }
}

fn non_empty(value: &str, field: impl FnOnce() -> String) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid(field()))
    } else {
        Ok(())
    }
}

fn require_business(
    tx: &mut dyn StoreTx,
    biz: BizId,
    sup: &str,
    field: impl FnOnce() -> String,
) -> Result<Business> {
    match tx.business(biz)? {
        Some(b) if b.bk_supplier_account == sup => Ok(b),
        _ => Err(Error::invalid(field())),
    }
}

fn check_instance_placement(
    tx: &mut dyn StoreTx,
    inst: &MainlineInstance,
    sup: &str,
    i: usize,
) -> Result<()> {
    let levels = tx.mainline(sup)?.unwrap_or_default();
    let depth = levels
        .iter()
        .position(|l| *l == inst.bk_obj_id)
        .ok_or_else(|| Error::invalid(format!("mainline_instances[{i}].bk_obj_id")))?;
    require_business(tx, inst.bk_biz_id, sup, || {
        format!("mainline_instances[{i}].bk_biz_id")
    })?;
    let parent_ok = if depth == 0 {
        inst.bk_parent_id == inst.bk_biz_id.0
    } else {
        tx.mainline_instance(inst.bk_parent_id)?.is_some_and(|p| {
            p.bk_obj_id == levels[depth - 1]
                && p.bk_biz_id == inst.bk_biz_id
                && p.bk_supplier_account == sup
        })
    };
    if parent_ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "mainline_instances[{i}].bk_parent_id"
        )))
    }
}

fn check_set_template(
    tx: &mut dyn StoreTx,
    template: &SetTemplate,
    sup: &str,
    i: usize,
) -> Result<()> {
    require_business(tx, template.bk_biz_id, sup, || {
        format!("set_templates[{i}].bk_biz_id")
    })?;
    for id in &template.service_template_ids {
        let same_biz = tx
            .service_template(*id)?
            .is_some_and(|s| s.bk_biz_id == template.bk_biz_id && s.bk_supplier_account == sup);
        if !same_biz {
            return Err(Error::invalid(format!(
                "set_templates[{i}].service_template_ids"
            )));
        }
    }
    let mut sorted = template.service_template_ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != template.service_template_ids.len() {
        return Err(Error::invalid(format!(
            "set_templates[{i}].service_template_ids"
        )));
    }
    for attr in &template.attributes {
        let prop = attr.bk_property_id.as_str();
        let field = || format!("set_templates[{i}].attributes.{prop}");
        if prop == SET_NAME {
            return Err(Error::invalid(field()));
        }
        let def = match builtin::generic_builtin_attributes()
            .iter()
            .find(|d| d.id() == prop)
        {
            Some(def) => def.clone(),
            None => {
                let stored = tx
                    .attribute(sup, prop)?
                    .filter(|a| a.raw.bk_biz_id == 0 || a.raw.bk_biz_id == template.bk_biz_id.0)
                    .ok_or_else(|| Error::invalid(field()))?;
                AttributeDef::compile(stored.raw).map_err(|_| Error::invalid(field()))?
            }
        };
        if attr.bk_property_value.is_null() {
            continue;
        }
        def.validate(&attr.bk_property_value)
            .map_err(|_| Error::invalid(field()))?;
    }
    Ok(())
}
