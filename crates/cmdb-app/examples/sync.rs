//! A plain synchronous program (no async, no runtime in its own code) through the blocking
//! facade: open a SQLite file, load the seed's catalog, create the seed's set and a batch, read
//! them back, close, and reopen to see them stored.
//!
//! Run with `cargo run -p cmdb-app --example sync`.

use cmdb_app::blocking::Engine;
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use cmdb_core::typed::{NewSet, SetEnv};

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("cmdb-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let location = format!("sqlite://{}", dir.join("cmdb.sqlite").display());

    let engine = Engine::open(&location)?;
    let report = engine.load_fixture(include_str!("fixture.json").parse()?, "admin")?;
    println!("catalog loaded: {report:?}");
    let ctx = RequestContext {
        user: "xxx".into(),
        supplier_account: "123456789".into(),
        app_code: "sync_example".into(),
        request_id: engine.new_request_id(),
    };

    let seed = NewSet::new("test-set", 1)
        .set_desc("test-set")
        .capacity(1000)
        .description("description")
        .template(1);
    let set = engine.create(&ctx, BizId(1), seed.clone())?;
    println!("created set {} {:?}", set.id().0, set.name());

    // A refusal is an error value like any other: match on it, or `?` it away.
    match engine.create(&ctx, BizId(1), seed) {
        Err(e) => println!("again: {e}"),
        Ok(set) => anyhow::bail!("a second {:?} was created", set.name()),
    }

    let batch = [
        NewSet::new("web-01", 1).env(SetEnv::Test),
        NewSet::new("web-02", 1).env(SetEnv::Test),
    ];
    for slot in engine.create_batch(&ctx, BizId(1), &batch, false)? {
        let set = slot?;
        println!("batch created set {} {:?}", set.id().0, set.name());
    }
    engine.close()?;

    let reopened = Engine::open(&location)?;
    let names: Vec<String> = reopened
        .sets("123456789", BizId(1), None)?
        .iter()
        .map(|s| format!("{} {}", s.id().0, s.name()))
        .collect();
    println!("stored after reopening: {}", names.join(", "));
    reopened.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
