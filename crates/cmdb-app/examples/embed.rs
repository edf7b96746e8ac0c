//! Embedding the engine in a Rust program: open a SQLite store, load a catalog, create a typed
//! set and a JSON one.
//!
//! Run with `cargo run -p cmdb-app --example embed`.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use cmdb_core::typed::{NewSet, SetEnv};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cmdb-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store =
        cmdb_store_sqlite::SqliteStore::open(dir.join("cmdb.sqlite"), Default::default()).await?;
    let engine = Engine::builder(Arc::new(store)).build();

    let fixture = json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3,
                           "service_template_ids": [7]}]
    });
    let report = engine.load_fixture(fixture, "admin").await?;
    println!("catalog loaded: {}", json!(report));

    let ctx = RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: "embed_example".into(),
        request_id: engine.new_request_id(),
    };
    // A typed create: the same rules, codes and stored document as the JSON entry point.
    let set = engine
        .create(
            &ctx,
            BizId(1),
            NewSet::new("web-01", 1).template(1).env(SetEnv::Test),
        )
        .await?;
    println!(
        "created set {} {:?} (template {} version {:?})",
        set.id().0,
        set.name(),
        set.template_id(),
        set.template_version()
    );
    println!("stored as: {}", json!(set));
    let modules = engine.list_modules("0", BizId(1), set.id()).await?;
    println!("its modules: {}", json!(modules));
    // The JSON entry point, for data that already is a JSON map.
    let data = json!({"bk_parent_id": 1, "bk_set_name": "web-02"});
    let doc = engine
        .create_set(
            &ctx,
            BizId(1),
            data.as_object().unwrap_or(&Default::default()),
        )
        .await?;
    println!("created set: {}", json!(doc));
    engine.store().close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
