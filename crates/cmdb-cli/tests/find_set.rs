//! `cmdb find-set --start/--limit`: a page of the sets and the total count.

use std::process::Command;

use serde_json::{Value, json};

fn cmdb(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, Value) {
    let db = dir.join("cmdb.sqlite");
    let output = Command::new(env!("CARGO_BIN_EXE_cmdb"))
        .args(["--db", db.to_str().expect("UTF-8 path"), "--user", "admin"])
        .args(args)
        .output()
        .expect("cmdb runs");
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), json)
}

#[test]
fn find_set_pages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = dir.path().join("fixture.json");
    std::fs::write(
        &fixture,
        r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}"#,
    )
    .expect("fixture written");
    let (code, _) = cmdb(dir.path(), &["load", fixture.to_str().expect("UTF-8 path")]);
    assert_eq!(code, Some(0));
    for name in ["a", "b", "c"] {
        let request = dir.path().join(format!("{name}.json"));
        let body = json!({"bk_username": "admin", "bk_biz_id": 1,
                          "data": {"bk_parent_id": 1, "bk_set_name": name}});
        std::fs::write(&request, body.to_string()).expect("request written");
        let (code, reply) = cmdb(
            dir.path(),
            &["create-set", request.to_str().expect("UTF-8")],
        );
        assert_eq!(code, Some(0), "{reply}");
    }
    // The idle pool and three sets: 4 in all; the page skips one and takes two.
    let (code, reply) = cmdb(
        dir.path(),
        &["find-set", "--biz", "1", "--start", "1", "--limit", "2"],
    );
    assert_eq!(code, Some(0), "{reply}");
    assert_eq!(reply["data"]["count"], json!(4));
    let names: Vec<&Value> = reply["data"]["info"]
        .as_array()
        .expect("info")
        .iter()
        .map(|s| &s["bk_set_name"])
        .collect();
    assert_eq!(names, [&json!("a"), &json!("b")]);
    // Over 500: refused naming the flag's field.
    let (code, reply) = cmdb(dir.path(), &["find-set", "--biz", "1", "--limit", "501"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (&reply["code"], &reply["message"]),
        (
            &json!(1_199_006),
            &json!("'limit' the parameter is invalid")
        )
    );
}
