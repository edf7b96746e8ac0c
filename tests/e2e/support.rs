//! Shared helpers of the end-to-end tests: a fixed clock and request id, an engine over each
//! store (memory; SQLite, sled and redb in a temporary directory), the `store_tests!` macro
//! that runs one scenario as one `#[test]` per store, and envelope builders.

#![allow(dead_code)]

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cmdb_app::open::{RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_app::{Engine, EngineBuilder, Envelope};
use cmdb_core::ports::{Clock, RequestIdSource, SetStore};
use cmdb_core::records::{Document, ResourceType};
use cmdb_core::{BizId, SequenceKind, SetId};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The engine's one clock reading in every test, rendered in +08:00.
pub(crate) const T: &str = "2026-11-27T20:34:01.386+08:00";
/// The request id every engine of the tests hands out.
pub(crate) const RID: &str = "e43da4ef221746868dc4c837d36f3807";

/// A clock stopped at 2026-11-27T12:34:01.386Z (`T` in +08:00).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 34, 1)
            .single()
            .expect("a valid instant")
            + chrono::Duration::milliseconds(386)
    }
}

/// Always hands out [`RID`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FixedRequestIds;

impl RequestIdSource for FixedRequestIds {
    fn next_id(&self) -> String {
        RID.to_owned()
    }
}

/// The stores every scenario runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// In memory.
    Memory,
    /// SQLite file in a temporary directory.
    Sqlite,
    /// sled directory in a temporary directory.
    Sled,
    /// redb file in a temporary directory.
    Redb,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
            Backend::Sled => "sled",
            Backend::Redb => "redb",
        })
    }
}

/// One store under test, kept alive with its temporary directory.
#[derive(Debug)]
pub(crate) struct Env {
    /// Which backend.
    pub backend: Backend,
    /// The store.
    pub store: Arc<dyn SetStore>,
    dir: TempDir,
}

impl Env {
    /// Opens a fresh store of `backend` in a new temporary directory.
    pub(crate) fn open(backend: Backend) -> Env {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (kind, path) = match backend {
            Backend::Memory => (StoreKind::Memory, None),
            Backend::Sqlite => (StoreKind::Sqlite, Some(dir.path().join("cmdb.sqlite"))),
            Backend::Sled => (StoreKind::Sled, Some(dir.path().join("cmdb.sled"))),
            Backend::Redb => (StoreKind::Redb, Some(dir.path().join("cmdb.redb"))),
        };
        let config = StoreConfig {
            kind,
            path,
            sqlite_sync: SqliteSync::Full,
            sled_flush: SledFlush::EveryWrite,
            redb_sync: RedbSync::Immediate,
            group: Default::default(),
        };
        let opened =
            open_store(&config).unwrap_or_else(|e| panic!("opening the {backend} store: {e}"));
        Env {
            backend,
            store: opened.store,
            dir,
        }
    }

    /// The temporary directory the store lives in.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A builder over this store with the fixed clock and request ids.
    pub(crate) fn builder(&self) -> EngineBuilder {
        Engine::builder(self.store.clone())
            .clock(Arc::new(FixedClock))
            .request_ids(Arc::new(FixedRequestIds))
    }

    /// The default engine over this store (fixed clock and request ids).
    pub(crate) fn engine(&self) -> Engine {
        self.builder().build()
    }
}

/// Runs one scenario over a fresh store of `backend` on a tokio runtime.
pub(crate) fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let env = Env::open(backend);
    runtime.block_on(scenario(env));
}

/// Declares scenarios that run once per store, each as its own test:
/// `store_tests! { async fn name(env) { … } }` gives `name::memory`, `name::sqlite`,
/// `name::sled` and `name::redb`.
macro_rules! store_tests {
    ($($(#[doc = $doc:literal])* async fn $name:ident($env:ident) $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn scenario($env: $crate::support::Env) $body

                #[test]
                fn memory() {
                    $crate::support::run($crate::support::Backend::Memory, scenario);
                }

                #[test]
                fn sqlite() {
                    $crate::support::run($crate::support::Backend::Sqlite, scenario);
                }

                #[test]
                fn sled() {
                    $crate::support::run($crate::support::Backend::Sled, scenario);
                }

                #[test]
                fn redb() {
                    $crate::support::run($crate::support::Backend::Redb, scenario);
                }
            }
        )*
    };
}
pub(crate) use store_tests;

/// A JSON object as a [`Document`].
pub(crate) fn doc(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// An envelope as a JSON value (keys as serialized).
pub(crate) fn to_value(envelope: &Envelope) -> Value {
    serde_json::from_str(&envelope.to_json()).expect("an envelope is JSON")
}

/// The expected success envelope carrying `data`.
pub(crate) fn ok(data: Value) -> Value {
    json!({"result": true, "code": 0, "message": "", "permission": null, "request_id": RID,
           "data": data})
}

/// The expected failure envelope.
pub(crate) fn fail(code: i64, message: &str) -> Value {
    json!({"result": false, "code": code, "message": message, "permission": null,
           "request_id": RID, "data": null})
}

/// The 9900403 denial object naming `biz` and its name.
pub(crate) fn denial(biz: i64, name: &str) -> Value {
    json!({
        "system_id": "bk_cmdb",
        "system_name": "CMDB",
        "actions": [{
            "id": "create_biz_topology",
            "name": "Create business topology",
            "related_resource_types": [{
                "system_id": "bk_cmdb",
                "system_name": "CMDB",
                "type": "biz",
                "type_name": "Business",
                "instances": [[{"type": "biz", "type_name": "Business",
                                "id": biz.to_string(), "name": name}]]
            }]
        }]
    })
}

/// The expected 9900403 envelope for `biz` named `name`.
pub(crate) fn denied(biz: i64, name: &str) -> Value {
    json!({"result": false, "code": 9_900_403, "message": "Do not have access permission.",
           "permission": denial(biz, name), "request_id": RID, "data": null})
}

/// Sends a raw `create_set` body and returns the envelope as JSON.
pub(crate) async fn create_raw(engine: &Engine, body: &[u8]) -> Value {
    to_value(&engine.handle_create_set(body, None).await)
}

/// Sends a `create_set` request and returns the envelope as JSON.
pub(crate) async fn create(engine: &Engine, request: &Value) -> Value {
    create_raw(engine, request.to_string().as_bytes()).await
}

/// Sends a batch request and returns the envelope as JSON.
pub(crate) async fn batch(engine: &Engine, request: &Value) -> Value {
    to_value(
        &engine
            .handle_batch_create(request.to_string().as_bytes(), None)
            .await,
    )
}

/// The request `{bk_username: "xxx", bk_app_code: "esb_test", bk_biz_id: biz, data}` in the
/// default tenant.
pub(crate) fn req(biz: i64, data: Value) -> Value {
    json!({"bk_app_code": "esb_test", "bk_username": "xxx", "bk_biz_id": biz, "data": data})
}

/// As [`req`], in tenant `supplier_account`.
pub(crate) fn req_in(supplier_account: &str, biz: i64, data: Value) -> Value {
    json!({"bk_app_code": "esb_test", "bk_username": "xxx",
           "bk_supplier_account": supplier_account, "bk_biz_id": biz, "data": data})
}

/// Loads a fixture that must load (operator `admin`).
pub(crate) async fn load(engine: &Engine, fixture: Value) -> Value {
    match engine.load_fixture(fixture.clone(), "admin").await {
        Ok(report) => serde_json::to_value(report).expect("a report is JSON"),
        Err(f) => panic!(
            "loading {fixture} failed: {} {}",
            f.code().number(),
            f.message()
        ),
    }
}

/// The sets of a biz, which must be readable.
pub(crate) async fn sets(engine: &Engine, supplier_account: &str, biz: i64) -> Vec<Value> {
    engine
        .find_sets(supplier_account, BizId(biz), None)
        .await
        .unwrap_or_else(|f| panic!("find_sets {biz}: {} {}", f.code().number(), f.message()))
        .into_iter()
        .map(Value::Object)
        .collect()
}

/// The modules of a set, which must be readable.
pub(crate) async fn modules(
    engine: &Engine,
    supplier_account: &str,
    biz: i64,
    set: i64,
) -> Vec<Value> {
    engine
        .list_modules(supplier_account, BizId(biz), SetId(set))
        .await
        .unwrap_or_else(|f| {
            panic!(
                "list_modules {biz}/{set}: {} {}",
                f.code().number(),
                f.message()
            )
        })
        .into_iter()
        .map(Value::Object)
        .collect()
}

/// The audit records of a biz, which must be readable.
pub(crate) async fn audits(
    engine: &Engine,
    supplier_account: &str,
    biz: i64,
    resource_type: Option<ResourceType>,
) -> Vec<Value> {
    engine
        .audit_records(supplier_account, BizId(biz), resource_type)
        .await
        .unwrap_or_else(|f| panic!("audit_records {biz}: {} {}", f.code().number(), f.message()))
        .into_iter()
        .map(Value::Object)
        .collect()
}

/// The last id of each sequence: `[set, module, audit]`.
pub(crate) async fn sequences(engine: &Engine) -> [i64; 3] {
    let mut out = [0; 3];
    for (slot, kind) in
        out.iter_mut()
            .zip([SequenceKind::Set, SequenceKind::Module, SequenceKind::Audit])
    {
        *slot = engine
            .store()
            .sequence_last(kind)
            .await
            .expect("reading a sequence");
    }
    out
}

/// Everything a create could have written in a biz: its sets, the modules of each, its audit
/// records and the sequences.
pub(crate) async fn snapshot(engine: &Engine, supplier_account: &str, biz: i64) -> Value {
    let sets = sets(engine, supplier_account, biz).await;
    let mut all_modules = Vec::new();
    for s in &sets {
        let id = s["bk_set_id"].as_i64().expect("a set id");
        all_modules.extend(modules(engine, supplier_account, biz, id).await);
    }
    json!({
        "sets": sets,
        "modules": all_modules,
        "audits": audits(engine, supplier_account, biz, None).await,
        "sequences": sequences(engine).await,
    })
}

/// The document of a set created by the default request `req(biz, data)` with nothing but
/// `bk_set_name` and `bk_parent_id` (and defaults), before custom attributes.
pub(crate) fn plain_set(
    id: i64,
    biz: i64,
    parent: i64,
    name: &str,
    supplier_account: &str,
) -> Value {
    json!({
        "bk_biz_id": biz,
        "bk_capacity": null,
        "bk_created_at": T,
        "bk_created_by": "xxx",
        "bk_parent_id": parent,
        "bk_service_status": "1",
        "bk_set_desc": "",
        "bk_set_env": "3",
        "bk_set_id": id,
        "bk_set_name": name,
        "bk_supplier_account": supplier_account,
        "bk_updated_at": T,
        "bk_updated_by": "xxx",
        "create_time": T,
        "default": 0,
        "description": "",
        "last_time": T,
        "set_template_id": 0,
        "set_template_version": null
    })
}

/// Merges the keys of `extra` into the object `base`.
pub(crate) fn with(mut base: Value, extra: Value) -> Value {
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        panic!("with() takes two objects");
    };
    for (k, v) in e {
        b.insert(k, v);
    }
    base
}

/// The first set id a scenario over [`load_base`] gets.
pub(crate) const FIRST_SET: i64 = 100;
/// The first module id a scenario over [`load_base`] gets.
pub(crate) const FIRST_MODULE: i64 = 13;

/// The tenant-`t2` fixture: business 9 `foreign` (idle set 1, modules 1–3).
pub(crate) fn foreign_fixture() -> Value {
    json!({"bk_supplier_account": "t2",
           "businesses": [{"bk_biz_id": 9, "bk_biz_name": "foreign"}]})
}

/// The default-tenant fixture of most scenarios: business 3 `shop` (idle set 2, modules 4–6),
/// 4 `old` archived (set 3, modules 7–9), 5 `blog` (set 4, modules 10–12), 6 `bare` without an
/// idle set; service templates 9 redis, 7 nginx, 5 php of biz 3 and 11 mysql of biz 5; set
/// template 1 `web` (biz 3, version 3, services [9, 7, 5], capacity 500 and env "1") and 2 `db`
/// (biz 5); the set sequence raised so the next set is [`FIRST_SET`].
pub(crate) fn base_fixture() -> Value {
    json!({
        "businesses": [
            {"bk_biz_id": 3, "bk_biz_name": "shop"},
            {"bk_biz_id": 4, "bk_biz_name": "old", "archived": true},
            {"bk_biz_id": 5, "bk_biz_name": "blog"},
            {"bk_biz_id": 6, "bk_biz_name": "bare", "create_idle_set": false}
        ],
        "service_templates": [
            {"id": 9, "bk_biz_id": 3, "name": "redis", "service_category_id": 4},
            {"id": 7, "bk_biz_id": 3, "name": "nginx", "service_category_id": 2},
            {"id": 5, "bk_biz_id": 3, "name": "php", "service_category_id": 3},
            {"id": 11, "bk_biz_id": 5, "name": "mysql", "service_category_id": 1}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 3, "name": "web", "version": 3,
             "service_template_ids": [9, 7, 5],
             "attributes": [{"bk_property_id": "bk_capacity", "bk_property_value": 500},
                            {"bk_property_id": "bk_set_env", "bk_property_value": "1"}]},
            {"id": 2, "bk_biz_id": 5, "name": "db", "version": 1, "service_template_ids": [11]}
        ],
        "id_generator": {"set": FIRST_SET - 1}
    })
}

/// Loads [`foreign_fixture`] then [`base_fixture`].
pub(crate) async fn load_base(engine: &Engine) {
    load(engine, foreign_fixture()).await;
    load(engine, base_fixture()).await;
}
