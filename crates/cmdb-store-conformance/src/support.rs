//! Helpers the cases share: fixtures loaded and plans built the way the app does it, fixed
//! request contexts and timestamps, expected documents, and snapshots of a store's state.

use cmdb_core::backend::DocQuery;
use cmdb_core::catalog::Business;
use cmdb_core::error::Error;
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, Fixture, LoadReport};
use cmdb_core::gather::gather_facts;
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::listing::Window;
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::{AuditRecord, CreatedSet, Document, ResourceType};
use serde_json::{Value, json};

/// The timestamp of every create in the suite (the worked example's `T`).
pub const TIME: &str = "2026-11-27T20:34:01.386+08:00";
/// The timestamp of every fixture load in the suite.
pub const LOAD_TIME: &str = "2026-11-27T20:00:00.000+08:00";
/// The operator of every fixture load in the suite.
pub const LOADER: &str = "admin";
/// The acting user of every create in the suite.
pub const USER: &str = "xxx";
/// The app code of every create in the suite.
pub const APP_CODE: &str = "esb_test";
/// The request id of every create in the suite.
pub const REQUEST_ID: &str = "e43da4ef221746868dc4c837d36f3807";
/// The tenant of the worked example.
pub const EXAMPLE_TENANT: &str = "123456789";

/// The request context of the suite's creates in `supplier_account`.
pub fn context(supplier_account: &str) -> RequestContext {
    RequestContext {
        user: USER.to_owned(),
        supplier_account: supplier_account.to_owned(),
        app_code: APP_CODE.to_owned(),
        request_id: REQUEST_ID.to_owned(),
    }
}

/// A JSON object as a [`Document`].
///
/// # Panics
/// When `value` is not an object.
pub fn doc(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// Parses and checks a fixture as the app does ([`Fixture::from_json`], then
/// [`CatalogBatch::prepare`] with [`LOAD_TIME`] and [`LOADER`]).
///
/// # Errors
/// The fixture's shape or definition error.
pub fn catalog_batch(fixture: Value) -> Result<CatalogBatch, Error> {
    let fixture = Fixture::from_json(fixture)?;
    CatalogBatch::prepare(fixture, LOAD_TIME.to_owned(), LOADER.to_owned())
}

/// Loads a fixture into `store` through [`SetStore::apply_catalog`].
///
/// # Errors
/// The fixture's error, or the store's.
pub async fn load(store: &dyn SetStore, fixture: Value) -> Result<LoadReport, Error> {
    store.apply_catalog(catalog_batch(fixture)?).await
}

/// Loads a fixture that must load.
///
/// # Panics
/// When the load fails.
pub async fn load_ok(store: &dyn SetStore, fixture: Value) -> LoadReport {
    match load(store, fixture.clone()).await {
        Ok(report) => report,
        Err(e) => panic!("loading {fixture} failed: {e} ({:?})", e.code()),
    }
}

/// Plans a create of `data` in `biz` as the app does: [`gather_facts`], then [`plan_create`]
/// with default options and [`TIME`].
///
/// # Errors
/// The first failing rule, or a store failure while reading the facts.
pub async fn plan(
    store: &dyn SetStore,
    ctx: &RequestContext,
    biz: i64,
    data: Value,
) -> Result<CreatePlan, Error> {
    let data = doc(data);
    let facts = gather_facts(store, &ctx.supplier_account, BizId(biz), &data).await?;
    plan_create(ctx, BizId(biz), &data, &facts, PlanOptions::default(), TIME)
}

/// Plans a create that must pass the rules.
///
/// # Panics
/// When planning fails.
pub async fn plan_ok(
    store: &dyn SetStore,
    ctx: &RequestContext,
    biz: i64,
    data: Value,
) -> CreatePlan {
    match plan(store, ctx, biz, data.clone()).await {
        Ok(p) => p,
        Err(e) => panic!("planning {data} in biz {biz} failed: {e} ({:?})", e.code()),
    }
}

/// The five plans of a group in biz 1 of [`two_service_fixture`] with two duplicates in it:
/// `a`, `b` (set template 2, two modules), `a` again, `c`, `b` again (planned before any is
/// created, so the duplicates pass planning and are refused at commit).
///
/// # Panics
/// When planning fails.
pub async fn plans_with_two_duplicates(
    store: &dyn SetStore,
    ctx: &RequestContext,
) -> Vec<CreatePlan> {
    let mut plans = Vec::new();
    for (name, template) in [
        ("a", None),
        ("b", Some(2)),
        ("a", None),
        ("c", None),
        ("b", None),
    ] {
        let mut data = json!({"bk_parent_id": 1, "bk_set_name": name});
        if let Some(t) = template {
            data["set_template_id"] = json!(t);
        }
        plans.push(plan_ok(store, ctx, 1, data).await);
    }
    plans
}

/// Plans and creates one set: [`plan`], then [`SetStoreExt::create_set`].
///
/// # Errors
/// The planning or the store's error.
pub async fn create(
    store: &dyn SetStore,
    ctx: &RequestContext,
    biz: i64,
    data: Value,
) -> Result<CreatedSet, Error> {
    let plan = plan(store, ctx, biz, data).await?;
    store.create_set(plan).await
}

/// Plans and creates a set that must be created.
///
/// # Panics
/// When the create fails.
pub async fn create_ok(
    store: &dyn SetStore,
    ctx: &RequestContext,
    biz: i64,
    data: Value,
) -> CreatedSet {
    match create(store, ctx, biz, data.clone()).await {
        Ok(c) => c,
        Err(e) => panic!("creating {data} in biz {biz} failed: {e} ({:?})", e.code()),
    }
}

/// The worked example's fixture (`worked-example.md`): tenant `123456789`, business 1
/// `demo` with its idle set, service template 7 `nginx`, set template 1 `web` (version 3)
/// and the set sequence raised to 4779.
pub fn worked_example_fixture() -> Value {
    json!({
        "bk_supplier_account": EXAMPLE_TENANT,
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    })
}

/// The worked example's request `data`.
pub fn worked_example_request() -> Value {
    json!({
        "bk_parent_id": 1, "bk_set_name": "test-set", "bk_set_desc": "test-set",
        "bk_capacity": 1000, "description": "description", "set_template_id": 1
    })
}

/// The worked example's fixture plus service template 8 `php` (category 3) and set template 2
/// `full` (version 5) listing service templates `[8, 7]` and imposing `bk_set_env` `"1"`.
pub fn two_service_fixture() -> Value {
    let mut fixture = worked_example_fixture();
    fixture["service_templates"]
        .as_array_mut()
        .expect("service_templates is an array")
        .push(json!({"id": 8, "bk_biz_id": 1, "name": "php", "service_category_id": 3}));
    fixture["set_templates"]
        .as_array_mut()
        .expect("set_templates is an array")
        .push(json!({
            "id": 2, "bk_biz_id": 1, "name": "full", "version": 5, "service_template_ids": [8, 7],
            "attributes": [{"bk_property_id": "bk_set_env", "bk_property_value": "1"}]
        }));
    fixture
}

/// The document of a set created at [`TIME`] by [`USER`] with every optional attribute at its
/// default, no template and no custom attribute.
pub fn plain_set_doc(tenant: &str, biz: i64, parent: i64, id: i64, name: &str) -> Document {
    doc(json!({
        "bk_biz_id": biz,
        "bk_capacity": null,
        "bk_created_at": TIME,
        "bk_created_by": USER,
        "bk_parent_id": parent,
        "bk_service_status": "1",
        "bk_set_desc": "",
        "bk_set_env": "3",
        "bk_set_id": id,
        "bk_set_name": name,
        "bk_supplier_account": tenant,
        "bk_updated_at": TIME,
        "bk_updated_by": USER,
        "create_time": TIME,
        "default": 0,
        "description": "",
        "last_time": TIME,
        "set_template_id": 0,
        "set_template_version": null
    }))
}

/// The document of a module created at [`TIME`] by [`USER`] from a service template.
#[allow(clippy::too_many_arguments)]
pub fn template_module_doc(
    tenant: &str,
    biz: i64,
    set: i64,
    id: i64,
    name: &str,
    service_template: i64,
    set_template: i64,
    category: i64,
) -> Document {
    doc(json!({
        "bk_biz_id": biz,
        "bk_created_at": TIME,
        "bk_created_by": USER,
        "bk_module_id": id,
        "bk_module_name": name,
        "bk_parent_id": set,
        "bk_set_id": set,
        "bk_supplier_account": tenant,
        "bk_updated_at": TIME,
        "bk_updated_by": USER,
        "create_time": TIME,
        "default": 0,
        "host_apply_enabled": false,
        "last_time": TIME,
        "service_category_id": category,
        "service_template_id": service_template,
        "set_template_id": set_template
    }))
}

/// The audit record of a create at [`TIME`] in [`context`]`(tenant)`.
pub fn audit_doc(
    tenant: &str,
    id: i64,
    biz: i64,
    resource_type: ResourceType,
    resource_id: i64,
    resource_name: &str,
    cur_data: &Document,
) -> Document {
    doc(json!({
        "id": id,
        "audit_type": "business_resource",
        "resource_type": resource_type.name(),
        "action": "create",
        "bk_biz_id": biz,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "operation_detail": {
            "bk_obj_id": resource_type.name(),
            "details": {"pre_data": null, "cur_data": cur_data, "update_fields": null}
        },
        "operate_from": "user",
        "user": USER,
        "code": APP_CODE,
        "rid": REQUEST_ID,
        "operation_time": TIME,
        "bk_supplier_account": tenant
    }))
}

/// The document of a business's idle set as a fixture load writes it.
pub fn idle_set_doc(tenant: &str, biz: i64, id: i64) -> Document {
    doc(json!({
        "bk_biz_id": biz,
        "bk_capacity": null,
        "bk_created_at": LOAD_TIME,
        "bk_created_by": LOADER,
        "bk_parent_id": biz,
        "bk_service_status": "1",
        "bk_set_desc": "",
        "bk_set_env": "3",
        "bk_set_id": id,
        "bk_set_name": "空闲机池",
        "bk_supplier_account": tenant,
        "bk_updated_at": LOAD_TIME,
        "bk_updated_by": LOADER,
        "create_time": LOAD_TIME,
        "default": 1,
        "description": "",
        "last_time": LOAD_TIME,
        "set_template_id": 0,
        "set_template_version": null
    }))
}

/// The documents of a business's three idle modules as a fixture load writes them.
pub fn idle_module_docs(tenant: &str, biz: i64, set: i64, first_id: i64) -> Vec<Document> {
    ["空闲机", "故障机", "待回收"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            doc(json!({
                "bk_biz_id": biz,
                "bk_created_at": LOAD_TIME,
                "bk_created_by": LOADER,
                "bk_module_id": first_id + i as i64,
                "bk_module_name": name,
                "bk_parent_id": set,
                "bk_set_id": set,
                "bk_supplier_account": tenant,
                "bk_updated_at": LOAD_TIME,
                "bk_updated_by": LOADER,
                "create_time": LOAD_TIME,
                "default": i as i64 + 1,
                "host_apply_enabled": false,
                "last_time": LOAD_TIME,
                "service_category_id": 0,
                "service_template_id": 0,
                "set_template_id": 0
            }))
        })
        .collect()
}

/// What [`SetStore::create_facts`] answers for a create in `biz` of a tenant, with no parent
/// instance or template asked for, read afresh (not from a store's cache).
///
/// # Panics
/// When the read fails.
pub async fn facts(store: &dyn SetStore, supplier_account: &str, biz: i64) -> StoredFacts {
    store
        .create_facts(&FactsQuery {
            supplier_account: supplier_account.to_owned(),
            biz: BizId(biz),
            parent: None,
            template: None,
            fresh: true,
        })
        .await
        .expect("create_facts")
}

/// Everything a store shows about a group of tenants and businesses.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `(kind, last id)` for every sequence kind.
    pub sequences: Vec<(SequenceKind, i64)>,
    /// Per tenant: its mainline.
    pub tenants: Vec<TenantSnapshot>,
    /// Per business.
    pub businesses: Vec<BizSnapshot>,
}

/// What a store shows of one tenant's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSnapshot {
    /// The tenant.
    pub supplier_account: String,
    /// Its mainline levels.
    pub mainline: Vec<String>,
}

/// What a store shows of one business.
#[derive(Debug, Clone, PartialEq)]
pub struct BizSnapshot {
    /// The business id.
    pub biz: i64,
    /// The business, if stored.
    pub business: Option<Business>,
    /// Its built-in set.
    pub builtin_set: Option<SetId>,
    /// `(ordinal, property id)` of the custom attributes visible in it, for its tenant.
    pub attributes: Vec<(i64, String)>,
    /// Its tenant's unique rules' fields, in key order.
    pub unique_rules: Vec<Vec<String>>,
    /// Its sets, by id.
    pub sets: Vec<Document>,
    /// The modules of each set, in set order.
    pub modules: Vec<Vec<Document>>,
    /// Its audit records, by id.
    pub audits: Vec<Document>,
}

/// Reads a [`Snapshot`] of the given tenants and businesses.
///
/// # Panics
/// When a read fails.
pub async fn snapshot(store: &dyn SetStore, tenants: &[&str], bizzes: &[i64]) -> Snapshot {
    let mut sequences = Vec::new();
    for kind in SequenceKind::ALL {
        sequences.push((
            kind,
            store.sequence_last(kind).await.expect("sequence_last"),
        ));
    }
    let mut tenant_snaps = Vec::new();
    for tenant in tenants {
        tenant_snaps.push(TenantSnapshot {
            supplier_account: (*tenant).to_owned(),
            mainline: store.mainline(tenant).await.expect("mainline"),
        });
    }
    let mut biz_snaps = Vec::new();
    for &biz in bizzes {
        let id = BizId(biz);
        let business = store.business(id).await.expect("business");
        let tenant = business.as_ref().map(|b| b.bk_supplier_account.as_str());
        let stored = facts(store, tenant.unwrap_or_default(), biz).await;
        let attributes = stored
            .attributes
            .into_iter()
            .map(|a| (a.ordinal, a.raw.bk_property_id))
            .collect();
        let unique_rules = stored.unique_rules.into_iter().map(|r| r.fields).collect();
        let sets = store.sets(id, None).await.expect("sets");
        let mut modules = Vec::new();
        for set in &sets {
            let set_id = set
                .get("bk_set_id")
                .and_then(Value::as_i64)
                .expect("a stored set has an integer bk_set_id");
            modules.push(store.modules(SetId(set_id)).await.expect("modules"));
        }
        biz_snaps.push(BizSnapshot {
            biz,
            business,
            builtin_set: stored.builtin_set,
            attributes,
            unique_rules,
            sets,
            modules,
            audits: store.audit_records(id, None).await.expect("audit_records"),
        });
    }
    Snapshot {
        sequences,
        tenants: tenant_snaps,
        businesses: biz_snaps,
    }
}

/// The last id of every sequence kind, in [`SequenceKind::ALL`] order.
///
/// # Panics
/// When a read fails.
pub async fn sequences(store: &dyn SetStore) -> [i64; 4] {
    let mut out = [0; 4];
    for (slot, kind) in out.iter_mut().zip(SequenceKind::ALL) {
        *slot = store.sequence_last(kind).await.expect("sequence_last");
    }
    out
}

/// The counts a page of one answers for `biz`'s listings `[sets, audit of sets, audit of
/// modules, all audit]` (stored counters on every store), each checked against the length of
/// the whole listing.
///
/// # Panics
/// When a read fails or a page's count is not its listing's length.
pub async fn listing_counts(store: &dyn SetStore, biz: i64) -> [usize; 4] {
    let biz = BizId(biz);
    let of = |resource_type| DocQuery::Audit { biz, resource_type };
    let queries = [
        DocQuery::Sets { biz, set: None },
        of(Some(ResourceType::Set)),
        of(Some(ResourceType::Module)),
        of(None),
    ];
    let mut out = [0; 4];
    for (slot, query) in out.iter_mut().zip(queries) {
        let page = store.page(query, Window { start: 0, limit: 1 }).await;
        let all = store.page(query, Window::ALL).await.expect("a listing");
        *slot = page.expect("a page").count;
        assert_eq!(*slot, all.docs.len(), "the count of {query:?}");
    }
    out
}

/// The documents of a [`CreatedSet`]: the set, its modules, its audit records.
pub fn created_docs(created: &CreatedSet) -> (Document, Vec<Document>, Vec<Document>) {
    (
        (*created.set.doc).clone(),
        created.modules.iter().map(|m| (*m.doc).clone()).collect(),
        created.audits.iter().map(AuditRecord::document).collect(),
    )
}

/// The `bk_set_id` of each document, in order.
///
/// # Panics
/// When a document has no integer `bk_set_id`.
pub fn set_ids(docs: &[Document]) -> Vec<i64> {
    docs.iter()
        .map(|d| {
            d.get("bk_set_id")
                .and_then(Value::as_i64)
                .expect("a set document has an integer bk_set_id")
        })
        .collect()
}
