//! Round trips per create, counted on the wire: a TCP proxy between the store and the server
//! counts each time a connection's client speaks again after the server answered (one round
//! trip: the client waited). The seed request, with its template module, must cost at most 3;
//! with its facts in the store's cache, 2.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::support::{EXAMPLE_TENANT, context, create_ok, load_ok};
use cmdb_store_postgres::{PgOptions, PgStore};
use common::{TestDb, server_missing};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round trips seen on every proxied connection.
#[derive(Debug, Default)]
struct Turns(AtomicU64);

/// Who spoke last on a connection.
#[derive(Debug, Default)]
struct LastSpeaker(std::sync::Mutex<bool>);

impl LastSpeaker {
    /// Records that the client spoke; true when the server had spoken last (a new turn).
    fn client(&self) -> bool {
        let mut server_last = self.0.lock().expect("lock");
        std::mem::replace(&mut *server_last, false)
    }
    fn server(&self) {
        *self.0.lock().expect("lock") = true;
    }
}

/// Starts a proxy to `upstream`; returns its port.
async fn proxy(upstream: String, turns: Arc<Turns>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.expect("upstream");
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let last = Arc::new(LastSpeaker(std::sync::Mutex::new(true)));
            let (up_last, up_turns) = (Arc::clone(&last), Arc::clone(&turns));
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // Counted before forwarding, so the answer cannot overtake the count.
                    if up_last.client() {
                        up_turns.0.fetch_add(1, Ordering::SeqCst);
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    last.server();
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// `host:port` of a URL.
fn host_port(url: &str) -> String {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rsplit('@').next().unwrap_or(authority).to_owned()
}

/// Round trips of one seed create on a store with a facts cache of `cache_entries`, after a
/// warm-up create of the same request shape (which prepares the read connection's statements
/// and fills the cache).
async fn seed_create_round_trips(url: &str, cache_entries: usize) -> u64 {
    let turns = Arc::new(Turns::default());
    let port = proxy(host_port(url), Arc::clone(&turns)).await;
    let url = url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1);
    // One read connection, so the warm-up prepares the statement the measured create uses.
    let options = PgOptions {
        read_connections: 1,
        facts_cache_entries: cache_entries,
        ..PgOptions::default()
    };
    let store = PgStore::connect(&url, options).await.expect("connect");
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cmdb-app/examples/fixture.json"
    ))
    .expect("the seed fixture");
    load_ok(&store, serde_json::from_str(&fixture).expect("JSON")).await;
    let ctx = context(EXAMPLE_TENANT);
    let seed = |name: &str| {
        json!({"bk_parent_id": 1, "bk_set_name": name, "bk_set_desc": "test-set",
               "bk_capacity": 1000, "description": "description", "set_template_id": 1})
    };
    create_ok(&store, &ctx, 1, seed("warm-up")).await;

    let before = turns.0.load(Ordering::SeqCst);
    let created = create_ok(&store, &ctx, 1, seed("test-set")).await;
    let used = turns.0.load(Ordering::SeqCst) - before;
    assert_eq!(
        created.modules.len(),
        1,
        "the seed request has its template module"
    );
    assert_eq!(created.audits.len(), 2);
    assert_eq!(store.stale_plans(), 0);
    store.close().await.expect("close");
    used
}

#[test]
fn the_seed_create_costs_three_round_trips_and_two_with_its_facts_cached() {
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let (uncached, cached) = (TestDb::create(), TestDb::create());
    cmdb_store_conformance::run_case(async {
        // Without the cache: the facts (one statement), then the two flights of the write
        // transaction.
        assert_eq!(
            seed_create_round_trips(&uncached.url, 0).await,
            3,
            "round trips of one create, facts read"
        );
        // With it: the facts come from the engine's cache (the warm-up read them after the
        // fixture load), so only the two flights remain.
        assert_eq!(
            seed_create_round_trips(&cached.url, 4096).await,
            2,
            "round trips of one create, facts cached"
        );
    });
}
