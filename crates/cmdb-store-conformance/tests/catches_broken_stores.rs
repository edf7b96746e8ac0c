//! The suite is not vacuous: stores broken on purpose (wrapping the memory store) fail the
//! cases that guard the broken behaviour.

use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Once};

use async_trait::async_trait;
use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::error::{Error, StoreError};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::ids::{BizId, SequenceKind, SetId};
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{BatchFailure, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_store_conformance::{StoreFactory, cases, run_case};
use cmdb_store_memory::MemoryStore;

/// One way to break the memory store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// An atomic batch commits plan by plan, keeping the prefix before a failure.
    PrefixCommits,
    /// A refused create burns a set id.
    BurnsIdOnFailure,
    /// Sets are read newest first.
    ReversedSetReads,
    /// Audit records of modules are not returned.
    HidesModuleAudits,
    /// A group with one failing create fails every create in it (nothing of it is stored).
    GroupFailsWhole,
    /// Later creates of a group do not see earlier ones: each plan of a call is checked
    /// against the store as it was before the call.
    GroupBlindToItself,
}

#[derive(Debug)]
struct BrokenStore {
    inner: MemoryStore,
    flaw: Flaw,
}

#[async_trait]
impl SetStore for BrokenStore {
    fn backend(&self) -> &'static str {
        "broken"
    }
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.inner.apply_catalog(batch).await
    }
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        match self.flaw {
            Flaw::GroupFailsWhole => return self.all_or_nothing(plans).await,
            Flaw::GroupBlindToItself => return self.blind(plans).await,
            _ => {}
        }
        let results = self.inner.create_sets(plans).await;
        if self.flaw == Flaw::BurnsIdOnFailure {
            for _ in results.iter().filter(|r| r.is_err()) {
                let last = self.inner.sequence_last(SequenceKind::Set).await.unwrap();
                self.inner
                    .raise_sequence(SequenceKind::Set, last + 1)
                    .await
                    .unwrap();
            }
        }
        results
    }
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        if self.flaw != Flaw::PrefixCommits {
            return self.inner.create_sets_atomic(plans).await;
        }
        let mut created = Vec::new();
        for (index, plan) in plans.into_iter().enumerate() {
            created.push(
                self.inner
                    .create_set(plan)
                    .await
                    .map_err(|error| BatchFailure { index, error })?,
            );
        }
        Ok(created)
    }
    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.inner.raise_sequence(kind, value).await
    }
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.inner.sequence_last(kind).await
    }
    async fn business(&self, id: BizId) -> Result<Option<Business>, StoreError> {
        self.inner.business(id).await
    }
    async fn mainline(&self, supplier_account: &str) -> Result<Vec<String>, StoreError> {
        self.inner.mainline(supplier_account).await
    }
    async fn mainline_instance(&self, id: i64) -> Result<Option<MainlineInstance>, StoreError> {
        self.inner.mainline_instance(id).await
    }
    async fn set_attributes(
        &self,
        supplier_account: &str,
        biz: BizId,
    ) -> Result<Vec<StoredAttribute>, StoreError> {
        self.inner.set_attributes(supplier_account, biz).await
    }
    async fn unique_rules(&self, supplier_account: &str) -> Result<Vec<UniqueRule>, StoreError> {
        self.inner.unique_rules(supplier_account).await
    }
    async fn set_template(&self, id: i64) -> Result<Option<SetTemplate>, StoreError> {
        self.inner.set_template(id).await
    }
    async fn service_template(&self, id: i64) -> Result<Option<ServiceTemplate>, StoreError> {
        self.inner.service_template(id).await
    }
    async fn builtin_set(&self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        self.inner.builtin_set(biz).await
    }
    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let mut sets = self.inner.sets(biz, set).await?;
        if self.flaw == Flaw::ReversedSetReads {
            sets.reverse();
        }
        Ok(sets)
    }
    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.inner.modules(set).await
    }
    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        let mut records = self.inner.audit_records(biz, resource_type).await?;
        if self.flaw == Flaw::HidesModuleAudits {
            records.retain(|r| r["resource_type"] != "module");
        }
        Ok(records)
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

impl BrokenStore {
    /// [`Flaw::GroupFailsWhole`]: the plans as one atomic batch; any failure fails them all.
    async fn all_or_nothing(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let count = plans.len();
        match self.inner.create_sets_atomic(plans).await {
            Ok(created) => created.into_iter().map(Ok).collect(),
            Err(failure) => vec![Err(failure.error); count],
        }
    }

    /// [`Flaw::GroupBlindToItself`]: a plan whose name an earlier plan of the call took is
    /// stored anyway under a suffixed name, as if the store had not seen the earlier one.
    async fn blind(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(plans.len());
        for mut plan in plans {
            if !seen.insert((plan.parent, plan.name.clone())) {
                plan.name.push_str(" (blind)");
            }
            out.push(self.inner.create_set(plan).await);
        }
        out
    }
}

struct BrokenFactory(Flaw);

impl StoreFactory for BrokenFactory {
    type Guard = ();
    fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let store = BrokenStore {
            inner: MemoryStore::new(),
            flaw: self.0,
        };
        (Arc::new(store), ())
    }
    fn reopen(&self, _guard: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        None
    }
}

thread_local! {
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Keeps the expected case failures out of the output; any other panic prints as usual.
fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Whether the case fails (panics) against the store.
fn fails(case: impl Future<Output = ()>) -> bool {
    quiet_expected_panics();
    EXPECTING_PANIC.with(|e| e.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| run_case(case)));
    EXPECTING_PANIC.with(|e| e.set(false));
    outcome.is_err()
}

#[test]
fn prefix_commits_fail_the_atomic_batch_cases() {
    let f = BrokenFactory(Flaw::PrefixCommits);
    assert!(fails(cases::atomic_batch_is_all_or_nothing(&f)));
    assert!(fails(cases::failure_mid_write_rolls_back_everything(&f)));
    assert!(fails(cases::ids_increase_without_gaps(&f)));
    // Cases that use no batch pass.
    assert!(!fails(cases::worked_example_document(&f)));
}

#[test]
fn burnt_ids_fail_the_gapless_cases() {
    let f = BrokenFactory(Flaw::BurnsIdOnFailure);
    assert!(fails(cases::duplicate_name_under_same_parent_is_refused(
        &f
    )));
    assert!(fails(cases::ids_increase_without_gaps(&f)));
    assert!(fails(cases::concurrent_same_name_has_one_winner(&f)));
    assert!(fails(cases::custom_unique_rule_is_enforced(&f)));
    assert!(fails(cases::differential_against_memory_model(&f)));
    assert!(!fails(cases::create_persists_exactly_the_plan(&f)));
}

#[test]
fn unordered_reads_fail_the_read_cases() {
    let f = BrokenFactory(Flaw::ReversedSetReads);
    assert!(fails(cases::create_persists_exactly_the_plan(&f)));
    assert!(fails(cases::concurrent_distinct_names_all_succeed(&f)));
    assert!(fails(
        cases::same_name_under_other_parent_or_biz_is_accepted(&f)
    ));
    assert!(fails(cases::differential_against_memory_model(&f)));
}

#[test]
fn missing_audit_records_fail_the_document_cases() {
    let f = BrokenFactory(Flaw::HidesModuleAudits);
    assert!(fails(cases::worked_example_document(&f)));
    assert!(fails(cases::create_persists_exactly_the_plan(&f)));
    assert!(fails(cases::concurrent_distinct_names_all_succeed(&f)));
}

#[test]
fn whole_group_failures_fail_the_isolation_case() {
    let f = BrokenFactory(Flaw::GroupFailsWhole);
    assert!(fails(cases::group_isolates_each_create(&f)));
    assert!(fails(cases::group_same_name_twice_first_wins(&f)));
    assert!(!fails(cases::worked_example_document(&f)));
}

#[test]
fn a_group_blind_to_itself_fails_the_first_wins_case() {
    let f = BrokenFactory(Flaw::GroupBlindToItself);
    assert!(fails(cases::group_same_name_twice_first_wins(&f)));
    assert!(fails(cases::group_isolates_each_create(&f)));
}
