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
pub(crate) fn url_with_db(url: &str, db: &str) -> String {
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
pub(crate) async fn admin(sql: &str) {
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
pub(crate) async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
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
pub(crate) struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub(crate) async fn create() -> TestDb {
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

    pub(crate) async fn drop_db(self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The seed fixture and request.
pub(crate) fn example(name: &str) -> PathBuf {
    workspace().join("crates/cmdb-app/examples").join(name)
}

/// Runs `cmdb --store postgres --db URL ARGS…`.
pub(crate) fn cmdb(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "postgres", "--db", url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cmdb")
}

/// A `cmdb serve` process and the address it bound.
pub(crate) struct Server {
    pub child: tokio::process::Child,
    pub base: String,
    /// Its stderr lines after the announcement.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cmdb serve` on a free loopback port and waits for its announcement.
    pub(crate) async fn start(url: &str) -> Server {
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
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().expect("the log").push(line);
            }
        });
        Server { child, base, log }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.expect("kill cmdb serve");
    }
}

/// A PostgreSQL cluster of one test's own (the fault tests stop and start it, which must not
/// disturb the other tests on the shared server): initdb into a temp dir, trust auth, a free
/// loopback port; run as user `postgres` when we are root. Stopped and deleted on drop.
pub(crate) struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    pub url: String,
}

impl PrivateCluster {
    fn as_owner(&self, program: &str) -> Command {
        as_owner(&self.bin, program)
    }

    /// Creates and starts a cluster.
    pub(crate) fn start() -> PrivateCluster {
        let bin = PathBuf::from(
            std::env::var("CMDB_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        let dir = std::env::temp_dir().join(format!(
            "cmdb-pg-private-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("the cluster's temp dir");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = PrivateCluster {
            url: format!("postgres://cmdb@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            port,
        };
        let out = cluster
            .as_owner("initdb")
            .arg("-D")
            .arg(cluster.dir.join("data"))
            .args([
                "-U",
                "cmdb",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .output()
            .expect("initdb");
        assert!(out.status.success(), "initdb: {out:?}");
        cluster.pg_ctl_start();
        cluster
    }

    /// `pg_ctl start` (waits until the server accepts connections).
    pub(crate) fn pg_ctl_start(&self) {
        let out = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-k {} -p {} -c listen_addresses=127.0.0.1",
                self.dir.display(),
                self.port
            ))
            .args(["-w", "start"])
            .output()
            .expect("pg_ctl start");
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// `pg_ctl stop -m immediate`: the server dies without a checkpoint (a crash for its
    /// clients, recovered from its WAL at the next start).
    pub(crate) fn stop_immediate(&self) {
        let out = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A command for a server binary, run as `postgres` when we are root.
fn as_owner(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}
