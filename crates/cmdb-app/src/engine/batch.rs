//! Batch creation (spec section 12): up to [`BATCH_LIMIT`] sets, each element isolated or all
//! in one transaction, planned again when the store answers that the catalog changed.

use std::sync::Arc;

use cmdb_core::plan::RequestContext;
use cmdb_core::ports::BatchFailure;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Code, Error, StoreError};
use serde_json::Value;
use tracing::Instrument;

use cmdb_core::typed::{NewSet, Set};

use super::{BATCH_LIMIT, Engine, MAX_PLANS, refused_event, stale, typed_set};
use crate::envelope::Failure;
use crate::observe;

/// One element's result in a non-atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchElement {
    /// The element's index in the request.
    pub index: usize,
    /// The created set, or why it failed.
    pub outcome: Result<Document, Failure>,
}

/// One element's stored document, or why it failed.
type Outcome = Result<Arc<Document>, Failure>;

/// The request data of a batch's element `i` (or the refusal of an element that is none).
type ElementData<'a> = dyn Fn(usize) -> Result<Document, Failure> + Sync + 'a;

impl Engine {
    /// Creates up to [`BATCH_LIMIT`] sets (spec section 12). Non-atomic: each element isolated,
    /// in order, all committed together through the store's group commit; a failing element
    /// leaves the others stored. Atomic: all in one transaction, all or nothing.
    ///
    /// # Errors
    /// Request-level failures (limit, unknown or archived biz, permission); for an atomic
    /// batch also the failing element's error, its message naming the index.
    pub async fn batch_create(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[Value],
        atomic: bool,
    ) -> Result<Vec<BatchElement>, Failure> {
        let data = |index: usize| element_data(index, &sets[index]);
        let outcomes = self
            .localized_batch(ctx, biz, sets.len(), &data, atomic)
            .await?;
        Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| BatchElement {
                index,
                outcome: outcome.map(Arc::unwrap_or_clone),
            })
            .collect())
    }

    /// [`Engine::batch_create`] of typed sets: the same rules, limit and atomicity, each
    /// element's result in its slot.
    ///
    /// # Errors
    /// As [`Engine::batch_create`].
    pub async fn create_batch(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[NewSet],
        atomic: bool,
    ) -> Result<Vec<Result<Set, Failure>>, Failure> {
        let data = |index: usize| Ok(sets[index].to_data());
        let outcomes = self
            .localized_batch(ctx, biz, sets.len(), &data, atomic)
            .await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.and_then(typed_set))
            .collect())
    }

    /// A batch of `count` elements whose request data `data` gives, its failures in the
    /// engine's language.
    async fn localized_batch(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        count: usize,
        data: &ElementData<'_>,
        atomic: bool,
    ) -> Result<Vec<Outcome>, Failure> {
        let language = self.options.language;
        let store = self.store.backend();
        let span = tracing::info_span!(
            "batch_create",
            request_id = ctx.request_id.as_str(),
            biz = biz.0,
            store,
            size = count,
            atomic,
            code = tracing::field::Empty,
        );
        let outcomes = self
            .batch_create_in_order(ctx, biz, count, data, atomic)
            .instrument(span.clone())
            .await;
        let code = outcomes.as_ref().err().map(Failure::code);
        span.record("code", code.map_or(0, Code::number));
        if let Err(refused) = &outcomes {
            refused_event(&span, refused);
        }
        observe::batch_answered(store, atomic, count, code);
        let outcomes = outcomes.map_err(|f| f.in_language(language))?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map_err(|f| f.in_language(language)))
            .collect())
    }

    async fn batch_create_in_order(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        count: usize,
        data: &ElementData<'_>,
        atomic: bool,
    ) -> Result<Vec<Outcome>, Failure> {
        if count > BATCH_LIMIT {
            return Err(Error::ExceedLimit { limit: BATCH_LIMIT }.into());
        }
        self.decide_on_facts(ctx, biz, &Document::new(), |facts| {
            self.authorize(ctx, biz, facts)?;
            let usable = facts
                .business
                .as_ref()
                .is_some_and(|b| b.bk_supplier_account == ctx.supplier_account && !b.archived);
            if usable {
                Ok(())
            } else {
                Err(Error::invalid_or_missing("bk_biz_id").into())
            }
        })
        .await?;
        if atomic {
            return self.batch_atomic(ctx, biz, count, data).await;
        }
        // Non-atomic: every element is planned, then all plans are committed together (one
        // group, each isolated); an element refused while planning never reaches the store.
        // Elements whose plans went stale (the catalog changed) are planned and sent again.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
        let mut todo: Vec<usize> = (0..count).collect();
        for round in 1..=MAX_PLANS {
            let mut planned = Vec::with_capacity(todo.len());
            let mut plans = Vec::with_capacity(todo.len());
            for index in todo.drain(..) {
                let plan = async {
                    let data = data(index)?;
                    self.element_plan(ctx, biz, &data).await
                }
                .await;
                match plan {
                    Ok(plan) => {
                        planned.push(index);
                        plans.push(plan);
                    }
                    Err(f) => outcomes[index] = Some(Err(f)),
                }
            }
            let committed = self.store.create_sets(plans).await;
            for (index, result) in planned.into_iter().zip(committed) {
                match result {
                    Err(e) if stale(&e) && round < MAX_PLANS => todo.push(index),
                    result => {
                        outcomes[index] = Some(result.map(|c| c.set.doc).map_err(Failure::from));
                    }
                }
            }
            if todo.is_empty() {
                break;
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    Err(Error::Store(StoreError::Backend(
                        "the store answered no result for this element".into(),
                    ))
                    .into())
                })
            })
            .collect())
    }

    /// An atomic batch: every element planned, all committed in one transaction; planned and
    /// sent again whole when the store answers that the catalog changed.
    async fn batch_atomic(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        count: usize,
        data: &ElementData<'_>,
    ) -> Result<Vec<Outcome>, Failure> {
        let mut round = 1;
        let created = loop {
            let mut plans = Vec::with_capacity(count);
            for index in 0..count {
                // An element that is not an object is refused naming itself (`'sets[i]'`);
                // the rules' refusals get the `sets[i]: ` prefix.
                let data = data(index)?;
                let plan = self
                    .element_plan(ctx, biz, &data)
                    .await
                    .map_err(|f| indexed(index, f))?;
                plans.push(plan);
            }
            match self.store.create_sets_atomic(plans).await {
                Err(BatchFailure { error, .. }) if stale(&error) && round < MAX_PLANS => {
                    round += 1;
                }
                other => break other,
            }
        };
        let created = created.map_err(|e| indexed(e.index, Failure::from(e.error)))?;
        Ok(created.into_iter().map(|c| Ok(c.set.doc)).collect())
    }
}

fn element_data(index: usize, element: &Value) -> Result<Document, Failure> {
    element
        .as_object()
        .cloned()
        .ok_or_else(|| Error::invalid(format!("sets[{index}]")).into())
}

fn indexed(index: usize, failure: Failure) -> Failure {
    failure.of_element(index)
}
