//! Many clients at once: colliding names have exactly one winner each.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::{BACKENDS, TENANT, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_names_have_one_winner_each() {
    for backend in BACKENDS {
        let server = start(backend).await;
        let mut tasks = Vec::new();
        for i in 0..64 {
            let name = format!("name-{}", i % 8);
            let request = server
                .client
                .post(server.url("/api/v3/set/1"))
                .header("X-Bkcmdb-User", "alice")
                .header("X-Bkcmdb-Supplier-Account", TENANT)
                .json(&json!({"bk_parent_id": 1, "bk_set_name": name}));
            tasks.push(tokio::spawn(async move {
                let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
                (name, reply)
            }));
        }
        let mut winners: BTreeMap<String, usize> = BTreeMap::new();
        let mut losers = 0;
        let mut ids = Vec::new();
        for task in tasks {
            let (name, reply) = task.await.unwrap();
            match reply["code"].as_i64() {
                Some(0) => {
                    *winners.entry(name).or_default() += 1;
                    ids.push(reply["data"]["bk_set_id"].as_i64().unwrap());
                }
                Some(1101108) => {
                    assert_eq!(reply["message"], json!("the same set name exist"));
                    assert_eq!(reply["data"], json!(null));
                    losers += 1;
                }
                other => panic!("{backend:?}: unexpected {other:?}: {reply}"),
            }
        }
        assert_eq!(winners.len(), 8, "{backend:?}");
        assert!(winners.values().all(|n| *n == 1), "{backend:?} {winners:?}");
        assert_eq!(losers, 56);
        ids.sort_unstable();
        assert_eq!(ids, (4780..4788).collect::<Vec<_>>(), "gapless ids");
        let sets = server
            .get("/api/v3/set/1", &[("X-Bkcmdb-Supplier-Account", TENANT)])
            .await;
        assert_eq!(sets.json["data"]["count"], json!(9));
        let (stopped, _dir) = server.stop().await;
        stopped.unwrap();
    }
}
