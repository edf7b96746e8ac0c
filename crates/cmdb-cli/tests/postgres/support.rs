//! The server, a database per test, the `cmdb` binary and `cmdb serve` processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};

/// Why the tests needing a server skip: `None` when `CMDB_PG_URL` is set.
///
/// # Panics
/// Under `CI=true` without `CMDB_PG_URL`.
pub fn server_missing() -> Option<&'static str> {
    if std::env::var_os("CMDB_PG_URL").is_some() {
        return None;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but CMDB_PG_URL is unset: run the tests under scripts/with-postgres"
    );
    Some("CMDB_PG_URL is unset (run under scripts/with-postgres)")
}

/// Returns from the test (passing) with a printed line when there is no server.
macro_rules! need_server {
    () => {
        if let Some(reason) = $crate::support::server_missing() {
            println!("skipped: {reason}");
            return;
        }
    };
}
pub(crate) use need_server;

/// `url` with its database name replaced by `db`.
pub fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = base[scheme_end..]
        .find('/')
        .map_or(base, |i| &base[..scheme_end + i]);
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// Runs admin SQL on the server's default database.
pub async fn admin(sql: &str) {
    let url = std::env::var("CMDB_PG_URL").expect("CMDB_PG_URL");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to CMDB_PG_URL");
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    let _ = task.await;
}

/// Queries a test database.
pub async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    let task = tokio::spawn(conn);
    let rows = client.query(sql, &[]).await.expect(sql);
    drop(client);
    let _ = task.await;
    rows
}

/// A database of its own for one test; drop it with [`TestDb::drop_db`].
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "cmdb_cli_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(&format!("CREATE DATABASE {name}")).await;
        let url = url_with_db(&std::env::var("CMDB_PG_URL").expect("CMDB_PG_URL"), &name);
        TestDb { name, url }
    }

    pub async fn drop_db(self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The seed fixture and request.
pub fn example(name: &str) -> PathBuf {
    workspace().join("crates/cmdb-app/examples").join(name)
}

/// Runs `cmdb --store postgres --db URL ARGS…`.
pub fn cmdb(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "postgres", "--db", url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cmdb")
}

/// A `cmdb serve` process and the address it bound.
pub struct Server {
    pub child: tokio::process::Child,
    pub base: String,
}

impl Server {
    /// Starts `cmdb serve` on a free loopback port and waits for its announcement.
    pub async fn start(url: &str) -> Server {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cmdb"))
            .args([
                "--store",
                "postgres",
                "--db",
                url,
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start cmdb serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next_line()
                .await
                .expect("read cmdb serve's stderr")
                .expect("cmdb serve announces its address before anything else");
            if let Some(addr) = line.strip_prefix("cmdb: serving on ") {
                break addr.to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server { child, base }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill cmdb serve");
    }
}
