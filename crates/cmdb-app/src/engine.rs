//! The engine: the create-set, batch, catalog and query use cases over a store and the ports.
//!
//! Split by job: this file holds the engine, its builder and options, and the create and
//! catalog use cases; `engine/batch.rs` the batch creation, `engine/reads.rs` the queries, and
//! `engine/esb.rs` the byte handlers that parse ESB bodies and render envelopes (still methods
//! of [`Engine`]).

use std::sync::Arc;
use std::time::Instant;

use chrono::FixedOffset;
use cmdb_core::error::Detail;
use cmdb_core::facts::{AttributeCache, CreateFacts, FactsQuery};
use cmdb_core::fixture::{CatalogBatch, Fixture, LoadReport};
use cmdb_core::gather::gather_for;
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::{Action, Authorizer, Clock, RequestIdSource, SetStore, SetStoreExt};
use cmdb_core::records::Document;
use cmdb_core::rules::keys::UnknownKeys;
use cmdb_core::time::render_timestamp;
use cmdb_core::typed::{InvalidDocument, Module, NewSet, Set};
use cmdb_core::{BizId, Code, Error, Language, StoreError};
use serde_json::Value;
use tracing::Instrument;

use crate::auth::{AllowAll, ViewAuthorizer, ViewByCreate};
use crate::envelope::Failure;
use crate::observe;
use crate::request::check_user;
use crate::system::{RandomRequestIds, SystemClock};
use crate::watch::{CommitSignal, Signalling};

mod batch;
mod esb;
mod event_stream;
mod import;
mod lifecycle;
mod reads;
mod watch;

pub use event_stream::EventStream;

pub use batch::BatchElement;
pub use import::RowSink;
pub use lifecycle::EngineOpenError;

/// The most sets one batch request may hold.
pub const BATCH_LIMIT: usize = 100;

/// How many times one create is planned at most when its store keeps answering that the
/// catalog changed since its facts were read ([`StoreError::StaleFacts`]). One re-plan is the
/// norm (the store then reads fresh facts); more means the catalog is changing continuously.
const MAX_PLANS: usize = 5;

/// Whether a store refused a plan because the catalog changed after its facts were read.
/// The typed set of a stored document; a document without its built-in fields is a corrupt
/// store (1199999), never a panic.
fn typed_set(doc: Arc<Document>) -> Result<Set, Failure> {
    Set::try_from(doc).map_err(corrupt)
}

/// The typed module of a stored document, as [`typed_set`].
fn typed_module(doc: Document) -> Result<Module, Failure> {
    Module::try_from(doc).map_err(corrupt)
}

/// A stored document the typed values refuse: the store is corrupt.
fn corrupt(e: InvalidDocument) -> Failure {
    let detail = Detail::caused_by(e.to_string(), e);
    Failure::from(Error::Store(StoreError::Corrupt(detail)))
}

/// An event in `span` for a refused create or batch: at `debug` for a refusal of the rules,
/// at `warn` for a store fault (1199999).
fn refused_event(span: &tracing::Span, refused: &Failure) {
    let code = refused.code().number();
    if refused.is(Code::Internal) {
        tracing::warn!(parent: span, code, message = refused.message(), "store fault");
    } else {
        tracing::debug!(parent: span, code, message = refused.message(), "refused");
    }
}

fn stale(error: &Error) -> bool {
    matches!(error, Error::Store(StoreError::StaleFacts(_)))
}

/// Options of the engine's rules and rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Reject (default) or drop keys that are not attributes.
    pub unknown_keys: UnknownKeys,
    /// The UTC offset timestamps are rendered in (default +08:00, as bk-cmdb deployments).
    pub utc_offset: FixedOffset,
    /// The acting user when a request names none (default: none → 1199027).
    pub default_user: Option<String>,
    /// The language of messages when a request asks for none (default English).
    pub language: Language,
    /// How often waiting watchers look for creates committed by other processes or engines
    /// on the same database (default [`crate::watch::BACKSTOP_POLL`]); this engine's own
    /// creates wake them at once.
    pub watch_poll: std::time::Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            unknown_keys: UnknownKeys::Reject,
            utc_offset: FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset"),
            default_user: None,
            language: Language::En,
            watch_poll: crate::watch::BACKSTOP_POLL,
        }
    }
}

/// What an adapter knows of a request besides its body (spec section 15).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request id to answer with (a fresh one when `None`).
    pub request_id: Option<String>,
    /// The language of the answer's message (the engine's default when `None`).
    pub language: Option<Language>,
    /// The raw `X-Bkapi-Authorization` header: the caller's credentials as a JSON object,
    /// used for each of `bk_app_code`, `bk_app_secret` and `bk_username` the body lacks.
    pub authorization: Option<Vec<u8>>,
}

/// The create-set engine: one store, the ports, and the options.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The store, as a [`Signalling`] over the one the engine was built with.
    store: Arc<dyn SetStore>,
    /// What the store's committed creates bump, for waiting watchers.
    signal: Arc<CommitSignal>,
    attributes: Arc<AttributeCache>,
    clock: Arc<dyn Clock>,
    authorizer: Arc<dyn Authorizer>,
    viewer: Arc<dyn ViewAuthorizer>,
    request_ids: Arc<dyn RequestIdSource>,
    options: EngineOptions,
}

/// Builds an [`Engine`]; everything but the store has a default.
#[derive(Debug)]
pub struct EngineBuilder {
    store: Arc<dyn SetStore>,
    clock: Arc<dyn Clock>,
    authorizer: Arc<dyn Authorizer>,
    viewer: Option<Arc<dyn ViewAuthorizer>>,
    request_ids: Arc<dyn RequestIdSource>,
    options: EngineOptions,
}

impl EngineBuilder {
    /// Uses this clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this authorizer (default: allow all).
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// Uses this authorizer for reads (default: whoever the write authorizer lets create
    /// topology in a biz may view it).
    pub fn viewer(mut self, viewer: Arc<dyn ViewAuthorizer>) -> Self {
        self.viewer = Some(viewer);
        self
    }

    /// Uses this request-id source (default: random 32-hex ids).
    pub fn request_ids(mut self, request_ids: Arc<dyn RequestIdSource>) -> Self {
        self.request_ids = request_ids;
        self
    }

    /// Rejects (default) or drops unknown keys.
    pub fn unknown_keys(mut self, policy: UnknownKeys) -> Self {
        self.options.unknown_keys = policy;
        self
    }

    /// Renders timestamps in this offset (default +08:00).
    pub fn utc_offset(mut self, offset: FixedOffset) -> Self {
        self.options.utc_offset = offset;
        self
    }

    /// The acting user for requests that name none.
    pub fn default_user(mut self, user: Option<String>) -> Self {
        self.options.default_user = user;
        self
    }

    /// The language of messages for requests that ask for none (default English).
    pub fn language(mut self, language: Language) -> Self {
        self.options.language = language;
        self
    }

    /// How often waiting watchers look for other processes' creates (default 500 ms).
    pub fn watch_poll(mut self, every: std::time::Duration) -> Self {
        self.options.watch_poll = every;
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        let store = Signalling::new(self.store);
        Engine {
            signal: Arc::clone(store.signal()),
            store: Arc::new(store),
            attributes: Arc::default(),
            clock: self.clock,
            viewer: self
                .viewer
                .unwrap_or_else(|| Arc::new(ViewByCreate(self.authorizer.clone()))),
            authorizer: self.authorizer,
            request_ids: self.request_ids,
            options: self.options,
        }
    }
}

impl Engine {
    /// A builder over `store`.
    pub fn builder(store: Arc<dyn SetStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            clock: Arc::new(SystemClock),
            authorizer: Arc::new(AllowAll),
            viewer: None,
            request_ids: Arc::new(RandomRequestIds::default()),
            options: EngineOptions::default(),
        }
    }

    /// The store: the one the engine was built with, seen through a [`Signalling`] wrapper
    /// (creates made through it wake the engine's watchers).
    pub fn store(&self) -> &Arc<dyn SetStore> {
        &self.store
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// A fresh request id.
    pub fn new_request_id(&self) -> String {
        self.request_ids.next_id()
    }

    fn now(&self) -> String {
        render_timestamp(self.clock.now(), self.options.utc_offset)
    }

    /// Creates one set: permission, then the rules of spec section 4 from step 3, then one
    /// store transaction (shared with concurrent creates by the store's group commit). Returns
    /// the stored document; a failure's message is in the engine's default language
    /// ([`Failure::in_language`] renders it in another).
    ///
    /// # Errors
    /// The first failing rule, as a [`Failure`] with its bk-cmdb code.
    pub async fn create_set(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
    ) -> Result<Document, Failure> {
        Ok(Arc::unwrap_or_clone(
            self.create_shared(ctx, biz, data).await?,
        ))
    }

    /// [`Engine::create_set`] of a typed set: the same rules, in the same order, with the
    /// same codes and messages; the stored set, typed.
    ///
    /// # Errors
    /// As [`Engine::create_set`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> anyhow::Result<()> {
    /// use cmdb_app::Engine;
    /// use cmdb_core::plan::RequestContext;
    /// use cmdb_core::typed::{NewSet, SetEnv};
    /// use cmdb_core::{BizId, Code};
    ///
    /// let engine = Engine::open("memory:").await?;
    /// let fixture = r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
    ///                   "id_generator": {"set": 4779}}"#;
    /// engine.load_fixture(fixture.parse()?, "admin").await?;
    /// let ctx = RequestContext {
    ///     user: "alice".into(),
    ///     supplier_account: "0".into(),
    ///     app_code: "my_app".into(),
    ///     request_id: engine.new_request_id(),
    /// };
    /// let set = engine
    ///     .create(&ctx, BizId(1), NewSet::new("web", 1).capacity(10).env(SetEnv::Test))
    ///     .await?;
    /// assert_eq!((set.id().0, set.name(), set.capacity()), (4780, "web", Some(10)));
    /// assert_eq!((set.env(), set.created_by()), (Some(SetEnv::Test), "alice"));
    ///
    /// let again = engine.create(&ctx, BizId(1), NewSet::new("web", 1)).await.unwrap_err();
    /// assert!(again.is(Code::SetNameDuplicated));
    /// assert_eq!(again.to_string(), "1101108: the same set name exist");
    /// # Ok(()) }
    /// ```
    pub async fn create(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        set: NewSet,
    ) -> Result<Set, Failure> {
        typed_set(self.create_shared(ctx, biz, &set.to_data()).await?)
    }

    /// One create, answering the stored document as the store shares it.
    async fn create_shared(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
    ) -> Result<Arc<Document>, Failure> {
        let store = self.store.backend();
        let span = tracing::info_span!(
            "create_set",
            request_id = ctx.request_id.as_str(),
            biz = biz.0,
            store,
            code = tracing::field::Empty,
        );
        let started = Instant::now();
        let created = async {
            let mut round = 1;
            loop {
                let plan = self.checked_plan(ctx, biz, data).await?;
                match self.store.create_set(plan).await {
                    Err(e) if stale(&e) && round < MAX_PLANS => round += 1,
                    other => return Ok::<_, Failure>(other?),
                }
            }
        }
        .instrument(span.clone())
        .await;
        let code = created.as_ref().err().map(Failure::code);
        span.record("code", code.map_or(0, Code::number));
        if let Err(refused) = &created {
            refused_event(&span, refused);
        }
        observe::create_answered(store, started, code);
        Ok(self.localized(created)?.set.doc)
    }

    /// The permission and the rules of one create, decided on its facts: a refusal decided on
    /// facts a store answered from its cache is decided again on facts read afresh, so no
    /// create is refused on a catalog that changed.
    async fn checked_plan(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
    ) -> Result<CreatePlan, Failure> {
        self.decide_on_facts(ctx, biz, data, |facts| {
            self.authorize(ctx, biz, facts)?;
            self.plan(ctx, biz, data, facts)
        })
        .await
    }

    /// The rules of one batch element (the permission was checked once for the batch), decided
    /// as [`Self::checked_plan`] decides them.
    async fn element_plan(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
    ) -> Result<CreatePlan, Failure> {
        self.decide_on_facts(ctx, biz, data, |facts| self.plan(ctx, biz, data, facts))
            .await
    }

    /// Runs `decide` on the facts of a create of `data`; when it refuses on cached facts, runs
    /// it again on facts read afresh and answers that.
    async fn decide_on_facts<T>(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
        decide: impl Fn(&CreateFacts) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let query = FactsQuery::for_create(&ctx.supplier_account, biz, data);
        let facts = self.facts(&query).await?;
        match decide(&facts) {
            Err(_) if facts.source.is_cached() => decide(&self.facts(&query.fresh()).await?),
            decided => decided,
        }
    }

    async fn facts(&self, query: &FactsQuery) -> Result<CreateFacts, Failure> {
        Ok(gather_for(self.store.as_ref(), query, &self.attributes).await?)
    }

    fn authorize(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        facts: &CreateFacts,
    ) -> Result<(), Failure> {
        // A library caller's context is held to the user-name rule too (spec section 16).
        check_user(&ctx.user)?;
        if self
            .authorizer
            .allows(&ctx.user, Action::CreateBizTopology, biz)
        {
            return Ok(());
        }
        let name = facts
            .business
            .as_ref()
            .filter(|b| b.bk_supplier_account == ctx.supplier_account)
            .map_or("", |b| b.bk_biz_name.as_str());
        Err(Failure::permission_denied(biz, name))
    }

    fn plan(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
        facts: &CreateFacts,
    ) -> Result<CreatePlan, Failure> {
        let options = PlanOptions {
            unknown_keys: self.options.unknown_keys,
        };
        Ok(plan_create(ctx, biz, data, facts, options, &self.now())?)
    }

    /// Loads a fixture in one transaction (see the catalog spec).
    ///
    /// # Errors
    /// The first problem's code (1101092, 1199006, 1199014), or a store failure.
    pub async fn load_fixture(
        &self,
        fixture: Value,
        operator: &str,
    ) -> Result<LoadReport, Failure> {
        let loaded = async {
            let fixture = Fixture::from_json(fixture)?;
            let batch = CatalogBatch::prepare(fixture, self.now(), operator.to_owned())?;
            Ok(self.store.apply_catalog(batch).await?)
        };
        self.localized(loaded.await)
    }

    /// A result whose failure speaks the engine's default language.
    fn localized<T>(&self, result: Result<T, Failure>) -> Result<T, Failure> {
        result.map_err(|f| f.in_language(self.options.language))
    }
}
