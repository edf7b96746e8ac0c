//! Cases: set names unique per parent (1101108), custom unique rules (1199014), one built-in
//! set per biz (1199054); a refused create writes nothing and consumes no id.

use cmdb_core::error::{Code, Error};
use cmdb_core::ids::{BizId, SetId};
use cmdb_core::ports::SetStoreExt;
use serde_json::{Value, json};

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, create, create_ok, facts, idle_set_doc, load_ok, plain_set_doc,
    plan_ok, sequences, set_ids, snapshot, worked_example_fixture,
};

/// A second set of the same (trimmed, byte-exact) name under the same parent is 1101108; it
/// writes nothing and consumes no id, so the next create gets the next id.
pub async fn duplicate_name_under_same_parent_is_refused<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    let web = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "web", "set_template_id": 1}),
    )
    .await;
    assert_eq!(web.set.id, SetId(4780));
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    assert_eq!(sequences(store).await, [4780, 4, 2, 0]);

    for data in [
        json!({"bk_parent_id": 1, "bk_set_name": "web"}),
        json!({"bk_parent_id": 1, "bk_set_name": " web\u{3000}", "set_template_id": 1}),
        json!({"bk_parent_id": 1, "bk_set_name": "空闲机池", "bk_set_desc": "not the idle set"}),
    ] {
        let err = create(store, &ctx, 1, data.clone()).await.unwrap_err();
        assert_eq!(err, Error::SetNameDuplicated, "{data}");
        assert_eq!(err.code(), Code::SetNameDuplicated);
        assert_eq!(err.code().number(), 1_101_108);
        assert_eq!(
            snapshot(store, &[EXAMPLE_TENANT], &[1]).await,
            before,
            "{data}"
        );
    }

    // Names are case sensitive; the next success takes the next id.
    let upper = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "Web"}),
    )
    .await;
    assert_eq!(upper.set.id, SetId(4781));
    assert_eq!(upper.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(), [3]);
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 4780, 4781]
    );
    assert_eq!(sequences(store).await, [4781, 4, 3, 0]);
}

/// The same name under another parent (two instances of a custom level), in another biz, or in
/// another tenant is accepted.
pub async fn same_name_under_other_parent_or_biz_is_accepted<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(
        store,
        json!({
            "mainline": ["province"],
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}, {"bk_biz_id": 2, "bk_biz_name": "two"}],
            "mainline_instances": [
                {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1},
                {"bk_obj_id": "province", "bk_inst_id": 51, "bk_inst_name": "gx", "bk_biz_id": 1, "bk_parent_id": 1},
                {"bk_obj_id": "province", "bk_inst_id": 60, "bk_inst_name": "hn", "bk_biz_id": 2, "bk_parent_id": 2}
            ]
        }),
    )
    .await;
    load_ok(
        store,
        json!({"bk_supplier_account": "t2", "businesses": [{"bk_biz_id": 3, "bk_biz_name": "three"}]}),
    )
    .await;
    let ctx = context("0");
    let named = |parent: i64| json!({"bk_parent_id": parent, "bk_set_name": "web"});

    let under_50 = create_ok(store, &ctx, 1, named(50)).await;
    let under_51 = create_ok(store, &ctx, 1, named(51)).await;
    let in_biz_2 = create_ok(store, &ctx, 2, named(60)).await;
    let in_t2 = create_ok(store, &context("t2"), 3, named(3)).await;
    // The idle set's name is free under a province: the idle set hangs under the biz.
    let idle_name = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 50, "bk_set_name": "空闲机池"}),
    )
    .await;
    assert_eq!(
        [
            under_50.set.id,
            under_51.set.id,
            in_biz_2.set.id,
            in_t2.set.id,
            idle_name.set.id
        ],
        [SetId(4), SetId(5), SetId(6), SetId(7), SetId(8)]
    );
    assert_eq!(
        store.sets(BizId(1), None).await.unwrap(),
        vec![
            idle_set_doc("0", 1, 1),
            plain_set_doc("0", 1, 50, 4, "web"),
            plain_set_doc("0", 1, 51, 5, "web"),
            plain_set_doc("0", 1, 50, 8, "空闲机池"),
        ]
    );
    assert_eq!(
        store.sets(BizId(2), None).await.unwrap(),
        vec![idle_set_doc("0", 2, 2), plain_set_doc("0", 2, 60, 6, "web")]
    );
    assert_eq!(
        store.sets(BizId(3), None).await.unwrap(),
        vec![
            idle_set_doc("t2", 3, 3),
            plain_set_doc("t2", 3, 3, 7, "web")
        ]
    );

    // Under the same parent it is still refused.
    let before = snapshot(store, &["0", "t2"], &[1, 2, 3]).await;
    for (biz, parent) in [(1, 50), (1, 51), (2, 60)] {
        let err = create(store, &ctx, biz, named(parent)).await.unwrap_err();
        assert_eq!(err.code(), Code::SetNameDuplicated, "parent {parent}");
    }
    assert_eq!(snapshot(store, &["0", "t2"], &[1, 2, 3]).await, before);
}

fn owner_fixture() -> Value {
    json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}, {"bk_biz_id": 2, "bk_biz_name": "two"}],
        "set_attributes": [
            {"bk_property_id": "owner_team", "bk_property_name": "Owner team",
             "bk_property_type": "singlechar", "option": "^[a-z-]*$", "bk_biz_id": 0}
        ],
        "set_unique_rules": [["bk_set_desc"], ["bk_biz_id", "owner_team"]]
    })
}

/// A custom unique rule refuses a second set with the same values (1199014 naming the rule's
/// fields), after the name rule and in rule-key order; sets whose key values are null, absent
/// or `""` are not constrained by it.
pub async fn custom_unique_rule_is_enforced<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, owner_fixture()).await;
    let ctx = context("0");
    let owner_rule = Error::DuplicateItem {
        fields: vec!["bk_biz_id".into(), "owner_team".into()],
    };
    let desc_rule = Error::DuplicateItem {
        fields: vec!["bk_set_desc".into()],
    };

    let a = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "a", "owner_team": "ops"}),
    )
    .await;
    assert_eq!(a.set.id, SetId(3));
    let mut a_doc = plain_set_doc("0", 1, 1, 3, "a");
    a_doc.insert("owner_team".into(), json!("ops"));
    assert_eq!(*a.set.doc, a_doc);

    let before = snapshot(store, &["0"], &[1, 2]).await;
    let err = create(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "b", "owner_team": "ops"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, owner_rule);
    assert_eq!(err.code(), Code::DuplicateItem);
    assert_eq!(
        err.to_string(),
        "duplicated instances exist, fields [bk_biz_id,owner_team] duplicated"
    );
    // The name rule comes first.
    let err = create(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "a", "owner_team": "ops"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::SetNameDuplicated);
    assert_eq!(snapshot(store, &["0"], &[1, 2]).await, before);

    // Empty, null and absent values are not constrained, any number of times.
    for (next, (name, owner)) in (4..).zip([
        ("c", Some(json!(""))),
        ("d", Some(json!(""))),
        ("e", Some(Value::Null)),
        ("f", Some(Value::Null)),
        ("g", None),
        ("h", None),
    ]) {
        let mut data = json!({"bk_parent_id": 1, "bk_set_name": name});
        if let Some(owner) = owner {
            data["owner_team"] = owner;
        }
        let created = create_ok(store, &ctx, 1, data).await;
        assert_eq!(created.set.id, SetId(next), "{name}");
        assert_eq!(created.set.unique_keys, vec![], "{name}");
    }
    // The rule includes bk_biz_id: the same owner in another biz is fine.
    let other_biz = create_ok(
        store,
        &ctx,
        2,
        json!({"bk_parent_id": 2, "bk_set_name": "b", "owner_team": "ops"}),
    )
    .await;
    assert_eq!(other_biz.set.id, SetId(10));

    // A second rule; when both are violated, the first by rule key is reported.
    create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "i", "bk_set_desc": "shared"}),
    )
    .await;
    let before = snapshot(store, &["0"], &[1, 2]).await;
    let err = create(
        store,
        &ctx,
        2,
        json!({"bk_parent_id": 2, "bk_set_name": "j", "bk_set_desc": "shared"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, desc_rule);
    let err = create(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "k", "bk_set_desc": "shared", "owner_team": "ops"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, owner_rule);
    assert_eq!(snapshot(store, &["0"], &[1, 2]).await, before);
    assert_eq!(sequences(store).await[0], 11);
    assert_eq!(
        set_ids(&store.sets(BizId(1), None).await.unwrap()),
        [1, 3, 4, 5, 6, 7, 8, 9, 11]
    );
}

/// A biz has at most one built-in set: `default: 1` in a biz that has one is 1199054 at
/// planning, and also at commit for a plan made before another built-in set was committed.
pub async fn builtin_set_is_unique_per_biz<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    load_ok(
        store,
        json!({
            "bk_supplier_account": EXAMPLE_TENANT,
            "businesses": [{"bk_biz_id": 2, "bk_biz_name": "bare", "create_idle_set": false}]
        }),
    )
    .await;
    let ctx = context(EXAMPLE_TENANT);
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1, 2]).await;

    let err = create(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "pool", "default": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::BuiltinForbidden);
    assert_eq!(err.code().number(), 1_199_054);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1, 2]).await, before);

    // Biz 2 has none: two built-in plans made before either is committed.
    let first = plan_ok(
        store,
        &ctx,
        2,
        json!({"bk_parent_id": 2, "bk_set_name": "pool", "default": 1}),
    )
    .await;
    let second = plan_ok(
        store,
        &ctx,
        2,
        json!({"bk_parent_id": 2, "bk_set_name": "pool-2", "default": "1"}),
    )
    .await;
    assert!(first.builtin && second.builtin);
    let created = store.create_set(first).await.unwrap();
    assert_eq!(created.set.id, SetId(4780));
    assert!(created.set.builtin);
    let mut pool = plain_set_doc(EXAMPLE_TENANT, 2, 2, 4780, "pool");
    pool.insert("default".into(), json!(1));
    assert_eq!(*created.set.doc, pool);
    assert_eq!(
        facts(store, EXAMPLE_TENANT, 2).await.builtin_set,
        Some(SetId(4780))
    );

    let before = snapshot(store, &[EXAMPLE_TENANT], &[1, 2]).await;
    let err = store.create_set(second).await.unwrap_err();
    assert_eq!(err, Error::BuiltinForbidden);
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1, 2]).await, before);
    assert_eq!(
        facts(store, EXAMPLE_TENANT, 1).await.builtin_set,
        Some(SetId(1))
    );

    // An ordinary set next to it is fine and takes the next id.
    let plain = create_ok(
        store,
        &ctx,
        2,
        json!({"bk_parent_id": 2, "bk_set_name": "pool-2", "default": 0}),
    )
    .await;
    assert_eq!(plain.set.id, SetId(4781));
    assert!(!plain.set.builtin);
    assert_eq!(
        facts(store, EXAMPLE_TENANT, 2).await.builtin_set,
        Some(SetId(4780))
    );
}
