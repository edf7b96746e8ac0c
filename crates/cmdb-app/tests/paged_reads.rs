//! The engine's paged reads (`find_sets_as`, `list_modules_as`, `audit_records_as`) ask the
//! store for one page (`SetStore::page`) and never for a whole listing: over a store whose
//! whole-listing reads fail, every page still answers, with the count of the whole listing.

use std::sync::Arc;

use async_trait::async_trait;
use cmdb_app::Engine;
use cmdb_app::paging::Page;
use cmdb_core::backend::DocQuery;
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::plan::{CreatePlan, RequestContext};
use cmdb_core::ports::{BatchFailure, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{BizId, Error, SequenceKind, SetId, StoreError};
use cmdb_store_memory::MemoryStore;
use serde_json::{Value, json};

/// A memory store whose whole-listing reads fail; its pages are the memory store's.
#[derive(Debug)]
struct PagesOnly(MemoryStore);

fn whole_listing() -> StoreError {
    StoreError::Backend("a whole listing was read".into())
}

#[async_trait]
impl SetStore for PagesOnly {
    fn backend(&self) -> &'static str {
        "pages-only"
    }
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.0.apply_catalog(batch).await
    }
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.0.create_sets(plans).await
    }
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        self.0.create_facts(query).await
    }
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        self.0.create_sets_atomic(plans).await
    }
    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.0.raise_sequence(kind, value).await
    }
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.0.sequence_last(kind).await
    }
    async fn audit_after(
        &self,
        after: cmdb_core::ids::AuditId,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.0.audit_after(after, limit).await
    }
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.0.catalog_get(key).await
    }
    async fn sets(&self, _: BizId, _: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        Err(whole_listing())
    }
    async fn modules(&self, _: SetId) -> Result<Vec<Document>, StoreError> {
        Err(whole_listing())
    }
    async fn audit_records(
        &self,
        _: BizId,
        _: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        Err(whole_listing())
    }
    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        self.0.page(query, window).await
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.0.close().await
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: "0".into(),
        app_code: String::new(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

fn ids(docs: &[Document], key: &str) -> Vec<i64> {
    docs.iter().map(|d| d[key].as_i64().unwrap_or(-1)).collect()
}

#[tokio::test]
async fn every_paged_read_is_one_page_of_the_store() {
    let engine = Engine::builder(Arc::new(PagesOnly(MemoryStore::new()))).build();
    let fixture = json!({
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "service_templates": [{"id": 7, "bk_biz_id": 1, "name": "nginx", "service_category_id": 2}],
        "set_templates": [{"id": 1, "bk_biz_id": 1, "name": "web", "version": 3,
                           "service_template_ids": [7]}],
        "id_generator": {"set": 4779}
    });
    engine
        .load_fixture(fixture, "admin")
        .await
        .expect("fixture");
    let (ctx, biz) = (ctx(), BizId(1));
    let mut created = Vec::new();
    for n in 0..4 {
        let data = json!({"bk_parent_id": 1, "bk_set_name": format!("s{n}"), "set_template_id": 1});
        let Value::Object(data) = data else {
            unreachable!("an object")
        };
        let set = engine.create_set(&ctx, biz, &data).await.expect("created");
        created.push(set["bk_set_id"].as_i64().expect("an id"));
    }
    assert_eq!(created, [4780, 4781, 4782, 4783]);

    let page = |start, limit| Page::new(Some(start), Some(limit)).expect("a page");
    // The idle set (id 1) and the four.
    let sets = engine
        .find_sets_as(&ctx, biz, None, page(1, 2))
        .await
        .expect("sets");
    assert_eq!(
        (sets.count, ids(&sets.info, "bk_set_id")),
        (5, vec![4780, 4781])
    );
    let one = engine
        .find_sets_as(&ctx, biz, Some(SetId(4782)), Page::default())
        .await;
    assert_eq!(ids(&one.expect("one set").info, "bk_set_id"), [4782]);
    let missing = engine
        .find_sets_as(&ctx, biz, Some(SetId(9)), Page::default())
        .await;
    assert_eq!(missing.expect_err("no such set").code().number(), 1199019);

    let modules = engine
        .list_modules_as(&ctx, biz, SetId(4781), page(0, 1))
        .await;
    let modules = modules.expect("modules");
    assert_eq!(modules.count, 1);
    assert_eq!(modules.info[0]["bk_set_id"], json!(4781));

    let audit = engine
        .audit_records_as(&ctx, biz, Some(ResourceType::Set), page(2, 1))
        .await;
    let audit = audit.expect("audit records");
    // The count is the store's, of the whole listing.
    let all_sets = engine
        .audit_records_as(&ctx, biz, Some(ResourceType::Set), page(0, 500))
        .await
        .expect("every set record");
    assert_eq!(audit.count, all_sets.count);
    assert_eq!(audit.info, all_sets.info[2..3].to_vec());
    assert_eq!(all_sets.count, all_sets.info.len());
    assert_eq!(all_sets.count, 4);

    // The unpaged reads are the whole listing: this store refuses them.
    let whole = engine.find_sets("0", biz, None).await;
    assert_eq!(whole.expect_err("a whole listing").code().number(), 1199999);
}
