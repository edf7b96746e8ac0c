//! Unit tests of the SQL of the store: index refusals, documents bit for bit, sequences, corrupt
//! stored values.

use cmdb_core::ids::{AuditId, ModuleId, SequenceKind};
use cmdb_core::records::ResourceType;
use serde_json::{Value, json};

use super::*;
use crate::schema::migrate;
use cmdb_core::backend::SequencedTx;
use cmdb_core::ids::IdRange;
use cmdb_core::ports::StoreTx;
use cmdb_core::records::UniqueKey;

fn database() -> Connection {
    let mut conn = Connection::open_in_memory().expect("an in-memory database");
    migrate(&mut conn).expect("the schema");
    conn
}

fn set(id: i64, parent: i64, name: &str, builtin: bool, keys: &[&str]) -> SetRecord {
    let Value::Object(doc) = json!({"bk_set_id": id, "bk_set_name": name}) else {
        unreachable!("an object literal")
    };
    SetRecord {
        id: SetId(id),
        biz: BizId(1),
        parent,
        name: name.into(),
        builtin,
        unique_keys: keys
            .iter()
            .map(|v| UniqueKey {
                supplier_account: "0".into(),
                fields: vec!["owner".into()],
                values: format!("[\"{v}\"]"),
            })
            .collect(),
        doc: std::sync::Arc::new(doc),
    }
}

fn already_exists(result: Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::AlreadyExists(_)))
}

#[test]
fn the_indexes_refuse_what_the_domain_would_have_caught() {
    let conn = database();
    let mut tx = SqliteTx::new(&conn);
    tx.insert_set(&set(1, 1, "a", true, &["ops"]))
        .expect("first set");
    let name = |parent, name| IndexKey::Name {
        biz: BizId(1),
        parent,
        name,
    };
    assert_eq!(tx.probe(name(1, "a")), Ok(Some(SetId(1))));
    assert_eq!(tx.probe(name(1, "A")), Ok(None));
    assert_eq!(tx.probe(name(2, "a")), Ok(None));
    assert_eq!(tx.probe(IndexKey::Builtin(BizId(1))), Ok(Some(SetId(1))));

    assert!(already_exists(tx.insert_set(&set(2, 1, "a", false, &[]))));
    assert!(already_exists(tx.insert_set(&set(3, 1, "b", true, &[]))));
    assert!(already_exists(tx.insert_set(&set(
        4,
        1,
        "c",
        false,
        &["ops"]
    ))));
    assert!(already_exists(tx.insert_set(&set(1, 9, "d", false, &[]))));
    // Same name under another parent, and a free key, are fine.
    tx.insert_set(&set(5, 2, "a", false, &["dev"]))
        .expect("another parent");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM sets", [], |r| r.get(0))
        .expect("count");
    // Sets 1 and 5, and set 4 whose key was refused after its row went in: a failed
    // insert is never committed, the store rolls the whole transaction back.
    assert_eq!(count, 3);

    let module = ModuleRecord {
        id: ModuleId(1),
        set: SetId(1),
        biz: BizId(1),
        doc: Default::default(),
    };
    tx.insert_module(&module).expect("a module");
    assert!(already_exists(tx.insert_module(&module)));
    let audit = AuditRecord {
        id: AuditId(1),
        biz: BizId(1),
        resource_type: ResourceType::Set,
        resource_id: 1,
        resource_name: "a".into(),
        stamp: Default::default(),
        cur_data: Default::default(),
    };
    tx.insert_audit(&audit).expect("an audit record");
    assert!(already_exists(tx.insert_audit(&audit)));
}

#[test]
fn documents_read_back_bit_for_bit() {
    let conn = database();
    let mut tx = SqliteTx::new(&conn);
    let floats = [
        0.1,
        1.0 / 3.0,
        2.225_073_858_507_201e-308,
        5e-324,
        1.797_693_134_862_315_7e308,
        -0.0,
        9_007_199_254_740_993.0,
        123_456.789_012_345_68,
        // Two that serde_json's default (not `float_roundtrip`) parser reads back wrong.
        1.071_566_039_146_582_6e-75,
        -1.603_964_615_428_183e143,
    ];
    let Value::Object(doc) = json!({
        "floats": floats,
        "big": u64::MAX,
        "small": i64::MIN,
        "text": "空闲机池 \u{0} \"quoted\" \\ \u{1f}",
        "nested": {"z": [null, true, {"a": []}], "a": {}},
    }) else {
        unreachable!("an object literal")
    };
    let mut record = set(1, 1, "a", false, &[]);
    record.doc = std::sync::Arc::new(doc.clone());
    tx.insert_set(&record).expect("insert");
    let read = documents(&conn, SELECT_SETS, [1, -1, 0], "set").expect("read");
    assert_eq!(read, vec![doc]);
    let read_floats: Vec<f64> = read[0]["floats"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a float"))
        .collect();
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&read_floats), bits(&floats));
}

#[test]
fn sequences_are_read_once_and_written_back_when_changed() {
    let conn = database();
    let mut tx = SqliteTx::new(&conn);
    let mut view = SequencedTx::new(&mut tx);
    assert_eq!(
        view.take_ids(SequenceKind::Set, 1),
        Ok(IdRange { first: 1, len: 1 })
    );
    assert_eq!(
        view.take_ids(SequenceKind::Module, 3),
        Ok(IdRange { first: 1, len: 3 })
    );
    assert_eq!(view.take_ids(SequenceKind::Audit, 0).map(|r| r.len), Ok(0));
    assert_eq!(view.raise_sequence(SequenceKind::Attribute, 10), Ok(true));
    // Nothing reaches the table before the write-back.
    assert_eq!(counter_value(&conn, SequenceKind::Set.into()), Ok(0));
    view.finish().expect("write back");
    assert_eq!(counter_value(&conn, SequenceKind::Set.into()), Ok(1));
    assert_eq!(counter_value(&conn, SequenceKind::Module.into()), Ok(3));
    assert_eq!(counter_value(&conn, SequenceKind::Audit.into()), Ok(0));
    assert_eq!(counter_value(&conn, SequenceKind::Attribute.into()), Ok(10));
    let mut view = SequencedTx::new(&mut tx);
    assert_eq!(
        view.take_ids(SequenceKind::Set, 2),
        Ok(IdRange { first: 2, len: 2 })
    );
    view.finish().expect("write back");
    assert_eq!(counter_value(&conn, SequenceKind::Set.into()), Ok(3));
}

#[test]
fn undecodable_stored_json_is_corrupt() {
    let conn = database();
    conn.execute(
        "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
         VALUES (1, 1, 1, 'a', 0, '[1, 2]')",
        [],
    )
    .expect("a set whose document is not an object");
    conn.execute(
        "INSERT INTO businesses (bk_biz_id, doc) VALUES (2, '{\"bk_biz_id\": 2')",
        [],
    )
    .expect("a truncated business");
    conn.execute("UPDATE sequences SET last = -4 WHERE kind = 'audit'", [])
        .expect("a negative sequence");
    let sets = documents(&conn, SELECT_SETS, [1, -1, 0], "set");
    assert!(
        matches!(&sets, Err(StoreError::Corrupt(m)) if m.starts_with("set: stored JSON does not decode: ")),
        "{sets:?}"
    );
    let biz = business(&conn, BizId(2));
    assert!(
        matches!(&biz, Err(StoreError::Corrupt(m)) if m.starts_with("business: stored JSON does not decode: ")),
        "{biz:?}"
    );
    let mut tx = SqliteTx::new(&conn);
    let mut view = SequencedTx::new(&mut tx);
    assert_eq!(
        view.take_ids(SequenceKind::Audit, 1),
        Err(StoreError::Corrupt(
            "sequence audit holds a negative value -4".into()
        ))
    );
}

/// The plan SQLite picks for `sql`, one detail per step.
fn query_plan(conn: &Connection, sql: &str, params: impl Params) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("a plan");
    let rows = stmt.query_map(params, |r| r.get::<_, String>(3));
    rows.expect("the plan's rows")
        .map(|r| r.expect("a step"))
        .collect()
}

#[test]
fn pages_and_counts_are_index_range_reads() {
    let conn = database();
    let reads: [(&str, &[&dyn rusqlite::ToSql]); 6] = [
        (SELECT_SETS, &[&1, &1, &0]),
        (SELECT_MODULES, &[&1, &1, &0]),
        (COUNT_MODULES, &[&1]),
        (SELECT_AUDIT, &[&1, &"set", &1, &0]),
        (SELECT_AUDIT_AFTER, &[&10, &200]),
        (SELECT_SEQUENCE, &[&"count/sets/1"]),
    ];
    for (sql, params) in reads {
        let plan = query_plan(&conn, sql, params);
        assert!(!plan.is_empty(), "{sql}");
        for step in &plan {
            // Every table is searched through an index (no scan of a whole table), and no
            // sort of the listing comes before the page is cut.
            assert!(step.starts_with("SEARCH "), "{sql}: {plan:?}");
        }
    }
    let sets = query_plan(&conn, SELECT_SETS, [1, 1, 0]);
    assert_eq!(sets, ["SEARCH sets USING INDEX sets_by_biz (bk_biz_id=?)"]);
    let log = query_plan(&conn, SELECT_AUDIT_AFTER, [10, 200]);
    assert_eq!(log[0], "SEARCH a USING INDEX audit_by_id (id>?)", "{log:?}");
}

#[test]
fn a_page_is_cut_from_the_listing_and_counts_the_whole() {
    let conn = database();
    let mut tx = SqliteTx::new(&conn);
    let mut view = SequencedTx::new(&mut tx);
    for id in 1..=5 {
        StoreTx::insert_set(&mut view, &set(id, 1, &format!("s{id}"), false, &[])).expect("a set");
    }
    view.finish().expect("the counters written back");
    assert_eq!(counter_value(&conn, Counter::Sets(BizId(1))), Ok(5));
    let sets = |start, limit| {
        let page = SqliteTx::new(&conn)
            .page(
                DocQuery::Sets {
                    biz: BizId(1),
                    set: None,
                },
                Window { start, limit },
            )
            .expect("a page");
        let ids: Vec<i64> = page
            .docs
            .iter()
            .map(|d| d["bk_set_id"].as_i64().unwrap_or(0))
            .collect();
        (page.count, ids)
    };
    assert_eq!(sets(0, 2), (5, vec![1, 2]));
    assert_eq!(sets(3, 9), (5, vec![4, 5]));
    assert_eq!(sets(5, 1), (5, vec![]));
    assert_eq!(sets(0, usize::MAX), (5, vec![1, 2, 3, 4, 5]));
    let other_biz = SqliteTx::new(&conn)
        .page(
            DocQuery::Sets {
                biz: BizId(2),
                set: None,
            },
            Window { start: 0, limit: 1 },
        )
        .expect("a page");
    assert_eq!(other_biz, DocPage::default());
}
