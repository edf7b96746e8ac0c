//! `cmdb watch` (spec W4): `--once` after the seed's create prints its set and module as
//! event lines; a follower in one process sees a create made by another process on the same
//! SQLite file (the backstop poll) and stops on SIGINT with exit 0; refusals print the
//! envelope and exit 1, usage errors exit 2.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const APP: &str = env!("CARGO_BIN_EXE_cmdb");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cmdb-app/examples");

fn cmdb(dir: &Path) -> Command {
    let mut command = Command::new(APP);
    let db = dir.join("cmdb.sqlite");
    command.args([
        "--db",
        db.to_str().unwrap(),
        "--supplier-account",
        "123456789",
    ]);
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cmdb(dir).args(args).output().expect("cmdb runs")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn seed(dir: &Path, name: &str) -> Value {
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/create_set.json")).unwrap(),
    )
    .unwrap();
    request["data"]["bk_set_name"] = json!(name);
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, request.to_string()).unwrap();
    let fixture = format!("{EXAMPLES}/fixture.json");
    let out = run(
        dir,
        &["--fixture", &fixture, "create-set", file.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    lines(&out).remove(0)["data"].clone()
}

#[test]
fn once_after_the_seed_prints_its_set_and_module() {
    let dir = tempfile::tempdir().unwrap();
    let set = seed(dir.path(), "test-set");
    let out = run(dir.path(), &["watch", "--resource", "set", "--once"]);
    assert_eq!(out.status.code(), Some(0));
    let events = lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["bk_detail"], set);
    assert_eq!(
        (&events[0]["bk_resource"], &events[0]["bk_event_type"]),
        (&json!("set"), &json!("create"))
    );
    let cursor = events[0]["bk_cursor"].as_str().unwrap();
    let after = run(
        dir.path(),
        &["watch", "--resource", "set", "--once", "--cursor", cursor],
    );
    assert_eq!((after.status.code(), lines(&after).len()), (Some(0), 0));
    let modules = run(
        dir.path(),
        &[
            "watch",
            "--resource",
            "module",
            "--once",
            "--fields",
            "bk_module_name,bk_set_id",
        ],
    );
    assert_eq!(
        lines(&modules)
            .iter()
            .map(|e| e["bk_detail"].clone())
            .collect::<Vec<_>>(),
        [json!({"bk_module_name": "nginx", "bk_set_id": 4780})]
    );
    let typed = run(
        dir.path(),
        &[
            "watch",
            "--resource",
            "set",
            "--once",
            "--types",
            "update,delete",
        ],
    );
    assert_eq!((typed.status.code(), lines(&typed).len()), (Some(0), 0));
}

#[test]
fn refusals_exit_1_with_the_envelope_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "test-set");
    let set = lines(&run(dir.path(), &["watch", "--resource", "set", "--once"])).remove(0);
    let cursor = set["bk_cursor"].as_str().unwrap();
    let other_resource = run(
        dir.path(),
        &[
            "watch",
            "--resource",
            "module",
            "--once",
            "--cursor",
            cursor,
        ],
    );
    assert_eq!(other_resource.status.code(), Some(1));
    assert_eq!(lines(&other_resource)[0]["code"], 1_103_007);
    let malformed = run(
        dir.path(),
        &["watch", "--resource", "set", "--cursor", "c1xyz"],
    );
    assert_eq!(malformed.status.code(), Some(1));
    assert_eq!(
        lines(&malformed)[0]["message"],
        "'bk_cursor' the parameter is invalid"
    );
    let both = run(
        dir.path(),
        &[
            "watch",
            "--resource",
            "set",
            "--cursor",
            cursor,
            "--from",
            "1",
        ],
    );
    assert_eq!(both.status.code(), Some(2));
    let unknown = run(dir.path(), &["watch", "--resource", "host"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_follower_sees_another_process_create_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "test-set");
    let first = lines(&run(dir.path(), &["watch", "--resource", "set", "--once"])).remove(0);
    let cursor = first["bk_cursor"].as_str().unwrap();
    let mut follower = cmdb(dir.path())
        .args(["watch", "--resource", "set", "--cursor", cursor])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    // Created by another process: the follower learns of it through its backstop poll.
    let second = seed(dir.path(), "second");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["bk_detail"], second);
    let signalled = Command::new("kill")
        .args(["-INT", &follower.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = follower.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGINT ends a watch cleanly");
}
