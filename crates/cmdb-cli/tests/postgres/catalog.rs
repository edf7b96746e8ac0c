//! A catalog change made by one engine while another serves creates from its facts cache: the
//! serving engine answers every create as the changed catalog says, both for a request its
//! cache would refuse (a new attribute) and for one its cache would let through without a new
//! unique rule's key.

use serde_json::{Value, json};

use crate::support::{Server, TestDb, cmdb, example, need_server, query};

/// The seed request under another name, with extra data fields.
fn request(name: &str, extra: &Value) -> Value {
    let text = std::fs::read_to_string(example("create_set.json")).expect("the seed request");
    let mut body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"]["bk_set_name"] = json!(name);
    for (k, v) in extra.as_object().expect("an object") {
        body["data"][k] = v.clone();
    }
    body
}

async fn create(http: &reqwest::Client, base: &str, name: &str, extra: Value) -> Value {
    http.post(format!("{base}/api/c/compapi/v2/cc/create_set/"))
        .json(&request(name, &extra))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("an envelope")
}

/// Loads a fixture with a third engine (a `cmdb load` process).
fn load(url: &str, dir: &tempfile::TempDir, fixture: &Value) {
    let path = dir.path().join("change.json");
    std::fs::write(&path, fixture.to_string()).expect("write the fixture");
    let out = cmdb(url, &["load", path.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

fn code(envelope: &Value) -> i64 {
    envelope["code"].as_i64().expect("a code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_serving_from_its_cache_follows_catalog_changes_made_elsewhere() {
    need_server!();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let seed = example("fixture.json");
    let out = cmdb(&db.url, &["load", seed.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (a, b) = (Server::start(&db.url).await, Server::start(&db.url).await);
    let http = reqwest::Client::new();

    // Engine a caches the facts of the seed request's shape, and refuses an unknown field.
    assert_eq!(code(&create(&http, &a.base, "warm", json!({})).await), 0);
    let unknown = create(&http, &a.base, "early", json!({"owner": "ops"})).await;
    assert_ne!(code(&unknown), 0, "{unknown}");

    // Another engine adds two attributes and a unique rule on one of them.
    load(
        &db.url,
        &dir,
        &json!({
            "bk_supplier_account": "123456789",
            "set_attributes": [
                {"bk_property_id": "owner", "bk_property_name": "Owner", "bk_property_type": "singlechar", "bk_biz_id": 0},
                {"bk_property_id": "zone", "bk_property_name": "Zone", "bk_property_type": "singlechar", "bk_biz_id": 0}
            ],
            "set_unique_rules": [["owner"]]
        }),
    );
    // Engine a's cache does not know `owner`: the refusal is decided again on fresh facts.
    let first = create(&http, &a.base, "first", json!({"owner": "ops"})).await;
    assert_eq!(code(&first), 0, "{first}");
    assert_eq!(first["data"]["owner"], json!("ops"));
    let duplicate = create(&http, &a.base, "second", json!({"owner": "ops"})).await;
    assert_eq!(code(&duplicate), 1_199_014, "{duplicate}");

    // A rule on `zone` arrives while engine a's cache (now at the previous catalog) would plan
    // a zone-less key set: its plan is refused as stale and planned again, so the key is taken.
    load(
        &db.url,
        &dir,
        &json!({"bk_supplier_account": "123456789", "set_unique_rules": [["zone"]]}),
    );
    let zoned = create(&http, &a.base, "zoned", json!({"zone": "z1"})).await;
    assert_eq!(code(&zoned), 0, "{zoned}");
    let id = zoned["data"]["bk_set_id"].as_i64().expect("an id");
    let keys: i64 = query(
        &db.url,
        &format!("SELECT count(*) FROM set_unique_keys WHERE bk_set_id = {id}"),
    )
    .await[0]
        .get(0);
    assert_eq!(keys, 1, "the zone key of set {id} is stored");
    let clash = create(&http, &b.base, "zoned-again", json!({"zone": "z1"})).await;
    assert_eq!(code(&clash), 1_199_014, "{clash}");

    a.kill().await;
    b.kill().await;
    db.drop_db().await;
}
