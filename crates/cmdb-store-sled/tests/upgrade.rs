//! A store of layout version 1 (before the listing counters) opened by this build: it is
//! upgraded to version 2 with every counter counted from its indexes, in one transaction, and
//! its page counts are the listing sizes from then on.

mod common;

use std::path::Path;

use cmdb_core::ports::SetStore;
use cmdb_store_conformance::support::listing_counts;
use cmdb_store_sled::layout::{self, FORMAT_KEY};
use cmdb_store_sled::{SIDECAR_FILE, SledOptions, SledStore};
use common::{create, load_catalog, raw_sled, reopen};
use serde_json::{Value, json};

/// Turns the closed store at `path` into what a version-1 build left: no counter keys, the
/// version-1 marker in `meta` and in the sidecar (not vouching for the files).
fn make_version_1(path: &Path) {
    let db = raw_sled(path);
    let sequences = db.open_tree(layout::SEQUENCES).unwrap();
    let counters: Vec<_> = sequences
        .iter()
        .keys()
        .map(Result::unwrap)
        .filter(|k| k.starts_with(b"count/"))
        .collect();
    assert!(!counters.is_empty(), "this build wrote counters");
    for key in counters {
        sequences.remove(key).unwrap();
    }
    let v1 = b"\x01{\"format\":\"cmdb-store-sled\",\"version\":1}";
    db.open_tree(layout::META)
        .unwrap()
        .insert(FORMAT_KEY, &v1[..])
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let mut sidecar: Value =
        serde_json::from_slice(&std::fs::read(path.join(SIDECAR_FILE)).unwrap()).unwrap();
    sidecar["clean"] = json!(false);
    sidecar["version"] = json!(1);
    sidecar.as_object_mut().unwrap().remove("files");
    std::fs::write(path.join(SIDECAR_FILE), sidecar.to_string()).unwrap();
}

fn marker_version(path: &Path) -> u8 {
    let db = raw_sled(path);
    let marker = db
        .open_tree(layout::META)
        .unwrap()
        .get(FORMAT_KEY)
        .unwrap()
        .unwrap();
    let marker: Value = serde_json::from_slice(&marker[1..]).unwrap();
    marker["version"].as_u64().unwrap() as u8
}

#[tokio::test]
async fn a_version_1_store_is_counted_on_open_and_counts_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SledStore::open(&path, SledOptions::default())
        .await
        .unwrap();
    load_catalog(&store).await;
    for name in ["a", "b", "c"] {
        create(&store, 2, json!({"bk_set_name": name, "bk_parent_id": 2}))
            .await
            .unwrap();
    }
    let before = listing_counts(&store, 2).await;
    store.close().await.unwrap();
    drop(store);

    make_version_1(&path);
    assert_eq!(marker_version(&path), 1);
    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(listing_counts(&store, 2).await, before);
    create(&store, 2, json!({"bk_set_name": "d", "bk_parent_id": 2}))
        .await
        .unwrap();
    let after = listing_counts(&store, 2).await;
    assert_eq!(after[0], before[0] + 1);
    assert_eq!(after[1], before[1] + 1);
    store.close().await.unwrap();
    drop(store);
    // The clean close recorded the new marker (a raw open now would change the files).
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(path.join(SIDECAR_FILE)).unwrap()).unwrap();
    assert_eq!(
        (&sidecar["format"], &sidecar["version"], &sidecar["clean"]),
        (&json!("cmdb-store-sled"), &json!(2), &json!(true))
    );

    let store = reopen(&path, SledOptions::default()).unwrap();
    assert_eq!(listing_counts(&store, 2).await, after);
    store.close().await.unwrap();
}
