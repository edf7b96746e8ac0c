//! The current schema over a database of version 1 (`tests/data/schema_v1.sql`, a dump of the
//! README's main job plus one more create): the open migrates it; every set, module and audit
//! record reads back as version 1 stored it; ids continue; every listing is counted; and a
//! record written from then on is stored without a second copy of the document it records,
//! yet reads back whole.

use cmdb_core::backend::DocQuery;
use cmdb_core::ids::{AuditId, BizId, SetId};
use cmdb_core::listing::Window;
use cmdb_core::ports::{SetStore, SetStoreExt};
use cmdb_core::records::{Document, ResourceType};
use cmdb_store_sqlite::SCHEMA_VERSION;
use rusqlite::Connection;
use serde_json::{Value, json};

use cmdb_store_conformance::support::listing_counts;

use crate::support::{TempDb, create_named, plan};

const V1_DUMP: &str = include_str!("../data/schema_v1.sql");

/// The documents of one table of a raw connection, in key order.
fn raw_docs(conn: &Connection, sql: &str) -> Vec<Document> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let texts: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    texts
        .iter()
        .map(|t| serde_json::from_str(t).expect("a stored document"))
        .collect()
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_reads_and_continues_as_it_was() {
    let db = TempDb::new();
    let raw = Connection::open(db.path()).expect("raw");
    raw.execute_batch(V1_DUMP)
        .expect("the version 1 dump loads");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 1);
    let v1_sets = raw_docs(&raw, "SELECT doc FROM sets ORDER BY bk_set_id");
    let v1_modules = raw_docs(&raw, "SELECT doc FROM modules ORDER BY bk_module_id");
    let v1_audit = raw_docs(&raw, "SELECT doc FROM audit ORDER BY id");
    drop(raw);
    let ids: Vec<i64> = v1_sets
        .iter()
        .map(|d| d["bk_set_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![1, 4780, 4781],
        "the dump holds what its header says"
    );
    assert_eq!(v1_audit.len(), 3);

    let store = db.open();
    assert_eq!(store.inner().schema_version(), Ok(SCHEMA_VERSION));
    assert_eq!(SCHEMA_VERSION, 5);
    assert_eq!(store.sets(BizId(1), None).await.expect("sets"), v1_sets);
    // Version 3's index serves pages of the migrated sets.
    let window = Window { start: 1, limit: 1 };
    let page = store.page(
        DocQuery::Sets {
            biz: BizId(1),
            set: None,
        },
        window,
    );
    let page = page.await.expect("a page");
    assert_eq!((page.count, page.docs), (3, v1_sets[1..2].to_vec()));
    let seed_modules = store.modules(SetId(4780)).await.expect("modules");
    assert_eq!(
        seed_modules,
        v1_modules[3..].to_vec(),
        "the template's module"
    );
    assert_eq!(
        store.audit_records(BizId(1), None).await.expect("audit"),
        v1_audit
    );
    let module_audits = store
        .audit_records(BizId(1), Some(ResourceType::Module))
        .await
        .expect("audit");
    assert_eq!(module_audits, vec![v1_audit[1].clone()]);
    // Version 5 counted every listing: each page's count is its listing's size.
    assert_eq!(listing_counts(&store, 1).await, [3, 2, 1, 3]);

    // Ids continue where version 1 left them: set 4782, module 5, audit records 4 and 5.
    let from_template = plan(
        &store,
        json!({"bk_parent_id": 1, "bk_set_name": "after-migration", "set_template_id": 1}),
    )
    .await
    .expect("planned");
    let created = store.create_set(from_template).await.expect("created");
    assert_eq!(created.set.id, SetId(4782));
    assert_eq!(created.modules[0].id.0, 5);
    let audit_ids: Vec<i64> = created.audits.iter().map(|a| a.id.0).collect();
    assert_eq!(audit_ids, vec![4, 5]);
    let plain = create_named(&store, "plain-after").await.expect("created");
    assert_eq!((plain.set.id, plain.audits[0].id.0), (SetId(4783), 6));

    // The new records read back whole: cur_data is the set's and the module's document.
    let audit = store.audit_records(BizId(1), None).await.expect("audit");
    assert_eq!(audit.len(), 6);
    assert_eq!(
        listing_counts(&store, 1).await,
        [5, 4, 2, 6],
        "the counters count on"
    );
    assert_eq!(audit[..3], v1_audit[..]);
    let expected: Vec<Document> = created
        .audits
        .iter()
        .chain(&plain.audits)
        .map(|a| a.document())
        .collect();
    assert_eq!(audit[3..], expected[..]);
    // Version 4's index is the event log: the old records (whole) and the new (joined back).
    let log = store.audit_after(AuditId(0), 100).await.expect("the log");
    assert_eq!(log, audit);
    let tail = store
        .audit_after(AuditId(4), 1)
        .await
        .expect("the log after 4");
    assert_eq!(tail, audit[4..5].to_vec());
    assert_eq!(
        audit[3]["operation_detail"]["details"]["cur_data"],
        Value::Object((*created.set.doc).clone())
    );
    assert_eq!(
        audit[4]["operation_detail"]["details"]["cur_data"],
        Value::Object((*created.modules[0].doc).clone())
    );
    store.close().await.expect("closed");

    // On disk: no `audit` table any more; version 1's records keep their documents, and the
    // new ones hold no copy of the document they record.
    let raw = Connection::open(db.path()).expect("raw");
    let old_table: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'audit'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    assert_eq!(old_table, 0);
    let stored = raw_docs(&raw, "SELECT doc FROM audit_records ORDER BY id");
    let cur_data: Vec<bool> = stored
        .iter()
        .map(|d| d["operation_detail"]["details"]["cur_data"].is_null())
        .collect();
    assert_eq!(cur_data, vec![false, false, false, true, true, true]);
    drop(raw);

    // A second open finds the current version and changes nothing.
    let again = db.open();
    assert_eq!(again.inner().schema_version(), Ok(SCHEMA_VERSION));
    assert_eq!(
        again.audit_records(BizId(1), None).await.expect("audit"),
        audit
    );
}

#[tokio::test]
async fn an_audit_record_whose_set_row_is_gone_is_a_corrupt_store_not_a_null() {
    let db = TempDb::new();
    let store = db.open();
    crate::support::load(&store, crate::support::example_fixture()).await;
    create_named(&store, "web").await.expect("created");
    store.close().await.expect("closed");
    let raw = Connection::open(db.path()).expect("raw");
    raw.execute("DELETE FROM sets WHERE bk_set_id = 4780", [])
        .expect("delete the row");
    drop(raw);
    let store = db.open();
    let err = store
        .audit_records(BizId(1), None)
        .await
        .expect_err("the record's document is gone");
    assert_eq!(
        err,
        cmdb_core::StoreError::Corrupt("the set or module of audit record 1 is missing".into())
    );
}
