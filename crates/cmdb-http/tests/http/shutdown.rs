//! Graceful shutdown: requests in flight finish, detached engine calls are waited for, and the
//! store is closed with their writes in it.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use cmdb_app::open::open_store;
use cmdb_core::BizId;
use cmdb_core::ports::{Action, Authorizer};
use serde_json::json;

use crate::support::{Backend, TENANT, seed_request, start_with, store_config};

/// Holds the first permission check until released, after telling the test it was reached.
#[derive(Debug)]
struct Gate {
    entered: Mutex<Option<Sender<()>>>,
    release: Mutex<Receiver<()>>,
}

impl Authorizer for Gate {
    fn allows(&self, _user: &str, _action: Action, _biz: BizId) -> bool {
        let first = self.entered.lock().unwrap().take();
        if let Some(entered) = first {
            entered.send(()).unwrap();
            let _ = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20));
        }
        true
    }
}

/// A gate, the receiver told when it is reached, and the sender that opens it.
fn gate() -> (Gate, Receiver<()>, Sender<()>) {
    let (entered_tx, entered_rx) = channel();
    let (release_tx, release_rx) = channel();
    let gate = Gate {
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(release_rx),
    };
    (gate, entered_rx, release_tx)
}

async fn reached(entered: Receiver<()>) {
    tokio::task::spawn_blocking(move || entered.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("the request reached the engine");
}

/// The stored sets of biz 1, read from the SQLite file after the server closed it.
async fn stored_sets(dir: &tempfile::TempDir) -> Vec<String> {
    let store = open_store(&store_config(Backend::Sqlite, Some(dir)))
        .unwrap()
        .store;
    let sets = store.sets(BizId(1), None).await.unwrap();
    store.close().await.unwrap();
    sets.iter()
        .map(|s| s["bk_set_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_finishes() {
    let (gate, entered, release) = gate();
    let mut server = start_with(Backend::Sqlite, |b| b.authorizer(std::sync::Arc::new(gate))).await;
    let request = server
        .client
        .post(server.url("/api/c/compapi/v2/cc/create_set/"))
        .json(&seed_request());
    let in_flight = tokio::spawn(async move {
        let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        reply
    });
    reached(entered).await;
    server.signal_stop();
    // The shutdown has begun (no new connections), while the request is held in the engine:
    // serve cannot have returned. Its reply and its stored write below prove it waited.
    server.listener_closed().await;
    assert!(!server.finished(), "serve waits for the request in flight");
    release.send(()).unwrap();
    let reply = in_flight.await.unwrap();
    assert_eq!(
        (&reply["code"], &reply["data"]["bk_set_id"]),
        (&json!(0), &json!(4780))
    );
    let base = server.base.clone();
    let (stopped, dir) = server.stop().await;
    stopped.unwrap();
    // No longer listening.
    let after = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(after.is_err());
    assert_eq!(stored_sets(&dir.unwrap()).await, ["空闲机池", "test-set"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_call_of_a_departed_client_is_waited_for() {
    let (gate, entered, release) = gate();
    let mut server = start_with(Backend::Sqlite, |b| b.authorizer(std::sync::Arc::new(gate))).await;
    let request = server
        .client
        .post(server.url("/api/v3/set/1"))
        .header("X-Bkcmdb-User", "alice")
        .header("X-Bkcmdb-Supplier-Account", TENANT)
        .json(&json!({"bk_parent_id": 1, "bk_set_name": "orphan"}));
    let gone = tokio::spawn(request.send());
    reached(entered).await;
    // The client goes away: its connection is dropped while the engine call waits.
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    server.signal_stop();
    server.listener_closed().await;
    assert!(!server.finished(), "serve waits for the engine call");
    release.send(()).unwrap();
    let (stopped, dir) = server.stop().await;
    stopped.unwrap();
    assert_eq!(stored_sets(&dir.unwrap()).await, ["空闲机池", "orphan"]);
}

#[tokio::test(flavor = "current_thread")]
async fn serves_on_a_current_thread_runtime() {
    let server = crate::support::start(Backend::Sqlite).await;
    let reply = server
        .post("/api/c/compapi/v2/cc/create_set/", &seed_request(), &[])
        .await;
    assert_eq!(
        (&reply.json["code"], &reply.json["data"]["bk_set_id"]),
        (&json!(0), &json!(4780))
    );
    let (stopped, dir) = server.stop().await;
    stopped.unwrap();
    assert_eq!(stored_sets(&dir.unwrap()).await, ["空闲机池", "test-set"]);
}
