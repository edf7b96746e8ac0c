//! `StoreTx`'s provided catalog calls: each asks `catalog_get` for its own key and hands
//! `catalog_put` its own entry, and a store answering a key with another kind is an error.

mod common;

use cmdb_core::StoreError;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use cmdb_core::ids::{BizId, IdRange, SequenceKind, SetId};
use cmdb_core::ports::StoreTx;
use cmdb_core::records::{AuditRecord, ModuleRecord, SetRecord, UniqueKey};

/// Records every catalog call; answers every key with `answer`.
#[derive(Default)]
struct Recording {
    keys: Vec<CatalogKey>,
    entries: Vec<String>,
    answer: Option<CatalogItem>,
}

fn unused() -> StoreError {
    StoreError::Backend("not used by these tests".into())
}

impl StoreTx for Recording {
    fn take_ids(&mut self, _: SequenceKind, _: u64) -> Result<IdRange, StoreError> {
        Err(unused())
    }
    fn raise_sequence(&mut self, _: SequenceKind, _: i64) -> Result<bool, StoreError> {
        Err(unused())
    }
    fn set_name_taken(&mut self, _: BizId, _: i64, _: &str) -> Result<bool, StoreError> {
        Err(unused())
    }
    fn unique_key_taken(&mut self, _: &UniqueKey) -> Result<bool, StoreError> {
        Err(unused())
    }
    fn builtin_set(&mut self, _: BizId) -> Result<Option<SetId>, StoreError> {
        Err(unused())
    }
    fn insert_set(&mut self, _: &SetRecord) -> Result<(), StoreError> {
        Err(unused())
    }
    fn insert_module(&mut self, _: &ModuleRecord) -> Result<(), StoreError> {
        Err(unused())
    }
    fn insert_audit(&mut self, _: &AuditRecord) -> Result<(), StoreError> {
        Err(unused())
    }
    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.keys.push(key);
        Ok(self.answer.clone())
    }
    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        self.entries.push(format!("{entry:?}"));
        Ok(())
    }
}

fn business() -> Business {
    common::business(3)
}

fn instance() -> MainlineInstance {
    common::instance(3)
}

fn attribute() -> StoredAttribute {
    common::owner_attribute()
}

fn rule() -> UniqueRule {
    common::owner_rule()
}

fn service() -> ServiceTemplate {
    common::service(7, "nginx", 3)
}

fn template() -> SetTemplate {
    common::web_template(3, vec![7])
}

fn answering(item: CatalogItem) -> Recording {
    Recording {
        answer: Some(item),
        ..Recording::default()
    }
}

#[test]
fn each_typed_read_asks_for_its_own_key_and_returns_the_answer() {
    let mut tx = answering(CatalogItem::Mainline(vec!["zone".into()]));
    assert_eq!(tx.mainline("0").unwrap(), Some(vec!["zone".to_owned()]));
    let mut tx2 = answering(CatalogItem::Business(business()));
    assert_eq!(tx2.business(BizId(3)).unwrap(), Some(business()));
    let mut tx3 = answering(CatalogItem::MainlineInstance(instance()));
    assert_eq!(tx3.mainline_instance(50).unwrap(), Some(instance()));
    let mut tx4 = answering(CatalogItem::Attribute(attribute()));
    assert_eq!(tx4.attribute("0", "owner").unwrap(), Some(attribute()));
    let mut tx5 = answering(CatalogItem::UniqueRule(rule()));
    assert_eq!(tx5.unique_rule("0", "owner").unwrap(), Some(rule()));
    let mut tx6 = answering(CatalogItem::ServiceTemplate(service()));
    assert_eq!(tx6.service_template(7).unwrap(), Some(service()));
    let mut tx7 = answering(CatalogItem::SetTemplate(template()));
    assert_eq!(tx7.set_template(1).unwrap(), Some(template()));

    let asked: Vec<CatalogKey> = [tx, tx2, tx3, tx4, tx5, tx6, tx7]
        .into_iter()
        .flat_map(|t| t.keys)
        .collect();
    assert_eq!(
        asked,
        vec![
            CatalogKey::Mainline("0".into()),
            CatalogKey::Business(BizId(3)),
            CatalogKey::MainlineInstance(50),
            CatalogKey::Attribute {
                supplier_account: "0".into(),
                property_id: "owner".into()
            },
            CatalogKey::UniqueRule {
                supplier_account: "0".into(),
                key: "owner".into()
            },
            CatalogKey::ServiceTemplate(7),
            CatalogKey::SetTemplate(1),
        ]
    );
}

#[test]
fn nothing_stored_reads_as_none() {
    let mut tx = Recording::default();
    assert_eq!(tx.mainline("0").unwrap(), None);
    assert_eq!(tx.business(BizId(1)).unwrap(), None);
    assert_eq!(tx.set_template(9).unwrap(), None);
    assert_eq!(tx.keys.len(), 3);
}

#[test]
fn an_answer_of_another_kind_is_a_backend_error() {
    let mut tx = answering(CatalogItem::Business(business()));
    let err = tx.mainline("0").unwrap_err();
    assert_eq!(
        err,
        StoreError::Backend("the store answered a mainline read with another kind".into())
    );
    let mut tx = answering(CatalogItem::Mainline(Vec::new()));
    for (kind, err) in [
        ("business", tx.business(BizId(1)).unwrap_err()),
        ("mainline instance", tx.mainline_instance(1).unwrap_err()),
        ("attribute", tx.attribute("0", "x").unwrap_err()),
        ("unique rule", tx.unique_rule("0", "x").unwrap_err()),
        ("service template", tx.service_template(1).unwrap_err()),
        ("set template", tx.set_template(1).unwrap_err()),
    ] {
        assert_eq!(
            err.to_string(),
            format!("backend failure: the store answered a {kind} read with another kind")
        );
    }
}

#[test]
fn each_typed_write_hands_over_its_own_entry() {
    let mut tx = Recording::default();
    let levels = vec!["zone".to_owned()];
    tx.put_mainline("0", &levels).unwrap();
    tx.put_business(&business()).unwrap();
    tx.put_mainline_instance(&instance()).unwrap();
    tx.put_attribute(&attribute()).unwrap();
    tx.put_unique_rule(&rule()).unwrap();
    tx.put_service_template(&service()).unwrap();
    tx.put_set_template(&template()).unwrap();
    let expected = [
        format!(
            "{:?}",
            CatalogEntry::Mainline {
                supplier_account: "0",
                levels: &levels
            }
        ),
        format!("{:?}", CatalogEntry::Business(&business())),
        format!("{:?}", CatalogEntry::MainlineInstance(&instance())),
        format!("{:?}", CatalogEntry::Attribute(&attribute())),
        format!("{:?}", CatalogEntry::UniqueRule(&rule())),
        format!("{:?}", CatalogEntry::ServiceTemplate(&service())),
        format!("{:?}", CatalogEntry::SetTemplate(&template())),
    ];
    assert_eq!(tx.entries, expected);
}
