//! The fuzz target's checks, shared by `tests/fuzz` (libFuzzer) and the workspace tests (which
//! replay the committed seed corpus on every run, so the checks compile and run in CI).
//!
//! Each input runs on fresh engines (a memory store, the hostile-input fixture, a fixed
//! clock), so a failure reproduces from its input alone. [`check_input`] panics on:
//! - an envelope that is not exactly `result, code, message, permission, request_id, data`,
//!   a code outside the documented set (a masked 1199999 included), `result` not `code == 0`,
//!   a request id that is not the caller's;
//! - a refused create, or a refused atomic batch, that changed the store (compared with a
//!   snapshot of the fresh store: every set, module and audit record, and the sequences);
//! - a failure with data (an atomic batch's included), a success without its set, a batch
//!   element with an undocumented code.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use cmdb_app::{Engine, Envelope};
use cmdb_core::ids::SequenceKind;
use cmdb_core::ports::{Clock, SetStore};
use cmdb_core::records::Document;
use cmdb_core::{BizId, SetId};
use serde_json::Value;

/// The codes the create and batch use cases may answer with.
pub const DOCUMENTED: [i64; 20] = [
    0, 1_101_092, 1_101_108, 1_199_000, 1_199_006, 1_199_007, 1_199_009, 1_199_010, 1_199_011,
    1_199_014, 1_199_015, 1_199_016, 1_199_019, 1_199_024, 1_199_025, 1_199_027, 1_199_035,
    1_199_054, 1_199_092, 9_900_403,
];

/// The request id every input is sent with.
pub const RID: &str = "0123456789abcdef0123456789abcdef";

/// The bizzes of the fixture, whose contents a snapshot holds.
const BIZZES: [i64; 3] = [1, 2, 3];

/// The hostile-input fixture (`tests/fuzz/fixture.json`): a custom mainline level, an archived
/// biz, a biz without idle set, and a custom attribute of every type.
pub fn fixture() -> Value {
    serde_json::from_str(include_str!("fuzz/fixture.json"))
        .expect("the hostile-input fixture is JSON")
}

/// Always the same instant, so fresh stores are identical.
#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0)
            .single()
            .expect("a valid instant")
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// A fresh engine over a fresh store from `store` with the fixture loaded.
async fn fresh_engine(store: &dyn Fn() -> Arc<dyn SetStore>) -> Engine {
    let engine = Engine::builder(store()).clock(Arc::new(FixedClock)).build();
    engine
        .load_fixture(fixture(), "admin")
        .await
        .expect("the fuzz fixture loads");
    engine
}

/// Everything the engine's store shows of the fixture's bizzes.
#[derive(Debug, PartialEq)]
struct Snapshot {
    sets: Vec<Document>,
    modules: Vec<Vec<Document>>,
    audits: Vec<Document>,
    sequences: Vec<i64>,
}

async fn snapshot(engine: &Engine) -> Snapshot {
    let store = engine.store();
    let mut sets = Vec::new();
    let mut modules = Vec::new();
    let mut audits = Vec::new();
    for biz in BIZZES {
        let these = store.sets(BizId(biz), None).await.expect("sets read");
        for set in &these {
            let id = set["bk_set_id"].as_i64().expect("a set id");
            modules.push(store.modules(SetId(id)).await.expect("modules read"));
        }
        sets.extend(these);
        audits.extend(
            store
                .audit_records(BizId(biz), None)
                .await
                .expect("audit read"),
        );
    }
    let mut sequences = Vec::new();
    for kind in SequenceKind::ALL {
        sequences.push(store.sequence_last(kind).await.expect("sequence read"));
    }
    Snapshot {
        sets,
        modules,
        audits,
        sequences,
    }
}

/// The envelope's shape, code and request id.
fn check_envelope(envelope: &Envelope, what: &str) {
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

/// Whether the body asks for an atomic batch (`data.atomic` is `true`).
fn asks_atomic(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v["data"]["atomic"] == Value::Bool(true))
}

/// Runs `body` as an ESB `create_set` body and as a batch body, each on a fresh engine over a
/// memory store, and checks every invariant of the module doc; panics on the first violation.
pub fn check_input(body: &[u8]) {
    check_input_on(body, &|| Arc::new(cmdb_store_memory::MemoryStore::new()));
}

/// [`check_input`] on fresh stores made by `store` (so that a test can show the checks catch a
/// store that misbehaves).
pub fn check_input_on(body: &[u8], store: &dyn Fn() -> Arc<dyn SetStore>) {
    runtime().block_on(async {
        let engine = fresh_engine(store).await;
        let before = snapshot(&engine).await;
        let single = engine.handle_create_set(body, Some(RID.to_owned())).await;
        check_envelope(&single, "create_set");
        if single.result {
            assert!(single.data.is_object(), "a success carries the set");
        } else {
            assert!(single.data.is_null(), "a failure carries no data");
            assert_eq!(
                snapshot(&engine).await,
                before,
                "a refused create wrote something"
            );
        }

        let engine = fresh_engine(store).await;
        let batch = engine.handle_batch_create(body, Some(RID.to_owned())).await;
        check_envelope(&batch, "batch");
        match &batch.data {
            Value::Array(elements) => {
                for e in elements {
                    let code = e["code"].as_i64().expect("element code");
                    assert!(DOCUMENTED.contains(&code), "batch element code {code}");
                    assert_eq!(e["data"].is_null(), code != 0, "element data iff success");
                }
            }
            Value::Null => assert!(!batch.result, "a success carries its elements"),
            other => panic!("batch data is neither elements nor null: {other}"),
        }
        if !batch.result && asks_atomic(body) {
            assert!(
                batch.data.is_null(),
                "a refused atomic batch carries no data"
            );
            assert_eq!(
                snapshot(&engine).await,
                before,
                "a refused atomic batch wrote"
            );
        }
    });
}
