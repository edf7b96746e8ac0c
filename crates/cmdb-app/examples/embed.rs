//! Embedding the engine in a Rust program: open a SQLite store, load a catalog, create a set.
//!
//! Run with `cargo run -p cmdb-app --example embed`.

use std::sync::Arc;

use cmdb_app::Engine;
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
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
    let data = json!({"bk_parent_id": 1, "bk_set_name": "web-01", "set_template_id": 1});
    let data = data.as_object().cloned().unwrap_or_default();
    let set = engine
        .create_set(&ctx, BizId(1), &data)
        .await
        .map_err(|f| format!("{} {}", f.code, f.message))?;
    println!("created set: {}", json!(set));
    let modules = engine
        .list_modules(
            "0",
            BizId(1),
            cmdb_core::SetId(set["bk_set_id"].as_i64().unwrap_or_default()),
        )
        .await?;
    println!("its modules: {}", json!(modules));
    engine.store().close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
