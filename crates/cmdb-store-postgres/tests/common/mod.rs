//! What the PostgreSQL store's tests share: the server from `CMDB_PG_URL` (skipping without
//! one, failing without one under `CI=true`), and a throwaway database per store.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why the tests needing a server skip: `None` when `CMDB_PG_URL` is set.
///
/// # Panics
/// Under `CI=true` without `CMDB_PG_URL`: CI must run these tests, not skip them.
pub(crate) fn server_missing() -> Option<&'static str> {
    if std::env::var_os("CMDB_PG_URL").is_some() {
        return None;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but CMDB_PG_URL is unset: run the tests under scripts/with-postgres"
    );
    Some("CMDB_PG_URL is unset (run under scripts/with-postgres)")
}

/// The server's URL.
///
/// # Panics
/// Without `CMDB_PG_URL`.
pub(crate) fn admin_url() -> String {
    std::env::var("CMDB_PG_URL").expect("CMDB_PG_URL")
}

/// `url` with its database name replaced by `db`.
pub(crate) fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// Runs a future to completion on a runtime of its own, on a thread of its own (callable from
/// sync code inside or outside a runtime).
pub(crate) fn block_on_fresh<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    })
    .join()
    .expect("the helper thread")
}

/// Runs one admin statement on the server's default database.
pub(crate) fn admin(sql: String) {
    let url = admin_url();
    block_on_fresh(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to CMDB_PG_URL");
        let task = tokio::spawn(conn);
        client.batch_execute(&sql).await.expect(&sql);
        drop(client);
        let _ = task.await;
    });
}

/// A database created for one test and dropped (forcibly) with the guard.
#[derive(Debug)]
pub(crate) struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDb {
    /// Creates an empty database with a name of its own.
    pub(crate) fn create() -> TestDb {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "cmdb_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(format!("CREATE DATABASE {name}"));
        TestDb {
            url: url_with_db(&admin_url(), &name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        url_with_db("postgres://u@127.0.0.1:5/postgres", "x"),
        "postgres://u@127.0.0.1:5/x"
    );
    assert_eq!(
        url_with_db("postgres://u:p@h:5/db?sslmode=disable", "x"),
        "postgres://u:p@h:5/x?sslmode=disable"
    );
    assert_eq!(url_with_db("postgres://h:5", "x"), "postgres://h:5/x");
}
