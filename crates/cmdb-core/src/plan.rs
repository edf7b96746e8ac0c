//! The create plan: checking a request against the facts in the spec's order, and committing
//! the resulting plan through one store transaction.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::catalog::Business;
use crate::error::{Error, Result, StoreError};
use crate::facts::CreateFacts;
use crate::ids::{AuditId, BizId, ModuleId, SequenceKind, SetId};
use crate::model::builtin::{
    self, DEFAULT, PARENT_ID, SET_NAME, SET_TEMPLATE_ID, SET_TEMPLATE_VERSION,
};
use crate::records::{
    AuditRecord, AuditStamp, CreatedSet, Document, ModuleRecord, ResourceType, SetRecord, UniqueKey,
};
use crate::rules::builtin_set::{
    BUILTIN_MODULES, BUILTIN_SET_NAME, check_builtin_free, parse_default,
};
use crate::rules::keys::{UnknownKeys, check_keys};
use crate::rules::name::normalize_set_name;
use crate::rules::parent::{ParentFacts, check_parent};
use crate::rules::template::{override_of, parse_template_id, resolve_template};
use crate::rules::unique::unique_keys;
use crate::tx::{GroupTx, StoreTx};

/// Who asks, for which tenant, through which app, under which request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The acting user (non-empty).
    pub user: String,
    /// The tenant (default `"0"`).
    pub supplier_account: String,
    /// The calling app's code, `""` when none.
    pub app_code: String,
    /// The request id written into audit records.
    pub request_id: String,
}

/// Options of the create rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Reject (default) or drop unknown keys.
    pub unknown_keys: UnknownKeys,
}

/// A validated create, ready to be committed: the set document without its id, the module
/// documents without theirs, the unique keys and what the audit records need.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    /// The biz.
    pub biz: BizId,
    /// The tenant.
    pub supplier_account: String,
    /// `bk_parent_id`.
    pub parent: i64,
    /// The trimmed name.
    pub name: String,
    /// Whether this is the built-in set.
    pub builtin: bool,
    /// The set document, every field but `bk_set_id`.
    pub set_doc: Document,
    /// The module documents, in creation order, without `bk_module_id`, `bk_set_id` and
    /// `bk_parent_id`.
    pub module_docs: Vec<Document>,
    /// The custom unique keys the set occupies.
    pub unique_keys: Vec<UniqueKey>,
    /// The acting user, app code and request id, for the audit records.
    pub context: RequestContext,
    /// The create's timestamp, as rendered.
    pub time: String,
    /// The catalog version of the facts the plan was checked against, when the store versions
    /// its catalog: such a store refuses the plan with [`StoreError::StaleFacts`] if the
    /// catalog changed before the commit, and the caller plans again. `None`: no check.
    ///
    /// [`StoreError::StaleFacts`]: crate::StoreError::StaleFacts
    pub catalog_version: Option<u64>,
}

/// Checks a create request against the facts, in the order of spec section 4 from step 3
/// (the envelope and the permission are the caller's), and builds the plan.
///
/// # Errors
/// The first failing rule's error.
pub fn plan_create(
    ctx: &RequestContext,
    biz: BizId,
    data: &Document,
    facts: &CreateFacts,
    options: PlanOptions,
    time: &str,
) -> Result<CreatePlan> {
    // 3. The biz exists in this tenant and is not archived.
    let business = facts
        .business
        .as_ref()
        .filter(|b| b.bk_supplier_account == ctx.supplier_account && !b.archived)
        .ok_or_else(|| Error::invalid_or_missing("bk_biz_id"))?;
    // 4. Keys. The rules below read only keys of the model, so the request is checked, not
    // copied: a server-owned, dropped or (under `drop`) unknown key is simply never read.
    check_keys(data, &facts.attributes, options.unknown_keys)?;
    // 5. Required keys. An explicit null is present: its own rule refuses it below (spec 14).
    for key in [SET_NAME, PARENT_ID] {
        if !data.contains_key(key) {
            return Err(Error::NeedSet { field: key.into() });
        }
    }
    // 6. `default`.
    let builtin = parse_default(data.get(DEFAULT))?;
    check_builtin_free(builtin, facts.builtin_set.is_some())?;
    // 7. The template, and its attribute values over the client's.
    let template_id = parse_template_id(data.get(SET_TEMPLATE_ID), builtin)?;
    let template = match template_id {
        Some(id) => Some(resolve_template(
            id,
            facts.template.as_ref(),
            &facts.service_templates,
            business.bk_biz_id,
            &ctx.supplier_account,
        )?),
        None => None,
    };
    // From here on a template's attribute values win over the client's.
    let value = |key: &str| -> Option<&Value> {
        let from_template = template.as_ref().and_then(|(t, _)| override_of(t, key));
        from_template.or_else(|| data.get(key))
    };
    // 8. The parent.
    let parent = check_parent(
        value(PARENT_ID).unwrap_or(&Value::Null),
        ParentFacts {
            biz,
            supplier_account: &ctx.supplier_account,
            mainline: &facts.mainline,
            instance: facts.parent_instance.as_ref(),
            builtin,
        },
    )?;
    // 9. Attributes in model order.
    let name = normalize_set_name(value(SET_NAME).unwrap_or(&Value::Null))?;
    let mut doc = Document::new();
    doc.insert(SET_NAME.into(), Value::String(name.clone()));
    for def in builtin::generic_builtin_attributes()
        .iter()
        .chain(facts.attributes.iter())
    {
        let stored = match value(def.id()) {
            None => def.absent_value(),
            Some(v) => def.validate(v)?,
        };
        doc.insert(def.id().to_owned(), stored);
    }
    doc.insert(PARENT_ID.into(), json!(parent));
    doc.insert(SET_TEMPLATE_ID.into(), json!(template_id.unwrap_or(0)));
    doc.insert(
        SET_TEMPLATE_VERSION.into(),
        template
            .as_ref()
            .map_or(Value::Null, |(t, _)| json!(t.version)),
    );
    stamp(&mut doc, &ctx.user, time);
    doc.insert("bk_biz_id".into(), json!(biz.0));
    doc.insert(
        "bk_supplier_account".into(),
        json!(ctx.supplier_account.clone()),
    );
    doc.insert(DEFAULT.into(), json!(i64::from(builtin)));

    let module_docs = template
        .map(|(t, services)| {
            services
                .iter()
                .map(|s| {
                    let mut m = Document::new();
                    m.insert("bk_module_name".into(), json!(s.name));
                    m.insert("bk_biz_id".into(), json!(biz.0));
                    m.insert("service_template_id".into(), json!(s.id));
                    m.insert("set_template_id".into(), json!(t.id));
                    m.insert("service_category_id".into(), json!(s.service_category_id));
                    m.insert(DEFAULT.into(), json!(0));
                    m.insert("host_apply_enabled".into(), json!(false));
                    m.insert(
                        "bk_supplier_account".into(),
                        json!(ctx.supplier_account.clone()),
                    );
                    stamp(&mut m, &ctx.user, time);
                    m
                })
                .collect()
        })
        .unwrap_or_default();
    let unique_keys = unique_keys(&doc, &facts.unique_rules, &ctx.supplier_account);
    Ok(CreatePlan {
        biz,
        supplier_account: ctx.supplier_account.clone(),
        parent,
        name,
        builtin,
        set_doc: doc,
        module_docs,
        unique_keys,
        context: ctx.clone(),
        time: time.to_owned(),
        catalog_version: facts.source.catalog_version(),
    })
}

/// Writes the four timestamps and the two user fields.
fn stamp(doc: &mut Document, user: &str, time: &str) {
    for key in builtin::STAMP_TIME_FIELDS {
        doc.insert(key.into(), json!(time));
    }
    for key in builtin::STAMP_USER_FIELDS {
        doc.insert(key.into(), json!(user));
    }
}

/// One element of an atomic batch failed; nothing of the batch was written.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFailure {
    /// The index of the failing plan. A store failure that belongs to no plan (the
    /// transaction cannot begin or cannot commit) is reported at index 0.
    pub index: usize,
    /// Why it failed.
    pub error: Error,
}

/// Commits every plan in order through one open store transaction, all or nothing: the first
/// plan refused (by the domain or a storage error) ends the batch with its index, and the
/// store MUST then roll the whole transaction back.
///
/// # Errors
/// The first failing plan's index and error.
pub fn commit_atomic(
    tx: &mut dyn StoreTx,
    plans: Vec<CreatePlan>,
) -> std::result::Result<Vec<CreatedSet>, BatchFailure> {
    plans
        .into_iter()
        .enumerate()
        .map(|(index, plan)| commit_plan(tx, plan).map_err(|error| BatchFailure { index, error }))
        .collect()
}

/// Commits plans one after another through one open store transaction, each isolated by a
/// savepoint: a plan refused by the domain, or failing with a storage error of its own, is
/// rolled back to its savepoint (its sequence bumps included) and reported in its slot; the
/// others stay. Later plans see the earlier ones. On `Ok` the store commits the transaction;
/// `Err` means a savepoint itself failed and the store MUST roll the whole transaction back.
///
/// The plans are consumed: their documents become the stored records without a copy.
///
/// # Errors
/// The storage failure of a savepoint operation.
pub fn commit_group(
    tx: &mut dyn GroupTx,
    plans: Vec<CreatePlan>,
) -> Result<Vec<Result<CreatedSet>>, StoreError> {
    let mut results = Vec::with_capacity(plans.len());
    for plan in plans {
        tx.savepoint()?;
        let result = commit_plan(tx, plan);
        if result.is_ok() {
            tx.release_savepoint()?;
        } else {
            tx.rollback_to_savepoint()?;
        }
        results.push(result);
    }
    Ok(results)
}

/// Commits a plan through one open store transaction: first, for a store that versions its
/// catalog, that the plan was checked against the current catalog ([`StoreError::StaleFacts`]
/// otherwise: the caller plans again); then the name under its parent (1101108), custom unique
/// keys (1199014) and the built-in set (1199054); then ids are taken and the set, its modules
/// and their audit records are inserted. On `Err` the store MUST roll back.
///
/// The plan is consumed: its documents become the records, each built once and shared with
/// the audit record that records it.
pub fn commit_plan(tx: &mut dyn StoreTx, plan: CreatePlan) -> Result<CreatedSet> {
    if let (Some(planned), Some(current)) = (plan.catalog_version, tx.catalog_version())
        && planned != current
    {
        return Err(Error::Store(StoreError::StaleFacts(
            format!(
                "the plan was checked against catalog version {planned}; the catalog is at \
                 version {current}"
            )
            .into(),
        )));
    }
    if tx.set_name_taken(plan.biz, plan.parent, &plan.name)? {
        return Err(Error::SetNameDuplicated);
    }
    for key in &plan.unique_keys {
        if tx.unique_key_taken(key)? {
            return Err(Error::DuplicateItem {
                fields: key.fields.clone(),
            });
        }
    }
    if plan.builtin && tx.builtin_set(plan.biz)?.is_some() {
        return Err(Error::BuiltinForbidden);
    }
    let set_id = SetId(tx.take_ids(SequenceKind::Set, 1)?.first);
    let module_ids = tx.take_ids(SequenceKind::Module, plan.module_docs.len() as u64)?;
    let audit_ids = tx.take_ids(SequenceKind::Audit, 1 + plan.module_docs.len() as u64)?;

    let CreatePlan {
        biz,
        supplier_account,
        parent,
        name,
        builtin,
        mut set_doc,
        module_docs,
        unique_keys,
        context,
        time,
        catalog_version: _,
    } = plan;
    let stamp = Arc::new(AuditStamp {
        user: context.user,
        app_code: context.app_code,
        request_id: context.request_id,
        time,
        supplier_account,
    });
    set_doc.insert("bk_set_id".into(), json!(set_id.0));
    let set = SetRecord {
        id: set_id,
        biz,
        parent,
        name,
        builtin,
        unique_keys,
        doc: Arc::new(set_doc),
    };
    let modules: Vec<ModuleRecord> = module_docs
        .into_iter()
        .zip(module_ids.iter())
        .map(|(doc, id)| module_record(doc, ModuleId(id), set_id, biz))
        .collect();
    let mut audit_ids = audit_ids.iter().map(AuditId);
    let mut audits = Vec::with_capacity(1 + modules.len());
    if let Some(id) = audit_ids.next() {
        audits.push(AuditRecord {
            id,
            biz,
            resource_type: ResourceType::Set,
            resource_id: set_id.0,
            resource_name: set.name.clone(),
            stamp: Arc::clone(&stamp),
            cur_data: Arc::clone(&set.doc),
        });
    }
    for (m, id) in modules.iter().zip(audit_ids) {
        let name = m
            .doc
            .get("bk_module_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        audits.push(AuditRecord {
            id,
            biz,
            resource_type: ResourceType::Module,
            resource_id: m.id.0,
            resource_name: name.to_owned(),
            stamp: Arc::clone(&stamp),
            cur_data: Arc::clone(&m.doc),
        });
    }

    tx.insert_set(&set)?;
    for m in &modules {
        tx.insert_module(m)?;
    }
    for a in &audits {
        tx.insert_audit(a)?;
    }
    Ok(CreatedSet {
        set,
        modules,
        audits,
    })
}

fn module_record(mut doc: Document, id: ModuleId, set: SetId, biz: BizId) -> ModuleRecord {
    doc.insert("bk_module_id".into(), json!(id.0));
    doc.insert("bk_set_id".into(), json!(set.0));
    doc.insert(PARENT_ID.into(), json!(set.0));
    ModuleRecord {
        id,
        set,
        biz,
        doc: Arc::new(doc),
    }
}

/// The records of a new biz's built-in set (`空闲机池`, `default` 1) and its three modules,
/// given the ids taken for them. No audit records: a fixture load writes none.
pub fn builtin_set_records(
    business: &Business,
    set_id: i64,
    first_module_id: i64,
    time: &str,
    user: &str,
) -> (SetRecord, Vec<ModuleRecord>) {
    let biz = business.bk_biz_id;
    let mut doc = Document::new();
    doc.insert(SET_NAME.into(), json!(BUILTIN_SET_NAME));
    for def in builtin::generic_builtin_attributes() {
        doc.insert(def.id().to_owned(), def.absent_value());
    }
    doc.insert(PARENT_ID.into(), json!(biz.0));
    doc.insert(SET_TEMPLATE_ID.into(), json!(0));
    doc.insert(SET_TEMPLATE_VERSION.into(), Value::Null);
    stamp(&mut doc, user, time);
    doc.insert("bk_biz_id".into(), json!(biz.0));
    doc.insert(
        "bk_supplier_account".into(),
        json!(business.bk_supplier_account),
    );
    doc.insert(DEFAULT.into(), json!(1));
    doc.insert("bk_set_id".into(), json!(set_id));
    let set = SetRecord {
        id: SetId(set_id),
        biz,
        parent: biz.0,
        name: BUILTIN_SET_NAME.into(),
        builtin: true,
        unique_keys: Vec::new(),
        doc: Arc::new(doc),
    };
    let modules = BUILTIN_MODULES
        .iter()
        .enumerate()
        .map(|(i, (name, default))| {
            let mut m = Document::new();
            m.insert("bk_module_name".into(), json!(name));
            m.insert("bk_biz_id".into(), json!(biz.0));
            m.insert("service_template_id".into(), json!(0));
            m.insert("set_template_id".into(), json!(0));
            m.insert("service_category_id".into(), json!(0));
            m.insert(DEFAULT.into(), json!(default));
            m.insert("host_apply_enabled".into(), json!(false));
            m.insert(
                "bk_supplier_account".into(),
                json!(business.bk_supplier_account),
            );
            stamp(&mut m, user, time);
            module_record(m, ModuleId(first_module_id + i as i64), SetId(set_id), biz)
        })
        .collect();
    (set, modules)
}
