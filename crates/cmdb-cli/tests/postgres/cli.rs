//! Every command with `--store postgres`, and the one-line refusals at open (exit 2).

use std::process::Output;

use serde_json::Value;

use crate::support::{TestDb, cmdb, example, need_server, url_with_db};

fn envelope(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one envelope ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_and_every_command_run_on_postgres() {
    need_server!();
    let db = TestDb::create().await;
    let fixture = example("fixture.json");
    let request = example("create_set.json");
    let first = cmdb(
        &db.url,
        &[
            "--fixture",
            fixture.to_str().unwrap(),
            "create-set",
            request.to_str().unwrap(),
        ],
    );
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let first = envelope(&first);
    assert_eq!(first["code"], 0);
    assert_eq!(first["data"]["bk_set_id"], 4780);
    assert_eq!(first["data"]["bk_set_name"], "test-set");

    let second = cmdb(
        &db.url,
        &[
            "--fixture",
            fixture.to_str().unwrap(),
            "create-set",
            request.to_str().unwrap(),
        ],
    );
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(envelope(&second)["code"], 1101108);

    let sup = ["--supplier-account", "123456789"];
    let found = envelope(&cmdb(
        &db.url,
        &[&sup[..], &["find-set", "--biz", "1"]].concat(),
    ));
    let sets = found["data"]["info"].as_array().expect("a listing").clone();
    // The idle set of the fixture's biz, then ours; ours exactly as the create answered.
    assert_eq!(sets.len(), 2, "{found}");
    assert_eq!(sets[1], first["data"]);
    let modules = envelope(&cmdb(
        &db.url,
        &[
            &sup[..],
            &["list-modules", "--biz", "1", "--set-id", "4780"],
        ]
        .concat(),
    ));
    let modules = modules["data"]["info"]
        .as_array()
        .expect("a listing")
        .clone();
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0]["bk_module_name"], "nginx");
    assert_eq!(modules[0]["bk_set_id"], 4780);
    let audit = envelope(&cmdb(
        &db.url,
        &[&sup[..], &["audit", "--biz", "1"]].concat(),
    ));
    let audit = audit["data"]["info"].as_array().expect("a listing").clone();
    let types: Vec<&str> = audit
        .iter()
        .map(|a| a["resource_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["set", "module"]);

    let init = cmdb(&db.url, &["init"]);
    assert_eq!(init.status.code(), Some(0));
    let init = envelope(&init);
    assert_eq!(init["data"]["store"], "postgres");
    assert_eq!(init["data"]["schema_version"], 4);
    // The password never shows.
    let shown = init["data"]["path"].as_str().expect("a path");
    assert!(shown.contains(":***@"), "{shown}");
    assert!(!shown.contains(":cmdb@"), "{shown}");
    db.drop_db().await;
}

/// Runs `cmdb init` against `url` and checks it is refused with exit 2 and one line on stderr
/// that contains `expected`.
fn refused(url: &str, expected: &str) {
    let out = cmdb(url, &["init"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
    assert!(out.stdout.is_empty(), "{url}: nothing on stdout");
    assert_eq!(stderr.lines().count(), 1, "{url}: one line: {stderr}");
    assert!(
        stderr.starts_with("cmdb: cannot open postgres store at "),
        "{url}: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "{url}: {stderr} lacks {expected}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_a_refused_connection_and_a_wrong_password_are_one_line_exit_2() {
    need_server!();
    let url = std::env::var("CMDB_PG_URL").expect("CMDB_PG_URL");
    refused("mysql://root@127.0.0.1/db", "invalid PostgreSQL URL");
    refused(
        "postgres://cmdb@127.0.0.1:notaport/db",
        "invalid PostgreSQL URL",
    );
    // Port 1 on loopback: nothing listens there.
    refused(
        "postgres://cmdb:cmdb@127.0.0.1:1/cmdb",
        "cannot connect to PostgreSQL at 127.0.0.1:1/cmdb",
    );
    let wrong = url.replacen("cmdb:cmdb@", "cmdb:not-the-password@", 1);
    assert_ne!(wrong, url, "scripts/with-postgres sets a password");
    refused(&wrong, "password authentication failed");
    let out = cmdb(&wrong, &["init"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-the-password"));
    refused(
        &url_with_db(&url, "no_such_database"),
        "database \"no_such_database\" does not exist",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--store", "postgres", "init"])
        .output()
        .expect("run cmdb");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "cmdb: cannot open postgres store at : --store postgres needs --db postgres://user:password@host:port/dbname\n"
    );
}
