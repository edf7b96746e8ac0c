//! Case: a paged read ([`SetStore::page`]) answers exactly the window of the whole listing and
//! the count of the whole, for sets, one set, modules and audit records of each type.

use cmdb_core::backend::DocQuery;
use cmdb_core::ids::{BizId, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::ports::SetStore;
use cmdb_core::records::{Document, ResourceType};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    EXAMPLE_TENANT, context, create_ok, load_ok, set_ids, worked_example_fixture,
    worked_example_request,
};

/// The windows every listing is read through: from the start, inside, across the end, past
/// the end, one item, and the whole.
fn windows(len: usize) -> Vec<Window> {
    let w = |start, limit| Window { start, limit };
    vec![
        w(0, 1),
        w(0, 3),
        w(1, 2),
        w(len.saturating_sub(1), 5),
        w(len, 1),
        w(len + 10, 500),
        w(2, 1),
        Window::ALL,
    ]
}

async fn page(store: &dyn SetStore, query: DocQuery, window: Window) -> DocPage {
    match store.page(query, window).await {
        Ok(page) => page,
        Err(e) => panic!("the page {window:?} of {query:?} failed: {e}"),
    }
}

/// Every window of `query` is the same window of `all` (the listing the full read answers),
/// counted as all of it.
async fn pages_match(store: &dyn SetStore, query: DocQuery, all: &[Document]) {
    for window in windows(all.len()) {
        let expected = window.cut(all.to_vec());
        assert_eq!(
            page(store, query, window).await,
            expected,
            "the page {window:?} of {query:?}"
        );
    }
}

/// Pages of six created sets (and the biz's idle set), of one set, of a set's modules and of
/// the audit records, all or of one type, each exactly the window of the full read with the
/// full count; unknown things page as empty with a count of 0.
pub async fn pages_are_windows_of_the_listing_and_count_it<F: StoreFactory>(factory: &F) {
    let (store, _guard) = factory.open_fresh().await;
    let store = &*store;
    load_ok(store, worked_example_fixture()).await;
    let ctx = context(EXAMPLE_TENANT);
    for n in 0..6 {
        let mut data = worked_example_request();
        data["bk_set_name"] = json!(format!("set-{n}"));
        create_ok(store, &ctx, 1, data).await;
    }
    let biz = BizId(1);
    let sets = store.sets(biz, None).await.unwrap();
    assert_eq!(sets.len(), 7, "six sets and the idle set");
    let ids = set_ids(&sets);
    let window = Window { start: 2, limit: 2 };
    let first = page(store, DocQuery::Sets { biz, set: None }, window).await;
    assert_eq!((first.count, set_ids(&first.docs)), (7, ids[2..4].to_vec()));
    pages_match(store, DocQuery::Sets { biz, set: None }, &sets).await;

    let one = SetId(ids[3]);
    let only = store.sets(biz, Some(one)).await.unwrap();
    pages_match(
        store,
        DocQuery::Sets {
            biz,
            set: Some(one),
        },
        &only,
    )
    .await;
    let idle = SetId(ids[0]);
    for set in [one, idle] {
        let modules = store.modules(set).await.unwrap();
        assert!(!modules.is_empty(), "set {set:?} has modules");
        pages_match(store, DocQuery::Modules { set }, &modules).await;
    }
    for resource_type in [None, Some(ResourceType::Set), Some(ResourceType::Module)] {
        let records = store.audit_records(biz, resource_type).await.unwrap();
        assert!(records.len() >= 6, "{resource_type:?}: {}", records.len());
        pages_match(store, DocQuery::Audit { biz, resource_type }, &records).await;
    }

    let none = DocPage::default();
    let other = BizId(2);
    for query in [
        DocQuery::Sets {
            biz: other,
            set: None,
        },
        DocQuery::Sets {
            biz,
            set: Some(SetId(999_999)),
        },
        DocQuery::Sets {
            biz: other,
            set: Some(one),
        },
        DocQuery::Modules {
            set: SetId(999_999),
        },
        DocQuery::Audit {
            biz: other,
            resource_type: None,
        },
    ] {
        assert_eq!(page(store, query, Window::ALL).await, none, "{query:?}");
    }
}
