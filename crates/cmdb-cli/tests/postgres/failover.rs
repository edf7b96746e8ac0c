//! The database failing over under four `cmdb serve` engines and 64 clients: SIGKILL of the
//! primary's postmaster mid-load, `pg_promote()` of its standby, and the load going on
//! through the same engines (their URL names both hosts). With synchronous replication no
//! acknowledged create is lost and no id is handed out twice; `/healthz` is 503 while no
//! primary is reachable and 200 after; each engine's log names the failover; a catalog change
//! made after it reaches every engine's facts cache. One failover in the default run, 20 with
//! `CMDB_SLOW_TESTS=1`, and (slow only) the price of asynchronous replication. A primary set
//! read-only is never written to.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::load::{Answer, LOST, Load, check, first_success_after, percentile, poll};
use crate::pair::{Pair, Replication};
use crate::support::{PrivateCluster, Server, cmdb, example, need_server, query};

const ENGINES: usize = 4;
const CLIENTS: usize = 64;

fn slow() -> bool {
    std::env::var_os("CMDB_SLOW_TESTS").is_some()
}

fn load_fixture(url: &str, fixture: &std::path::Path) {
    let out = cmdb(url, &["load", fixture.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `GET /healthz`: the HTTP status.
async fn health(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz answers")
        .status()
        .as_u16()
}

/// Polls every engine's `/healthz` until it answers `status` (at most 30 s).
async fn every_engine_reports(http: &reqwest::Client, servers: &[Server], status: u16) {
    for s in servers {
        poll(
            Duration::from_secs(30),
            &format!("/healthz {status} on {}", s.base),
            || async { health(http, &s.base).await == status },
        )
        .await;
    }
}

/// One failover: kill the primary, see every engine unhealthy, promote the standby, see every
/// engine healthy, and `more` creates acknowledged after. Returns when the primary was killed
/// and when the standby was promoted.
async fn fail_over(
    pair: &mut Pair,
    load: &Load,
    servers: &[Server],
    http: &reqwest::Client,
    more: usize,
) -> (Instant, Instant) {
    load.wait_for_more(more).await;
    let (old, new) = pair.addresses();
    let killed = pair.kill_primary();
    every_engine_reports(http, servers, 503).await;
    pair.promote().await;
    let promoted = Instant::now();
    every_engine_reports(http, servers, 200).await;
    load.wait_for_more(more).await;
    // Each engine's log names the failover (the writer's line), beside the 503s of /healthz
    // in its access log.
    for s in servers {
        let log = s.log.lock().expect("the log").join("\n");
        let line = format!("failover: the PostgreSQL primary is now {new} (was {old};");
        assert!(
            log.contains(&line),
            "{} does not log `{line}`:\n{log}",
            s.base
        );
        assert!(
            log.contains(r#"route="/healthz" status=503 code=1199999"#),
            "{} does not log its unhealthy /healthz:\n{log}",
            s.base
        );
    }
    (killed, promoted)
}

/// The ESB create with extra data fields.
async fn create(http: &reqwest::Client, base: &str, name: &str, extra: &Value) -> Value {
    let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
    let mut body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"]["bk_set_name"] = json!(name);
    for (k, v) in extra.as_object().expect("an object") {
        body["data"][k] = v.clone();
    }
    http.post(format!("{base}/api/c/compapi/v2/cc/create_set/"))
        .json(&body)
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("an envelope")
}

/// A catalog change made after the failover (a new attribute with a unique rule, loaded by a
/// `cmdb load` process on the multi-host URL) is what every engine creates by, though each
/// has the facts of the old catalog cached.
async fn a_catalog_change_reaches_every_engine(url: &str, servers: &[Server]) {
    let http = reqwest::Client::new();
    for s in servers {
        let refused = create(&http, &s.base, "before-owner", &json!({"owner": "x"})).await;
        assert_ne!(refused["code"], 0, "{refused}");
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("owner.json");
    let change = json!({
        "bk_supplier_account": "123456789",
        "set_attributes": [{"bk_property_id": "owner", "bk_property_name": "Owner",
                            "bk_property_type": "singlechar", "bk_biz_id": 0}],
        "set_unique_rules": [["owner"]]
    });
    std::fs::write(&path, change.to_string()).expect("write the fixture");
    load_fixture(url, &path);
    for (i, s) in servers.iter().enumerate() {
        let owner = format!("team-{i}");
        let made = create(
            &http,
            &s.base,
            &format!("owned-{i}"),
            &json!({"owner": owner}),
        )
        .await;
        assert_eq!(made["code"], 0, "{made}");
        assert_eq!(made["data"]["owner"], json!(owner));
        let next = &servers[(i + 1) % servers.len()];
        let clash = create(
            &http,
            &next.base,
            &format!("clash-{i}"),
            &json!({"owner": owner}),
        )
        .await;
        assert_eq!(clash["code"], 1_199_014, "{clash}");
    }
}

/// The figures of a run, printed for tests/README.md.
fn report(label: &str, answers: &[Answer], failovers: &[(Instant, Instant)]) -> Vec<Duration> {
    let mut to_success: Vec<Duration> = failovers
        .iter()
        .map(|&(killed, _)| first_success_after(answers, killed) - killed)
        .collect();
    let mut to_promoted: Vec<Duration> = failovers.iter().map(|&(k, p)| p - k).collect();
    println!(
        "failover {label}: {} failovers, kill→promoted p50 {:?} p99 {:?}, kill→first success \
         p50 {:?} p99 {:?}",
        failovers.len(),
        percentile(&mut to_promoted, 50),
        percentile(&mut to_promoted, 99),
        percentile(&mut to_success.clone(), 50),
        percentile(&mut to_success, 99),
    );
    to_success
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_killed_mid_load_fails_over_to_its_synchronous_standby_losing_nothing() {
    need_server!();
    let failovers = if slow() { 20 } else { 1 };
    let mut pair = Pair::up(Replication::Sync);
    let url = pair.url();
    load_fixture(&url, &example("fixture.json"));
    let mut servers = Vec::new();
    for _ in 0..ENGINES {
        servers.push(Server::start(&url).await);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let http = reqwest::Client::new();
    let load = Load::start(&bases, CLIENTS, "fo");
    let mut times = Vec::new();
    for round in 0..failovers {
        if round > 0 {
            // The dead primary's place: a synchronous standby of the new primary.
            pair.rebuild_standby();
        }
        times.push(fail_over(&mut pair, &load, &servers, &http, 200).await);
    }
    let answers = load.stop().await;
    let outcome = check(&pair.primary_url(), "fo", &answers, false).await;
    println!(
        "failover sync: {} acknowledged, {} lost, {} ids reused, {} failed with 1199999 \
         ({} of them stored: committed, answer lost)",
        outcome.acked,
        outcome.lost.len(),
        outcome.reused,
        outcome.failed,
        outcome.failed_but_stored
    );
    assert!(outcome.lost.is_empty() && outcome.reused == 0);
    // The interesting case happened: creates were in flight at each kill.
    assert!(
        outcome.failed >= failovers,
        "{} creates failed across {failovers} kills",
        outcome.failed
    );
    let to_success = report("sync", &answers, &times);
    assert_eq!(to_success.len(), failovers);
    a_catalog_change_reaches_every_engine(&url, &servers).await;
    for s in servers {
        s.kill().await;
    }
    drop(pair);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_asynchronous_replication_a_failover_loses_only_the_last_acknowledged_creates() {
    need_server!();
    if !slow() {
        println!("skipped: the asynchronous-replication measurement runs with CMDB_SLOW_TESTS=1");
        return;
    }
    let failovers = 5;
    let mut pair = Pair::up(Replication::Async);
    let url = pair.url();
    load_fixture(&url, &example("fixture.json"));
    let mut servers = Vec::new();
    for _ in 0..ENGINES {
        servers.push(Server::start(&url).await);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let http = reqwest::Client::new();
    let load = Load::start(&bases, CLIENTS, "fa");
    let mut times = Vec::new();
    for round in 0..failovers {
        if round > 0 {
            pair.rebuild_standby();
        }
        times.push(fail_over(&mut pair, &load, &servers, &http, 200).await);
    }
    let answers = load.stop().await;
    let outcome = check(&pair.primary_url(), "fa", &answers, true).await;
    // What is lost is a tail: every lost create was sent before a kill, and no create of that
    // round answered before the kill (so committed on the old primary) and kept has a greater
    // id than a lost one (replication ships commits in order; ids are gapless in commit
    // order). A create answered just after a kill may still have committed before it.
    let kills: Vec<Instant> = times.iter().map(|&(k, _)| k).collect();
    let round_of = |a: &Answer| kills.iter().position(|&k| a.sent <= k);
    let stored: std::collections::BTreeSet<String> = query(
        &pair.primary_url(),
        "SELECT name FROM sets WHERE name LIKE 'fa-%'",
    )
    .await
    .iter()
    .map(|r| r.get(0))
    .collect();
    for (name, id) in &outcome.lost {
        let lost = answers
            .iter()
            .find(|a| &a.name == name)
            .expect("its answer");
        let round = round_of(lost).expect("a lost create was sent before a kill");
        let later_kept = answers.iter().filter(|a| {
            a.code() == 0
                && round_of(a) == Some(round)
                && a.answered <= kills[round]
                && stored.contains(&a.name)
                && a.id() > *id
        });
        if let Some(kept) = later_kept.min_by_key(|a| a.id()) {
            panic!(
                "{name} (set {id}) is lost but {} (set {}), committed after it, is kept",
                kept.name,
                kept.id()
            );
        }
    }
    println!(
        "failover async: {} failovers, {} acknowledged, {} acknowledged creates lost, {} of \
         their ids handed out again, {} failed with 1199999",
        failovers,
        outcome.acked,
        outcome.lost.len(),
        outcome.reused,
        outcome.failed
    );
    report("async", &answers, &times);
    a_catalog_change_reaches_every_engine(&url, &servers).await;
    for s in servers {
        s.kill().await;
    }
    drop(pair);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_set_read_only_is_never_written_to_and_is_used_again_once_writable() {
    need_server!();
    let cluster = PrivateCluster::start();
    load_fixture(&cluster.url, &example("fixture.json"));
    let server = Server::start(&cluster.url).await;
    let http = reqwest::Client::new();
    let native = |name: &str| {
        let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
        let mut body: Value = serde_json::from_str(&text).expect("JSON");
        body["data"]["bk_set_name"] = json!(name);
        http.post(format!("{}/api/v3/set/1", server.base))
            .header("X-Bkcmdb-User", "xxx")
            .header("X-Bkcmdb-Supplier-Account", "123456789")
            .json(&body["data"])
            .send()
    };
    let first: Value = native("writable")
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(first["code"], 0, "{first}");
    let first_id = first["data"]["bk_set_id"].as_i64().expect("an id");
    // The server goes read-only for every session (as a full disk makes some managed
    // services do), the writer's open connection included once it has reloaded.
    let admin = |sql: &'static str| {
        let url = cluster.url.clone();
        async move {
            query(&url, sql).await;
        }
    };
    admin("ALTER SYSTEM SET default_transaction_read_only = on").await;
    admin("SELECT pg_reload_conf()").await;
    poll(Duration::from_secs(30), "a read-only session", || async {
        let on: String = query(&cluster.url, "SHOW default_transaction_read_only").await[0].get(0);
        on == "on"
    })
    .await;
    // Until the writer's backend has applied the reload a create may still commit: create
    // until one meets the read-only server (bounded).
    let mut refused = None;
    let mut acked = vec![first_id];
    for n in 0..50 {
        let name = format!("read-only-{n}");
        let answer: Value = native(&name)
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON");
        if answer["code"] == 0 {
            acked.push(answer["data"]["bk_set_id"].as_i64().expect("an id"));
            continue;
        }
        refused = Some((name, answer));
        break;
    }
    let (name, answer) = refused.expect("a create met the read-only server within 50 creates");
    assert_eq!(answer["code"], 1_199_999, "{answer}");
    assert_eq!(answer["message"], LOST, "{answer}");
    // Nothing of it is stored, and it took no id.
    let rows = query(
        &cluster.url,
        &format!("SELECT count(*) FROM sets WHERE name = '{name}'"),
    )
    .await;
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    let log = server.log.lock().expect("the log").join("\n");
    assert!(
        log.contains("the PostgreSQL server is read-only (SQLSTATE 25006"),
        "the engine's log does not name the read-only server:\n{log}"
    );
    // Writable again: the engine finds it by itself (the writer looks for a writable primary
    // with backoff) and the next create takes the next id.
    admin("ALTER SYSTEM RESET default_transaction_read_only").await;
    admin("SELECT pg_reload_conf()").await;
    poll(Duration::from_secs(30), "a writable session", || async {
        let on: String = query(&cluster.url, "SHOW default_transaction_read_only").await[0].get(0);
        on == "off"
    })
    .await;
    let again: Value = native("writable-again")
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(again["code"], 0, "{again}");
    assert_eq!(
        again["data"]["bk_set_id"].as_i64(),
        acked.last().map(|id| id + 1),
        "{again}"
    );
    server.kill().await;
}

/// Runs one statement on a node.
async fn on(url: &str, sql: &str) {
    query(url, sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_change_lost_in_an_asynchronous_failover_is_never_created_by() {
    need_server!();
    let mut pair = Pair::up(Replication::Async);
    let url = pair.url();
    load_fixture(&url, &example("fixture.json"));
    let server = Server::start(&url).await;
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("a temp dir");
    let change = |attribute: &str| {
        let path = dir.path().join(format!("{attribute}.json"));
        let fixture = json!({
            "bk_supplier_account": "123456789",
            "set_attributes": [{"bk_property_id": attribute, "bk_property_name": attribute,
                                "bk_property_type": "singlechar", "bk_biz_id": 0}]
        });
        std::fs::write(&path, fixture.to_string()).expect("write the fixture");
        path
    };
    let warm = create(&http, &server.base, "warm", &json!({})).await;
    assert_eq!(warm["code"], 0, "{warm}");
    let unknown = create(&http, &server.base, "unknown", &json!({"owner": "a"})).await;
    assert_ne!(unknown["code"], 0, "{unknown}");
    // The standby stops receiving WAL: what the primary commits from now on is lost with it.
    let (_, standby) = pair.addresses();
    let standby_url = format!("postgres://cmdb@{standby}/postgres");
    on(&standby_url, "ALTER SYSTEM SET primary_conninfo = ''").await;
    on(&standby_url, "SELECT pg_reload_conf()").await;
    poll(Duration::from_secs(30), "the standby detached", || async {
        let streaming: i64 = query(
            &pair.primary_url(),
            "SELECT count(*) FROM pg_stat_replication",
        )
        .await[0]
            .get(0);
        streaming == 0
    })
    .await;
    // Catalog change A (attribute `owner`), lost; the engine caches its facts by creating.
    load_fixture(&url, &change("owner"));
    let owned = create(&http, &server.base, "owned", &json!({"owner": "a"})).await;
    assert_eq!(owned["code"], 0, "{owned}");
    pair.kill_primary();
    pair.promote().await;
    // Catalog change B (attribute `zone`) on the new primary: the catalog version number
    // change A had, with other facts.
    load_fixture(&url, &change("zone"));
    let owners = query(
        &pair.primary_url(),
        "SELECT count(*) FROM set_attributes WHERE bk_property_id = 'owner'",
    )
    .await;
    assert_eq!(owners[0].get::<_, i64>(0), 0, "change A was not lost");
    // The engine's cached facts (change A's) must not decide this create: `owner` is unknown
    // on the new primary.
    let stale = create(&http, &server.base, "owned-after", &json!({"owner": "b"})).await;
    assert_eq!(
        stale["code"], unknown["code"],
        "created by a lost catalog: {stale}"
    );
    let zoned = create(&http, &server.base, "zoned", &json!({"zone": "z"})).await;
    assert_eq!(zoned["code"], 0, "{zoned}");
    assert_eq!(zoned["data"]["zone"], json!("z"));
    let stored = query(
        &pair.primary_url(),
        "SELECT count(*) FROM sets WHERE name = 'owned-after'",
    )
    .await;
    assert_eq!(stored[0].get::<_, i64>(0), 0);
    server.kill().await;
}
