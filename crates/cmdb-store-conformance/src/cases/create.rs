//! Cases: a create persists exactly its plan, fixture loads write the idle set, reads follow
//! their ordering contracts.

use cmdb_core::error::Code;
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::ports::SetStoreExt;
use cmdb_core::records::ResourceType;
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, audit_doc, context, create, create_ok, created_docs, doc, facts,
    idle_module_docs, idle_set_doc, load_ok, plan_ok, sequences, snapshot, template_module_doc,
    two_service_fixture, worked_example_fixture, worked_example_request,
};

/// The worked example end to end: the exact set, module and audit documents, their ids, and
/// the refused repeat that writes nothing.
pub async fn worked_example_document<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);

    let created = create_ok(store, &ctx, 1, worked_example_request()).await;
    let t = crate::support::TIME;
    let set_doc = doc(json!({
        "bk_biz_id": 1,
        "bk_capacity": 1000,
        "bk_created_at": t,
        "bk_created_by": "xxx",
        "bk_parent_id": 1,
        "bk_service_status": "1",
        "bk_set_desc": "test-set",
        "bk_set_env": "3",
        "bk_set_id": 4780,
        "bk_set_name": "test-set",
        "bk_supplier_account": "123456789",
        "bk_updated_at": t,
        "bk_updated_by": "xxx",
        "create_time": t,
        "default": 0,
        "description": "description",
        "last_time": t,
        "set_template_id": 1,
        "set_template_version": 3
    }));
    let module_doc = template_module_doc(EXAMPLE_TENANT, 1, 4780, 4, "nginx", 7, 1, 2);
    let audits = vec![
        audit_doc(
            EXAMPLE_TENANT,
            1,
            1,
            ResourceType::Set,
            4780,
            "test-set",
            &set_doc,
        ),
        audit_doc(
            EXAMPLE_TENANT,
            2,
            1,
            ResourceType::Module,
            4,
            "nginx",
            &module_doc,
        ),
    ];
    assert_eq!(
        created_docs(&created),
        (set_doc.clone(), vec![module_doc.clone()], audits.clone())
    );
    assert_eq!(created.set.id, SetId(4780));
    assert_eq!(created.set.biz, BizId(1));
    assert_eq!(created.set.parent, 1);
    assert_eq!(created.set.name, "test-set");
    assert!(!created.set.builtin);
    assert_eq!(
        store.sets(BizId(1), Some(SetId(4780))).await.unwrap(),
        vec![set_doc]
    );
    assert_eq!(store.modules(SetId(4780)).await.unwrap(), vec![module_doc]);
    assert_eq!(store.audit_records(BizId(1), None).await.unwrap(), audits);
    assert_eq!(sequences(store).await, [4780, 4, 2, 0]);

    // The same request again: 1101108 and nothing written.
    let before = snapshot(store, &[EXAMPLE_TENANT], &[1]).await;
    let err = create(store, &ctx, 1, worked_example_request())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::SetNameDuplicated);
    assert_eq!(err.to_string(), "the same set name exist");
    assert_eq!(snapshot(store, &[EXAMPLE_TENANT], &[1]).await, before);
}

/// A template with two service templates: one module per service template in service-template
/// id order, audit records set first then modules, and every read returns exactly what the
/// create reported.
pub async fn create_persists_exactly_the_plan<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, two_service_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);

    let plan = plan_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "  full-set\t", "set_template_id": 2,
               "bk_set_env": "2", "bk_capacity": 7}),
    )
    .await;
    let created = store.create_set(plan.clone()).await.unwrap();

    let mut set_doc = crate::support::plain_set_doc(EXAMPLE_TENANT, 1, 1, 4780, "full-set");
    set_doc.insert("bk_set_env".into(), json!("1"));
    set_doc.insert("bk_capacity".into(), json!(7));
    set_doc.insert("set_template_id".into(), json!(2));
    set_doc.insert("set_template_version".into(), json!(5));
    let mut plan_doc = set_doc.clone();
    plan_doc.remove("bk_set_id");
    assert_eq!(plan.set_doc, plan_doc);

    let modules = vec![
        template_module_doc(EXAMPLE_TENANT, 1, 4780, 4, "nginx", 7, 2, 2),
        template_module_doc(EXAMPLE_TENANT, 1, 4780, 5, "php", 8, 2, 3),
    ];
    let set_audit = audit_doc(
        EXAMPLE_TENANT,
        1,
        1,
        ResourceType::Set,
        4780,
        "full-set",
        &set_doc,
    );
    let module_audits = vec![
        audit_doc(
            EXAMPLE_TENANT,
            2,
            1,
            ResourceType::Module,
            4,
            "nginx",
            &modules[0],
        ),
        audit_doc(
            EXAMPLE_TENANT,
            3,
            1,
            ResourceType::Module,
            5,
            "php",
            &modules[1],
        ),
    ];
    let mut audits = vec![set_audit.clone()];
    audits.extend(module_audits.iter().cloned());
    assert_eq!(
        created_docs(&created),
        (set_doc.clone(), modules.clone(), audits.clone())
    );
    assert_eq!(
        created.modules.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [4, 5]
    );
    assert!(created.modules.iter().all(|m| m.set == SetId(4780)));
    assert_eq!(
        created.audits.iter().map(|a| a.id.0).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // Reads return exactly what was reported, in id order.
    assert_eq!(
        store.sets(BizId(1), None).await.unwrap(),
        vec![idle_set_doc(EXAMPLE_TENANT, 1, 1), set_doc.clone()]
    );
    assert_eq!(
        store.sets(BizId(1), Some(SetId(4780))).await.unwrap(),
        vec![set_doc]
    );
    assert_eq!(store.modules(SetId(4780)).await.unwrap(), modules);
    assert_eq!(
        store.modules(SetId(1)).await.unwrap(),
        idle_module_docs(EXAMPLE_TENANT, 1, 1, 1)
    );
    assert_eq!(store.audit_records(BizId(1), None).await.unwrap(), audits);
    assert_eq!(
        store
            .audit_records(BizId(1), Some(ResourceType::Set))
            .await
            .unwrap(),
        vec![set_audit]
    );
    assert_eq!(
        store
            .audit_records(BizId(1), Some(ResourceType::Module))
            .await
            .unwrap(),
        module_audits
    );
    // A set of this biz asked under another biz is not there.
    assert_eq!(
        store.sets(BizId(2), Some(SetId(4780))).await.unwrap(),
        vec![]
    );
    assert_eq!(sequences(store).await, [4780, 5, 3, 0]);

    // A second create without a template: next ids, no module.
    let plain = create_ok(
        store,
        &ctx,
        1,
        json!({"bk_parent_id": 1, "bk_set_name": "plain"}),
    )
    .await;
    let plain_doc = crate::support::plain_set_doc(EXAMPLE_TENANT, 1, 1, 4781, "plain");
    assert_eq!(
        created_docs(&plain),
        (
            plain_doc.clone(),
            vec![],
            vec![audit_doc(
                EXAMPLE_TENANT,
                4,
                1,
                ResourceType::Set,
                4781,
                "plain",
                &plain_doc
            )]
        )
    );
    assert_eq!(store.modules(SetId(4781)).await.unwrap(), vec![]);
    assert_eq!(sequences(store).await, [4781, 5, 4, 0]);
}

/// A fixture load creates each new business's idle set and three modules, with ids in
/// declaration order, and writes no audit record.
pub async fn loading_a_business_creates_its_idle_set<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    let report = load_ok(
        store,
        json!({
            "businesses": [
                {"bk_biz_id": 5, "bk_biz_name": "five"},
                {"bk_biz_id": 3, "bk_biz_name": "three", "create_idle_set": false},
                {"bk_biz_id": 2, "bk_biz_name": "two", "archived": true}
            ]
        }),
    )
    .await;
    assert_eq!(report.created["businesses"], 3);
    assert_eq!(report.created["mainline"], 0);
    assert_eq!(
        store.sets(BizId(5), None).await.unwrap(),
        vec![idle_set_doc("0", 5, 1)]
    );
    assert_eq!(
        store.modules(SetId(1)).await.unwrap(),
        idle_module_docs("0", 5, 1, 1)
    );
    assert_eq!(store.sets(BizId(3), None).await.unwrap(), vec![]);
    assert_eq!(
        store.sets(BizId(2), None).await.unwrap(),
        vec![idle_set_doc("0", 2, 2)]
    );
    assert_eq!(
        store.modules(SetId(2)).await.unwrap(),
        idle_module_docs("0", 2, 2, 4)
    );
    assert_eq!(facts(store, "0", 5).await.builtin_set, Some(SetId(1)));
    assert_eq!(facts(store, "0", 3).await.builtin_set, None);
    assert_eq!(facts(store, "0", 2).await.builtin_set, Some(SetId(2)));
    for biz in [5, 3, 2] {
        assert_eq!(store.audit_records(BizId(biz), None).await.unwrap(), vec![]);
    }
    assert_eq!(sequences(store).await, [2, 6, 0, 0]);
    let two = store.business(BizId(2)).await.unwrap().unwrap();
    assert_eq!(
        (
            two.bk_biz_id,
            two.bk_biz_name.as_str(),
            two.archived,
            two.bk_supplier_account.as_str()
        ),
        (BizId(2), "two", true, "0")
    );
    // The first business fixed the tenant's mainline to "no custom level".
    assert_eq!(store.mainline("0").await.unwrap(), Vec::<String>::new());
}

/// A fresh store and unknown keys: every read is empty, every sequence is 0.
pub async fn reads_of_unknown_things_are_empty<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    assert!(!store.backend().is_empty());
    assert_eq!(sequences(store).await, [0, 0, 0, 0]);
    assert_eq!(store.business(BizId(1)).await.unwrap(), None);
    assert_eq!(store.mainline("0").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.mainline_instance(50).await.unwrap(), None);
    assert_eq!(facts(store, "0", 1).await.attributes, vec![]);
    assert_eq!(facts(store, "0", 1).await.unique_rules, vec![]);
    assert_eq!(store.set_template(1).await.unwrap(), None);
    assert_eq!(store.service_template(7).await.unwrap(), None);
    assert_eq!(facts(store, "0", 1).await.builtin_set, None);
    assert_eq!(store.sets(BizId(1), None).await.unwrap(), vec![]);
    assert_eq!(store.sets(BizId(1), Some(SetId(1))).await.unwrap(), vec![]);
    assert_eq!(store.modules(SetId(1)).await.unwrap(), vec![]);
    assert_eq!(store.audit_records(BizId(1), None).await.unwrap(), vec![]);
    assert_eq!(
        store
            .audit_records(BizId(1), Some(ResourceType::Module))
            .await
            .unwrap(),
        vec![]
    );

    // After a load, other bizzes, tenants and sets are still empty.
    load_ok(store, worked_example_fixture()).await;
    assert_eq!(store.mainline("0").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.business(BizId(2)).await.unwrap(), None);
    assert_eq!(store.sets(BizId(2), None).await.unwrap(), vec![]);
    assert_eq!(store.sets(BizId(1), Some(SetId(2))).await.unwrap(), vec![]);
    assert_eq!(store.modules(SetId(4780)).await.unwrap(), vec![]);
    assert_eq!(facts(store, "0", 1).await.attributes, vec![]);
    assert_eq!(store.sequence_last(SequenceKind::Audit).await.unwrap(), 0);
}

/// Catalog reads return what was loaded: attributes visible in a biz (global and its own, of
/// its tenant) by definition ordinal, unique rules by key, templates, instances.
pub async fn catalog_reads_follow_their_order<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(
        store,
        json!({
            "mainline": ["province"],
            "businesses": [{"bk_biz_id": 1, "bk_biz_name": "one"}, {"bk_biz_id": 2, "bk_biz_name": "two"}],
            "mainline_instances": [
                {"bk_obj_id": "province", "bk_inst_id": 50, "bk_inst_name": "gd", "bk_biz_id": 1, "bk_parent_id": 1},
                {"bk_obj_id": "province", "bk_inst_id": 60, "bk_inst_name": "gx", "bk_biz_id": 2, "bk_parent_id": 2}
            ],
            "set_attributes": [
                {"bk_property_id": "zeta", "bk_property_name": "Zeta", "bk_property_type": "singlechar", "bk_biz_id": 0},
                {"bk_property_id": "mid", "bk_property_name": "Mid", "bk_property_type": "int",
                 "option": {"min": "1", "max": "10"}, "bk_biz_id": 2},
                {"bk_property_id": "alpha", "bk_property_name": "Alpha", "bk_property_type": "bool", "bk_biz_id": 1}
            ],
            "set_unique_rules": [["zeta"], ["bk_biz_id", "alpha"], ["mid", "zeta"]],
            "service_templates": [{"id": 9, "bk_biz_id": 2, "name": "db", "service_category_id": 4}],
            "set_templates": [{"id": 3, "bk_biz_id": 2, "name": "data", "version": 1, "service_template_ids": [9],
                               "attributes": [{"bk_property_id": "mid", "bk_property_value": 4}]}]
        }),
    )
    .await;
    load_ok(
        store,
        json!({
            "bk_supplier_account": "other",
            "businesses": [{"bk_biz_id": 3, "bk_biz_name": "three"}],
            "set_attributes": [
                {"bk_property_id": "beta", "bk_property_name": "Beta", "bk_property_type": "singlechar", "bk_biz_id": 0}
            ],
            "set_unique_rules": [["beta"]]
        }),
    )
    .await;

    let ids = |attrs: Vec<cmdb_core::catalog::StoredAttribute>| {
        attrs
            .into_iter()
            .map(|a| (a.raw.bk_property_id, a.bk_supplier_account))
            .collect::<Vec<_>>()
    };
    let pair = |id: &str, tenant: &str| (id.to_owned(), tenant.to_owned());
    assert_eq!(
        ids(facts(store, "0", 1).await.attributes),
        vec![pair("zeta", "0"), pair("alpha", "0")]
    );
    assert_eq!(
        ids(facts(store, "0", 2).await.attributes),
        vec![pair("zeta", "0"), pair("mid", "0")]
    );
    assert_eq!(
        ids(facts(store, "other", 3).await.attributes),
        vec![pair("beta", "other")]
    );
    let ordinals: Vec<i64> = facts(store, "0", 2)
        .await
        .attributes
        .iter()
        .map(|a| a.ordinal)
        .collect();
    assert!(ordinals[0] < ordinals[1], "ordinals {ordinals:?}");
    let mid = &facts(store, "0", 2).await.attributes[1].raw;
    assert_eq!(
        (
            mid.bk_property_type.as_str(),
            &mid.option,
            mid.bk_biz_id,
            mid.isrequired
        ),
        ("int", &json!({"min": "1", "max": "10"}), 2, false)
    );

    let rules: Vec<Vec<String>> = facts(store, "0", 1)
        .await
        .unique_rules
        .into_iter()
        .map(|r| r.fields)
        .collect();
    assert_eq!(
        rules,
        vec![
            vec!["bk_biz_id".to_owned(), "alpha".to_owned()],
            vec!["mid".to_owned(), "zeta".to_owned()],
            vec!["zeta".to_owned()],
        ]
    );
    assert_eq!(
        facts(store, "other", 3).await.unique_rules[0].fields,
        vec!["beta".to_owned()]
    );

    assert_eq!(
        store.mainline("0").await.unwrap(),
        vec!["province".to_owned()]
    );
    assert_eq!(store.mainline("other").await.unwrap(), Vec::<String>::new());
    let inst = store.mainline_instance(50).await.unwrap().unwrap();
    assert_eq!(
        (
            inst.bk_obj_id.as_str(),
            inst.bk_inst_name.as_str(),
            inst.bk_biz_id,
            inst.bk_parent_id,
            inst.bk_supplier_account.as_str()
        ),
        ("province", "gd", BizId(1), 1, "0")
    );
    let service = store.service_template(9).await.unwrap().unwrap();
    assert_eq!(
        (
            service.bk_biz_id,
            service.name.as_str(),
            service.service_category_id
        ),
        (BizId(2), "db", 4)
    );
    let template = store.set_template(3).await.unwrap().unwrap();
    assert_eq!(
        (
            template.bk_biz_id,
            template.name.as_str(),
            template.version,
            template.service_template_ids.as_slice(),
            template.attributes[0].bk_property_value.clone(),
            template.bk_supplier_account.as_str()
        ),
        (BizId(2), "data", 1, &[9][..], json!(4), "0")
    );

    // The stored definitions drive a create: the template's value, and the custom attributes
    // visible in biz 2 (global `zeta` filled with "", private `mid` from the template).
    let created = create_ok(
        store,
        &context("0"),
        2,
        json!({"bk_parent_id": 60, "bk_set_name": "x", "set_template_id": 3}),
    )
    .await;
    let mut set_doc = crate::support::plain_set_doc("0", 2, 60, 4, "x");
    set_doc.insert("set_template_id".into(), json!(3));
    set_doc.insert("set_template_version".into(), json!(1));
    set_doc.insert("mid".into(), json!(4));
    set_doc.insert("zeta".into(), json!(""));
    assert_eq!(*created.set.doc, set_doc);
    assert_eq!(
        store.sets(BizId(2), Some(SetId(4))).await.unwrap(),
        vec![set_doc]
    );
    assert_eq!(
        store.modules(SetId(4)).await.unwrap(),
        vec![template_module_doc("0", 2, 4, 10, "db", 9, 3, 4)]
    );
}
