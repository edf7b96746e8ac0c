//! A primary with a streaming standby (`scripts/pg-pair`), for the failover tests: the URL
//! naming both, SIGKILL of the primary's postmaster, promotion of the standby, and a new
//! standby in the dead primary's place (same port, so the engines' URL stays right).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::support::workspace;

/// Synchronous (`synchronous_standby_names='*'`) or asynchronous replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replication {
    Sync,
    Async,
}

impl Replication {
    fn arg(self) -> &'static str {
        match self {
            Replication::Sync => "sync",
            Replication::Async => "async",
        }
    }
}

/// One node: its directory name under the pair's directory and its port.
#[derive(Debug, Clone)]
struct Node {
    name: &'static str,
    port: u16,
}

/// A running pair; stopped and deleted on drop.
pub(crate) struct Pair {
    dir: PathBuf,
    nodes: [Node; 2],
    /// Which node is the primary.
    primary: usize,
    replication: Replication,
}

fn script() -> PathBuf {
    workspace().join("scripts/pg-pair")
}

fn run(args: &[&str]) -> String {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/pg-pair");
    assert!(
        out.status.success(),
        "scripts/pg-pair {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

impl Pair {
    /// Starts a primary (node a) and a standby of it (node b).
    pub(crate) fn up(replication: Replication) -> Pair {
        let dir = std::env::temp_dir().join(format!(
            "cmdb-pg-pair-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let dir_arg = dir.to_str().expect("a UTF-8 temp dir").to_owned();
        let out = run(&["up", &dir_arg, replication.arg()]);
        let port = |key: &str| -> u16 {
            out.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("scripts/pg-pair up printed no {key}: {out}"))
        };
        Pair {
            nodes: [
                Node {
                    name: "a",
                    port: port("PRIMARY_PORT"),
                },
                Node {
                    name: "b",
                    port: port("STANDBY_PORT"),
                },
            ],
            dir,
            primary: 0,
            replication,
        }
    }

    /// Both hosts, libpq's multi-host syntax: what the engines are given.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgres://cmdb@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write&connect_timeout=2",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The current primary alone (for the test's own queries).
    pub(crate) fn primary_url(&self) -> String {
        format!(
            "postgres://cmdb@127.0.0.1:{}/postgres",
            self.nodes[self.primary].port
        )
    }

    /// `127.0.0.1:port` of the primary and of the standby.
    pub(crate) fn addresses(&self) -> (String, String) {
        let address = |n: &Node| format!("127.0.0.1:{}", n.port);
        (
            address(&self.nodes[self.primary]),
            address(&self.nodes[1 - self.primary]),
        )
    }

    fn data(&self, node: usize) -> PathBuf {
        self.dir.join(self.nodes[node].name).join("data")
    }

    /// SIGKILL of the primary's postmaster (its backends notice and exit on their own); it is
    /// never started again. Returns when the signal was sent.
    pub(crate) fn kill_primary(&self) -> Instant {
        let pid_file = self.data(self.primary).join("postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()));
        let pid = pid.lines().next().expect("the postmaster's pid").trim();
        let status = Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -KILL {pid}");
        Instant::now()
    }

    /// `pg_promote()` on the standby (waits until it accepts writes); it is the primary from
    /// then on.
    pub(crate) async fn promote(&mut self) {
        let standby = 1 - self.primary;
        let url = format!(
            "postgres://cmdb@127.0.0.1:{}/postgres",
            self.nodes[standby].port
        );
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the standby");
        let task = tokio::spawn(conn);
        let promoted: bool = client
            .query_one("SELECT pg_promote(true, 60)", &[])
            .await
            .expect("pg_promote")
            .get(0);
        assert!(promoted, "the standby was not promoted within 60 s");
        drop(client);
        let _ = task.await;
        self.primary = standby;
    }

    /// A new standby of the current primary in the dead one's directory and port (with the
    /// pair's replication; synchronous once it streams).
    pub(crate) fn rebuild_standby(&self) {
        let standby = &self.nodes[1 - self.primary];
        run(&[
            "standby",
            self.dir.to_str().expect("UTF-8"),
            standby.name,
            &self.nodes[self.primary].port.to_string(),
            &standby.port.to_string(),
            self.replication.arg(),
        ]);
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["down", self.dir.to_str().unwrap_or_default()])
            .output();
    }
}
