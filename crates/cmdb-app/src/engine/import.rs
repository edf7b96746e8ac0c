//! Import (spec `watch-and-import.md` I2): rows in, a result per row out, in file order. Rows
//! are planned in groups; a group commits through the store's group commit (each row isolated,
//! ids in file order) while the next group is planned. `atomic`: every row in one transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cmdb_core::facts::{CreateFacts, FactsQuery};
use cmdb_core::plan::{CreatePlan, RequestContext};
use cmdb_core::ports::BatchFailure;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Error, StoreError};

use super::{Engine, MAX_PLANS, stale};
use crate::envelope::Failure;
use crate::import::{
    ATOMIC_MAX_BYTES, ATOMIC_MAX_ROWS, GROUP_ROWS, ImportError, ImportOptions, ImportRow,
    ImportSummary, MAX_GROUP_ROWS, Rejected, RejectedInput, RowResult, SetModel,
};
use crate::observe;
use tracing::Instrument;

/// Facts read for one group, by the parent and template a row names.
type FactsMemo = HashMap<(Option<i64>, Option<i64>), CreateFacts>;

/// A row on its way: its line, its data, and its plan (or refusal).
struct Pending {
    line: u64,
    data: Option<Document>,
    state: Result<CreatePlan, Rejected>,
}

/// Where an import's answers go: the results of one committed group at a time, in file order
/// (called before the next group commits).
pub type RowSink<'a> = dyn FnMut(&[RowResult]) + Send + 'a;

impl Engine {
    /// The set model a CSV header of `biz` may name: the built-in attributes and the custom
    /// attributes visible in the biz, with their types.
    ///
    /// # Errors
    /// A store failure (1199999).
    pub async fn import_model(
        &self,
        supplier_account: &str,
        biz: BizId,
    ) -> Result<SetModel, Failure> {
        let query = FactsQuery::for_create(supplier_account, biz, &Document::new());
        let facts = self.facts(&query).await.map_err(|f| self.localize(f))?;
        Ok(facts
            .attributes
            .iter()
            .fold(SetModel::builtin(), |model, def| {
                model.with(def.id(), def.kind())
            }))
    }

    /// Imports `rows` into `biz`: each row succeeds or fails alone exactly as create_set would
    /// for it, committed in groups of [`GROUP_ROWS`] (or `options.group_rows`) while the next group is planned;
    /// with `options.atomic` all rows in one transaction or none. Each row's result goes to
    /// `sink` in file order, a group's once it committed. Setting `options.stop` lets the
    /// group in flight commit and starts nothing after it (the summary's
    /// `stopped_after_line`).
    ///
    /// # Errors
    /// An atomic import over [`ATOMIC_MAX_ROWS`] rows or [`ATOMIC_MAX_BYTES`] bytes, before
    /// anything is written.
    pub async fn import<I>(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        rows: I,
        options: &ImportOptions,
        sink: &mut RowSink<'_>,
    ) -> Result<ImportSummary, ImportError>
    where
        I: Iterator<Item = ImportRow> + Send,
    {
        let started = Instant::now();
        let store = self.store.backend();
        let span = tracing::info_span!(
            "import",
            request_id = ctx.request_id.as_str(),
            biz = biz.0,
            store,
            atomic = options.atomic,
            read = tracing::field::Empty,
            created = tracing::field::Empty,
        );
        let mut answer = |summary: &mut ImportSummary, results: &[RowResult]| {
            for result in results {
                summary.count(result);
                let code = result.outcome.as_ref().err().map(|r| r.failure.code());
                observe::import_row_answered(store, code);
            }
            sink(results);
        };
        let imported = self
            .import_rows(ctx, biz, rows, options, &mut answer, started)
            .instrument(span.clone())
            .await;
        if let Ok(summary) = &imported {
            span.record("read", summary.read);
            span.record("created", summary.created);
        }
        imported
    }

    /// [`Engine::import`] inside its span: the groups, or the one atomic transaction.
    async fn import_rows<I>(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        rows: I,
        options: &ImportOptions,
        answer: &mut (dyn FnMut(&mut ImportSummary, &[RowResult]) + Send),
        started: Instant,
    ) -> Result<ImportSummary, ImportError>
    where
        I: Iterator<Item = ImportRow> + Send,
    {
        let mut summary = ImportSummary::default();
        if options.atomic {
            let results = self.import_atomic(ctx, biz, rows).await?;
            answer(&mut summary, &results);
            summary.finish(started.elapsed());
            return Ok(summary);
        }
        let size = match options.group_rows {
            0 => GROUP_ROWS,
            n => n.min(MAX_GROUP_ROWS),
        };
        let stopped = || {
            options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst))
        };
        let mut rows = rows;
        let mut next = self.plan_group(ctx, biz, &mut rows, size).await;
        // The previous group's answers, dropped while the next group commits (freeing a
        // thousand documents is not free).
        let mut answered: Vec<RowResult> = Vec::new();
        while !next.is_empty() {
            let group = next;
            let last_line = group.last().map_or(0, |p| p.line);
            let (results, planned) = if stopped() {
                (self.commit_rows(ctx, biz, group).await, Vec::new())
            } else {
                // The next group is planned while this one commits on the store's writer.
                let done = std::mem::take(&mut answered);
                tokio::join!(self.commit_rows(ctx, biz, group), async {
                    drop(done);
                    self.plan_group(ctx, biz, &mut rows, size).await
                })
            };
            answer(&mut summary, &results);
            answered = results;
            next = planned;
            if stopped() {
                summary.stopped_after_line = Some(last_line);
                summary.skip = Some(last_line);
                break;
            }
        }
        summary.finish(started.elapsed());
        Ok(summary)
    }

    /// Reads and plans up to `size` rows; facts are read once per parent and template named.
    async fn plan_group(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        rows: &mut (dyn Iterator<Item = ImportRow> + Send),
        size: usize,
    ) -> Vec<Pending> {
        let mut memo = FactsMemo::new();
        let mut group = Vec::with_capacity(size);
        for row in rows.take(size) {
            group.push(self.plan_row(ctx, biz, row, &mut memo).await);
        }
        group
    }

    async fn plan_row(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        row: ImportRow,
        memo: &mut FactsMemo,
    ) -> Pending {
        let data = match row.data {
            Ok(data) => data,
            Err(rejected) => {
                return Pending {
                    line: row.line,
                    data: None,
                    state: Err(self.localized_rejection(rejected)),
                };
            }
        };
        let state = self
            .import_plan(ctx, biz, &data, memo)
            .await
            .map_err(|f| rejected(self.localize(f), &data));
        Pending {
            line: row.line,
            data: Some(data),
            state,
        }
    }

    /// The permission and rules of one row on the group's facts; a refusal decided on cached
    /// facts is decided again on facts read afresh, as for every create.
    async fn import_plan(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
        memo: &mut FactsMemo,
    ) -> Result<CreatePlan, Failure> {
        let query = FactsQuery::for_create(&ctx.supplier_account, biz, data);
        let key = (query.parent, query.template);
        let decide = |facts: &CreateFacts| {
            self.authorize(ctx, biz, facts)?;
            self.plan(ctx, biz, data, facts)
        };
        let facts = match memo.entry(key) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.facts(&query).await?)
            }
        };
        match decide(facts) {
            Err(_) if facts.source.is_cached() => {
                let fresh = self.facts(&query.fresh()).await?;
                let decided = decide(&fresh);
                *facts = fresh;
                decided
            }
            decided => decided,
        }
    }

    /// Commits a group's plans (one submission to the store's group commit) and answers every
    /// row in order; plans the store finds stale are planned again on fresh facts.
    async fn commit_rows(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        group: Vec<Pending>,
    ) -> Vec<RowResult> {
        let mut outcomes: Vec<Option<Result<Arc<Document>, Rejected>>> = Vec::new();
        let mut datas = Vec::with_capacity(group.len());
        let mut lines = Vec::with_capacity(group.len());
        let mut todo = Vec::new();
        let mut plans = Vec::new();
        for (at, pending) in group.into_iter().enumerate() {
            lines.push(pending.line);
            datas.push(pending.data);
            match pending.state {
                Ok(plan) => {
                    outcomes.push(None);
                    todo.push(at);
                    plans.push(plan);
                }
                Err(rejected) => outcomes.push(Some(Err(rejected))),
            }
        }
        // The fast path: the group's plans in one transaction without a savepoint per row.
        // When the store refuses one (a name taken, a stale catalog, a fault), nothing of it
        // was written, and the group is planned again and committed row by row, each isolated.
        if !plans.is_empty() {
            match self
                .store
                .create_sets_atomic(std::mem::take(&mut plans))
                .await
            {
                Ok(created) => {
                    for (at, created) in std::mem::take(&mut todo).into_iter().zip(created) {
                        outcomes[at] = Some(Ok(created.set.doc));
                    }
                }
                Err(_) => {
                    let mut memo = FactsMemo::new();
                    for at in std::mem::take(&mut todo) {
                        let data = datas[at].as_ref();
                        let replanned = match data {
                            Some(data) => self.import_plan(ctx, biz, data, &mut memo).await,
                            None => Err(missing_answer()),
                        };
                        match replanned {
                            Ok(plan) => {
                                todo.push(at);
                                plans.push(plan);
                            }
                            Err(f) => outcomes[at] = Some(Err(self.rejected_row(f, data))),
                        }
                    }
                }
            }
        }
        for round in 1..=MAX_PLANS {
            if todo.is_empty() {
                break;
            }
            let committed = self.store.create_sets(std::mem::take(&mut plans)).await;
            let mut again = Vec::new();
            for (at, result) in std::mem::take(&mut todo).into_iter().zip(committed) {
                let data = datas[at].as_ref();
                match result {
                    Err(e) if stale(&e) && round < MAX_PLANS => {
                        let replanned = match data {
                            Some(data) => self.checked_plan(ctx, biz, data).await,
                            None => Err(missing_answer()),
                        };
                        match replanned {
                            Ok(plan) => {
                                again.push(at);
                                plans.push(plan);
                            }
                            Err(f) => outcomes[at] = Some(Err(self.rejected_row(f, data))),
                        }
                    }
                    Ok(created) => outcomes[at] = Some(Ok(created.set.doc)),
                    Err(e) => outcomes[at] = Some(Err(self.rejected_row(e.into(), data))),
                }
            }
            todo = again;
            if todo.is_empty() {
                break;
            }
        }
        outcomes
            .into_iter()
            .zip(lines)
            .zip(datas)
            .map(|((outcome, line), data)| RowResult {
                line,
                outcome: outcome
                    .unwrap_or_else(|| Err(self.rejected_row(missing_answer(), data.as_ref()))),
            })
            .collect()
    }

    /// All rows in one transaction: every row planned first (every refusal answered, nothing
    /// written when one is refused), then one atomic commit; the answers, in file order.
    async fn import_atomic<I>(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        rows: I,
    ) -> Result<Vec<RowResult>, ImportError>
    where
        I: Iterator<Item = ImportRow> + Send,
    {
        let too_large = ImportError::AtomicTooLarge {
            max_rows: ATOMIC_MAX_ROWS,
            max_bytes: ATOMIC_MAX_BYTES,
        };
        let mut all = Vec::new();
        let mut bytes = 0usize;
        for row in rows {
            bytes = bytes.saturating_add(row.bytes);
            if all.len() >= ATOMIC_MAX_ROWS || bytes > ATOMIC_MAX_BYTES {
                return Err(too_large);
            }
            all.push(row);
        }
        let mut memo = FactsMemo::new();
        let mut group = Vec::with_capacity(all.len());
        for row in all {
            group.push(self.plan_row(ctx, biz, row, &mut memo).await);
        }
        let mut answers = Vec::new();
        if group.iter().any(|p| p.state.is_err()) {
            for pending in group {
                if let Err(rejected) = pending.state {
                    answers.push(RowResult {
                        line: pending.line,
                        outcome: Err(rejected),
                    });
                }
            }
            return Ok(answers);
        }
        let mut lines = Vec::with_capacity(group.len());
        let mut datas = Vec::with_capacity(group.len());
        let mut plans = Vec::with_capacity(group.len());
        for pending in group {
            if let Ok(plan) = pending.state {
                lines.push(pending.line);
                datas.push(pending.data.unwrap_or_default());
                plans.push(plan);
            }
        }
        let mut round = 1;
        let committed = loop {
            match self.store.create_sets_atomic(plans).await {
                Err(BatchFailure { error, .. }) if stale(&error) && round < MAX_PLANS => {
                    round += 1;
                    // The catalog changed: every row is planned again on fresh facts.
                    let mut refused = false;
                    plans = Vec::with_capacity(datas.len());
                    for (line, data) in lines.iter().zip(&datas) {
                        match self.checked_plan(ctx, biz, data).await {
                            Ok(plan) => plans.push(plan),
                            Err(f) => {
                                refused = true;
                                answers.push(RowResult {
                                    line: *line,
                                    outcome: Err(rejected(self.localize(f), data)),
                                });
                            }
                        }
                    }
                    if refused {
                        return Ok(answers);
                    }
                }
                other => break other,
            }
        };
        match committed {
            Ok(created) => {
                for (line, created) in lines.into_iter().zip(created) {
                    answers.push(RowResult {
                        line,
                        outcome: Ok(created.set.doc),
                    });
                }
            }
            Err(BatchFailure { index, error }) => {
                if let (Some(line), Some(data)) = (lines.get(index), datas.get(index)) {
                    answers.push(RowResult {
                        line: *line,
                        outcome: Err(rejected(self.localize(error.into()), data)),
                    });
                }
            }
        }
        Ok(answers)
    }

    fn localize(&self, failure: Failure) -> Failure {
        failure.in_language(self.options.language)
    }

    fn localized_rejection(&self, rejected: Rejected) -> Rejected {
        Rejected {
            failure: self.localize(rejected.failure),
            input: rejected.input,
        }
    }

    fn rejected_row(&self, failure: Failure, data: Option<&Document>) -> Rejected {
        let failure = self.localize(failure);
        match data {
            Some(data) => rejected(failure, data),
            None => Rejected {
                failure,
                input: RejectedInput::Raw(String::new()),
            },
        }
    }
}

/// A refused row that had data.
fn rejected(failure: Failure, data: &Document) -> Rejected {
    Rejected {
        failure,
        input: RejectedInput::Row(data.clone()),
    }
}

/// The answer for a row the store gave no result for (a store fault).
fn missing_answer() -> Failure {
    Failure::from(Error::Store(StoreError::Backend(
        "the store answered no result for this row".into(),
    )))
}
