//! Fuzz target: arbitrary bytes as an ESB `create_set` body and as a batch body, on a fresh
//! memory engine holding a catalog with every attribute type. Any panic, a masked internal
//! error (1199999), an undocumented code or a malformed envelope is a crash.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use cmdb_app::{Engine, Envelope};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The codes the create and batch use cases may answer with.
const DOCUMENTED: [i64; 20] = [
    0, 1_101_092, 1_101_108, 1_199_000, 1_199_006, 1_199_007, 1_199_009, 1_199_010, 1_199_011,
    1_199_014, 1_199_015, 1_199_016, 1_199_019, 1_199_024, 1_199_025, 1_199_027, 1_199_035,
    1_199_054, 1_199_092, 9_900_403,
];

const RID: &str = "0123456789abcdef0123456789abcdef";

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixture.json"))
        .expect("the hostile-input fixture is JSON")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn check(envelope: &Envelope, what: &str) {
    assert!(
        DOCUMENTED.contains(&envelope.code),
        "{what}: undocumented code {} ({})",
        envelope.code,
        envelope.message
    );
    assert_eq!(envelope.result, envelope.code == 0, "{what}: {envelope:?}");
    assert_eq!(envelope.request_id, RID, "{what}");
    let text = envelope.to_json();
    let parsed: Value = serde_json::from_str(&text).expect("the envelope is JSON");
    let rebuilt = format!(
        "{{\"result\":{},\"code\":{},\"message\":{},\"permission\":{},\"request_id\":{},\"data\":{}}}",
        parsed["result"],
        parsed["code"],
        parsed["message"],
        parsed["permission"],
        parsed["request_id"],
        parsed["data"]
    );
    assert_eq!(text, rebuilt, "{what}: keys out of order or extra keys");
}

/// The engine inputs run against: one per [`REBUILD_EVERY`] inputs, so the store stays small
/// (sets created by earlier inputs only make later names collide) and the fixture is not
/// reloaded for every input.
struct Shared {
    engine: Engine,
    runs: usize,
}

const REBUILD_EVERY: usize = 2_000;

fn fresh_engine() -> Engine {
    let engine = Engine::builder(Arc::new(cmdb_store_memory::MemoryStore::new())).build();
    runtime()
        .block_on(engine.load_fixture(fixture(), "admin"))
        .expect("the fuzz fixture loads");
    engine
}

fn engine() -> Engine {
    static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match shared.as_mut() {
        Some(s) if s.runs < REBUILD_EVERY => {
            s.runs += 1;
            s.engine.clone()
        }
        _ => {
            let engine = fresh_engine();
            *shared = Some(Shared {
                engine: engine.clone(),
                runs: 1,
            });
            engine
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let engine = engine();
    runtime().block_on(async {
        let single = engine.handle_create_set(body, Some(RID.to_owned())).await;
        check(&single, "create_set");
        if single.result {
            assert!(single.data.is_object(), "a success carries the set");
        } else {
            assert!(single.data.is_null(), "a failure carries no data");
        }
        let batch = engine.handle_batch_create(body, Some(RID.to_owned())).await;
        check(&batch, "batch");
        if let Value::Array(elements) = &batch.data {
            for e in elements {
                let code = e["code"].as_i64().expect("element code");
                assert!(DOCUMENTED.contains(&code), "batch element code {code}");
            }
        }
    });
});
