//! The port's provided methods (the typed catalog reads over `catalog_get`, `create_set`,
//! `commit_stats`) and the fact reading in `gather`, against a read-only store, plus
//! the small vocabulary types a store writes (`ResourceType`, `Action`, `Sequence`).

mod common;

use std::collections::BTreeMap;

use async_trait::async_trait;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{AttributeCache, FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::gather::{gather_facts, gather_facts_with};
use cmdb_core::ids::{BizId, Sequence, SequenceKind, SetId};
use cmdb_core::model::RawAttribute;
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{Action, BatchFailure, SetStore, SetStoreExt};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};
use serde_json::json;

/// A catalog in maps; every write refuses, every read counts.
#[derive(Debug, Default)]
struct Catalog {
    businesses: BTreeMap<i64, Business>,
    mainline: Vec<String>,
    instances: BTreeMap<i64, MainlineInstance>,
    attributes: Vec<StoredAttribute>,
    rules: Vec<UniqueRule>,
    set_templates: BTreeMap<i64, SetTemplate>,
    service_templates: BTreeMap<i64, ServiceTemplate>,
    builtin: Option<SetId>,
    catalog_reads: std::sync::atomic::AtomicUsize,
    /// Answers every key with a mainline (a store bug the typed reads must report).
    wrong_kind: bool,
}

fn refused() -> StoreError {
    StoreError::Backend("read-only test catalog".into())
}

#[async_trait]
impl SetStore for Catalog {
    fn backend(&self) -> &'static str {
        "catalog"
    }
    async fn apply_catalog(&self, _batch: CatalogBatch) -> Result<LoadReport, Error> {
        Err(refused().into())
    }
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        plans.iter().map(|_| Err(refused().into())).collect()
    }
    async fn create_sets_atomic(
        &self,
        _plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        Err(BatchFailure {
            index: 0,
            error: refused().into(),
        })
    }
    async fn raise_sequence(&self, _kind: SequenceKind, _value: i64) -> Result<bool, StoreError> {
        Err(refused())
    }
    async fn sequence_last(&self, _kind: SequenceKind) -> Result<i64, StoreError> {
        Ok(0)
    }
    async fn audit_after(
        &self,
        _: cmdb_core::ids::AuditId,
        _: usize,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(Vec::new())
    }
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let Some(business) = self.businesses.get(&query.biz.0).cloned() else {
            return Ok(StoredFacts::default());
        };
        let template = query
            .template
            .and_then(|id| self.set_templates.get(&id).cloned());
        Ok(StoredFacts {
            business: Some(business),
            mainline: self.mainline.clone(),
            parent_instance: query.parent.and_then(|id| self.instances.get(&id).cloned()),
            attributes: self.attributes.clone(),
            unique_rules: self.rules.clone(),
            service_templates: template
                .iter()
                .flat_map(|t| &t.service_template_ids)
                .filter_map(|id| self.service_templates.get(id).cloned())
                .collect(),
            template,
            builtin_set: self.builtin,
            source: cmdb_core::facts::FactsSource::Unversioned,
        })
    }
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.catalog_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.wrong_kind {
            return Ok(Some(CatalogItem::Mainline(Vec::new())));
        }
        Ok(match key {
            CatalogKey::Mainline(_) => Some(CatalogItem::Mainline(self.mainline.clone())),
            CatalogKey::Business(id) => self
                .businesses
                .get(&id.0)
                .cloned()
                .map(CatalogItem::Business),
            CatalogKey::MainlineInstance(id) => self
                .instances
                .get(&id)
                .cloned()
                .map(CatalogItem::MainlineInstance),
            CatalogKey::SetTemplate(id) => self
                .set_templates
                .get(&id)
                .cloned()
                .map(CatalogItem::SetTemplate),
            CatalogKey::ServiceTemplate(id) => self
                .service_templates
                .get(&id)
                .cloned()
                .map(CatalogItem::ServiceTemplate),
            CatalogKey::Attribute { .. } | CatalogKey::UniqueRule { .. } => None,
        })
    }
    async fn sets(&self, _biz: BizId, _set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        Ok(Vec::new())
    }
    async fn modules(&self, _set: SetId) -> Result<Vec<Document>, StoreError> {
        Ok(Vec::new())
    }
    async fn audit_records(
        &self,
        _biz: BizId,
        _resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(Vec::new())
    }
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn catalog(mainline: &[&str]) -> Catalog {
    Catalog {
        businesses: BTreeMap::from([(1, common::business(1))]),
        mainline: mainline.iter().map(|s| (*s).to_owned()).collect(),
        instances: BTreeMap::from([(50, common::instance(1))]),
        attributes: vec![common::owner_attribute()],
        rules: vec![common::owner_rule()],
        // 9 does not exist: it is skipped.
        set_templates: BTreeMap::from([(1, common::web_template(1, vec![8, 9, 7]))]),
        service_templates: BTreeMap::from([
            (7, common::service(7, "nginx", 1)),
            (8, common::service(8, "php", 1)),
        ]),
        builtin: Some(SetId(1)),
        catalog_reads: Default::default(),
        wrong_kind: false,
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_typed_catalog_reads_go_through_catalog_get() {
    let store = catalog(&["zone"]);
    let business = block(store.business(BizId(1))).unwrap();
    assert_eq!(business.map(|b| b.bk_biz_name), Some("demo".to_owned()));
    assert_eq!(block(store.business(BizId(9))).unwrap(), None);
    assert_eq!(block(store.mainline("0")).unwrap(), ["zone"]);
    let instance = block(store.mainline_instance(50)).unwrap();
    assert_eq!(instance.map(|i| i.bk_inst_name), Some("gd".to_owned()));
    assert_eq!(
        block(store.set_template(1)).unwrap().map(|t| t.version),
        Some(3)
    );
    let service = block(store.service_template(8)).unwrap();
    assert_eq!(service.map(|s| s.name), Some("php".to_owned()));
    assert_eq!(block(store.service_template(9)).unwrap(), None);
    assert_eq!(
        store
            .catalog_reads
            .load(std::sync::atomic::Ordering::SeqCst),
        7
    );
}

#[test]
fn a_store_answering_another_kind_is_a_backend_error() {
    let mut store = catalog(&[]);
    store.wrong_kind = true;
    let expected =
        StoreError::Backend("the store answered a business read with another kind".into());
    assert_eq!(block(store.business(BizId(1))), Err(expected));
    let err = block(store.set_template(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backend failure: the store answered a set template read with another kind"
    );
    // A mainline key answered with a mainline is the right kind.
    assert_eq!(block(store.mainline("0")).unwrap(), Vec::<String>::new());
}

#[test]
fn gathering_compiles_what_create_facts_read() {
    let store = catalog(&["zone"]);
    let data = json!({"bk_parent_id": 50, "set_template_id": 1, "bk_set_name": "x"});
    let data = data.as_object().unwrap();
    let facts = block(gather_facts(&store, "0", BizId(1), data)).unwrap();
    assert_eq!(facts.parent_instance.map(|i| i.bk_inst_id), Some(50));
    assert_eq!(facts.attributes[0].id(), "owner");
    assert_eq!(facts.service_templates.len(), 2);
    let cached = block(gather_facts_with(
        &store,
        "0",
        BizId(1),
        data,
        &AttributeCache::default(),
    ))
    .unwrap();
    assert_eq!(cached.attributes, facts.attributes);
    assert_eq!(cached.template.map(|t| t.version), Some(3));
}

#[test]
fn the_provided_create_set_and_commit_stats() {
    let store = catalog(&[]);
    assert_eq!(store.commit_stats(), None);
    assert_eq!(store.backend(), "catalog");
    // `create_set` is `create_sets` of one plan: its one result comes back.
    let plan = common::bare_plan("x", None);
    assert_eq!(block(store.create_set(plan)), Err(Error::Store(refused())));
}

#[test]
fn an_attribute_says_whether_it_takes_several_values() {
    let raw = catalog(&[]).attributes[0].raw.clone();
    let single = cmdb_core::model::AttributeDef::compile(raw.clone()).unwrap();
    assert!(!single.multiple());
    let several = cmdb_core::model::AttributeDef::compile(RawAttribute {
        bk_property_type: "objuser".into(),
        ismultiple: true,
        ..raw
    })
    .unwrap();
    assert!(several.multiple());
}

#[test]
fn resource_types_and_actions_have_their_wire_names() {
    for (t, name) in [(ResourceType::Set, "set"), (ResourceType::Module, "module")] {
        assert_eq!(t.name(), name);
        assert_eq!(ResourceType::from_name(name), Some(t));
    }
    assert_eq!(ResourceType::from_name("host"), None);
    assert_eq!(Action::CreateBizTopology.id(), "create_biz_topology");
    assert_eq!(
        Action::CreateBizTopology.display_name(),
        "Create business topology"
    );
}

#[test]
fn raising_to_the_current_value_changes_nothing() {
    let mut seq = Sequence::from_last(10);
    assert!(!seq.raise_to(10));
    assert!(!seq.raise_to(9));
    assert!(seq.raise_to(11));
    assert_eq!(seq.last(), 11);
}
