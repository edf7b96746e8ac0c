//! The stores under test, the seed fixture, requests with fresh names, create plans, and
//! pre-filling a store through the atomic batch path.

use std::future::Future;
use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_app::open::{RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_core::BizId;
use cmdb_core::catalog::{Business, ServiceTemplate, SetTemplate};
use cmdb_core::facts::CreateFacts;
use cmdb_core::model::{AttributeDef, RawAttribute};
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::SetStore;
use cmdb_core::records::Document;
use cmdb_store_group::GroupOptions;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The business every benchmark creates sets in (also their parent).
pub const BIZ: BizId = BizId(1);
/// The seed's supplier account.
pub const SUPPLIER: &str = "123456789";
/// A fixed timestamp for plans built outside the engine (the engine reads its clock).
pub const PLAN_TIME: &str = "2026-11-28T08:34:01.386+08:00";
/// The largest number of plans handed to one `create_sets_atomic` while pre-filling.
pub const PREFILL_CHUNK: usize = 100_000;

/// A store backend and its durability setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `cmdb-store-memory`.
    Memory,
    /// SQLite, WAL, `synchronous = FULL`.
    SqliteFull,
    /// SQLite, WAL, `synchronous = NORMAL`.
    SqliteNormal,
    /// sled, flushed (fsynced) before every write returns.
    SledFlush,
    /// sled, flushed in the background every 500 ms.
    SledBackground,
    /// redb, every commit fsynced (`Durability::Immediate`).
    RedbImmediate,
    /// redb, non-durable commits made durable every 500 ms (`Durability::None`).
    RedbNone,
}

impl Backend {
    /// Every backend, in table order.
    pub const ALL: [Backend; 7] = [
        Backend::Memory,
        Backend::SqliteFull,
        Backend::SqliteNormal,
        Backend::SledFlush,
        Backend::SledBackground,
        Backend::RedbImmediate,
        Backend::RedbNone,
    ];

    /// The name used in benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::SqliteFull => "sqlite_full",
            Backend::SqliteNormal => "sqlite_normal",
            Backend::SledFlush => "sled_flush",
            Backend::SledBackground => "sled_background",
            Backend::RedbImmediate => "redb_immediate",
            Backend::RedbNone => "redb_none",
        }
    }

    /// The configuration `cmdb-app` opens this backend with, in `dir`.
    pub fn config(self, dir: &std::path::Path) -> StoreConfig {
        let (kind, file) = match self {
            Backend::Memory => (StoreKind::Memory, "unused"),
            Backend::SqliteFull | Backend::SqliteNormal => (StoreKind::Sqlite, "cmdb.sqlite"),
            Backend::SledFlush | Backend::SledBackground => (StoreKind::Sled, "cmdb.sled"),
            Backend::RedbImmediate | Backend::RedbNone => (StoreKind::Redb, "cmdb.redb"),
        };
        let mut config = StoreConfig::new(kind);
        config.path = Some(dir.join(file));
        config.sqlite_sync = match self {
            Backend::SqliteNormal => SqliteSync::Normal,
            _ => SqliteSync::Full,
        };
        config.sled_flush = match self {
            Backend::SledBackground => SledFlush::Background,
            _ => SledFlush::EveryWrite,
        };
        config.redb_sync = match self {
            Backend::RedbNone => RedbSync::None,
            _ => RedbSync::Immediate,
        };
        config
    }
}

/// A single-threaded runtime for driving the async engine from a benchmark loop.
///
/// # Panics
/// When the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
}

/// A multi-thread tokio runtime (two workers), for benchmarks whose tasks run side by side.
///
/// # Panics
/// When the runtime cannot be built.
pub fn runtime_multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread tokio runtime")
}

/// The seed's catalog without templates: business 1 of supplier account `123456789` (its
/// built-in idle set takes set id 1).
pub fn fixture() -> Value {
    json!({
        "bk_supplier_account": SUPPLIER,
        "businesses": [{"bk_biz_id": BIZ.0, "bk_biz_name": "demo"}],
    })
}

/// The seed's caller.
pub fn context() -> RequestContext {
    RequestContext {
        user: "xxx".into(),
        supplier_account: SUPPLIER.into(),
        app_code: "esb_test".into(),
        request_id: "e43da4ef221746868dc4c837d36f3807".into(),
    }
}

/// The seed's `data` without `set_template_id` (a template would add a module and a second
/// audit record), named `name`.
pub fn request(name: &str) -> Document {
    let Value::Object(data) = json!({
        "bk_parent_id": BIZ.0,
        "bk_set_name": name,
        "bk_set_desc": "test-set",
        "bk_capacity": 1000,
        "description": "description",
    }) else {
        unreachable!("an object literal")
    };
    data
}

/// Fresh, distinct set names: `<prefix>-00000001`, `<prefix>-00000002`, …
#[derive(Debug, Clone)]
pub struct Names {
    prefix: &'static str,
    next: u64,
}

impl Names {
    /// Names starting with `prefix`.
    pub fn new(prefix: &'static str) -> Self {
        Names { prefix, next: 0 }
    }

    /// The next unused name.
    pub fn next_name(&mut self) -> String {
        self.next += 1;
        format!("{}-{:08}", self.prefix, self.next)
    }

    /// A request with the next unused name.
    pub fn next_request(&mut self) -> Document {
        request(&self.next_name())
    }
}

/// The facts of a create in the fixture's biz: the business, nothing else.
pub fn plain_facts() -> CreateFacts {
    CreateFacts {
        business: Some(Business {
            bk_biz_id: BIZ,
            bk_biz_name: "demo".into(),
            archived: false,
            bk_supplier_account: SUPPLIER.into(),
        }),
        builtin_set: Some(cmdb_core::SetId(1)),
        ..CreateFacts::default()
    }
}

/// A plan for a set named `name` in the fixture's biz, as the engine would build it.
///
/// # Panics
/// When the rules refuse the request (they do not).
pub fn plan(name: &str) -> CreatePlan {
    plan_create(
        &context(),
        BIZ,
        &request(name),
        &plain_facts(),
        PlanOptions::default(),
        PLAN_TIME,
    )
    .expect("the benchmark request is valid")
}

/// The stored document of a created set, without `bk_set_id`: what the floors write.
pub fn template_set_doc() -> Document {
    plan("template").set_doc
}

/// `count` plans named `<prefix>-<n>` for `n` in `first..first + count`.
pub fn plans(prefix: &str, first: usize, count: usize) -> Vec<CreatePlan> {
    let facts = plain_facts();
    let ctx = context();
    (first..first + count)
        .map(|n| {
            plan_create(
                &ctx,
                BIZ,
                &request(&format!("{prefix}-{n:08}")),
                &facts,
                PlanOptions::default(),
                PLAN_TIME,
            )
            .expect("the benchmark request is valid")
        })
        .collect()
}

/// The seed's request exactly (with `set_template_id: 1`) and facts holding its template (one
/// service template): the worked example of the spec.
pub fn seed_request_and_facts() -> (Document, CreateFacts) {
    let mut data = request("test-set");
    data.insert("set_template_id".into(), json!(1));
    let mut facts = plain_facts();
    facts.template = Some(SetTemplate {
        id: 1,
        bk_biz_id: BIZ,
        name: "web".into(),
        version: 3,
        service_template_ids: vec![7],
        attributes: Vec::new(),
        bk_supplier_account: SUPPLIER.into(),
    });
    facts.service_templates = vec![ServiceTemplate {
        id: 7,
        bk_biz_id: BIZ,
        name: "nginx".into(),
        service_category_id: 2,
        bk_supplier_account: SUPPLIER.into(),
    }];
    (data, facts)
}

/// Twenty custom set attributes covering the thirteen types, several with options (regexes,
/// bounds, choices), as raw definitions.
pub fn custom_attributes() -> Vec<RawAttribute> {
    let attr = |id: &str, kind: &str, option: Value, multiple: bool| RawAttribute {
        bk_property_id: id.into(),
        bk_property_name: id.replace('_', " "),
        bk_property_type: kind.into(),
        isrequired: false,
        option,
        default: Value::Null,
        ismultiple: multiple,
        bk_biz_id: 0,
    };
    let choices = |ids: &[&str]| {
        Value::Array(
            ids.iter()
                .enumerate()
                .map(|(i, id)| json!({"id": id, "name": id.to_uppercase(), "is_default": i == 0}))
                .collect(),
        )
    };
    vec![
        attr("owner_team", "singlechar", json!("^[a-z][a-z-]*$"), false),
        attr("notes", "longchar", Value::Null, false),
        attr("rack_count", "int", json!({"min": 0, "max": 1000}), false),
        attr(
            "cpu_ratio",
            "float",
            json!({"min": "0", "max": "100"}),
            false,
        ),
        attr(
            "tier",
            "enum",
            choices(&["gold", "silver", "bronze"]),
            false,
        ),
        attr("zones", "enummulti", choices(&["a", "b", "c", "d"]), true),
        attr("launch_date", "date", Value::Null, false),
        attr("audited_at", "time", Value::Null, false),
        attr("zone_tz", "timezone", Value::Null, false),
        attr("managed", "bool", Value::Null, false),
        attr("maintainers", "objuser", Value::Null, true),
        attr(
            "region",
            "list",
            json!(["north", "south", "east", "west"]),
            false,
        ),
        attr("org", "organization", Value::Null, false),
        attr("cost_center", "singlechar", json!(""), false),
        attr(
            "contact_email",
            "singlechar",
            json!("^[^@ ]+@[^@ ]+$"),
            false,
        ),
        attr("port", "int", json!({"min": "1", "max": "65535"}), false),
        attr("weight", "float", Value::Null, false),
        attr("stage", "enum", choices(&["dev", "test", "prod"]), false),
        attr("backup_owner", "objuser", Value::Null, false),
        attr("summary", "longchar", json!("\\S"), false),
    ]
}

/// The twenty custom attributes, defined as a fixture would define them.
///
/// # Panics
/// When a definition is refused (they are valid).
pub fn custom_attribute_defs() -> Vec<AttributeDef> {
    custom_attributes()
        .into_iter()
        .map(|raw| AttributeDef::define_custom(raw).expect("a valid custom attribute"))
        .collect()
}

/// The seed's request (without template) plus a valid value for each of the twenty custom
/// attributes, and the facts that define them.
pub fn custom_request_and_facts() -> (Document, CreateFacts) {
    let mut data = request("custom-set");
    let values = json!({
        "owner_team": "  platform-ops ",
        "notes": "long form notes about this set",
        "rack_count": 12,
        "cpu_ratio": "42.5",
        "tier": "silver",
        "zones": ["a", "c"],
        "launch_date": "2024-02-29",
        "audited_at": "2024-03-01 12:30:00",
        "zone_tz": "Asia/Shanghai",
        "managed": true,
        "maintainers": "alice,bob,carol",
        "region": "east",
        "org": [42],
        "cost_center": "cc-1001",
        "contact_email": "ops@example.com",
        "port": 8080,
        "weight": 0.75,
        "stage": "prod",
        "backup_owner": "dave",
        "summary": "a summary",
    });
    if let Value::Object(values) = values {
        data.extend(values);
    }
    let mut facts = plain_facts();
    facts.attributes = custom_attribute_defs();
    (data, facts)
}

/// An engine over a fresh store of one backend in its own temporary directory, with the
/// fixture loaded. The directory lives as long as the harness.
pub struct Harness {
    /// The engine (system clock, allow-all authorizer).
    pub engine: Engine,
    /// The store behind the engine.
    pub store: Arc<dyn SetStore>,
    /// The backend.
    pub backend: Backend,
    dir: TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("backend", &self.backend)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Opens a fresh store and loads [`fixture`].
    ///
    /// # Panics
    /// When the store cannot be opened or the fixture is refused.
    pub fn open(backend: Backend, rt: &tokio::runtime::Runtime) -> Harness {
        Harness::open_grouped(backend, GroupOptions::default(), rt)
    }

    /// [`Harness::open`] with these group-commit options.
    ///
    /// # Panics
    /// When the store cannot be opened or the fixture is refused.
    pub fn open_grouped(
        backend: Backend,
        group: GroupOptions,
        rt: &tokio::runtime::Runtime,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = backend.config(dir.path());
        config.group = group;
        let opened = open_store(&config).expect("the store opens");
        let engine = Engine::builder(opened.store.clone()).build();
        rt.block_on(engine.load_fixture(fixture(), "admin"))
            .expect("the fixture loads");
        Harness {
            engine,
            store: opened.store,
            backend,
            dir,
        }
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Creates one set through the engine; returns the stored document.
    ///
    /// # Panics
    /// When the create fails.
    pub fn create(
        &self,
        rt: &tokio::runtime::Runtime,
        ctx: &RequestContext,
        data: &Document,
    ) -> Document {
        block(rt, self.engine.create_set(ctx, BIZ, data)).expect("the create succeeds")
    }

    /// Defines the twenty [`custom_attributes`] as global set attributes of the fixture's
    /// supplier account.
    ///
    /// # Panics
    /// When the fixture is refused.
    pub fn define_custom_attributes(&self, rt: &tokio::runtime::Runtime) {
        let catalog = json!({
            "bk_supplier_account": SUPPLIER,
            "set_attributes": custom_attributes(),
        });
        block(rt, self.engine.load_fixture(catalog, "admin")).expect("the attributes load");
    }

    /// A request with a value for each of the twenty custom attributes, named `name`.
    pub fn custom_request(name: &str) -> Document {
        let (mut data, _) = custom_request_and_facts();
        data.insert("bk_set_name".into(), Value::String(name.to_owned()));
        data
    }

    /// Stores `count` sets named `fill-<n>` through `create_sets_atomic`, at most `chunk`
    /// (and at most [`PREFILL_CHUNK`]) per transaction.
    ///
    /// # Panics
    /// When a batch fails.
    pub fn prefill(&self, rt: &tokio::runtime::Runtime, count: usize, chunk: usize) {
        let chunk = chunk.clamp(1, PREFILL_CHUNK);
        let mut done = 0;
        while done < count {
            let n = chunk.min(count - done);
            let batch = plans("fill", done, n);
            let created = block(rt, self.store.create_sets_atomic(batch))
                .expect("the pre-fill batch succeeds");
            assert_eq!(created.len(), n, "every pre-fill plan was stored");
            done += n;
        }
    }
}

/// Runs a future to completion on `rt`.
pub fn block<F: Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    rt.block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_core::plan::PlanOptions;

    #[test]
    fn the_prepared_requests_pass_validation() {
        let ctx = context();
        for (data, facts) in [seed_request_and_facts(), custom_request_and_facts()] {
            let plan = plan_create(&ctx, BIZ, &data, &facts, PlanOptions::default(), PLAN_TIME)
                .expect("valid");
            assert_eq!(plan.set_doc["bk_capacity"], json!(1000));
        }
        let (data, facts) = custom_request_and_facts();
        let plan = plan_create(&ctx, BIZ, &data, &facts, PlanOptions::default(), PLAN_TIME)
            .expect("valid");
        assert_eq!(plan.set_doc["owner_team"], json!("platform-ops"));
        assert_eq!(plan.set_doc.len(), template_set_doc().len() + 20);
    }

    #[test]
    fn every_backend_creates_and_prefills() {
        let rt = runtime();
        let ctx = context();
        for backend in Backend::ALL {
            let h = Harness::open(backend, &rt);
            h.prefill(&rt, 3, 2);
            let mut names = Names::new("t");
            h.create(&rt, &ctx, &names.next_request());
            let sets = block(&rt, h.store.sets(BIZ, None)).expect("read");
            // The idle set, three pre-filled sets and one created set.
            assert_eq!(sets.len(), 5, "{}", backend.label());
        }
    }
}
