//! Child process of the reliability tests: writes sets to a durable store until it is killed
//! (`crash`), or races another process for the same set names on one SQLite file (`collide`).
//!
//! ```text
//! crash_writer <STORE> <PATH> crash <FIRST> [WRITERS] load the fixture, then create sets
//!                                                    crash-<FIRST>, crash-<FIRST+1>, … from
//!                                                    set template 1 with WRITERS concurrent
//!                                                    callers (default 1, so the store's group
//!                                                    commit shares transactions among them),
//!                                                    printing `ack <id> <name>` after each
//!                                                    acknowledged create
//! crash_writer sqlite <PATH> collide <COUNT> <SEED>  print `ready`, wait for a line on stdin,
//!                                                    then create c-0 … c-<COUNT-1> under the
//!                                                    biz in an order shuffled by SEED (0: in
//!                                                    order), printing `ok <name> <id>` or
//!                                                    `dup <name>` (1101108) for each
//! ```
//!
//! `STORE` is `sqlite` (`synchronous=FULL`), `sled` (flushed before every acknowledgement) or
//! `redb` (every commit fsynced), the durable options, or `sqlite-normal` / `sled-background` /
//! `redb-none`, the relaxed ones. Any other
//! failure prints `err <code> <message>` and exits with status 1.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use cmdb_app::Engine;
use cmdb_app::open::{RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store};
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use serde_json::{Value, json};

/// Business 1 (with its idle set), service templates 7 `nginx` and 8 `php`, set template 1
/// `web` listing both. The crash test expects exactly this catalog.
fn fixture() -> Value {
    json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "crash"}],
        "service_templates": [
            {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2},
            {"id": 8, "bk_biz_id": 1, "name": "php", "service_category_id": 3}
        ],
        "set_templates": [
            {"id": 1, "bk_biz_id": 1, "name": "web", "version": 3, "service_template_ids": [7, 8]}
        ]
    })
}

fn context() -> RequestContext {
    RequestContext {
        user: "writer".into(),
        supplier_account: "0".into(),
        app_code: "crash_writer".into(),
        request_id: format!("{:032x}", std::process::id()),
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: crash_writer <sqlite|sled|redb|sqlite-normal|sled-background|redb-none> <PATH> \
         <crash FIRST | collide COUNT SEED>"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, path, mode, number, seed) = match args.as_slice() {
        [kind, path, mode, number, writers] if mode == "crash" => {
            (kind, path, mode, number, writers.as_str())
        }
        [kind, path, mode, number] => (kind, path, mode, number, "0"),
        [kind, path, mode, number, seed] => (kind, path, mode, number, seed.as_str()),
        _ => return usage(),
    };
    let redb_sync = match kind.as_str() {
        "redb-none" => RedbSync::None,
        _ => RedbSync::Immediate,
    };
    let (kind, sqlite_sync, sled_flush) = match kind.as_str() {
        "sqlite" => (StoreKind::Sqlite, SqliteSync::Full, SledFlush::EveryWrite),
        "sled" => (StoreKind::Sled, SqliteSync::Full, SledFlush::EveryWrite),
        "sqlite-normal" => (StoreKind::Sqlite, SqliteSync::Normal, SledFlush::EveryWrite),
        "sled-background" => (StoreKind::Sled, SqliteSync::Full, SledFlush::Background),
        "redb" | "redb-none" => (StoreKind::Redb, SqliteSync::Full, SledFlush::EveryWrite),
        _ => return usage(),
    };
    let (Ok(number), Ok(seed)) = (number.parse::<u64>(), seed.parse::<u64>()) else {
        return usage();
    };
    let config = StoreConfig {
        kind,
        path: Some(PathBuf::from(path)),
        sqlite_sync,
        sled_flush,
        redb_sync,
        group: cmdb_store_group::GroupOptions::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    let outcome = runtime.block_on(async {
        let opened = open_store(&config).map_err(|e| format!("err open {e}"))?;
        let engine = Engine::builder(opened.store.clone()).build();
        let result = match mode.as_str() {
            "crash" => crash(&engine, number, seed.max(1)).await,
            "collide" => collide(&engine, number, seed).await,
            _ => Err(format!("err usage unknown mode {mode}")),
        };
        let closed = engine.store().close().await;
        result?;
        closed.map_err(|e| format!("err close {e}"))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            // The reader may be gone (killed test); nothing more to tell then.
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::from(1)
        }
    }
}

fn emit(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("err stdout {e}"))
}

/// Loads the fixture (a no-op after the first run) and creates sets until killed, with
/// `writers` concurrent callers taking the next name in turn.
async fn crash(engine: &Engine, first: u64, writers: u64) -> Result<(), String> {
    engine
        .load_fixture(fixture(), "admin")
        .await
        .map_err(|f| format!("err {} {}", f.code().number(), f.message()))?;
    let next = AtomicU64::new(first);
    let writer = || async {
        let ctx = context();
        loop {
            let name = format!("crash-{}", next.fetch_add(1, Ordering::Relaxed));
            let data = json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});
            let data = data.as_object().expect("an object literal");
            match engine.create_set(&ctx, BizId(1), data).await {
                Ok(doc) => emit(&format!("ack {} {name}", doc["bk_set_id"]))?,
                Err(f) => {
                    return Err::<(), _>(format!("err {} {}", f.code().number(), f.message()));
                }
            }
        }
    };
    futures::future::try_join_all((0..writers).map(|_| writer())).await?;
    Ok(())
}

/// `0..count`, shuffled by `seed` (Fisher-Yates on SplitMix64); in order for seed 0.
fn order(count: u64, seed: u64) -> Vec<u64> {
    let mut items: Vec<u64> = (0..count).collect();
    if seed == 0 {
        return items;
    }
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
    items
}

/// Waits for the go line, then races for the names `c-0` … `c-<count-1>` under biz 1.
async fn collide(engine: &Engine, count: u64, seed: u64) -> Result<(), String> {
    emit("ready")?;
    let mut go = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut go)
        .map_err(|e| format!("err stdin {e}"))?;
    let ctx = context();
    for n in order(count, seed) {
        let name = format!("c-{n}");
        let data = json!({"bk_parent_id": 1, "bk_set_name": name});
        let data = data.as_object().expect("an object literal");
        match engine.create_set(&ctx, BizId(1), data).await {
            Ok(doc) => emit(&format!("ok {name} {}", doc["bk_set_id"]))?,
            Err(f)
                if f.code().number() == 1_101_108 && f.message() == "the same set name exist" =>
            {
                emit(&format!("dup {name}"))?;
            }
            Err(f) => return Err(format!("err {} {}", f.code().number(), f.message())),
        }
    }
    Ok(())
}
