//! Spec section 11: one clock reading per create. A clock that moves on every read proves that
//! the set's four timestamps, its modules' and its audit records' all come from one reading.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use cmdb_app::Engine;
use cmdb_core::plan::RequestContext;
use cmdb_core::ports::Clock;
use cmdb_core::{BizId, SetId};
use cmdb_store_memory::MemoryStore;
use serde_json::json;

/// Moves one second forward on every reading, and counts the readings.
#[derive(Debug, Default)]
struct TickingClock {
    reads: AtomicI64,
}

impl Clock for TickingClock {
    fn now(&self) -> DateTime<Utc> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        Utc.timestamp_opt(1_800_000_000 + n, 0)
            .single()
            .expect("a valid instant")
    }
}

const STAMPS: [&str; 4] = ["create_time", "last_time", "bk_created_at", "bk_updated_at"];

#[tokio::test]
async fn every_timestamp_of_a_create_is_one_clock_reading() {
    let clock = Arc::new(TickingClock::default());
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .clock(clock.clone())
        .build();
    engine
        .load_fixture(
            json!({
                "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
                "service_templates": [
                    {"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2},
                    {"id": 8, "bk_biz_id": 1, "name": "php", "service_category_id": 3}
                ],
                "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 1,
                                   "service_template_ids": [7, 8]}]
            }),
            "admin",
        )
        .await
        .unwrap();
    let ctx = RequestContext {
        user: "u".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "r".into(),
    };
    let mut seen = Vec::new();
    for name in ["first", "second"] {
        let before = clock.reads.load(Ordering::SeqCst);
        let data = json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});
        let set = engine
            .create_set(&ctx, BizId(1), data.as_object().unwrap())
            .await
            .unwrap();
        assert_eq!(
            clock.reads.load(Ordering::SeqCst) - before,
            1,
            "one reading per create"
        );
        let time = set["create_time"].clone();
        for key in STAMPS {
            assert_eq!(set[key], time, "set {key}");
        }
        let set_id = SetId(set["bk_set_id"].as_i64().unwrap());
        let modules = engine.list_modules("0", BizId(1), set_id).await.unwrap();
        assert_eq!(modules.len(), 2);
        for m in &modules {
            for key in STAMPS {
                assert_eq!(m[key], time, "module {key}");
            }
        }
        let audits: Vec<cmdb_core::records::Document> = engine
            .audit_records("0", BizId(1), None)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| {
                a["operation_detail"]["details"]["cur_data"]["bk_set_id"] == json!(set_id.0)
                    || a["resource_id"] == json!(set_id.0)
            })
            .collect();
        assert_eq!(audits.len(), 3, "one per set and per module");
        for a in &audits {
            assert_eq!(a["operation_time"], time, "audit operation_time");
            for key in STAMPS {
                assert_eq!(a["operation_detail"]["details"]["cur_data"][key], time);
            }
        }
        seen.push(time);
    }
    // The clock did move between the two creates: the check above could fail.
    assert_ne!(seen[0], seen[1]);
}
