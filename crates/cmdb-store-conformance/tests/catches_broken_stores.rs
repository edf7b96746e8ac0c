//! The suite is not vacuous: stores broken on purpose (wrapping the memory store, each with one
//! planted flaw) fail the cases that guard the broken behaviour, and every case of the suite
//! is shown to fail against at least one of them ([`CATCHES`], checked against
//! [`cmdb_store_conformance::CASES`]).

use std::collections::HashSet;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};

use async_trait::async_trait;
use cmdb_core::backend::DocQuery;
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::error::{Error, StoreError};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::ids::{AuditId, BizId, SequenceKind, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{BatchFailure, CommitStats, SetStore, SetStoreExt};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_store_conformance::{CASES, StoreFactory, cases, run_case, run_named};
use cmdb_store_memory::MemoryStore;
use serde_json::json;

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
    /// Later creates of a group do not see earlier ones: a plan whose name an earlier plan of
    /// the call took is stored anyway (under a mangled index name).
    GroupBlindToItself,
    /// Built-in (idle) sets are left out of set reads.
    HidesIdleSets,
    /// A read of one set returns every set of the biz.
    SetFilterIgnored,
    /// Custom attributes are read in reverse definition order.
    ReversedAttributes,
    /// Creates are stored without their built-in marker.
    DropsBuiltinFlag,
    /// Every sequence raise claims to have changed the sequence.
    ClaimsEveryRaise,
    /// A reopen comes back empty.
    ReopenForgets,
    /// Custom unique keys are not stored or checked.
    IgnoresUniqueKeys,
    /// Every successful catalog load also bumps the audit sequence.
    ReloadBumpsSequence,
    /// A refused catalog load still bumps the audit sequence.
    LeakyRefusedCatalog,
    /// A refused catalog load is reported as loaded.
    CatalogErrorsSwallowed,
    /// Every create of a call commits in a transaction of its own.
    CommitsOneByOne,
    /// The name check reads a snapshot, yields, then commits under a mangled index name: a
    /// race window in name uniqueness that only concurrent creates can hit.
    RacyNameCheck,
    /// A paged read counts only the page.
    CountsThePage,
    /// A paged read ignores the window's start.
    PagesFromTheStart,
    /// A page of sets counts the refused creates too (a listing counter bumped by a create
    /// that was rolled back).
    CountsRefusedCreates,
    /// The audit log answers from its start, whatever id it is asked to continue after.
    LogIgnoresTheCursor,
    /// The audit log answers records of modules only after those of sets (not in id order).
    LogSetsFirst,
}

/// For every flaw, the cases it must fail. Together they cover every case of the suite.
const CATCHES: &[(Flaw, &[&str])] = &[
    (
        Flaw::PrefixCommits,
        &[
            "atomic_batch_is_all_or_nothing",
            "failure_mid_write_rolls_back_everything",
            "ids_increase_without_gaps",
        ],
    ),
    (
        Flaw::BurnsIdOnFailure,
        &[
            "duplicate_name_under_same_parent_is_refused",
            "ids_increase_without_gaps",
            "concurrent_same_name_has_one_winner",
            "custom_unique_rule_is_enforced",
            "differential_against_memory_model",
            "group_same_name_64_has_one_winner",
        ],
    ),
    (
        Flaw::ReversedSetReads,
        &[
            "create_persists_exactly_the_plan",
            "concurrent_distinct_names_all_succeed",
            "same_name_under_other_parent_or_biz_is_accepted",
            "differential_against_memory_model",
            "group_distinct_names_64_all_succeed",
        ],
    ),
    (
        Flaw::HidesModuleAudits,
        &[
            "worked_example_document",
            "create_persists_exactly_the_plan",
            "concurrent_distinct_names_all_succeed",
        ],
    ),
    (
        Flaw::GroupFailsWhole,
        &[
            "group_isolates_each_create",
            "group_same_name_twice_first_wins",
        ],
    ),
    (
        Flaw::GroupBlindToItself,
        &[
            "group_same_name_twice_first_wins",
            "group_isolates_each_create",
        ],
    ),
    (
        Flaw::HidesIdleSets,
        &["loading_a_business_creates_its_idle_set"],
    ),
    (
        Flaw::SetFilterIgnored,
        &["reads_of_unknown_things_are_empty"],
    ),
    (
        Flaw::ReversedAttributes,
        &["catalog_reads_follow_their_order"],
    ),
    (Flaw::DropsBuiltinFlag, &["builtin_set_is_unique_per_biz"]),
    (
        Flaw::ClaimsEveryRaise,
        &["raising_a_sequence_never_lowers_it"],
    ),
    (Flaw::ReopenForgets, &["ids_continue_after_reopen"]),
    (
        Flaw::IgnoresUniqueKeys,
        &[
            "custom_unique_rule_is_enforced",
            "concurrent_unique_key_has_one_winner",
        ],
    ),
    (
        Flaw::ReloadBumpsSequence,
        &["identical_reload_changes_nothing"],
    ),
    (
        Flaw::LeakyRefusedCatalog,
        &["conflicting_reload_writes_nothing"],
    ),
    (
        Flaw::CatalogErrorsSwallowed,
        &[
            "mainline_change_after_businesses_is_refused",
            "conflicting_reload_writes_nothing",
        ],
    ),
    (
        Flaw::CommitsOneByOne,
        &["group_submitted_together_commits_once"],
    ),
    (
        Flaw::RacyNameCheck,
        &[
            "concurrent_same_name_has_one_winner",
            "group_same_name_64_has_one_winner",
        ],
    ),
    (
        Flaw::CountsThePage,
        &["pages_are_windows_of_the_listing_and_count_it"],
    ),
    (
        Flaw::PagesFromTheStart,
        &["pages_are_windows_of_the_listing_and_count_it"],
    ),
    (
        Flaw::CountsRefusedCreates,
        &["counts_are_the_listing_after_refusals_and_reopen"],
    ),
    (
        Flaw::LogIgnoresTheCursor,
        &["audit_log_is_every_committed_record_in_id_order"],
    ),
    (
        Flaw::LogSetsFirst,
        &["audit_log_is_every_committed_record_in_id_order"],
    ),
];

/// Cases a flaw must NOT fail: controls showing the flaws are specific, not a broken harness.
const PASSES: &[(Flaw, &str)] = &[
    (Flaw::PrefixCommits, "worked_example_document"),
    (Flaw::BurnsIdOnFailure, "create_persists_exactly_the_plan"),
    (Flaw::GroupFailsWhole, "worked_example_document"),
    (
        Flaw::RacyNameCheck,
        "duplicate_name_under_same_parent_is_refused",
    ),
    (Flaw::RacyNameCheck, "group_same_name_twice_first_wins"),
    (Flaw::ReopenForgets, "worked_example_document"),
    (Flaw::CountsThePage, "worked_example_document"),
    (
        Flaw::LogSetsFirst,
        "pages_are_windows_of_the_listing_and_count_it",
    ),
    (
        Flaw::CountsRefusedCreates,
        "pages_are_windows_of_the_listing_and_count_it",
    ),
];

#[derive(Debug)]
struct BrokenStore {
    inner: MemoryStore,
    flaw: Flaw,
    /// Numbers the mangled index names of [`Flaw::RacyNameCheck`].
    serial: AtomicU64,
    /// [`Flaw::RacyNameCheck`]: how many creates have passed the check and not yet written.
    in_window: AtomicU64,
    /// [`Flaw::CountsRefusedCreates`]: how many creates were refused.
    refused: AtomicU64,
}

impl BrokenStore {
    fn new(flaw: Flaw) -> Self {
        BrokenStore {
            inner: MemoryStore::new(),
            flaw,
            serial: AtomicU64::new(0),
            in_window: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// [`Flaw::GroupFailsWhole`]: the plans as one atomic batch; any failure fails them all.
    async fn all_or_nothing(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let count = plans.len();
        match self.inner.create_sets_atomic(plans).await {
            Ok(created) => created.into_iter().map(Ok).collect(),
            Err(failure) => vec![Err(failure.error); count],
        }
    }

    /// [`Flaw::GroupBlindToItself`]: a plan whose name an earlier plan of the call took is
    /// stored anyway under a suffixed index name.
    async fn blind(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(plans.len());
        for mut plan in plans {
            if !seen.insert((plan.parent, plan.name.clone())) {
                plan.name.push_str(" (blind)");
            }
            out.push(self.inner.create_set(plan).await);
        }
        out
    }

    /// [`Flaw::RacyNameCheck`]: check against a snapshot, let others run, then commit under
    /// an index name of its own (so the inner store's check cannot see a duplicate).
    async fn racy(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let mut out = Vec::with_capacity(plans.len());
        for mut plan in plans {
            let snapshot = match self.inner.sets(plan.biz, None).await {
                Ok(sets) => sets,
                Err(e) => {
                    out.push(Err(Error::Store(e)));
                    continue;
                }
            };
            let taken = snapshot.iter().any(|doc| {
                doc["bk_parent_id"] == json!(plan.parent) && doc["bk_set_name"] == json!(plan.name)
            });
            if taken {
                out.push(Err(Error::SetNameDuplicated));
                continue;
            }
            // Hold the window between check and write open until another create is in it too,
            // so racing creates do slip through however the runtime schedules them (bounded:
            // a create with no rival goes on after the yields).
            self.in_window.fetch_add(1, Ordering::SeqCst);
            for _ in 0..10_000 {
                if self.in_window.load(Ordering::SeqCst) >= 2 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let n = self.serial.fetch_add(1, Ordering::Relaxed);
            plan.name = format!("{}\u{1}{n}", plan.name);
            let created = self.inner.create_set(plan).await;
            self.in_window.fetch_sub(1, Ordering::SeqCst);
            out.push(created);
        }
        out
    }

    async fn bump_audit_sequence(&self) {
        let last = self.inner.sequence_last(SequenceKind::Audit).await.unwrap();
        self.inner
            .raise_sequence(SequenceKind::Audit, last + 1)
            .await
            .unwrap();
    }

    fn adjust(&self, mut plan: CreatePlan) -> CreatePlan {
        match self.flaw {
            Flaw::DropsBuiltinFlag => plan.builtin = false,
            Flaw::IgnoresUniqueKeys => plan.unique_keys.clear(),
            _ => {}
        }
        plan
    }
}

#[async_trait]
impl SetStore for BrokenStore {
    fn backend(&self) -> &'static str {
        "broken"
    }
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        let result = self.inner.apply_catalog(batch).await;
        match (self.flaw, &result) {
            (Flaw::ReloadBumpsSequence, Ok(_)) => self.bump_audit_sequence().await,
            (Flaw::LeakyRefusedCatalog, Err(_)) => self.bump_audit_sequence().await,
            (Flaw::CatalogErrorsSwallowed, Err(_)) => return Ok(LoadReport::default()),
            _ => {}
        }
        result
    }
    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let plans: Vec<CreatePlan> = plans.into_iter().map(|p| self.adjust(p)).collect();
        match self.flaw {
            Flaw::GroupFailsWhole => return self.all_or_nothing(plans).await,
            Flaw::GroupBlindToItself => return self.blind(plans).await,
            Flaw::RacyNameCheck => return self.racy(plans).await,
            Flaw::CommitsOneByOne => {
                let mut out = Vec::with_capacity(plans.len());
                for plan in plans {
                    out.push(self.inner.create_set(plan).await);
                }
                return out;
            }
            _ => {}
        }
        let results = self.inner.create_sets(plans).await;
        let refused = results.iter().filter(|r| r.is_err()).count() as u64;
        self.refused.fetch_add(refused, Ordering::SeqCst);
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
    fn commit_stats(&self) -> Option<CommitStats> {
        self.inner.commit_stats()
    }
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        let plans: Vec<CreatePlan> = plans.into_iter().map(|p| self.adjust(p)).collect();
        if self.flaw != Flaw::PrefixCommits {
            let len = plans.len() as u64;
            let result = self.inner.create_sets_atomic(plans).await;
            if result.is_err() {
                self.refused.fetch_add(len, Ordering::SeqCst);
            }
            return result;
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
        let changed = self.inner.raise_sequence(kind, value).await?;
        Ok(changed || self.flaw == Flaw::ClaimsEveryRaise)
    }
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.inner.sequence_last(kind).await
    }
    async fn audit_after(&self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        let from = match self.flaw {
            Flaw::LogIgnoresTheCursor => AuditId(0),
            _ => after,
        };
        let mut records = self.inner.audit_after(from, limit).await?;
        if self.flaw == Flaw::LogSetsFirst {
            records.sort_by_key(|r| r["resource_type"] != "set");
        }
        Ok(records)
    }
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let mut facts = self.inner.create_facts(query).await?;
        if self.flaw == Flaw::ReversedAttributes {
            facts.attributes.reverse();
        }
        Ok(facts)
    }
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.inner.catalog_get(key).await
    }
    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let asked = match self.flaw {
            Flaw::SetFilterIgnored => None,
            _ => set,
        };
        let mut sets = self.inner.sets(biz, asked).await?;
        match self.flaw {
            Flaw::ReversedSetReads => sets.reverse(),
            Flaw::HidesIdleSets => sets.retain(|s| s["default"] != json!(1)),
            _ => {}
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
    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let asked = match self.flaw {
            Flaw::PagesFromTheStart => Window { start: 0, ..window },
            _ => window,
        };
        let mut page = self.inner.page(query, asked).await?;
        match (self.flaw, query) {
            (Flaw::CountsThePage, _) => page.count = page.docs.len(),
            (Flaw::CountsRefusedCreates, DocQuery::Sets { set: None, .. }) => {
                page.count += self.refused.load(Ordering::SeqCst) as usize;
            }
            _ => {}
        }
        Ok(page)
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

struct BrokenFactory(Flaw);

impl StoreFactory for BrokenFactory {
    type Guard = ();
    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        (Arc::new(BrokenStore::new(self.0)), ())
    }
    async fn reopen(&self, _guard: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        // A memory store keeps nothing; this flaw pretends it does and comes back empty.
        (self.0 == Flaw::ReopenForgets).then(|| Arc::new(BrokenStore::new(self.0)) as _)
    }
}

/// Whether a [`fails`] run is in progress (its panics are expected and recorded, not printed).
static EXPECTING_PANIC: AtomicBool = AtomicBool::new(false);
/// Where the first panic of the [`fails`] run in progress happened (`file:line`).
static FIRST_PANIC: Mutex<Option<String>> = Mutex::new(None);
/// One [`fails`] run at a time, so the first panic recorded is that run's.
static ONE_RUN: Mutex<()> = Mutex::new(());

/// Records the first expected panic's location and keeps expected panics out of the output;
/// any other panic prints as usual.
fn record_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.load(Ordering::SeqCst) {
                return default(info);
            }
            let mut first = FIRST_PANIC.lock().unwrap_or_else(PoisonError::into_inner);
            if first.is_none() {
                *first = Some(info.location().map_or_else(
                    || "unknown".to_owned(),
                    |l| format!("{}:{}", l.file(), l.line()),
                ));
            }
        }));
    });
}

/// Whether a panic location is an assertion of the suite itself (a case or one of its checking
/// helpers), as opposed to a broken store's own code, the runtime, or a store crate.
fn is_the_suites_assertion(location: &str) -> bool {
    location.starts_with("crates/cmdb-store-conformance/src/")
}

/// Whether the case fails against the store, by one of the suite's own assertions. A case that
/// fails any other way (the broken store panicking, the runtime) fails this test instead: a
/// flaw only counts as caught when the case's check caught it.
fn fails(case: impl Future<Output = ()>) -> bool {
    record_expected_panics();
    let _one = ONE_RUN.lock().unwrap_or_else(PoisonError::into_inner);
    *FIRST_PANIC.lock().unwrap_or_else(PoisonError::into_inner) = None;
    EXPECTING_PANIC.store(true, Ordering::SeqCst);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| run_case(case)));
    EXPECTING_PANIC.store(false, Ordering::SeqCst);
    let first = FIRST_PANIC
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match (outcome, first) {
        (Ok(()), _) => false,
        (Err(_), Some(at)) if is_the_suites_assertion(&at) => true,
        (Err(_), at) => {
            panic!("the case failed, but not by its own assertion: it first panicked at {at:?}")
        }
    }
}

/// Whether the named case fails against a store with `flaw`.
fn fails_named(flaw: Flaw, name: &str) -> bool {
    let factory = BrokenFactory(flaw);
    fails(run_named(name, &factory))
}

#[test]
fn every_case_has_a_flaw_that_catches_it() {
    let covered: HashSet<&str> = CATCHES
        .iter()
        .flat_map(|(_, cases)| cases.iter().copied())
        .collect();
    let uncovered: Vec<&str> = CASES
        .iter()
        .copied()
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "cases no broken store fails: {uncovered:?}"
    );
    let unknown: Vec<&str> = covered
        .iter()
        .copied()
        .filter(|c| !CASES.contains(c))
        .collect();
    assert!(
        unknown.is_empty(),
        "the table names no such cases: {unknown:?}"
    );
}

#[test]
fn each_flaw_fails_the_cases_that_guard_it() {
    let mut missed = Vec::new();
    for (flaw, cases) in CATCHES {
        for case in *cases {
            if !fails_named(*flaw, case) {
                missed.push(format!("{flaw:?} passed {case}"));
            }
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}

#[test]
fn the_flaws_are_specific() {
    for (flaw, case) in PASSES {
        assert!(!fails_named(*flaw, case), "{flaw:?} should pass {case}");
    }
    // And the unbroken memory store passes every case.
    for case in CASES {
        assert!(
            !fails(run_named(case, &cmdb_store_conformance::MemoryFactory)),
            "the memory store fails {case}"
        );
    }
}

#[test]
fn the_racy_store_loses_only_under_concurrency() {
    // Sequential duplicates are still refused by its snapshot check…
    let f = BrokenFactory(Flaw::RacyNameCheck);
    assert!(!fails(cases::duplicate_name_under_same_parent_is_refused(
        &f
    )));
    // …while racing creates slip through its window.
    assert!(fails(cases::concurrent_same_name_has_one_winner(&f)));
}

#[test]
fn a_panic_outside_the_suites_assertions_is_not_a_catch() {
    // This panic is in this file, as a broken store's own panic would be: not a catch.
    let outcome = panic::catch_unwind(|| fails(async { panic!("a store's own panic") }));
    let payload = outcome.expect_err("fails refuses to count it");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.starts_with("the case failed, but not by its own assertion")
            && message.contains("catches_broken_stores.rs"),
        "{message}"
    );
    // A case's own assertion is one.
    assert!(fails_named(
        Flaw::BurnsIdOnFailure,
        "ids_increase_without_gaps"
    ));
}
