//! Helpers of the SQLite tests: a store in a temp dir, fixtures, plans built as the app does.

use std::path::{Path, PathBuf};

use cmdb_core::Error;
use cmdb_core::fixture::{CatalogBatch, Fixture, LoadReport};
use cmdb_core::gather::gather_facts;
use cmdb_core::ids::BizId;
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::{CreatedSet, Document};
use cmdb_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The timestamp of every create.
pub(crate) const TIME: &str = "2026-11-27T20:34:01.386+08:00";
/// The timestamp of every fixture load.
pub(crate) const LOAD_TIME: &str = "2026-11-27T20:00:00.000+08:00";
/// The tenant of the worked example.
pub(crate) const TENANT: &str = "123456789";

/// A temp dir holding one database path.
pub(crate) struct TempDb {
    /// Keeps the directory alive.
    pub dir: TempDir,
}

impl TempDb {
    /// A fresh, empty directory.
    pub(crate) fn new() -> Self {
        TempDb {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// The database path inside it.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("cmdb.sqlite")
    }

    /// Opens the store at [`TempDb::path`] with default options.
    pub(crate) fn open(&self) -> SqliteStore {
        open(&self.path())
    }
}

/// Opens a store that must open.
pub(crate) fn open(path: &Path) -> SqliteStore {
    match SqliteStore::open_blocking(path, SqliteOptions::default()) {
        Ok(store) => store,
        Err(e) => panic!("opening {} failed: {e}", path.display()),
    }
}

/// A JSON object as a document.
pub(crate) fn doc(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// Loads a fixture that must load.
pub(crate) async fn load(store: &dyn SetStore, fixture: Value) -> LoadReport {
    let batch = Fixture::from_json(fixture)
        .and_then(|f| CatalogBatch::prepare(f, LOAD_TIME.into(), "admin".into()))
        .expect("a valid fixture");
    store.apply_catalog(batch).await.expect("the fixture loads")
}

/// The worked example's fixture (spec `worked-example.md`).
pub(crate) fn example_fixture() -> Value {
    json!({
        "bk_supplier_account": TENANT,
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    })
}

/// The request context of every create.
pub(crate) fn context() -> RequestContext {
    RequestContext {
        user: "xxx".into(),
        supplier_account: TENANT.into(),
        app_code: "esb_test".into(),
        request_id: "e43da4ef221746868dc4c837d36f3807".into(),
    }
}

/// Plans a create of `data` in biz 1 as the app does.
pub(crate) async fn plan(store: &dyn SetStore, data: Value) -> Result<CreatePlan, Error> {
    let data = doc(data);
    let ctx = context();
    let facts = gather_facts(store, &ctx.supplier_account, BizId(1), &data).await?;
    plan_create(&ctx, BizId(1), &data, &facts, PlanOptions::default(), TIME)
}

/// Plans and creates a plain set named `name` under biz 1.
pub(crate) async fn create_named(store: &dyn SetStore, name: &str) -> Result<CreatedSet, Error> {
    let plan = plan(store, json!({"bk_parent_id": 1, "bk_set_name": name})).await?;
    store.create_set(plan).await
}
