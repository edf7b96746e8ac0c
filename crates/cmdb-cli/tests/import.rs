//! `cmdb import` (spec `watch-and-import.md` I1–I2): both formats, every attribute type from
//! CSV, the rejects file, re-runs, atomic rollback and limit, header errors, line numbers,
//! truncated and oversized rows, stdin, SIGINT with `--skip`, and SIGKILL mid-import.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

/// A store and its fixture in a temp dir.
struct Dir {
    dir: tempfile::TempDir,
}

const FIXTURE: &str = r#"{
  "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
  "set_attributes": [
    {"bk_property_id": "c_single", "bk_property_name": "s", "bk_property_type": "singlechar", "option": "^[a-z-]+$", "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_long", "bk_property_name": "l", "bk_property_type": "longchar", "option": null, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_int", "bk_property_name": "i", "bk_property_type": "int", "option": {"min": "1", "max": "99"}, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_float", "bk_property_name": "f", "bk_property_type": "float", "option": {"min": "0", "max": "10"}, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_enum", "bk_property_name": "e", "bk_property_type": "enum", "option": [{"id": "a", "name": "A", "is_default": true}, {"id": "b", "name": "B", "is_default": false}], "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_multi", "bk_property_name": "m", "bk_property_type": "enummulti", "option": [{"id": "a", "name": "A", "is_default": false}, {"id": "b", "name": "B", "is_default": false}], "default": null, "ismultiple": true, "bk_biz_id": 0},
    {"bk_property_id": "c_date", "bk_property_name": "d", "bk_property_type": "date", "option": null, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_time", "bk_property_name": "t", "bk_property_type": "time", "option": null, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_zone", "bk_property_name": "z", "bk_property_type": "timezone", "option": null, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_bool", "bk_property_name": "b", "bk_property_type": "bool", "option": null, "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_user", "bk_property_name": "u", "bk_property_type": "objuser", "option": null, "default": null, "ismultiple": true, "bk_biz_id": 0},
    {"bk_property_id": "c_list", "bk_property_name": "li", "bk_property_type": "list", "option": ["x", "y"], "default": null, "ismultiple": false, "bk_biz_id": 0},
    {"bk_property_id": "c_org", "bk_property_name": "o", "bk_property_type": "organization", "option": null, "default": null, "ismultiple": true, "bk_biz_id": 0}
  ]
}"#;

impl Dir {
    fn new() -> Dir {
        let dir = Dir {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let fixture = dir.write("fixture.json", FIXTURE.as_bytes());
        let out = dir.cmdb(&["load", fixture.to_str().expect("UTF-8")], None);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("file written");
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let db = self.path("cmdb.sqlite");
        let mut command = Command::new(env!("CARGO_BIN_EXE_cmdb"));
        command
            .args(["--db", db.to_str().expect("UTF-8"), "--user", "admin"])
            .args(args);
        command
    }

    fn cmdb(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmdb runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            input.write_all(bytes).expect("stdin written");
        }
        drop(input);
        child.wait_with_output().expect("cmdb ends")
    }

    /// `cmdb import --biz 1 ARGS`: exit status, summary, stderr.
    fn import(&self, args: &[&str], stdin: Option<&[u8]>) -> (Option<i32>, Value, String) {
        let mut all = vec!["import", "--biz", "1"];
        all.extend_from_slice(args);
        let out = self.cmdb(&all, stdin);
        let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code(),
            summary,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The sets of biz 1 but the idle pool, by id.
    fn sets(&self) -> Vec<Value> {
        let out = self.cmdb(&["find-set", "--biz", "1", "--limit", "500"], None);
        let reply: Value = serde_json::from_slice(&out.stdout).expect("find-set answers");
        let mut sets: Vec<Value> = reply["data"]["info"]
            .as_array()
            .expect("info")
            .iter()
            .filter(|s| s["default"] == json!(0))
            .cloned()
            .collect();
        sets.sort_by_key(|s| s["bk_set_id"].as_i64());
        sets
    }

    fn count(&self) -> i64 {
        let out = self.cmdb(&["find-set", "--biz", "1", "--limit", "1"], None);
        let reply: Value = serde_json::from_slice(&out.stdout).expect("find-set answers");
        reply["data"]["count"].as_i64().expect("count") - 1
    }
}

fn names(sets: &[Value]) -> Vec<&str> {
    sets.iter()
        .map(|s| s["bk_set_name"].as_str().expect("name"))
        .collect()
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8")
}

/// The summary without its timing.
fn counts(summary: &Value) -> Value {
    let mut summary = summary.clone();
    let map = summary.as_object_mut().expect("summary object");
    assert!(map.remove("seconds").is_some_and(|s| s.is_number()));
    assert!(map.remove("rows_per_second").is_some_and(|s| s.is_number()));
    summary
}

#[test]
fn every_attribute_type_converts_from_csv() {
    let dir = Dir::new();
    let csv = "\u{feff}bk_set_name,bk_parent_id,bk_capacity,bk_set_env,c_single,c_long,c_int,c_float,c_enum,c_multi,c_date,c_time,c_zone,c_bool,c_user,c_list,c_org\n\
               all,1,10,1,ab-c,long text,42,2.5,b,\"a,b\",2026-01-31,2026-01-31 10:00:00,Asia/Shanghai,true,\"alice,bob\",y,\"1,2\"\n\
               empty,1,,,,,,,,,,,,0,,,\n\
               json-lists,1,,,,,,,,\"[\"\"b\"\"]\",,,,1,,,[3]\n";
    let file = dir.write("types.csv", csv.as_bytes());
    let (code, summary, stderr) = dir.import(&[arg(&file)], None);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        counts(&summary),
        json!({"read": 3, "created": 3, "refused": 0, "refused_by_code": {}})
    );
    let sets = dir.sets();
    assert_eq!(names(&sets), ["all", "empty", "json-lists"]);
    let all = &sets[0];
    let expected = json!({"bk_capacity": 10, "bk_set_env": "1", "c_single": "ab-c",
        "c_long": "long text", "c_int": 42, "c_float": 2.5, "c_enum": "b", "c_multi": ["a", "b"],
        "c_date": "2026-01-31", "c_time": "2026-01-31 10:00:00", "c_zone": "Asia/Shanghai",
        "c_bool": true, "c_user": "alice,bob", "c_list": "y", "c_org": [1, 2]});
    for (key, value) in expected.as_object().expect("object") {
        assert_eq!(&all[key], value, "{key}");
    }
    // Empty cells are absent fields: the model's fill-ins.
    let empty = &sets[1];
    assert_eq!(
        (
            &empty["bk_capacity"],
            &empty["bk_set_env"],
            &empty["c_enum"]
        ),
        (&Value::Null, &json!("3"), &json!("a"))
    );
    assert_eq!(
        (&empty["c_bool"], &empty["c_single"]),
        (&json!(false), &json!(""))
    );
    assert_eq!(
        (&sets[2]["c_multi"], &sets[2]["c_bool"], &sets[2]["c_org"]),
        (&json!(["b"]), &json!(true), &json!([3]))
    );
}

#[test]
fn values_that_do_not_convert_get_create_sets_codes_and_the_rejects_file() {
    let dir = Dir::new();
    let csv = "bk_set_name,bk_parent_id,c_int,c_bool,c_float,c_enum\n\
               ok-1,1,5,true,1,a\n\
               bad-int,1,x,,,\n\
               bad-bool,1,,yes,,\n\
               bad-float,1,,,abc,\n\
               bad-enum,1,,,,zz\n\
               short,1\n\
               ok-2,1,6,false,2,b\n";
    let file = dir.write("rows.csv", csv.as_bytes());
    let rejects = dir.path("rejects.jsonl");
    let (code, summary, stderr) = dir.import(&["--rejects", arg(&rejects), arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(
        counts(&summary),
        json!({"read": 7, "created": 2, "refused": 5,
               "refused_by_code": {"1199000": 1, "1199006": 2, "1199009": 1, "1199025": 1}})
    );
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "line 3: 1199009 'c_int' parameters must be integral",
            "line 4: 1199025 'c_bool' must be a bool",
            "line 5: 1199006 'c_float' the parameter is invalid",
            "line 6: 1199006 'c_enum' the parameter is invalid",
            "line 7: 1199000 Deserializing JSON data failed: the row has 2 cells, the header 6",
        ]
    );
    let lines = std::fs::read_to_string(&rejects).expect("rejects written");
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        r#"{"line":3,"code":1199009,"message":"'c_int' parameters must be integral","row":{"bk_parent_id":1,"bk_set_name":"bad-int","c_int":"x"}}"#
    );
    assert_eq!(
        lines[4],
        r#"{"line":7,"code":1199000,"message":"Deserializing JSON data failed: the row has 2 cells, the header 6","raw":"short,1"}"#
    );
    assert_eq!(names(&dir.sets()), ["ok-1", "ok-2"]);
}

/// Off a terminal (stderr is a pipe here) nothing but the refusals goes to stderr unless
/// `--progress` is given; with it, a last line states the totals.
#[test]
fn progress_off_a_terminal_is_a_line_only_when_asked() {
    let dir = Dir::new();
    let csv = "bk_set_name,bk_parent_id\nquiet-1,1\nquiet-2,1\nbad,x\n";
    let file = dir.write("quiet.csv", csv.as_bytes());
    let (code, _, quiet) = dir.import(&[arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(quiet.lines().count(), 1, "only the refusal: {quiet}");
    assert!(quiet.starts_with("line 4: 1199006"), "{quiet}");

    let csv = "bk_set_name,bk_parent_id\nloud-1,1\nloud-2,1\nloud-3,1\n";
    let file = dir.write("loud.csv", csv.as_bytes());
    let (code, summary, loud) = dir.import(&["--progress", arg(&file)], None);
    assert_eq!(code, Some(0));
    assert_eq!(summary["created"], json!(3));
    let last = loud.lines().last().expect("a progress line");
    let rest = last
        .strip_prefix("cmdb import: 3 rows, ")
        .and_then(|rest| rest.strip_suffix(" rows/s, 100%, done"))
        .unwrap_or_else(|| panic!("the totals line: {loud}"));
    assert!(rest.parse::<u64>().is_ok(), "a rate: {last}");
    assert_eq!(
        names(&dir.sets()),
        ["quiet-1", "quiet-2", "loud-1", "loud-2", "loud-3"]
    );
}

#[test]
fn jsonl_from_stdin_then_a_rerun_refuses_every_row_as_existing() {
    let dir = Dir::new();
    let jsonl = b"{\"bk_set_name\": \"j-1\", \"bk_parent_id\": 1, \"c_int\": 7}\n\n\
                  {\"bk_set_name\": \"j-2\", \"bk_parent_id\": 1}\r\n\
                  {\"bk_set_name\": \"j-3\", \"bk_parent_id\": 1, \"bk_set_name\": \"x\"}\n";
    let (code, summary, stderr) = dir.import(&["--format", "jsonl", "-"], Some(jsonl));
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("line 4: 1199000 "), "{stderr}");
    assert_eq!(
        counts(&summary),
        json!({"read": 3, "created": 2, "refused": 1, "refused_by_code": {"1199000": 1}})
    );
    let sets = dir.sets();
    assert_eq!(names(&sets), ["j-1", "j-2"]);
    assert_eq!(sets[0]["c_int"], json!(7));
    // Ids in file order.
    assert_eq!(
        sets[1]["bk_set_id"].as_i64(),
        sets[0]["bk_set_id"].as_i64().map(|id| id + 1)
    );
    let file = dir.write("again.jsonl", &jsonl[..]);
    let (code, summary, stderr) = dir.import(&[arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(
        counts(&summary),
        json!({"read": 3, "created": 0, "refused": 3,
               "refused_by_code": {"1101108": 2, "1199000": 1}})
    );
    assert!(stderr.starts_with("line 1: 1101108 the same set name exist\nline 3: 1101108 "));
    assert_eq!(names(&dir.sets()), ["j-1", "j-2"]);
    // stdin without --format is a usage error.
    let (code, summary, stderr) = dir.import(&["-"], Some(b""));
    assert_eq!((code, summary), (Some(2), Value::Null));
    assert!(stderr.contains("--format"), "{stderr}");
}

#[test]
fn an_atomic_import_stores_everything_or_nothing() {
    let dir = Dir::new();
    let bad = "bk_set_name,bk_parent_id,c_int\na-1,1,1\na-2,1,500\na-3,1,x\na-4,1,4\n";
    let file = dir.write("bad.csv", bad.as_bytes());
    let (code, summary, stderr) = dir.import(&["--atomic", arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "line 3: 1199006 'c_int' the parameter is invalid",
            "line 4: 1199009 'c_int' parameters must be integral",
        ]
    );
    assert_eq!(
        counts(&summary),
        json!({"read": 2, "created": 0, "refused": 2,
               "refused_by_code": {"1199006": 1, "1199009": 1}})
    );
    assert_eq!(dir.count(), 0);
    // A name repeated inside the file is refused at the commit: nothing stored either.
    let twice = dir.write(
        "twice.csv",
        b"bk_set_name,bk_parent_id\nb-1,1\nb-2,1\nb-1,1\n",
    );
    let (code, summary, stderr) = dir.import(&["--atomic", arg(&twice)], None);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim_end(), "line 4: 1101108 the same set name exist");
    assert_eq!(summary["created"], json!(0));
    assert_eq!(dir.count(), 0);
    let good = dir.write("good.csv", b"bk_set_name,bk_parent_id\nb-1,1\nb-2,1\n");
    let (code, summary, _) = dir.import(&["--atomic", arg(&good)], None);
    assert_eq!((code, &summary["created"]), (Some(0), &json!(2)));
    assert_eq!(names(&dir.sets()), ["b-1", "b-2"]);
    // Over the atomic limit: exit 2 before anything is written.
    let mut big = String::from("bk_set_name,bk_parent_id\n");
    for i in 0..50_001 {
        big.push_str(&format!("big-{i},1\n"));
    }
    let big = dir.write("big.csv", big.as_bytes());
    let (code, summary, stderr) = dir.import(&["--atomic", arg(&big)], None);
    assert_eq!((code, summary), (Some(2), Value::Null));
    assert!(stderr.contains("at most 50000 rows and 32 MiB"), "{stderr}");
    assert_eq!(dir.count(), 2);
}

#[test]
fn a_bad_or_repeated_header_column_is_exit_2_before_any_write() {
    let dir = Dir::new();
    for (csv, named) in [
        (
            "bk_set_name,bk_parent_id,nope\nx,1,2\n",
            "names \"nope\", which is no property",
        ),
        (
            "bk_set_name,bk_parent_id,bk_set_name\nx,1,y\n",
            "names \"bk_set_name\" twice",
        ),
        ("", "has no header line"),
    ] {
        let file = dir.write("h.csv", csv.as_bytes());
        let (code, summary, stderr) = dir.import(&[arg(&file)], None);
        assert_eq!((code, summary), (Some(2), Value::Null), "{csv}");
        assert!(stderr.contains(named), "{stderr}");
        assert_eq!(dir.count(), 0);
    }
    let (code, _, stderr) = dir.import(&[arg(&dir.path("missing.csv"))], None);
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("cmdb: cannot read "), "{stderr}");
}

#[test]
fn line_numbers_are_physical_and_bad_rows_do_not_stop_the_import() {
    let dir = Dir::new();
    let mut csv = String::from("bk_set_name,bk_parent_id,description\n");
    csv.push_str("q-1,1,\"two\nlines\"\n"); // lines 2-3
    csv.push_str("q-2,x,\n"); // line 4: a string parent
    csv.push_str(&format!("q-3,1,{}\n", "d".repeat(2 << 20))); // line 5: 2 MiB
    csv.push_str("q-4,1,after\n"); // line 6
    csv.push_str("q-5,1,\"never closed\n"); // lines 7-8: the file ends in the quote
    csv.push_str("tail");
    let file = dir.write("lines.csv", csv.as_bytes());
    let rejects = dir.path("rejects.jsonl");
    let (code, summary, stderr) = dir.import(&["--rejects", arg(&rejects), arg(&file)], None);
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "line 4: 1199006 'bk_parent_id' the parameter is invalid",
            "line 5: 1199000 Deserializing JSON data failed: body exceeds 1 MiB",
            "line 7: 1199000 Deserializing JSON data failed: the file ends inside this row",
        ]
    );
    assert_eq!(
        counts(&summary),
        json!({"read": 5, "created": 2, "refused": 3,
               "refused_by_code": {"1199000": 2, "1199006": 1}})
    );
    let sets = dir.sets();
    assert_eq!(names(&sets), ["q-1", "q-4"]);
    assert_eq!(sets[0]["description"], json!("two\nlines"));
    let rejects = std::fs::read_to_string(&rejects).expect("rejects");
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        rejects[1],
        json!({"line": 5, "code": 1_199_000,
        "message": "Deserializing JSON data failed: body exceeds 1 MiB", "raw": ""})
    );
    assert_eq!(rejects[2]["raw"], json!("q-5,1,\"never closed\ntail"));
    // JSONL: a 2 MiB line and a truncated last line.
    let jsonl = format!(
        "{{\"bk_set_name\": \"big\", \"bk_parent_id\": 1, \"description\": \"{}\"}}\n{{\"bk_set_name\": \"j-ok\", \"bk_parent_id\": 1}}\n{{\"bk_set_name\": \"cut",
        "d".repeat(2 << 20)
    );
    let file = dir.write("lines.jsonl", jsonl.as_bytes());
    let (code, summary, stderr) = dir.import(&[arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "line 1: 1199000 Deserializing JSON data failed: body exceeds 1 MiB",
            "line 3: 1199000 Deserializing JSON data failed",
        ]
    );
    assert_eq!(summary["created"], json!(1));
}

/// A CSV of `rows` sets where every 1000th row (from row 500) has a bad int: refusals come
/// out group by group, telling that groups have committed.
fn big_csv(dir: &Dir, rows: usize) -> PathBuf {
    let mut csv = String::from("bk_set_name,bk_parent_id,c_int\n");
    for i in 0..rows {
        let value = if i % 1000 == 500 { "x" } else { "5" };
        csv.push_str(&format!("s-{i:06},1,{value}\n"));
    }
    dir.write("big.csv", csv.as_bytes())
}

/// Starts an import of `file`, waits for its first stderr line (a group committed), and sends
/// `signal`; answers the output.
fn interrupted(dir: &Dir, file: &Path, signal: &str) -> (Option<i32>, Value, Vec<String>) {
    let mut child = dir
        .command(&["import", "--biz", "1", arg(file)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cmdb runs");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("a first refusal");
    assert!(first.starts_with("line "), "{first}");
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut lines = vec![first.trim_end().to_owned()];
    lines.extend(stderr.lines().map(|l| l.expect("stderr line")));
    let out = child.wait_with_output().expect("cmdb ends");
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), summary, lines)
}

#[test]
fn sigint_finishes_the_group_in_flight_and_skip_resumes_to_the_same_store() {
    const ROWS: usize = 30_000;
    let whole = Dir::new();
    let file = big_csv(&whole, ROWS);
    let (code, summary, _) = whole.import(&[arg(&file)], None);
    assert_eq!((code, &summary["created"]), (Some(1), &json!(ROWS - 30)));

    let dir = Dir::new();
    let file = big_csv(&dir, ROWS);
    let (code, summary, lines) = interrupted(&dir, &file, "-INT");
    assert_eq!(code, Some(1), "{summary}");
    let stopped = summary["stopped_after_line"]
        .as_u64()
        .expect("stopped_after_line");
    assert_eq!(summary["skip"], json!(stopped));
    assert!(stopped < ROWS as u64 + 1, "{summary}");
    // Whole groups of 1024 rows (line 1 is the header).
    assert_eq!((stopped - 1) % 1024, 0, "{summary}");
    assert_eq!(summary["read"], json!(stopped - 1));
    assert_eq!(dir.count() as u64 + lines.len() as u64, stopped - 1);
    let (code, resumed, _) = dir.import(&["--skip", &stopped.to_string(), arg(&file)], None);
    assert_eq!(code, Some(1));
    assert_eq!(resumed["read"], json!(ROWS as u64 + 1 - stopped));
    let strip = |sets: Vec<Value>| -> Vec<(Value, Value, Value)> {
        sets.into_iter()
            .map(|s| {
                (
                    s["bk_set_id"].clone(),
                    s["bk_set_name"].clone(),
                    s["c_int"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(dir.count(), whole.count());
    assert_eq!(strip(dir.sets()), strip(whole.sets()));
}

#[test]
fn sigkill_leaves_whole_groups_stored_and_nothing_half_stored() {
    const ROWS: usize = 30_000;
    let dir = Dir::new();
    let file = big_csv(&dir, ROWS);
    let (code, summary, lines) = interrupted(&dir, &file, "-KILL");
    assert_eq!((code, summary), (None, Value::Null));
    let stored = dir.count() as usize;
    // The stored sets are exactly the rows not refused of the first k groups of 1024.
    let kept = |rows: usize| (0..rows).filter(|i| i % 1000 != 500).count();
    let rows = (1..=ROWS.div_ceil(1024))
        .map(|k| (k * 1024).min(ROWS))
        .find(|&rows| kept(rows) == stored)
        .unwrap_or_else(|| panic!("{stored} stored sets are no whole groups"));
    let expected: Vec<String> = (0..rows)
        .filter(|i| i % 1000 != 500)
        .map(|i| format!("s-{i:06}"))
        .collect();
    // Every reported refusal is of a row not stored; every stored set has its audit record.
    for line in &lines {
        let n: usize = line
            .strip_prefix("line ")
            .and_then(|l| l.split(':').next())
            .and_then(|n| n.parse().ok())
            .expect("a refusal line");
        assert_eq!((n - 2) % 1000, 500, "{line}");
        assert!(n - 2 < rows, "{line}");
    }
    let out = dir.cmdb(&["audit", "--biz", "1", "--resource-type", "set"], None);
    let audit: Value = serde_json::from_slice(&out.stdout).expect("audit answers");
    assert_eq!(audit["data"]["count"], json!(stored));
    // The first page is the file's first rows, in id order.
    let page = dir.sets();
    let want: Vec<&str> = expected
        .iter()
        .take(page.len())
        .map(String::as_str)
        .collect();
    assert_eq!(names(&page), want);
}
