//! The failover tests' load: clients creating sets with fresh names through several
//! `cmdb serve` engines, every answer recorded with when it was sent and answered, and the
//! checks of what the database holds afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::{example, query};

/// The message of a create that failed because the database went away.
pub(crate) const LOST: &str = "internal error: the connection to the database was lost";

/// One create and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub name: String,
    pub sent: Instant,
    pub answered: Instant,
    pub body: Value,
}

impl Answer {
    pub(crate) fn code(&self) -> i64 {
        self.body["code"].as_i64().expect("an envelope code")
    }

    pub(crate) fn id(&self) -> i64 {
        self.body["data"]["bk_set_id"].as_i64().expect("a set id")
    }
}

/// Clients creating sets until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<Vec<Answer>>>,
}

/// The seed request's set data under another name (the native route's body).
fn data(name: &str) -> Value {
    let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
    let mut body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"]["bk_set_name"] = json!(name);
    body["data"].take()
}

impl Load {
    /// `clients` clients, client `i` on engine `i % bases.len()`, names `{prefix}-{i}-{n}`
    /// (every attempt a fresh name: a create is never retried under its name).
    pub(crate) fn start(bases: &[String], clients: usize, prefix: &str) -> Load {
        let http = reqwest::Client::new();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for client in 0..clients {
            let (http, base) = (http.clone(), bases[client % bases.len()].clone());
            let (stop, acked, prefix) = (Arc::clone(&stop), Arc::clone(&acked), prefix.to_owned());
            handles.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("{prefix}-{client}-{n}");
                    n += 1;
                    let sent = Instant::now();
                    let body: Value = http
                        .post(format!("{base}/api/v3/set/1"))
                        .header("X-Bkcmdb-User", "xxx")
                        .header("X-Bkcmdb-Supplier-Account", "123456789")
                        .json(&data(&name))
                        .send()
                        .await
                        .expect("the engine answers while the database fails over")
                        .json()
                        .await
                        .expect("an envelope");
                    let answered = Instant::now();
                    let ok = body["code"] == 0;
                    if ok {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    answers.push(Answer {
                        name,
                        sent,
                        answered,
                        body,
                    });
                    if !ok {
                        // Pace a client whose create failed (not an outcome decider).
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                answers
            }));
        }
        Load {
            stop,
            acked,
            clients: handles,
        }
    }

    /// How many creates were acknowledged so far.
    pub(crate) fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until `more` creates beyond those acknowledged now are (at most 120 s).
    pub(crate) async fn wait_for_more(&self, more: usize) {
        let target = self.acked() + more;
        poll(
            Duration::from_secs(120),
            &format!("{target} acknowledged creates"),
            || {
                let reached = self.acked() >= target;
                async move { reached }
            },
        )
        .await;
    }

    /// Stops the clients and returns every answer.
    pub(crate) async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for c in self.clients {
            all.extend(c.await.expect("a client"));
        }
        all
    }
}

/// Polls `ready` every 10 ms until it holds; fails the test after `deadline`.
pub(crate) async fn poll<F, Fut>(deadline: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !ready().await {
        assert!(Instant::now() < until, "waited {deadline:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the checks found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Acknowledged creates (code 0).
    pub acked: usize,
    /// Acknowledged creates not stored (lost).
    pub lost: Vec<(String, i64)>,
    /// Lost acknowledged ids now held by another set (handed out twice).
    pub reused: usize,
    /// Creates that failed with 1199999 (the lost connection).
    pub failed: usize,
    /// Of those, how many were stored anyway (the commit happened, its answer was lost).
    pub failed_but_stored: usize,
}

/// Checks every answer against the current primary at `url`: each acknowledged create is
/// stored with its id, its one module and its audit records (unless `allow_loss`, which
/// counts the lost ones); no id was acknowledged twice; every failure is 1199999 naming the
/// lost connection (never 1101108: every name was fresh); names are unique per parent, and
/// the id counters are past every stored id.
pub(crate) async fn check(
    url: &str,
    prefix: &str,
    answers: &[Answer],
    allow_loss: bool,
) -> Outcome {
    let stored: BTreeMap<String, i64> = query(
        url,
        &format!("SELECT name, bk_set_id FROM sets WHERE name LIKE '{prefix}-%'"),
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let by_id: BTreeMap<i64, String> = stored.iter().map(|(n, i)| (*i, n.clone())).collect();
    let modules: BTreeMap<i64, i64> = query(
        url,
        "SELECT bk_set_id, count(*) FROM modules GROUP BY bk_set_id",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let audited: BTreeSet<(String, i64)> = query(
        url,
        "SELECT resource_type, (doc::json->>'resource_id')::bigint FROM audit",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut outcome = Outcome::default();
    let mut acked_ids: BTreeMap<i64, &str> = BTreeMap::new();
    for a in answers {
        match a.code() {
            0 => {
                outcome.acked += 1;
                let id = a.id();
                if let Some(other) = acked_ids.insert(id, &a.name) {
                    assert!(
                        allow_loss,
                        "set id {id} acknowledged twice: {other} and {}",
                        a.name
                    );
                    // Counted when the lost one is found below.
                }
                match stored.get(&a.name) {
                    Some(&at) => {
                        assert_eq!(at, id, "{} acknowledged as {id}, stored as {at}", a.name);
                        assert_eq!(modules.get(&id), Some(&1), "the module of set {id}");
                        assert!(
                            audited.contains(&("set".to_owned(), id)),
                            "the audit record of set {id}"
                        );
                    }
                    None => {
                        assert!(allow_loss, "acknowledged {} (set {id}) is lost", a.name);
                        if by_id.get(&id).is_some_and(|n| *n != a.name) {
                            outcome.reused += 1;
                        }
                        outcome.lost.push((a.name.clone(), id));
                    }
                }
            }
            1_199_999 => {
                assert_eq!(a.body["message"], LOST, "{}", a.body);
                outcome.failed += 1;
                if stored.contains_key(&a.name) {
                    outcome.failed_but_stored += 1;
                }
            }
            _ => panic!("unexpected answer for {}: {}", a.name, a.body),
        }
    }
    // Nothing is stored that nobody asked for.
    let asked: BTreeSet<&str> = answers.iter().map(|a| a.name.as_str()).collect();
    for name in stored.keys() {
        assert!(
            asked.contains(name.as_str()),
            "{name} is stored but was never sent"
        );
    }
    let duplicates: i64 = query(
        url,
        "SELECT count(*) FROM (SELECT 1 FROM sets GROUP BY bk_biz_id, bk_parent_id, name \
         HAVING count(*) > 1) d",
    )
    .await[0]
        .get(0);
    assert_eq!(duplicates, 0, "a name twice under one parent");
    let behind: Vec<String> = query(
        url,
        "SELECT s.kind FROM sequences s WHERE s.last < coalesce(CASE s.kind \
         WHEN 'set' THEN (SELECT max(bk_set_id) FROM sets) \
         WHEN 'module' THEN (SELECT max(bk_module_id) FROM modules) \
         WHEN 'audit' THEN (SELECT max(id) FROM audit) END, 0)",
    )
    .await
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert!(
        behind.is_empty(),
        "id counters behind their ids: {behind:?}"
    );
    outcome
}

/// The first acknowledged create sent after `at`: when it was answered.
pub(crate) fn first_success_after(answers: &[Answer], at: Instant) -> Instant {
    answers
        .iter()
        .filter(|a| a.sent >= at && a.code() == 0)
        .map(|a| a.answered)
        .min()
        .expect("a create succeeded after the kill")
}

/// The `p`-th percentile (0–100, nearest rank) of `values`, sorted here.
pub(crate) fn percentile(values: &mut [Duration], p: usize) -> Duration {
    values.sort();
    let rank = (p * values.len()).div_ceil(100).max(1);
    values[rank - 1]
}
