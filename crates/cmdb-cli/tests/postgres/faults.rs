//! The server crashing under an engine: `pg_ctl stop -m immediate` mid-load, then a start.
//! Nothing acknowledged is lost, the creates in flight fail cleanly (1199999, the lost
//! connection in the engine's log), and the engine reconnects by itself. A server down when
//! `cmdb serve` starts: it serves anyway, `/healthz` is 503 until the database answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PrivateCluster, Server, cmdb, example, need_server, query};

fn request(name: &str) -> Value {
    let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
    let mut body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"]["bk_set_name"] = json!(name);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_crash_mid_load_loses_nothing_acknowledged_and_the_engine_reconnects() {
    need_server!();
    let cluster = PrivateCluster::start();
    let fixture = example("fixture.json");
    let out = cmdb(&cluster.url, &["load", fixture.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let server = Server::start(&cluster.url).await;
    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let failed_count = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
    let mut clients = Vec::new();
    for client in 0..8 {
        let (http, base, tx) = (http.clone(), server.base.clone(), tx.clone());
        let (stop, acked, failed) = (
            Arc::clone(&stop),
            Arc::clone(&acked_count),
            Arc::clone(&failed_count),
        );
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("crash-{client}-{n}");
                n += 1;
                // The native route: its failures log their hidden cause.
                let answer: Value = http
                    .post(format!("{base}/api/v3/set/1"))
                    .header("X-Bkcmdb-User", "xxx")
                    .header("X-Bkcmdb-Supplier-Account", "123456789")
                    .json(&request(&name)["data"])
                    .send()
                    .await
                    .expect("the engine answers while the database is down")
                    .json()
                    .await
                    .expect("an envelope");
                if answer["code"] == 0 {
                    acked.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    // Pace the retries while the server is down (not an outcome decider).
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = tx.send((name, answer));
            }
        }));
    }
    drop(tx);
    // Each wait has a deadline: a reconnect that never happens fails the test, not hangs it.
    let wait_for = |counter: Arc<AtomicUsize>, at_least: usize| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while counter.load(Ordering::SeqCst) < at_least {
            assert!(
                std::time::Instant::now() < deadline,
                "waited 60 s for {at_least} (reached {})",
                counter.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    wait_for(Arc::clone(&acked_count), 100).await;
    cluster.stop_immediate();
    wait_for(Arc::clone(&failed_count), 1).await;
    let acked_before_restart = acked_count.load(Ordering::SeqCst);
    cluster.pg_ctl_start();
    // The engine reconnects by itself: creates succeed again.
    wait_for(Arc::clone(&acked_count), acked_before_restart + 100).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client");
    }
    let mut answers = Vec::new();
    while let Some(a) = rx.recv().await {
        answers.push(a);
    }
    let stored: BTreeMap<String, i64> = query(
        &cluster.url,
        "SELECT name, bk_set_id FROM sets WHERE name LIKE 'crash-%'",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut failures = 0;
    for (name, answer) in &answers {
        match answer["code"].as_i64() {
            Some(0) => assert_eq!(
                stored.get(name),
                answer["data"]["bk_set_id"].as_i64().as_ref(),
                "acknowledged {name} is lost"
            ),
            Some(1199999) => {
                assert_eq!(
                    answer["message"], "internal error: the connection to the database was lost",
                    "{answer}"
                );
                failures += 1;
            }
            _ => panic!("unexpected answer for {name}: {answer}"),
        }
    }
    assert!(failures > 0, "no create failed while the server was down");
    // The envelope names the lost connection only; the engine's log has the driver's error.
    let log = server.log.lock().expect("the log").join("\n");
    assert!(
        log.contains("lost the connection to the PostgreSQL server"),
        "the engine's log does not name the lost connection:\n{log}"
    );
    // No partial create.
    let partial: i64 = query(
        &cluster.url,
        "SELECT count(*) FROM sets s WHERE s.name LIKE 'crash-%' AND \
         (SELECT count(*) FROM modules m WHERE m.bk_set_id = s.bk_set_id) <> 1",
    )
    .await[0]
        .get(0);
    assert_eq!(partial, 0);
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_start_is_waited_for_and_healthz_says_so() {
    need_server!();
    let cluster = PrivateCluster::start();
    cluster.stop_immediate();
    // `cmdb serve` comes up without its database.
    let server = Server::start(&cluster.url).await;
    let http = reqwest::Client::new();
    let health = |http: reqwest::Client, base: String| async move {
        let response = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("an envelope");
        (status, body)
    };
    let (status, body) = health(http.clone(), server.base.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 1199999);
    assert_eq!(body["result"], false);
    cluster.pg_ctl_start();
    // It connects and migrates by itself; poll (bounded) until healthy.
    let mut healthy = None;
    for _ in 0..600 {
        let (status, body) = health(http.clone(), server.base.clone()).await;
        if status == 200 {
            healthy = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let healthy = healthy.expect("healthy within 30 s of the server starting");
    assert_eq!(
        healthy["data"],
        json!({"status": "ok", "store": "postgres"})
    );
    let fixture = example("fixture.json");
    let out = cmdb(&cluster.url, &["load", fixture.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let answer: Value = http
        .post(format!("{}/api/c/compapi/v2/cc/create_set/", server.base))
        .json(&request("after-the-wait"))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["bk_set_id"], 4780);
    let log = server.log.lock().expect("the log").join("\n");
    assert!(log.contains("has not answered yet"), "{log}");
    server.kill().await;
}
