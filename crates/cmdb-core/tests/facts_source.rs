//! Where facts come from: a fresh query, the catalog version and cache flag of each source,
//! the source kept through compiling (also for an unknown biz), and the sequence kinds' slots.

use cmdb_core::BizId;
use cmdb_core::catalog::Business;
use cmdb_core::facts::{AttributeCache, FactsQuery, FactsSource, StoredFacts};
use cmdb_core::ids::SequenceKind;
use serde_json::json;

#[test]
fn a_fresh_query_asks_the_same_with_the_cache_skipped() {
    let data = json!({"bk_parent_id": 5, "set_template_id": 2});
    let query = FactsQuery::for_create("0", BizId(1), data.as_object().unwrap());
    assert!(!query.fresh);
    let fresh = query.clone().fresh();
    assert!(fresh.fresh);
    assert_eq!(
        FactsQuery {
            fresh: false,
            ..fresh
        },
        query
    );
    assert_eq!((query.parent, query.template), (Some(5), Some(2)));
}

#[test]
fn each_source_says_its_version_and_whether_it_is_cached() {
    assert_eq!(FactsSource::Unversioned.catalog_version(), None);
    assert_eq!(FactsSource::Read(7).catalog_version(), Some(7));
    assert_eq!(FactsSource::Cached(9).catalog_version(), Some(9));
    assert!(!FactsSource::Unversioned.is_cached());
    assert!(!FactsSource::Read(7).is_cached());
    assert!(FactsSource::Cached(9).is_cached());
}

#[test]
fn compiling_keeps_the_source_with_or_without_a_business() {
    let cache = AttributeCache::default();
    let unknown = StoredFacts {
        source: FactsSource::Read(3),
        ..StoredFacts::default()
    };
    let compiled = unknown.compile("0", &cache).unwrap();
    assert_eq!(compiled.source, FactsSource::Read(3));
    assert!(compiled.business.is_none());
    let known = StoredFacts {
        business: Some(Business {
            bk_biz_id: BizId(1),
            bk_biz_name: "demo".into(),
            archived: false,
            bk_supplier_account: "0".into(),
        }),
        mainline: vec!["zone".into()],
        source: FactsSource::Cached(4),
        ..StoredFacts::default()
    };
    let compiled = known.compile("0", &cache).unwrap();
    assert_eq!(compiled.source, FactsSource::Cached(4));
    assert_eq!(compiled.mainline, ["zone"]);
}

#[test]
fn each_sequence_kind_has_its_own_slot_in_all_order() {
    let slots: Vec<usize> = SequenceKind::ALL.iter().map(|k| k.index()).collect();
    assert_eq!(slots, [0, 1, 2, 3]);
}
