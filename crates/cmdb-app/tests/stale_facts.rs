//! How the engine handles a store that caches create facts: a plan answered `StaleFacts` is
//! planned again (at most five plans per create, per batch element, per atomic batch), and a
//! refusal decided on cached facts is decided again on facts read afresh (but not a refusal
//! decided on facts that were not cached).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cmdb_app::{Engine, Failure};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, FactsSource, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::plan::{CreatePlan, RequestContext};
use cmdb_core::ports::{Action, Authorizer, BatchFailure, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{BizId, Error, SequenceKind, SetId, StoreError};
use cmdb_store_memory::MemoryStore;
use serde_json::{Value, json};

/// The tenant of the seed fixture and request.
const TENANT: &str = "123456789";
/// The biz of the seed fixture and request.
const BIZ: BizId = BizId(1);
/// The message of a create whose plans kept going stale.
const STALE_MESSAGE: &str =
    "internal error: the model kept changing while the set was created; try again";

/// Which plans the scripted store answers `StaleFacts` (call numbers count from 0, separately
/// for `create_sets` and `create_sets_atomic`).
#[derive(Debug, Clone, Copy)]
enum Stale {
    /// Every plan of the first `k` calls.
    FirstCalls(usize),
    /// Every plan of every call.
    Always,
    /// The plan of the set of this name, in the first call only.
    NamedInFirstCall(&'static str),
    /// The plan of the set of this name, in every call.
    Named(&'static str),
    /// Plans checked against facts of this catalog version.
    AtVersion(u64),
}

impl Stale {
    fn applies(self, call: usize, plan: &CreatePlan) -> bool {
        match self {
            Stale::FirstCalls(k) => call < k,
            Stale::Always => true,
            Stale::NamedInFirstCall(name) => call == 0 && plan.name == name,
            Stale::Named(name) => plan.name == name,
            Stale::AtVersion(v) => plan.catalog_version == Some(v),
        }
    }
}

/// How the scripted store answers `create_facts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Facts {
    /// `Cached(1)` unless the query asks for fresh facts, then `Read(2)`.
    Cached,
    /// As [`Facts::Cached`], but the cache is stale: it says the biz is archived.
    CachedArchived,
    /// Always `Read(2)`: the store has no cache.
    Read,
    /// The memory store's own answer: `Unversioned`.
    Unversioned,
}

/// One create call as the scripted store received it: each plan's set name and catalog version.
type Call = Vec<(String, Option<u64>)>;

/// A memory store behind a script: it labels facts as cached or read, answers `StaleFacts`
/// for the plans its script names (storing nothing of them), and counts what it is asked.
#[derive(Debug)]
struct Scripted {
    inner: MemoryStore,
    facts: Facts,
    stale: Option<Stale>,
    /// `create_facts` calls without `fresh`.
    reads: AtomicUsize,
    /// `create_facts` calls with `fresh`.
    fresh_reads: AtomicUsize,
    /// The `create_sets` calls.
    calls: Mutex<Vec<Call>>,
    /// The `create_sets_atomic` calls.
    atomic_calls: Mutex<Vec<Call>>,
}

fn stale_error() -> Error {
    Error::Store(StoreError::StaleFacts(
        "the catalog changed since the facts were read".into(),
    ))
}

/// Records a call; answers its number.
fn record(log: &Mutex<Vec<Call>>, plans: &[CreatePlan]) -> usize {
    let mut log = log.lock().unwrap();
    log.push(
        plans
            .iter()
            .map(|p| (p.name.clone(), p.catalog_version))
            .collect(),
    );
    log.len() - 1
}

impl Scripted {
    fn new(facts: Facts, stale: Option<Stale>) -> Self {
        Scripted {
            inner: MemoryStore::new(),
            facts,
            stale,
            reads: AtomicUsize::new(0),
            fresh_reads: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
            atomic_calls: Mutex::new(Vec::new()),
        }
    }

    fn is_stale(&self, call: usize, plan: &CreatePlan) -> bool {
        self.stale.is_some_and(|s| s.applies(call, plan))
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn fresh_reads(&self) -> usize {
        self.fresh_reads.load(Ordering::SeqCst)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn atomic_calls(&self) -> Vec<Call> {
        self.atomic_calls.lock().unwrap().clone()
    }

    /// How many plans each `create_sets` call received.
    fn call_sizes(&self) -> Vec<usize> {
        self.calls().iter().map(Vec::len).collect()
    }

    async fn facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        let mut facts = self.inner.create_facts(query).await?;
        if query.fresh {
            self.fresh_reads.fetch_add(1, Ordering::SeqCst);
        } else {
            self.reads.fetch_add(1, Ordering::SeqCst);
        }
        facts.source = match (self.facts, query.fresh) {
            (Facts::Unversioned, _) => FactsSource::Unversioned,
            (Facts::Read, _) | (Facts::Cached | Facts::CachedArchived, true) => {
                FactsSource::Read(2)
            }
            (Facts::Cached, false) => FactsSource::Cached(1),
            (Facts::CachedArchived, false) => {
                if let Some(b) = facts.business.as_mut() {
                    b.archived = true;
                }
                FactsSource::Cached(1)
            }
        };
        Ok(facts)
    }

    async fn commit(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        let call = record(&self.calls, &plans);
        let mut results: Vec<Option<Result<CreatedSet, Error>>> =
            plans.iter().map(|_| None).collect();
        let mut passed = Vec::new();
        let mut to_inner = Vec::new();
        for (index, plan) in plans.into_iter().enumerate() {
            if self.is_stale(call, &plan) {
                results[index] = Some(Err(stale_error()));
            } else {
                passed.push(index);
                to_inner.push(plan);
            }
        }
        if !to_inner.is_empty() {
            let committed = self.inner.create_sets(to_inner).await;
            assert_eq!(committed.len(), passed.len());
            for (index, result) in passed.into_iter().zip(committed) {
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every plan answered"))
            .collect()
    }

    async fn commit_atomic(&self, plans: Vec<CreatePlan>) -> Result<Vec<CreatedSet>, BatchFailure> {
        let call = record(&self.atomic_calls, &plans);
        if let Some(index) = plans.iter().position(|p| self.is_stale(call, p)) {
            return Err(BatchFailure {
                index,
                error: stale_error(),
            });
        }
        self.inner.create_sets_atomic(plans).await
    }
}

#[async_trait]
impl SetStore for Scripted {
    fn backend(&self) -> &'static str {
        "scripted"
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.inner.apply_catalog(batch).await
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        self.commit(plans).await
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        self.facts(query).await
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        self.commit_atomic(plans).await
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.inner.raise_sequence(kind, value).await
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.inner.sequence_last(kind).await
    }
    async fn audit_after(
        &self,
        after: cmdb_core::ids::AuditId,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.audit_after(after, limit).await
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.inner.catalog_get(key).await
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.inner.sets(biz, set).await
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.inner.modules(set).await
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.audit_records(biz, resource_type).await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

/// Refuses everyone.
#[derive(Debug)]
struct DenyAll;

impl Authorizer for DenyAll {
    fn allows(&self, _user: &str, _action: Action, _biz: BizId) -> bool {
        false
    }
}

/// Allows everyone, counting the questions.
#[derive(Debug, Default)]
struct CountingAllow(AtomicUsize);

impl Authorizer for CountingAllow {
    fn allows(&self, _user: &str, _action: Action, _biz: BizId) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// The seed request's `data` (its template gives the set one module), named `name`.
fn seed_data(name: &str) -> Document {
    let request: Value =
        serde_json::from_str(include_str!("../examples/create_set.json")).expect("seed request");
    assert_eq!(request["bk_supplier_account"], json!(TENANT));
    assert_eq!(request["bk_biz_id"], json!(BIZ.0));
    let mut data = request["data"].as_object().expect("seed data").clone();
    data.insert("bk_set_name".into(), json!(name));
    data
}

fn ctx() -> RequestContext {
    RequestContext {
        user: "alice".into(),
        supplier_account: TENANT.into(),
        app_code: "esb_test".into(),
        request_id: "0123456789abcdef0123456789abcdef".into(),
    }
}

/// The scripted store with the seed fixture loaded, and an engine over it (allowing all).
async fn setup(facts: Facts, stale: Option<Stale>) -> (Arc<Scripted>, Engine) {
    let store = Arc::new(Scripted::new(facts, stale));
    let engine = Engine::builder(store.clone()).build();
    seed(&engine, &store).await;
    (store, engine)
}

async fn seed(engine: &Engine, store: &Scripted) {
    let fixture: Value =
        serde_json::from_str(include_str!("../examples/fixture.json")).expect("seed fixture");
    engine.load_fixture(fixture, "admin").await.unwrap();
    assert_eq!(store.reads() + store.fresh_reads(), 0);
}

/// The set id the memory store hands out next.
async fn next_set_id(store: &Scripted) -> i64 {
    store.inner.sequence_last(SequenceKind::Set).await.unwrap() + 1
}

/// The names of the sets stored in the seed biz, in id order, with their ids.
async fn stored_sets(store: &Scripted) -> Vec<(i64, String)> {
    store
        .inner
        .sets(BIZ, None)
        .await
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["bk_set_id"].as_i64().unwrap(),
                d["bk_set_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The biz's built-in idle set, as the fixture creates it.
fn idle_pool() -> (i64, String) {
    (1, "空闲机池".to_owned())
}

fn assert_stale_failure(failure: &Failure, prefix: &str) {
    assert_eq!(failure.code().number(), 1_199_999, "{failure:?}");
    assert_eq!(failure.message(), format!("{prefix}{STALE_MESSAGE}"));
}

#[tokio::test]
async fn the_seed_store_allocates_the_ids_the_tests_expect() {
    let (store, _engine) = setup(Facts::Cached, None).await;
    // The biz's built-in idle set took id 1, then the fixture raised the set sequence to 4779.
    assert_eq!(next_set_id(&store).await, 4780);
    assert_eq!(stored_sets(&store).await, [idle_pool()]);
}

/// Rule 1: two stale answers, then the third plan is committed.
#[tokio::test]
async fn create_set_plans_again_after_stale_answers() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::FirstCalls(2))).await;
    let before = stored_sets(&store).await;
    let set = engine
        .create_set(&ctx(), BIZ, &seed_data("web"))
        .await
        .unwrap();
    assert_eq!(set["bk_set_id"], json!(4780));
    assert_eq!(set["bk_set_name"], json!("web"));
    // Exactly three store calls of one plan each, every plan checked against cached facts.
    let one = vec![("web".to_owned(), Some(1))];
    assert_eq!(store.calls(), [one.clone(), one.clone(), one]);
    assert!(store.atomic_calls().is_empty());
    // The facts were gathered for every plan; nothing was refused, so none afresh.
    assert_eq!((store.reads(), store.fresh_reads()), (3, 0));
    // Stored once, with its one module; the stale answers consumed no id.
    let mut expected = before;
    expected.push((4780, "web".to_owned()));
    assert_eq!(stored_sets(&store).await, expected);
    assert_eq!(store.inner.modules(SetId(4780)).await.unwrap().len(), 1);
    assert_eq!(next_set_id(&store).await, 4781);
}

/// Rule 1: the fifth stale answer is the create's answer.
#[tokio::test]
async fn create_set_gives_up_after_five_stale_plans() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::Always)).await;
    let before = stored_sets(&store).await;
    let failure = engine
        .create_set(&ctx(), BIZ, &seed_data("web"))
        .await
        .unwrap_err();
    assert_stale_failure(&failure, "");
    assert_eq!(store.call_sizes(), [1, 1, 1, 1, 1]);
    assert_eq!((store.reads(), store.fresh_reads()), (5, 0));
    assert_eq!(stored_sets(&store).await, before);
    assert_eq!(next_set_id(&store).await, 4780);
    // The envelope carries the same code and message.
    let body = json!({"bk_app_code": "esb_test", "bk_username": "alice",
                      "bk_supplier_account": TENANT, "bk_biz_id": 1, "data": seed_data("api")});
    let envelope = engine
        .handle_create_set(body.to_string().as_bytes(), Some("r".into()))
        .await;
    assert_eq!(
        (envelope.result, envelope.code, envelope.message.as_str()),
        (false, 1_199_999, STALE_MESSAGE)
    );
    assert_eq!(store.call_sizes().len(), 10);
}

/// Rule 2: the cache says the biz is archived; the database says it is not.
#[tokio::test]
async fn a_refusal_on_cached_facts_is_decided_again_on_fresh_facts() {
    // Plans checked against the stale cache (version 1) would be refused by the store: the
    // plan committed must be the one built on the fresh facts (version 2).
    let (store, engine) = setup(Facts::CachedArchived, Some(Stale::AtVersion(1))).await;
    let set = engine
        .create_set(&ctx(), BIZ, &seed_data("web"))
        .await
        .unwrap();
    assert_eq!(set["bk_set_id"], json!(4780));
    assert_eq!((store.reads(), store.fresh_reads()), (1, 1));
    assert_eq!(store.calls(), [vec![("web".to_owned(), Some(2))]]);
    assert_eq!(
        stored_sets(&store).await,
        [idle_pool(), (4780, "web".to_owned())]
    );
}

/// Rule 2: a refusal on cached facts that the fresh facts confirm is answered, after one
/// fresh read.
#[tokio::test]
async fn a_refusal_confirmed_by_fresh_facts_is_answered() {
    // An unknown biz: refused on the cached facts, then on the fresh ones.
    let (store, engine) = setup(Facts::Cached, None).await;
    let failure = engine
        .create_set(&ctx(), BizId(99), &seed_data("web"))
        .await
        .unwrap_err();
    assert_eq!(failure.code().number(), 1_199_011);
    assert_eq!(
        failure.message(),
        "'bk_biz_id' the parameter is invalid or does not exist"
    );
    assert_eq!((store.reads(), store.fresh_reads()), (1, 1));
    assert!(store.calls().is_empty());

    // A permission denial is a refusal too.
    let store = Arc::new(Scripted::new(Facts::Cached, None));
    let engine = Engine::builder(store.clone())
        .authorizer(Arc::new(DenyAll))
        .build();
    seed(&engine, &store).await;
    let failure = engine
        .create_set(&ctx(), BIZ, &seed_data("web"))
        .await
        .unwrap_err();
    assert_eq!(failure.code().number(), 9_900_403);
    assert_eq!(
        failure.permission().as_ref().unwrap()["actions"][0]["related_resource_types"][0]["instances"]
            [0][0]["name"],
        json!("demo")
    );
    assert_eq!((store.reads(), store.fresh_reads()), (1, 1));
    assert!(store.calls().is_empty());
}

/// Rule 2: a refusal on facts that were not cached is answered without a second read.
#[tokio::test]
async fn a_refusal_on_uncached_facts_is_answered_at_once() {
    for facts in [Facts::Read, Facts::Unversioned] {
        let (store, engine) = setup(facts, None).await;
        let failure = engine
            .create_set(&ctx(), BizId(99), &seed_data("web"))
            .await
            .unwrap_err();
        assert_eq!(failure.code().number(), 1_199_011, "{facts:?}");
        assert_eq!(
            failure.message(),
            "'bk_biz_id' the parameter is invalid or does not exist"
        );
        assert_eq!((store.reads(), store.fresh_reads()), (1, 0), "{facts:?}");
        assert!(store.calls().is_empty());
        // A rule refusing the request itself (a name taken) is not read again either.
        engine
            .create_set(&ctx(), BIZ, &seed_data("web"))
            .await
            .unwrap();
        let failure = engine
            .create_set(&ctx(), BIZ, &seed_data("web"))
            .await
            .unwrap_err();
        assert_eq!(failure.code().number(), 1_101_108, "{facts:?}");
        assert_eq!((store.reads(), store.fresh_reads()), (3, 0), "{facts:?}");
    }
}

fn batch(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| Value::Object(seed_data(n))).collect()
}

/// Each element's index and its created set's id and name (panics on a failed element).
fn created(elements: &[cmdb_app::engine::BatchElement]) -> Vec<(usize, i64, String)> {
    elements
        .iter()
        .map(|e| {
            let doc = e.outcome.as_ref().expect("element created");
            (
                e.index,
                doc["bk_set_id"].as_i64().unwrap(),
                doc["bk_set_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Rule 3: only the stale element is planned and sent again.
#[tokio::test]
async fn a_batch_sends_only_its_stale_elements_again() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::NamedInFirstCall("b"))).await;
    let elements = engine
        .batch_create(&ctx(), BIZ, &batch(&["a", "b", "c"]), false)
        .await
        .unwrap();
    // In element order; `b` was committed in the second call, after `a` and `c`.
    assert_eq!(
        created(&elements),
        [
            (0, 4780, "a".to_owned()),
            (1, 4782, "b".to_owned()),
            (2, 4781, "c".to_owned())
        ]
    );
    let names = |call: &Call| call.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let calls = store.calls();
    assert_eq!(store.call_sizes(), [3, 1]);
    assert_eq!(names(&calls[0]), ["a", "b", "c"]);
    assert_eq!(names(&calls[1]), ["b"]);
    // The biz check, three plans, then `b` planned again.
    assert_eq!((store.reads(), store.fresh_reads()), (5, 0));
    assert_eq!(
        stored_sets(&store).await,
        [
            idle_pool(),
            (4780, "a".to_owned()),
            (4781, "c".to_owned()),
            (4782, "b".to_owned())
        ]
    );
}

/// Rule 3: an element stale in every round fails with the StaleFacts error after five plans;
/// the others are stored.
#[tokio::test]
async fn a_batch_element_stale_five_times_fails_alone() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::Named("b"))).await;
    let elements = engine
        .batch_create(&ctx(), BIZ, &batch(&["a", "b", "c"]), false)
        .await
        .unwrap();
    assert_eq!(store.call_sizes(), [3, 1, 1, 1, 1]);
    assert_eq!(
        elements.iter().map(|e| e.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(created(&elements[..1]), [(0, 4780, "a".to_owned())]);
    assert_eq!(created(&elements[2..]), [(2, 4781, "c".to_owned())]);
    assert_stale_failure(elements[1].outcome.as_ref().unwrap_err(), "");
    assert_eq!((store.reads(), store.fresh_reads()), (1 + 3 + 4, 0));
    assert_eq!(next_set_id(&store).await, 4782);
}

/// Rule 3: a stale atomic batch is planned and sent again whole.
#[tokio::test]
async fn an_atomic_batch_is_planned_again_whole() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::FirstCalls(1))).await;
    let elements = engine
        .batch_create(&ctx(), BIZ, &batch(&["a", "b", "c"]), true)
        .await
        .unwrap();
    assert_eq!(
        created(&elements),
        [
            (0, 4780, "a".to_owned()),
            (1, 4781, "b".to_owned()),
            (2, 4782, "c".to_owned())
        ]
    );
    let all: Call = ["a", "b", "c"]
        .iter()
        .map(|n| ((*n).to_owned(), Some(1)))
        .collect();
    assert_eq!(store.atomic_calls(), [all.clone(), all]);
    assert!(store.calls().is_empty());
    // The biz check, then three plans per round.
    assert_eq!((store.reads(), store.fresh_reads()), (1 + 3 + 3, 0));
    assert_eq!(stored_sets(&store).await.len(), 4);
}

/// Rule 3: an atomic batch stale five times fails naming the element, storing nothing.
#[tokio::test]
async fn an_atomic_batch_gives_up_after_five_stale_plans() {
    let (store, engine) = setup(Facts::Cached, Some(Stale::Named("b"))).await;
    let failure = engine
        .batch_create(&ctx(), BIZ, &batch(&["a", "b", "c"]), true)
        .await
        .unwrap_err();
    assert_stale_failure(&failure, "sets[1]: ");
    assert_eq!(
        store
            .atomic_calls()
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        [3, 3, 3, 3, 3]
    );
    assert_eq!(stored_sets(&store).await, [idle_pool()]);
    assert_eq!(next_set_id(&store).await, 4780);
}

/// Rule 3 with rule 2: the batch's biz check, refused on the stale cache (an archived biz),
/// is decided again on fresh facts, as is every element's plan.
#[tokio::test]
async fn a_batch_biz_check_on_cached_facts_is_decided_again() {
    for atomic in [false, true] {
        let (store, engine) = setup(Facts::CachedArchived, Some(Stale::AtVersion(1))).await;
        let elements = engine
            .batch_create(&ctx(), BIZ, &batch(&["a", "b"]), atomic)
            .await
            .unwrap();
        assert_eq!(
            created(&elements),
            [(0, 4780, "a".to_owned()), (1, 4781, "b".to_owned())],
            "atomic {atomic}"
        );
        // The biz check and each element: one cached read refused, one fresh read.
        assert_eq!(
            (store.reads(), store.fresh_reads()),
            (3, 3),
            "atomic {atomic}"
        );
        let fresh: Call = vec![("a".to_owned(), Some(2)), ("b".to_owned(), Some(2))];
        let (sent, other) = if atomic {
            (store.atomic_calls(), store.calls())
        } else {
            (store.calls(), store.atomic_calls())
        };
        assert_eq!(sent, [fresh], "atomic {atomic}");
        assert!(other.is_empty());
    }
}

/// Rule 3 with rule 2: a batch refused at the biz check on facts that were not cached is
/// answered without a fresh read; on cached facts it is read afresh once.
#[tokio::test]
async fn a_batch_refused_at_the_biz_check() {
    for (facts, fresh_reads) in [
        (Facts::Read, 0),
        (Facts::Unversioned, 0),
        (Facts::Cached, 1),
    ] {
        let (store, engine) = setup(facts, None).await;
        let failure = engine
            .batch_create(&ctx(), BizId(99), &batch(&["a"]), false)
            .await
            .unwrap_err();
        assert_eq!(failure.code().number(), 1_199_011, "{facts:?}");
        assert_eq!(
            failure.message(),
            "'bk_biz_id' the parameter is invalid or does not exist"
        );
        assert_eq!(
            (store.reads(), store.fresh_reads()),
            (1, fresh_reads),
            "{facts:?}"
        );
        assert!(store.calls().is_empty() && store.atomic_calls().is_empty());
    }
}

/// A batch asks for the permission once, however often its elements are planned.
#[tokio::test]
async fn a_batch_asks_for_the_permission_once() {
    for atomic in [false, true] {
        let store = Arc::new(Scripted::new(Facts::Cached, Some(Stale::FirstCalls(1))));
        let allow = Arc::new(CountingAllow::default());
        let engine = Engine::builder(store.clone())
            .authorizer(allow.clone())
            .build();
        seed(&engine, &store).await;
        let elements = engine
            .batch_create(&ctx(), BIZ, &batch(&["a", "b"]), atomic)
            .await
            .unwrap();
        assert_eq!(created(&elements).len(), 2, "atomic {atomic}");
        // Two rounds of planning (the first answered stale), one permission question.
        let rounds = if atomic {
            store.atomic_calls().len()
        } else {
            store.calls().len()
        };
        assert_eq!(rounds, 2, "atomic {atomic}");
        assert_eq!(allow.0.load(Ordering::SeqCst), 1, "atomic {atomic}");
        // A single create asks once per plan: after an atomic batch its first `create_sets`
        // call is the store's first, answered stale, so it is planned twice.
        let before = store.calls().len();
        engine
            .create_set(&ctx(), BIZ, &seed_data("single"))
            .await
            .unwrap();
        let plans = store.calls().len() - before;
        assert_eq!(plans, if atomic { 2 } else { 1 });
        assert_eq!(allow.0.load(Ordering::SeqCst), 1 + plans, "atomic {atomic}");
    }
}
