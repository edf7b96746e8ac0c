//! Reading the facts of a create through the store port, and compiling them.

use crate::error::StoreError;
use crate::facts::{AttributeCache, CreateFacts, FactsQuery};
use crate::ids::BizId;
use crate::ports::SetStore;
use crate::records::Document;

/// Reads the [`CreateFacts`] for a create of `data` in `biz`, compiling attributes afresh.
///
/// # Errors
/// Store failures; a stored attribute that no longer compiles is [`StoreError::Corrupt`].
pub async fn gather_facts(
    store: &dyn SetStore,
    supplier_account: &str,
    biz: BizId,
    data: &Document,
) -> Result<CreateFacts, StoreError> {
    gather_facts_with(
        store,
        supplier_account,
        biz,
        data,
        &AttributeCache::default(),
    )
    .await
}

/// [`gather_facts`] reusing compiled attributes from `cache`.
///
/// # Errors
/// As [`gather_facts`].
pub async fn gather_facts_with(
    store: &dyn SetStore,
    supplier_account: &str,
    biz: BizId,
    data: &Document,
    cache: &AttributeCache,
) -> Result<CreateFacts, StoreError> {
    gather_for(
        store,
        &FactsQuery::for_create(supplier_account, biz, data),
        cache,
    )
    .await
}

/// Reads and compiles the facts `query` asks for (e.g. [`FactsQuery::fresh`], to bypass a
/// store's cache), reusing compiled attributes from `cache`.
///
/// # Errors
/// As [`gather_facts`].
pub async fn gather_for(
    store: &dyn SetStore,
    query: &FactsQuery,
    cache: &AttributeCache,
) -> Result<CreateFacts, StoreError> {
    store
        .create_facts(query)
        .await?
        .compile(&query.supplier_account, cache)
}
