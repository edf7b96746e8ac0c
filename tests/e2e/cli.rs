//! The `cmdb` binary end to end: every command and flag, exit codes 0/1/2, malformed input
//! answered with an envelope or a one-line error (never a panic), and the README's main job.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{RID, T, denial, fail, ok, plain_set, with};

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `cmdb` binary of this build profile, built once per test run (cargo builds a package's
/// binaries only for its own integration tests, not for ours).
pub(crate) fn cmdb() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable");
        // target/<profile>/deps/e2e-…
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target/");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory name");
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let mut build = Command::new(cargo);
        build
            .arg("build")
            .arg("--quiet")
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir)
            .args(["-p", "cmdb-cli", "--bin", "cmdb"]);
        match profile {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        let out = build.output().expect("running cargo build");
        assert!(
            out.status.success(),
            "cargo build -p cmdb-cli --bin cmdb failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join(format!("cmdb{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// What one run printed and returned.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The printed envelope, normalized: its request id (checked to be 32 hex characters)
    /// replaced by [`RID`] and every engine timestamp (checked to be RFC 3339 with
    /// milliseconds in +08:00) by [`T`].
    fn envelope(&self) -> Value {
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "one line of JSON expected: {self:?}"
        );
        let mut v: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"));
        let rid = v["request_id"].as_str().expect("a request id").to_owned();
        assert!(
            rid.len() == 32
                && rid
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "request id {rid}"
        );
        v["request_id"] = json!(RID);
        normalize_times(&mut v);
        v
    }
}

/// Whether `s` looks like `2026-11-27T20:34:01.386+08:00`.
fn is_engine_time(s: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.ddd+08:00";
    s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == p,
        })
}

fn normalize_times(v: &mut Value) {
    match v {
        Value::String(s) if is_engine_time(s) => *s = T.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(normalize_times),
        Value::Object(map) => map.values_mut().for_each(normalize_times),
        _ => {}
    }
}

/// Runs `cmdb args…` in `dir` with `stdin`; checks that nothing panicked and that a usage
/// error (exit 2) is one line on stderr and nothing on stdout.
fn run_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(cmdb())
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning cmdb");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("writing stdin");
    }
    let out = child.wait_with_output().expect("waiting for cmdb");
    let run = Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "cmdb {args:?} panicked: {run:?}"
    );
    if run.code == 2 {
        assert_eq!(run.stdout, "", "cmdb {args:?}: {run:?}");
        assert_eq!(
            run.stderr.trim_end().lines().count(),
            1,
            "cmdb {args:?}: {run:?}"
        );
    }
    run
}

/// A scratch directory with files and a store in it.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Writes `contents` to `name` and returns its path.
    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("writing a file");
        path.display().to_string()
    }

    fn json(&self, name: &str, value: &Value) -> String {
        self.file(name, value.to_string())
    }

    fn run(&self, args: &[&str]) -> Run {
        run_in(self.dir.path(), args, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_in(self.dir.path(), args, Some(stdin))
    }
}

/// Asserts the exit status and the normalized envelope.
#[track_caller]
fn expect(run: &Run, code: i32, envelope: &Value) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(&run.envelope(), envelope, "{run:?}");
}

/// Asserts a usage error: exit 2, one line on stderr starting with `needle`'s context.
#[track_caller]
fn expect_usage(run: &Run, needle: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(needle), "{needle:?} not in {run:?}");
}

const TENANT: &str = "123456789";

fn example_fixture() -> PathBuf {
    workspace().join("crates/cmdb-app/examples/fixture.json")
}

fn example_request() -> PathBuf {
    workspace().join("crates/cmdb-app/examples/create_set.json")
}

/// The worked example's set as the command line prints it.
fn example_set() -> Value {
    with(
        plain_set(4780, 1, 1, "test-set", TENANT),
        json!({"bk_capacity": 1000, "bk_set_desc": "test-set", "description": "description",
               "set_template_id": 1, "set_template_version": 3}),
    )
}

/// The idle set of business 1 of the example, loaded by `operator`.
fn idle_set(operator: &str) -> Value {
    with(
        plain_set(1, 1, 1, "空闲机池", TENANT),
        json!({"default": 1, "bk_created_by": operator, "bk_updated_by": operator}),
    )
}

/// A create request in business 1 of the example's tenant.
fn request(name: &str) -> Value {
    json!({"bk_username": "xxx", "bk_supplier_account": TENANT, "bk_biz_id": 1,
           "data": {"bk_set_name": name, "bk_parent_id": 1}})
}

fn example_counts(created: bool) -> Value {
    let parts = json!({"mainline": 0, "businesses": 1, "mainline_instances": 0,
                       "set_attributes": 0, "set_unique_rules": 0, "service_templates": 1,
                       "set_templates": 1, "id_generator": 1});
    let zeros = json!({"mainline": 0, "businesses": 0, "mainline_instances": 0,
                       "set_attributes": 0, "set_unique_rules": 0, "service_templates": 0,
                       "set_templates": 0, "id_generator": 0});
    if created {
        json!({"created": parts, "unchanged": zeros})
    } else {
        json!({"created": zeros, "unchanged": parts})
    }
}

/// The README's main job: the seed's request on `./cmdb.sqlite`; 4780 first, 1101108 second.
#[test]
fn readme_main_job() {
    let s = Scratch::new();
    let fixture = example_fixture().display().to_string();
    let req = example_request().display().to_string();
    let args = ["--fixture", fixture.as_str(), "create-set", req.as_str()];
    let first = s.run(&args);
    expect(&first, 0, &ok(example_set()));
    let raw: Value = serde_json::from_str(&first.stdout).unwrap();
    let data = &raw["data"];
    assert!(
        is_engine_time(data["create_time"].as_str().unwrap()),
        "{raw}"
    );
    for key in ["last_time", "bk_created_at", "bk_updated_at"] {
        assert_eq!(data[key], data["create_time"], "{raw}");
    }
    // The envelope's keys come in bk-cmdb's order, the document's sorted.
    let text = first.stdout.trim_end();
    assert!(
        text.starts_with(
            r#"{"result":true,"code":0,"message":"","permission":null,"request_id":""#
        ),
        "{text}"
    );
    assert!(text.contains(r#","data":{"bk_biz_id":1,"bk_capacity":1000,"bk_created_at":"#));
    assert!(text.ends_with(r#","set_template_id":1,"set_template_version":3}}"#));
    assert!(s.dir.path().join("cmdb.sqlite").exists());

    let second = s.run(&args);
    expect(&second, 1, &fail(1_101_108, "the same set name exist"));
    let found = s.run(&["--supplier-account", TENANT, "find-set", "--biz", "1"]);
    expect(
        &found,
        0,
        &ok(json!({"count": 2, "info": [idle_set("admin"), example_set()]})),
    );
}

/// Every command over the persistent stores, each with `--db` in a temporary directory.
#[test]
fn every_command_over_persistent_stores() {
    for (store, db, version) in [
        ("sqlite", "db.sqlite", cmdb_store_sqlite::SCHEMA_VERSION),
        (
            "sled",
            "db.sled",
            i64::from(cmdb_store_sled::layout::FORMAT_VERSION),
        ),
        ("redb", "db.redb", cmdb_store_redb::FORMAT_VERSION),
    ] {
        let s = Scratch::new();
        let db_path = s.path(db);
        let base = ["--store", store, "--db", db_path.as_str()];
        let with_base = |rest: &[&str]| -> Vec<String> {
            base.iter().chain(rest).map(|a| (*a).to_owned()).collect()
        };
        let go = |rest: &[&str]| {
            let args = with_base(rest);
            s.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let go_stdin = |rest: &[&str], input: &[u8]| {
            let args = with_base(rest);
            s.run_stdin(&args.iter().map(String::as_str).collect::<Vec<_>>(), input)
        };

        expect(
            &go(&["init"]),
            0,
            &ok(json!({"store": store, "path": db_path, "schema_version": version})),
        );
        // init on an existing store is fine too.
        assert_eq!(go(&["init"]).code, 0, "{store}");

        let fixture = example_fixture().display().to_string();
        expect(&go(&["load", &fixture]), 0, &ok(example_counts(true)));
        expect(&go(&["load", &fixture]), 0, &ok(example_counts(false)));

        let req = example_request().display().to_string();
        expect(&go(&["create-set", &req]), 0, &ok(example_set()));
        expect(
            &go(&["create-set", &req]),
            1,
            &fail(1_101_108, "the same set name exist"),
        );
        // From stdin, with `-` and with no file at all.
        let from_stdin = go_stdin(&["create-set", "-"], request("s2").to_string().as_bytes());
        expect(&from_stdin, 0, &ok(plain_set(4781, 1, 1, "s2", TENANT)));
        let implicit = go_stdin(&["create-set"], request("s3").to_string().as_bytes());
        expect(&implicit, 0, &ok(plain_set(4782, 1, 1, "s3", TENANT)));

        // Batches: all good (exit 0), one bad element (exit 1), atomic failure (exit 1).
        let batch = |sets: Value, atomic: bool| {
            json!({"bk_username": "xxx", "bk_supplier_account": TENANT, "bk_biz_id": 1,
                   "data": {"sets": sets, "atomic": atomic}})
        };
        let good = s.json(
            "good.json",
            &batch(json!([{"bk_set_name": "b1", "bk_parent_id": 1}]), false),
        );
        expect(
            &go(&["batch-create-set", &good]),
            0,
            &ok(json!([{"index": 0, "code": 0, "error_message": "",
                        "data": plain_set(4783, 1, 1, "b1", TENANT)}])),
        );
        let mixed = s.json(
            "mixed.json",
            &batch(
                json!([{"bk_set_name": "b2", "bk_parent_id": 1},
                          {"bk_set_name": "b/3", "bk_parent_id": 1}]),
                false,
            ),
        );
        let mut expected = ok(json!([
            {"index": 0, "code": 0, "error_message": "", "data": plain_set(4784, 1, 1, "b2", TENANT)},
            {"index": 1, "code": 1_199_006, "error_message": "'bk_set_name' the parameter is invalid",
             "data": null}
        ]));
        expected["result"] = json!(false);
        expected["code"] = json!(1_199_006);
        expected["message"] = json!("'bk_set_name' the parameter is invalid");
        expect(&go(&["batch-create-set", &mixed]), 1, &expected);
        let atomic = batch(
            json!([{"bk_set_name": "b4", "bk_parent_id": 1},
                                  {"bk_set_name": "b/5", "bk_parent_id": 1}]),
            true,
        );
        expect(
            &go_stdin(&["batch-create-set", "-"], atomic.to_string().as_bytes()),
            1,
            &fail(1_199_006, "sets[1]: 'bk_set_name' the parameter is invalid"),
        );

        // Reads, in the example's tenant.
        let t = ["--supplier-account", TENANT];
        let read = |rest: &[&str]| go(&t.iter().chain(rest).copied().collect::<Vec<_>>());
        let found = read(&["find-set", "--biz", "1"]).envelope();
        assert_eq!(found["data"]["count"], json!(6), "{store}: {found}");
        let ids: Vec<Value> = found["data"]["info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["bk_set_id"].clone())
            .collect();
        assert_eq!(
            ids,
            vec![
                json!(1),
                json!(4780),
                json!(4781),
                json!(4782),
                json!(4783),
                json!(4784)
            ]
        );
        expect(
            &read(&["find-set", "--biz", "1", "--set-id", "4780"]),
            0,
            &ok(json!({"count": 1, "info": [example_set()]})),
        );
        expect(
            &read(&["find-set", "--biz", "1", "--set-id", "4799"]),
            1,
            &fail(1_199_019, "No relevant data found"),
        );
        expect(
            &read(&["find-set", "--biz", "2"]),
            1,
            &fail(
                1_199_011,
                "'bk_biz_id' the parameter is invalid or does not exist",
            ),
        );
        let module = json!({
            "bk_module_id": 4, "bk_module_name": "nginx", "bk_set_id": 4780, "bk_parent_id": 4780,
            "bk_biz_id": 1, "service_template_id": 7, "set_template_id": 1,
            "service_category_id": 2, "default": 0, "host_apply_enabled": false,
            "bk_supplier_account": TENANT, "create_time": T, "last_time": T,
            "bk_created_by": "xxx", "bk_updated_by": "xxx", "bk_created_at": T, "bk_updated_at": T
        });
        expect(
            &read(&["list-modules", "--biz", "1", "--set-id", "4780"]),
            0,
            &ok(json!({"count": 1, "info": [module]})),
        );
        expect(
            &read(&["list-modules", "--biz", "1", "--set-id", "4781"]),
            0,
            &ok(json!({"count": 0, "info": []})),
        );
        expect(
            &read(&["list-modules", "--biz", "1", "--set-id", "4799"]),
            1,
            &fail(1_199_019, "No relevant data found"),
        );
        let modules_audit = read(&["audit", "--biz", "1", "--resource-type", "module"]).envelope();
        assert_eq!(modules_audit["data"]["count"], json!(1), "{modules_audit}");
        let record = &modules_audit["data"]["info"][0];
        assert_eq!(record["id"], json!(2));
        assert_eq!(record["operation_detail"]["details"]["cur_data"], module);
        assert_eq!(record["code"], json!("esb_test"));
        let sets_audit = read(&["audit", "--biz", "1", "--resource-type", "set"]).envelope();
        let ids: Vec<Value> = sets_audit["data"]["info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["resource_id"].clone())
            .collect();
        assert_eq!(
            ids,
            vec![
                json!(4780),
                json!(4781),
                json!(4782),
                json!(4783),
                json!(4784)
            ]
        );
        let all = read(&["audit", "--biz", "1"]).envelope();
        assert_eq!(all["data"]["count"], json!(6), "{all}");
        expect(
            &read(&["audit", "--biz", "7"]),
            1,
            &fail(
                1_199_011,
                "'bk_biz_id' the parameter is invalid or does not exist",
            ),
        );
        assert!(Path::new(&db_path).exists());
    }
}

/// `--store memory` lives for one invocation.
#[test]
fn memory_store_lives_for_one_invocation() {
    let s = Scratch::new();
    expect(
        &s.run(&["--store", "memory", "init"]),
        0,
        &ok(json!({"store": "memory", "path": null, "schema_version": 0})),
    );
    let fixture = example_fixture().display().to_string();
    let req = example_request().display().to_string();
    let args = [
        "--store",
        "memory",
        "--fixture",
        fixture.as_str(),
        "create-set",
        req.as_str(),
    ];
    expect(&s.run(&args), 0, &ok(example_set()));
    // A fresh memory store each time: the same request succeeds again.
    expect(&s.run(&args), 0, &ok(example_set()));
    expect(
        &s.run(&[
            "--store",
            "memory",
            "--supplier-account",
            TENANT,
            "find-set",
            "--biz",
            "1",
        ]),
        1,
        &fail(
            1_199_011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
    );
    // Nothing was written to the working directory.
    assert_eq!(std::fs::read_dir(s.dir.path()).unwrap().count(), 0);
}

/// Without `--db` the stores live in the working directory: `./cmdb.sqlite`, `./cmdb.sled`,
/// `./cmdb.redb`.
#[test]
fn default_store_paths() {
    let s = Scratch::new();
    expect(
        &s.run(&["init"]),
        0,
        &ok(json!({"store": "sqlite", "path": "cmdb.sqlite",
                   "schema_version": cmdb_store_sqlite::SCHEMA_VERSION})),
    );
    expect(
        &s.run(&["--store", "sled", "init"]),
        0,
        &ok(json!({"store": "sled", "path": "cmdb.sled",
                   "schema_version": cmdb_store_sled::layout::FORMAT_VERSION})),
    );
    expect(
        &s.run(&["--store", "redb", "init"]),
        0,
        &ok(json!({"store": "redb", "path": "cmdb.redb",
                   "schema_version": cmdb_store_redb::FORMAT_VERSION})),
    );
    assert!(s.dir.path().join("cmdb.sqlite").is_file());
    assert!(s.dir.path().join("cmdb.sled").is_dir());
    assert!(s.dir.path().join("cmdb.redb").is_file());
    // The sled store keeps what it is given across invocations.
    let fixture = example_fixture().display().to_string();
    let req = example_request().display().to_string();
    let args = [
        "--store",
        "sled",
        "--fixture",
        fixture.as_str(),
        "create-set",
        req.as_str(),
    ];
    expect(&s.run(&args), 0, &ok(example_set()));
    expect(
        &s.run(&args),
        1,
        &fail(1_101_108, "the same set name exist"),
    );
}

/// `--fixture`: loaded before the command; a failing load prints its envelope, skips the
/// command and exits 1; an unreadable one is a usage error.
#[test]
fn fixture_flag() {
    let s = Scratch::new();
    let db = s.path("f.sqlite");
    let fixture = example_fixture().display().to_string();
    let req = s.json("req.json", &request("x"));
    expect(
        &s.run(&["--db", &db, "load", &fixture]),
        0,
        &ok(example_counts(true)),
    );

    let conflicting = s.json(
        "conflict.json",
        &json!({"bk_supplier_account": TENANT,
                "businesses": [{"bk_biz_id": 2, "bk_biz_name": "two"},
                               {"bk_biz_id": 1, "bk_biz_name": "renamed"}]}),
    );
    expect(
        &s.run(&["--db", &db, "--fixture", &conflicting, "create-set", &req]),
        1,
        &fail(
            1_199_014,
            "duplicated instances exist, business 1 exists with other content",
        ),
    );
    let invalid = s.json(
        "invalid.json",
        &json!({"set_attributes": [{"bk_property_id": "p", "bk_property_type": "int",
                                    "isrequired": true}]}),
    );
    expect(
        &s.run(&["--db", &db, "--fixture", &invalid, "create-set", &req]),
        1,
        &fail(
            1_101_092,
            "'p' custom attributes of a mainline model may not be required",
        ),
    );
    let garbage = s.file("garbage.json", "{not json");
    expect(
        &s.run(&["--db", &db, "--fixture", &garbage, "create-set", &req]),
        1,
        &fail(1_199_000, "Deserializing JSON data failed"),
    );
    expect_usage(
        &s.run(&[
            "--db",
            &db,
            "--fixture",
            &s.path("missing.json"),
            "create-set",
            &req,
        ]),
        "missing.json",
    );
    // None of those commands ran: the set does not exist, nothing of the fixtures was loaded.
    let t = ["--db", db.as_str(), "--supplier-account", TENANT];
    let found = s
        .run(&[&t[..], &["find-set", "--biz", "1"]].concat())
        .envelope();
    assert_eq!(found["data"]["count"], json!(1), "{found}");
    expect(
        &s.run(&[&t[..], &["find-set", "--biz", "2"]].concat()),
        1,
        &fail(
            1_199_011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
    );
    // A good fixture (a repeat) is a no-op and the command runs.
    expect(
        &s.run(&["--db", &db, "--fixture", &fixture, "create-set", &req]),
        0,
        &ok(plain_set(4780, 1, 1, "x", TENANT)),
    );
    // `load` with a bad fixture: the envelope, exit 1.
    expect(
        &s.run(&["--db", &db, "load", &conflicting]),
        1,
        &fail(
            1_199_014,
            "duplicated instances exist, business 1 exists with other content",
        ),
    );
    let mainline = s.json(
        "mainline.json",
        &json!({"bk_supplier_account": TENANT, "mainline": ["a"]}),
    );
    expect(
        &s.run(&["--db", &db, "load", &mainline]),
        1,
        &fail(1_199_006, "'mainline' the parameter is invalid"),
    );
}

/// `--user`: the acting user of requests without one, and the fixture operator.
#[test]
fn user_flag() {
    let s = Scratch::new();
    let db = s.path("u.sqlite");
    let fixture = example_fixture().display().to_string();
    let anonymous = json!({"bk_supplier_account": TENANT, "bk_biz_id": 1,
                           "data": {"bk_set_name": "a", "bk_parent_id": 1}});
    let req = s.json("anon.json", &anonymous);
    expect(
        &s.run(&["--db", &db, "--fixture", &fixture, "create-set", &req]),
        1,
        &fail(1_199_027, "'user' authorization information query failed"),
    );
    expect(
        &s.run(&["--db", &db, "--user", "robot", "create-set", &req]),
        0,
        &ok(with(
            plain_set(4780, 1, 1, "a", TENANT),
            json!({"bk_created_by": "robot", "bk_updated_by": "robot"}),
        )),
    );
    // A request's own user wins.
    let named = s.json("named.json", &request("b"));
    expect(
        &s.run(&["--db", &db, "--user", "robot", "create-set", &named]),
        0,
        &ok(plain_set(4781, 1, 1, "b", TENANT)),
    );
    // The operator of a fixture load is --user, else admin.
    let s2 = Scratch::new();
    let db2 = s2.path("u2.sqlite");
    assert_eq!(
        s2.run(&["--db", &db2, "--user", "loader", "load", &fixture])
            .code,
        0
    );
    expect(
        &s2.run(&[
            "--db",
            &db2,
            "--supplier-account",
            TENANT,
            "find-set",
            "--biz",
            "1",
            "--set-id",
            "1",
        ]),
        0,
        &ok(json!({"count": 1, "info": [idle_set("loader")]})),
    );
}

/// `--supplier-account` selects the tenant of the read commands only.
#[test]
fn supplier_account_flag() {
    let s = Scratch::new();
    let db = s.path("t.sqlite");
    let fixture = example_fixture().display().to_string();
    let req = example_request().display().to_string();
    // It does not change create-set (the request names its tenant) nor load.
    expect(
        &s.run(&[
            "--db",
            &db,
            "--supplier-account",
            "other",
            "--fixture",
            &fixture,
            "create-set",
            &req,
        ]),
        0,
        &ok(example_set()),
    );
    let invalid = fail(
        1_199_011,
        "'bk_biz_id' the parameter is invalid or does not exist",
    );
    for cmd in [
        &["find-set", "--biz", "1"][..],
        &["list-modules", "--biz", "1", "--set-id", "4780"],
        &["audit", "--biz", "1"],
    ] {
        // Default tenant "0" and another tenant do not see business 1.
        expect(
            &s.run(&[&["--db", db.as_str()][..], cmd].concat()),
            1,
            &invalid,
        );
        expect(
            &s.run(
                &[
                    &["--db", db.as_str(), "--supplier-account", "other"][..],
                    cmd,
                ]
                .concat(),
            ),
            1,
            &invalid,
        );
        let seen = s.run(
            &[
                &["--db", db.as_str(), "--supplier-account", TENANT][..],
                cmd,
            ]
            .concat(),
        );
        assert_eq!(seen.code, 0, "{seen:?}");
    }
}

/// `--unknown-keys drop` drops what `reject` (the default) refuses.
#[test]
fn unknown_keys_flag() {
    let s = Scratch::new();
    let db = s.path("k.sqlite");
    let fixture = example_fixture().display().to_string();
    let mut body = request("k");
    body["data"]["zeta"] = json!(1);
    body["data"]["bk_obj_id"] = json!("set");
    let req = s.json("keys.json", &body);
    let refused = fail(
        1_199_011,
        "'bk_obj_id' the parameter is invalid or does not exist",
    );
    expect(
        &s.run(&["--db", &db, "--fixture", &fixture, "create-set", &req]),
        1,
        &refused,
    );
    expect(
        &s.run(&["--db", &db, "--unknown-keys", "reject", "create-set", &req]),
        1,
        &refused,
    );
    expect(
        &s.run(&["--db", &db, "--unknown-keys", "drop", "create-set", &req]),
        0,
        &ok(plain_set(4780, 1, 1, "k", TENANT)),
    );
}

/// `--policy`: a static authorizer; an unreadable or unparseable policy is a usage error
/// that touches no store.
#[test]
fn policy_flag() {
    let s = Scratch::new();
    let db = s.path("p.sqlite");
    let fixture = example_fixture().display().to_string();
    let req = example_request().display().to_string();
    let deny = s.json("deny.json", &json!({"allow": {"alice": [1], "bob": ["*"]}}));
    let mut denied = fail(9_900_403, "Do not have access permission.");
    denied["permission"] = denial(1, "demo");
    expect(
        &s.run(&[
            "--db",
            &db,
            "--policy",
            &deny,
            "--fixture",
            &fixture,
            "create-set",
            &req,
        ]),
        1,
        &denied,
    );
    // An unknown business is named "".
    let mut elsewhere = example_request_value();
    elsewhere["bk_biz_id"] = json!(77);
    let elsewhere = s.json("elsewhere.json", &elsewhere);
    let mut denied77 = fail(9_900_403, "Do not have access permission.");
    denied77["permission"] = denial(77, "");
    expect(
        &s.run(&["--db", &db, "--policy", &deny, "create-set", &elsewhere]),
        1,
        &denied77,
    );
    // Batches are denied as a whole.
    let batch = s.json(
        "batch.json",
        &json!({"bk_username": "xxx", "bk_supplier_account": TENANT, "bk_biz_id": 1,
                "data": {"sets": [{"bk_set_name": "a", "bk_parent_id": 1}]}}),
    );
    expect(
        &s.run(&["--db", &db, "--policy", &deny, "batch-create-set", &batch]),
        1,
        &denied,
    );

    let allow = s.json("allow.json", &json!({"allow": {"xxx": [1]}}));
    expect(
        &s.run(&["--db", &db, "--policy", &allow, "create-set", &req]),
        0,
        &ok(example_set()),
    );
    let star = s.json("star.json", &json!({"allow": {"xxx": ["*"]}}));
    let second = s.json("second.json", &request("second"));
    expect(
        &s.run(&["--db", &db, "--policy", &star, "create-set", &second]),
        0,
        &ok(plain_set(4781, 1, 1, "second", TENANT)),
    );

    let fresh = s.path("never.sqlite");
    for (name, contents) in [
        ("empty.json", ""),
        ("text.json", "allow everyone"),
        ("array.json", "[]"),
        ("list.json", r#"{"allow": []}"#),
        ("ids.json", r#"{"allow": {"a": ["1"]}}"#),
        ("float.json", r#"{"allow": {"a": [1.5]}}"#),
        ("notlist.json", r#"{"allow": {"a": 1}}"#),
    ] {
        let policy = s.file(name, contents);
        expect_usage(
            &s.run(&["--db", &fresh, "--policy", &policy, "create-set", &req]),
            name,
        );
    }
    expect_usage(
        &s.run(&[
            "--db",
            &fresh,
            "--policy",
            &s.path("nope.json"),
            "find-set",
            "--biz",
            "1",
        ]),
        "nope.json",
    );
    assert!(
        !Path::new(&fresh).exists(),
        "a usage error opened the store"
    );
}

fn example_request_value() -> Value {
    serde_json::from_slice(&std::fs::read(example_request()).unwrap()).unwrap()
}

/// Malformed inputs are answered with an envelope (exit 1) or a one-line error (exit 2),
/// never a panic.
#[test]
fn malformed_inputs() {
    let s = Scratch::new();
    let db = s.path("m.sqlite");
    let fixture = example_fixture().display().to_string();
    assert_eq!(s.run(&["--db", &db, "load", &fixture]).code, 0);
    let not_json = fail(1_199_000, "Deserializing JSON data failed");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_object = format!(r#"{{"bk_username":"u","bk_biz_id":1,"data":{}}}"#, deep);
    let huge = format!(
        r#"{{"bk_username":"u","bk_biz_id":1,"data":"{}"}}"#,
        "a".repeat(2 << 20)
    );
    let inputs: Vec<(&str, Vec<u8>, Value)> = vec![
        ("not-json", b"hello".to_vec(), not_json.clone()),
        ("empty", Vec::new(), not_json.clone()),
        ("array", b"[1, 2, 3]".to_vec(), not_json.clone()),
        ("string", b"\"create\"".to_vec(), not_json.clone()),
        ("number", b"42".to_vec(), not_json.clone()),
        ("null", b"null".to_vec(), not_json.clone()),
        ("garbage", b"{{{{[[[\x00\xff".to_vec(), not_json.clone()),
        (
            "truncated",
            br#"{"bk_username": "u", "data": {"#.to_vec(),
            not_json.clone(),
        ),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01], not_json.clone()),
        (
            "deep",
            deep_object.into_bytes(),
            fail(
                1_199_000,
                "Deserializing JSON data failed: nested deeper than 64 levels",
            ),
        ),
        (
            "huge",
            huge.into_bytes(),
            fail(
                1_199_000,
                "Deserializing JSON data failed: body exceeds 1 MiB",
            ),
        ),
        (
            "wrong-shapes",
            br#"{"bk_username": ["u"], "bk_biz_id": 1, "data": {}}"#.to_vec(),
            fail(1_199_027, "'user' authorization information query failed"),
        ),
        (
            "nested-garbage",
            br#"{"bk_username": "u", "bk_biz_id": {"a": [1, {"b": null}]}, "data": [[]]}"#.to_vec(),
            fail(1_199_009, "'bk_biz_id' parameters must be integral"),
        ),
        (
            "data-array",
            br#"{"bk_username": "u", "bk_biz_id": 1, "data": [{"bk_set_name": "a"}]}"#.to_vec(),
            fail(1_199_006, "'data' the parameter is invalid"),
        ),
    ];
    for (name, body, expected) in &inputs {
        let file = s.file(&format!("{name}.json"), body);
        for cmd in ["create-set", "batch-create-set"] {
            let run = s.run(&["--db", &db, cmd, &file]);
            expect(&run, 1, expected);
            // The same through stdin.
            let run = s.run_stdin(&["--db", &db, cmd, "-"], body);
            expect(&run, 1, expected);
        }
    }
    // Fixtures of the wrong shape.
    for (name, body, code) in [
        ("f-array", "[]", 1_199_000),
        ("f-text", "fixture", 1_199_000),
        ("f-empty", "", 1_199_000),
        ("f-string", "\"x\"", 1_199_000),
        ("f-shape", r#"{"businesses": "x"}"#, 1_199_006),
        (
            "f-nested",
            r#"{"businesses": [{"bk_biz_id": {"x": [1]}, "bk_biz_name": 1}]}"#,
            1_199_006,
        ),
        ("f-unknown", r#"{"hosts": []}"#, 1_199_006),
    ] {
        let file = s.file(&format!("{name}.json"), body);
        let run = s.run(&["--db", &db, "load", &file]);
        assert_eq!(run.code, 1, "{name}: {run:?}");
        let envelope = run.envelope();
        assert_eq!(envelope["code"], json!(code), "{name}: {envelope}");
        assert_eq!(envelope["result"], json!(false));
        assert_eq!(envelope["data"], Value::Null);
    }
    // Batch-specific shapes.
    let batch = s.json(
        "b-shape.json",
        &json!({"bk_username": "u", "bk_biz_id": 1, "data": {"sets": "x"}}),
    );
    expect(
        &s.run(&["--db", &db, "batch-create-set", &batch]),
        1,
        &fail(1_199_006, "'sets' the parameter is invalid"),
    );
    // Nothing above created a set.
    let found = s
        .run(&[
            "--db",
            &db,
            "--supplier-account",
            TENANT,
            "find-set",
            "--biz",
            "1",
        ])
        .envelope();
    assert_eq!(found["data"]["count"], json!(1), "{found}");
}

/// Usage errors: unreadable files and stores that cannot be opened exit 2 with one line on
/// stderr.
#[test]
fn usage_errors() {
    let s = Scratch::new();
    let db = s.path("x.sqlite");
    for (args, needle) in [
        (
            vec!["--db", db.as_str(), "create-set", "missing.json"],
            "missing.json",
        ),
        (
            vec!["--db", db.as_str(), "batch-create-set", "missing.json"],
            "missing.json",
        ),
        (
            vec!["--db", db.as_str(), "load", "missing.json"],
            "missing.json",
        ),
        (vec!["--db", db.as_str(), "create-set", "."], "cannot read"),
    ] {
        expect_usage(&s.run(&args), needle);
    }
    // A store that cannot be opened: a directory as the SQLite file, a file as the sled
    // directory, a SQLite file that is not one.
    let not_sqlite = s.file("garbage.sqlite", vec![0x5a; 8192]);
    let as_file = s.file("file.sled", "not a directory");
    for (store, path) in [
        ("sqlite", s.dir.path().display().to_string()),
        ("sqlite", not_sqlite),
        ("sled", as_file),
        ("redb", s.dir.path().display().to_string()),
        ("redb", s.path("garbage.sqlite")),
    ] {
        let run = s.run(&["--store", store, "--db", &path, "init"]);
        expect_usage(&run, "cannot open");
    }
    // --help and --version are not errors.
    let help = s.run(&["--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("create-set"), "{help:?}");
    assert_eq!(s.run(&["--version"]).code, 0);
    // No store file was created by any usage error.
    assert!(!Path::new(&db).exists());
}

/// Command-line argument errors are usage errors too: exit 2, one line on stderr.
#[test]
fn argument_errors_are_one_line() {
    let s = Scratch::new();
    let db = s.path("x.sqlite");
    for (args, needle) in [
        (vec!["--db", db.as_str(), "load"], "FILE"),
        (vec![], "Usage"),
        (vec!["--db", db.as_str(), "frobnicate"], "frobnicate"),
        (vec!["--db", db.as_str(), "find-set"], "--biz"),
        (vec!["--db", db.as_str(), "find-set", "--biz", "abc"], "abc"),
        (
            vec!["--db", db.as_str(), "list-modules", "--biz", "1"],
            "--set-id",
        ),
        (
            vec![
                "--db",
                db.as_str(),
                "audit",
                "--biz",
                "1",
                "--resource-type",
                "host",
            ],
            "host",
        ),
        (vec!["--store", "mongodb", "init"], "mongodb"),
        (vec!["--db", db.as_str(), "--bogus", "init"], "--bogus"),
        (
            vec!["--db", db.as_str(), "--unknown-keys", "maybe", "init"],
            "maybe",
        ),
    ] {
        expect_usage(&s.run(&args), needle);
    }
    assert!(!Path::new(&db).exists());
}

/// `cmdb serve` answers the seed request over HTTP on the ESB route, then stops cleanly on
/// SIGTERM: exit 0, and the SQLite store closed (its WAL checkpointed away).
#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let dir = TempDir::new().expect("a temp dir");
    serve_and_stop("sqlite", &dir.path().join("serve.sqlite"));
    assert!(
        !dir.path().join("serve.sqlite-wal").exists(),
        "store not closed cleanly"
    );
}

/// The same over a redb store, which is let go of at the stop: the next command opens it at
/// once and finds the set.
#[test]
fn serve_over_redb_answers_and_releases_the_store() {
    let s = Scratch::new();
    let db = s.path("serve.redb");
    serve_and_stop("redb", Path::new(&db));
    let found = s.run(&[
        "--store",
        "redb",
        "--db",
        &db,
        "--supplier-account",
        "123456789",
        "find-set",
        "--biz",
        "1",
    ]);
    assert_eq!(found.code, 0, "{found:?}");
    let envelope: Value = serde_json::from_str(&found.stdout).unwrap();
    assert_eq!(envelope["data"]["count"], json!(2), "{envelope}");
}

/// Runs `cmdb --store <store> --db <db> --fixture … serve`, sends the seed request twice, and
/// stops it with SIGTERM (exit 0, no panic).
fn serve_and_stop(store: &str, db: &Path) {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpStream;

    let mut child = Command::new(cmdb())
        .args(["--store", store])
        .arg("--db")
        .arg(db)
        .arg("--fixture")
        .arg(workspace().join("crates/cmdb-app/examples/fixture.json"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--default-language",
            "zh-cn",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb serve starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut banner = String::new();
    stderr.read_line(&mut banner).expect("the serving banner");
    let addr = banner
        .trim()
        .strip_prefix("cmdb: serving on http://")
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
        .to_owned();

    let body = std::fs::read(workspace().join("crates/cmdb-app/examples/create_set.json"))
        .expect("the example request");
    let send = |body: &[u8]| -> (String, Value) {
        let mut conn = TcpStream::connect(&addr).expect("connect to cmdb serve");
        write!(
            conn,
            "POST /api/c/compapi/v2/cc/create_set/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Request-Id: {RID}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .and_then(|()| conn.write_all(body))
        .expect("send the request");
        let mut response = String::new();
        conn.read_to_string(&mut response)
            .expect("read the response");
        let (head, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let envelope: Value = serde_json::from_str(payload.trim()).expect("a JSON envelope");
        (head.to_owned(), envelope)
    };
    let (head, envelope) = send(&body);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(envelope["result"], json!(true), "{envelope}");
    assert_eq!(envelope["request_id"], json!(RID));
    assert_eq!(envelope["data"]["bk_set_id"], json!(4780));
    assert_eq!(envelope["data"]["set_template_version"], json!(3));
    // `--default-language zh-cn`: a request without a language header is answered in Chinese.
    let (_, duplicate) = send(&body);
    assert_eq!(duplicate["code"], json!(1_101_108), "{duplicate}");
    assert_eq!(duplicate["message"], json!("同一父节点下已存在同名集群"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = child.wait().expect("cmdb serve exits");
    assert_eq!(exit.code(), Some(0));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    assert!(!rest.contains("panicked"), "{rest}");
}

/// Spec sections 14 and 15 through the binary: `--language`, `--utc-offset`, a body that is not
/// UTF-8, explicit nulls, and an atomic-batch element that is not an object.
#[test]
fn language_offset_and_settled_cases() {
    let s = Scratch::new();
    let db = s.path("i.sqlite");
    let fixture = example_fixture().display().to_string();
    let base = ["--db", db.as_str(), "--fixture", fixture.as_str()];
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|a| (*a).to_owned()).collect()
    };
    let run = |extra: &[&str], stdin: &[u8]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        s.run_stdin(&refs, stdin)
    };
    let body = |v: Value| v.to_string().into_bytes();

    // --utc-offset: every timestamp of the create is in that offset.
    let created = run(
        &["--utc-offset", "-05:30", "create-set", "-"],
        &body(request("west")),
    );
    assert_eq!(created.code, 0, "{created:?}");
    let doc: Value = serde_json::from_str(&created.stdout).unwrap();
    for key in ["create_time", "last_time", "bk_created_at", "bk_updated_at"] {
        let t = doc["data"][key].as_str().unwrap();
        assert!(t.ends_with("-05:30") && t.len() == 29, "{key}: {t}");
    }
    for bad in ["8", "+8:00", "+24:00", "+08:60", "east"] {
        expect_usage(&s.run(&["--utc-offset", bad, "init"]), "--utc-offset");
    }

    // --language zh-cn: the duplicate in Chinese; codes unchanged.
    let dup = run(
        &["--language", "zh-cn", "create-set", "-"],
        &body(request("west")),
    );
    expect(&dup, 1, &fail(1_101_108, "同一父节点下已存在同名集群"));
    let dup = run(
        &["--language", "en", "create-set", "-"],
        &body(request("west")),
    );
    expect(&dup, 1, &fail(1_101_108, "the same set name exist"));
    expect_usage(&s.run(&["--language", "fr", "init"]), "--language");

    // A body that is not UTF-8 anywhere: 1199000 before the missing user is noticed.
    let not_utf8 = b"{\"bk_biz_id\":1,\"data\":{\"bk_set_name\":\"\xff\xfe\",\"bk_parent_id\":1}}";
    expect(
        &run(&["create-set", "-"], not_utf8),
        1,
        &fail(1_199_000, "Deserializing JSON data failed"),
    );
    expect(
        &run(&["--language", "zh-cn", "create-set", "-"], not_utf8),
        1,
        &fail(1_199_000, "反序列化JSON数据失败"),
    );

    // Explicit nulls (section 14).
    let with_data = |data: Value| {
        body(
            json!({"bk_username": "xxx", "bk_supplier_account": TENANT, "bk_biz_id": 1, "data": data}),
        )
    };
    for (data, code, message) in [
        (
            json!({"bk_set_name": null, "bk_parent_id": 1}),
            1_199_007,
            "'bk_set_name' must be a string",
        ),
        (
            json!({"bk_set_name": "n", "bk_parent_id": null}),
            1_199_006,
            "'bk_parent_id' the parameter is invalid",
        ),
        (
            json!({"bk_set_name": "n", "bk_parent_id": 1, "set_template_id": null}),
            1_199_006,
            "'set_template_id' the parameter is invalid",
        ),
    ] {
        expect(
            &run(&["create-set", "-"], &with_data(data.clone())),
            1,
            &fail(code, message),
        );
    }

    // An atomic batch whose element 1 is not an object: named once, nothing written.
    let batch =
        with_data(json!({"sets": [{"bk_set_name": "b0", "bk_parent_id": 1}, "x"], "atomic": true}));
    expect(
        &run(&["batch-create-set", "-"], &batch),
        1,
        &fail(1_199_006, "'sets[1]' the parameter is invalid"),
    );
    let listed = s.run(&[
        "--db",
        &db,
        "--supplier-account",
        TENANT,
        "find-set",
        "--biz",
        "1",
    ]);
    // The idle set and "west": the refused batch and the refused creates wrote nothing.
    assert_eq!(listed.envelope()["data"]["count"], json!(2), "{listed:?}");
}
