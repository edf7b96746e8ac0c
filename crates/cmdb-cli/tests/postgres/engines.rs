//! Several `cmdb serve` processes on one database: colliding creates across engines, and an
//! engine killed with SIGKILL mid-load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::{Server, TestDb, cmdb, example, need_server, query};

/// The seed request under another name.
fn request(name: &str) -> Value {
    let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
    let mut body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"]["bk_set_name"] = json!(name);
    body
}

async fn create(client: &reqwest::Client, base: &str, name: &str) -> Result<Value, reqwest::Error> {
    client
        .post(format!("{base}/api/c/compapi/v2/cc/create_set/"))
        .json(&request(name))
        .send()
        .await?
        .json()
        .await
}

/// Loads the seed fixture.
fn load_fixture(url: &str) {
    let fixture = example("fixture.json");
    let out = cmdb(url, &["load", fixture.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Per resource type, how many audit records and how many distinct resources they name.
async fn audit_counts(url: &str) -> BTreeMap<String, (i64, i64)> {
    query(
        url,
        "SELECT resource_type, count(*), count(DISTINCT (doc::json->>'resource_id')) \
         FROM audit GROUP BY resource_type",
    )
    .await
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_engines_64_clients_one_winner_per_name() {
    need_server!();
    let db = TestDb::create().await;
    load_fixture(&db.url);
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(Server::start(&db.url).await);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    // 16 names, each created by 4 clients, one on each engine, all released at once.
    let barrier = Arc::new(Barrier::new(64));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let name = format!("collide-{}", i % 16);
        let base = bases[i / 16].clone();
        let (barrier, http) = (Arc::clone(&barrier), http.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let answer = create(&http, &base, &name).await.expect("an envelope");
            (name, answer)
        }));
    }
    let mut winners: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut losers: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (name, answer) = task.await.expect("the client task");
        match answer["code"].as_i64() {
            Some(0) => winners
                .entry(name)
                .or_default()
                .push(answer["data"]["bk_set_id"].as_i64().expect("an id")),
            Some(1101108) => *losers.entry(name).or_default() += 1,
            _ => panic!("unexpected answer for {name}: {answer}"),
        }
    }
    assert_eq!(winners.len(), 16, "{winners:?}");
    assert!(winners.values().all(|ids| ids.len() == 1), "{winners:?}");
    assert_eq!(losers.len(), 16, "every name had losers: {losers:?}");
    assert!(losers.values().all(|n| *n == 3), "{losers:?}");
    // Ids: unique, gapless, following the fixture's generator (4779) and its idle set.
    let ids: BTreeSet<i64> = winners.values().flatten().copied().collect();
    let stored: Vec<i64> = query(
        &db.url,
        "SELECT bk_set_id FROM sets WHERE name LIKE 'collide-%' ORDER BY bk_set_id",
    )
    .await
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(stored, ids.iter().copied().collect::<Vec<_>>());
    assert_eq!(stored, (4780..4796).collect::<Vec<_>>());
    // One module per set (the template's), one audit record per set and per module.
    let modules: i64 = query(
        &db.url,
        "SELECT count(*) FROM modules m JOIN sets s USING (bk_set_id) \
         WHERE s.name LIKE 'collide-%'",
    )
    .await[0]
        .get(0);
    assert_eq!(modules, 16);
    let audit = audit_counts(&db.url).await;
    assert_eq!(audit.get("set"), Some(&(16, 16)), "{audit:?}");
    assert_eq!(audit.get("module"), Some(&(16, 16)), "{audit:?}");
    for server in servers {
        server.kill().await;
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_killed_mid_load_loses_no_acknowledged_create() {
    need_server!();
    let db = TestDb::create().await;
    load_fixture(&db.url);
    let victim = Server::start(&db.url).await;
    let survivor = Server::start(&db.url).await;
    let http = reqwest::Client::new();
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(String, i64)>();
    let mut tasks = Vec::new();
    // 16 clients on the victim create distinct names until it dies.
    for client in 0..16 {
        let (http, base, acked) = (http.clone(), victim.base.clone(), acked_tx.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let name = format!("kill-{client}-{n}");
                match create(&http, &base, &name).await {
                    Ok(answer) if answer["code"] == 0 => {
                        let id = answer["data"]["bk_set_id"].as_i64().expect("an id");
                        let _ = acked.send((name, id));
                    }
                    Ok(answer) => panic!("unexpected answer for {name}: {answer}"),
                    Err(_) => return,
                }
            }
        }));
    }
    drop(acked_tx);
    // Kill once 200 creates were acknowledged: mid-load, with requests in flight.
    let mut acked = Vec::new();
    while acked.len() < 200 {
        acked.push(acked_rx.recv().await.expect("creates are acknowledged"));
    }
    victim.kill().await;
    for task in tasks {
        task.await.expect("the client task");
    }
    while let Some(more) = acked_rx.recv().await {
        acked.push(more);
    }
    // Every acknowledged create is stored, whole, with the id it was answered with.
    let stored: BTreeMap<String, i64> = query(
        &db.url,
        "SELECT name, bk_set_id FROM sets WHERE name LIKE 'kill-%'",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    for (name, id) in &acked {
        assert_eq!(
            stored.get(name),
            Some(id),
            "acknowledged {name} ({id}) is lost"
        );
    }
    // No partial create: every stored set has its module and both audit records.
    let partial: i64 = query(
        &db.url,
        "SELECT count(*) FROM sets s WHERE s.name LIKE 'kill-%' AND ( \
           (SELECT count(*) FROM modules m WHERE m.bk_set_id = s.bk_set_id) <> 1 \
           OR (SELECT count(*) FROM audit a WHERE a.resource_type = 'set' \
               AND (a.doc::json->>'resource_id')::bigint = s.bk_set_id) <> 1)",
    )
    .await[0]
        .get(0);
    assert_eq!(partial, 0);
    // The other engine goes on, with the next ids.
    let answer = create(&http, &survivor.base, "after-the-kill")
        .await
        .expect("an envelope");
    assert_eq!(answer["code"], 0, "{answer}");
    let max: i64 = query(&db.url, "SELECT max(bk_set_id) FROM sets").await[0].get(0);
    assert_eq!(answer["data"]["bk_set_id"], max);
    survivor.kill().await;
    db.drop_db().await;
}

/// One `resource_watch` on `base` continuing after `cursor`: its events' set ids and the
/// cursor to continue from.
async fn watch_after(client: &reqwest::Client, base: &str, cursor: &Value) -> (Vec<i64>, Value) {
    let mut body = json!({"bk_app_code": "esb_test", "bk_username": "admin",
                          "bk_supplier_account": "123456789", "bk_resource": "set"});
    match cursor {
        Value::Null => body["bk_start_from"] = json!(0),
        c => body["bk_cursor"] = c.clone(),
    }
    let answer: Value = client
        .post(format!("{base}/api/c/compapi/v2/cc/resource_watch/"))
        .json(&body)
        .send()
        .await
        .expect("watch answered")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(answer["code"], 0, "{answer}");
    let events = answer["data"]["bk_events"]
        .as_array()
        .expect("events")
        .clone();
    let next = events.last().expect("an element")["bk_cursor"].clone();
    if answer["data"]["bk_watched"] != true {
        return (Vec::new(), next);
    }
    let ids = events
        .iter()
        .map(|e| e["bk_detail"]["bk_set_id"].as_i64().expect("a set id"))
        .collect();
    (ids, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_one_engine_sees_both_engines_creates_in_id_order() {
    need_server!();
    let db = TestDb::create().await;
    load_fixture(&db.url);
    let (a, b) = (Server::start(&db.url).await, Server::start(&db.url).await);
    let http = reqwest::Client::new();
    // Two clients, one per engine, 30 creates each, while a third long-polls engine a.
    let writers: Vec<_> = [a.base.clone(), b.base.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, base)| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..30 {
                    let answer = create(&http, &base, &format!("watched-{w}-{n}")).await;
                    let answer = answer.expect("an envelope");
                    assert_eq!(answer["code"], 0, "{answer}");
                    ids.push(answer["data"]["bk_set_id"].as_i64().expect("an id"));
                }
                ids
            })
        })
        .collect();
    let mut watched = Vec::new();
    let mut cursor = Value::Null;
    let mut answers = 0;
    while watched.len() < 60 {
        let (ids, next) = watch_after(&http, &a.base, &cursor).await;
        watched.extend(ids);
        cursor = next;
        answers += 1;
    }
    let mut created: Vec<i64> = Vec::new();
    for writer in writers {
        created.extend(writer.await.expect("the writer"));
    }
    created.sort_unstable();
    assert_eq!(
        watched, created,
        "both engines' sets, each once, in id order"
    );
    assert!(
        answers > 1,
        "the watcher followed the creates as they committed"
    );
    // The other engine answers the same log from the start (events are stored, not sent).
    let (from_b, _) = watch_after(&http, &b.base, &Value::Null).await;
    assert_eq!(from_b, created, "engine b's watch from the start");
    a.kill().await;
    b.kill().await;
    db.drop_db().await;
}

/// An engine of its own on `url`, whose backstop poll waits an hour: only the store's
/// `LISTEN` can wake its watchers in time.
async fn listening_engine(url: &str) -> cmdb_app::Engine {
    let config = cmdb_app::open::StoreConfig {
        path: Some(url.into()),
        ..cmdb_app::open::StoreConfig::new(cmdb_app::open::StoreKind::Postgres)
    };
    let opened = cmdb_app::open::open_store_async(&config)
        .await
        .expect("the store opens");
    cmdb_app::Engine::builder(opened.store)
        .watch_poll(std::time::Duration::from_secs(3600))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_on_another_engine_wakes_a_watcher_through_listen_notify() {
    use cmdb_app::watch::{WatchRequest, WatchStart};
    use cmdb_core::records::ResourceType;
    need_server!();
    let db = TestDb::create().await;
    load_fixture(&db.url);
    let (watching, writing) = (
        listening_engine(&db.url).await,
        listening_engine(&db.url).await,
    );
    let ctx = cmdb_core::plan::RequestContext {
        user: "admin".into(),
        supplier_account: "123456789".into(),
        app_code: "test".into(),
        request_id: "0".repeat(32),
    };
    let now = WatchRequest::new(ResourceType::Set, WatchStart::Now);
    let start = watching
        .watch(&ctx, &now, std::time::Duration::ZERO)
        .await
        .expect("a watch");
    let waiting = {
        let (engine, ctx) = (watching.clone(), ctx.clone());
        let after = WatchRequest::new(ResourceType::Set, WatchStart::After(start.next));
        tokio::spawn(async move {
            engine
                .watch(&ctx, &after, std::time::Duration::from_secs(600))
                .await
        })
    };
    let data = json!({"bk_parent_id": 1, "bk_set_name": "notified"});
    let created = writing
        .create_set(
            &ctx,
            cmdb_core::BizId(1),
            data.as_object().expect("an object"),
        )
        .await
        .expect("created");
    let batch = waiting.await.expect("the watcher").expect("a batch");
    assert!(
        batch.watched(),
        "woken by NOTIFY, not by the 600 s deadline"
    );
    assert_eq!(batch.events[0].detail, created);
    watching.close().await.expect("closes");
    writing.close().await.expect("closes");
    db.drop_db().await;
}
