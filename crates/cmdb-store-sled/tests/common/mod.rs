//! Helpers shared by the sled store's own tests: a catalog fixture and plan building.

#![allow(dead_code)]

use std::path::Path;

use cmdb_core::Error;
use cmdb_core::fixture::{CatalogBatch, Fixture, LoadReport};
use cmdb_core::gather::gather_facts;
use cmdb_core::ids::BizId;
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_store_group::OpenError;
use cmdb_store_sled::{SledOptions, SledStore, layout};
use serde_json::{Value, json};

/// The timestamp of every write in these tests.
pub(crate) const TIME: &str = "2022-02-22T20:34:01.386+08:00";

/// A catalog: biz 2 (with its idle set: set 1, modules 1..=3), biz 3 without idle set, a
/// custom attribute `owner`, a unique rule over (bk_biz_id, owner), a set template 1 with two
/// service templates.
pub(crate) fn catalog() -> Value {
    json!({
        "businesses": [
            {"bk_biz_id": 2, "bk_biz_name": "demo"},
            {"bk_biz_id": 3, "bk_biz_name": "bare", "create_idle_set": false}
        ],
        "set_attributes": [
            {"bk_property_id": "owner", "bk_property_name": "Owner",
             "bk_property_type": "singlechar"}
        ],
        "set_unique_rules": [["bk_biz_id", "owner"]],
        "service_templates": [
            {"id": 11, "bk_biz_id": 2, "name": "web", "service_category_id": 5},
            {"id": 12, "bk_biz_id": 2, "name": "db"}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 2, "name": "tpl", "version": 4,
             "service_template_ids": [12, 11]}
        ]
    })
}

/// Prepares `fixture` as a catalog batch written at [`TIME`] by `loader`.
pub(crate) fn batch(fixture: Value) -> CatalogBatch {
    let fixture = Fixture::from_json(fixture).expect("fixture parses");
    CatalogBatch::prepare(fixture, TIME.to_owned(), "loader".to_owned()).expect("fixture checks")
}

/// Applies [`catalog`] to `store`.
pub(crate) async fn load_catalog(store: &dyn SetStore) -> LoadReport {
    store
        .apply_catalog(batch(catalog()))
        .await
        .expect("catalog loads")
}

/// The request context of these tests.
pub(crate) fn context() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: "app1".into(),
        request_id: "rid-0001".into(),
    }
}

/// Plans the create of `data` in `biz` against what `store` holds.
pub(crate) async fn plan(store: &dyn SetStore, biz: i64, data: Value) -> Result<CreatePlan, Error> {
    let data = data.as_object().expect("data is an object").clone();
    let ctx = context();
    let facts = gather_facts(store, &ctx.supplier_account, BizId(biz), &data).await?;
    plan_create(
        &ctx,
        BizId(biz),
        &data,
        &facts,
        PlanOptions::default(),
        TIME,
    )
}

/// Plans and creates a set named `name` under biz `biz`; returns its id.
pub(crate) async fn create(store: &dyn SetStore, biz: i64, data: Value) -> Result<i64, Error> {
    let plan = plan(store, biz, data).await?;
    Ok(store.create_set(plan).await?.set.id.0)
}

/// Waits until no handle holds the store directory at `path` nor sled's log in it: blocks
/// on each `flock` in turn (a store dropped without a close lets go of them on its writer
/// thread, a raw sled handle on sled's threads, a child process when it execs), then lets go.
/// A wait for a condition, never a sleep.
pub(crate) fn wait_released(path: &Path) {
    for file in [path.to_owned(), path.join(layout::SLED_LOG_FILE)] {
        if let Ok(f) = std::fs::File::open(&file) {
            f.lock().expect("a blocking flock");
        }
    }
}

/// Opens the store at `path` again. When the directory is busy (a handle dropped without a
/// close, a raw sled handle just dropped, a child process of another test between its fork
/// and its exec holding a copy of a lock's descriptor), waits until it is released
/// ([`wait_released`]) and opens it once more.
pub(crate) fn reopen(path: &Path, options: SledOptions) -> Result<SledStore, OpenError> {
    match SledStore::open_blocking(path, options) {
        Err(OpenError::Busy(_)) => {
            wait_released(path);
            SledStore::open_blocking(path, options)
        }
        other => other,
    }
}

/// Opens the raw sled database at `path` (no store handle may be open on it), once sled's log
/// is released.
pub(crate) fn raw_sled(path: &Path) -> sled::Db {
    wait_released(path);
    sled::open(path).expect("the raw sled database opens")
}
