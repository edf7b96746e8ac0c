//! The engine: the create-set, batch, catalog and query use cases over a store and the ports.

use cmdb_core::ports::SetStoreExt;
use std::sync::Arc;

use chrono::FixedOffset;
use cmdb_core::facts::{AttributeCache, CreateFacts, FactsQuery};
use cmdb_core::fixture::{CatalogBatch, Fixture, LoadReport};
use cmdb_core::gather::gather_for;
use cmdb_core::plan::{CreatePlan, PlanOptions, RequestContext, plan_create};
use cmdb_core::ports::{Action, Authorizer, BatchFailure, Clock, RequestIdSource, SetStore};
use cmdb_core::records::{Document, ResourceType};
use cmdb_core::rules::keys::UnknownKeys;
use cmdb_core::time::render_timestamp;
use cmdb_core::{BizId, Error, Language, SetId, StoreError};
use serde_json::{Value, json};

use crate::auth::{AllowAll, ViewAuthorizer, ViewByCreate};
use crate::envelope::{Envelope, Failure};
use crate::paging::{Listing, Page};
use crate::request::{EsbArgs, check_user, parse_body, parse_esb_with};
use crate::system::{RandomRequestIds, SystemClock};

/// The most sets one batch request may hold.
pub const BATCH_LIMIT: usize = 100;

/// How many times one create is planned at most when its store keeps answering that the
/// catalog changed since its facts were read ([`StoreError::StaleFacts`]). One re-plan is the
/// norm (the store then reads fresh facts); more means the catalog is changing continuously.
const MAX_PLANS: usize = 5;

/// Whether a store refused a plan because the catalog changed after its facts were read.
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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            unknown_keys: UnknownKeys::Reject,
            utc_offset: FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset"),
            default_user: None,
            language: Language::En,
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
    store: Arc<dyn SetStore>,
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

    /// The engine.
    pub fn build(self) -> Engine {
        Engine {
            store: self.store,
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

/// One element's result in a non-atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchElement {
    /// The element's index in the request.
    pub index: usize,
    /// The created set, or why it failed.
    pub outcome: Result<Document, Failure>,
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

    /// The store.
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
        .await;
        Ok(Arc::unwrap_or_clone(self.localized(created)?.set.doc))
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
        let language = self.options.language;
        let elements = self
            .batch_create_in_order(ctx, biz, sets, atomic)
            .await
            .map_err(|f| f.in_language(language))?;
        Ok(elements
            .into_iter()
            .map(|e| BatchElement {
                index: e.index,
                outcome: e.outcome.map_err(|f| f.in_language(language)),
            })
            .collect())
    }

    async fn batch_create_in_order(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[Value],
        atomic: bool,
    ) -> Result<Vec<BatchElement>, Failure> {
        if sets.len() > BATCH_LIMIT {
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
            return self.batch_atomic(ctx, biz, sets).await;
        }
        // Non-atomic: every element is planned, then all plans are committed together (one
        // group, each isolated); an element refused while planning never reaches the store.
        // Elements whose plans went stale (the catalog changed) are planned and sent again.
        let mut outcomes: Vec<Option<Result<Document, Failure>>> = vec![None; sets.len()];
        let mut todo: Vec<usize> = (0..sets.len()).collect();
        for round in 1..=MAX_PLANS {
            let mut planned = Vec::with_capacity(todo.len());
            let mut plans = Vec::with_capacity(todo.len());
            for index in todo.drain(..) {
                let plan = async {
                    let data = element_data(index, &sets[index])?;
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
                        outcomes[index] = Some(
                            result
                                .map(|c| Arc::unwrap_or_clone(c.set.doc))
                                .map_err(Failure::from),
                        );
                    }
                }
            }
            if todo.is_empty() {
                break;
            }
        }
        Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| BatchElement {
                index,
                outcome: outcome.unwrap_or_else(|| {
                    Err(Error::Store(StoreError::Backend(
                        "the store answered no result for this element".into(),
                    ))
                    .into())
                }),
            })
            .collect())
    }

    /// An atomic batch: every element planned, all committed in one transaction; planned and
    /// sent again whole when the store answers that the catalog changed.
    async fn batch_atomic(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[Value],
    ) -> Result<Vec<BatchElement>, Failure> {
        let mut round = 1;
        let created = loop {
            let mut plans = Vec::with_capacity(sets.len());
            for (index, element) in sets.iter().enumerate() {
                // An element that is not an object is refused naming itself (`'sets[i]'`);
                // the rules' refusals get the `sets[i]: ` prefix.
                let data = element_data(index, element)?;
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
        Ok(created
            .into_iter()
            .enumerate()
            .map(|(index, c)| BatchElement {
                index,
                outcome: Ok(Arc::unwrap_or_clone(c.set.doc)),
            })
            .collect())
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

    async fn readable_biz(&self, supplier_account: &str, biz: BizId) -> Result<(), Failure> {
        match self.store.business(biz).await? {
            Some(b) if b.bk_supplier_account == supplier_account => Ok(()),
            _ => Err(Error::invalid_or_missing("bk_biz_id").into()),
        }
    }

    /// Checks a reader: a valid user name (1199027), then the view permission on the biz
    /// (9900403 naming the biz when it is in the reader's tenant, else with an empty name).
    async fn may_view(&self, ctx: &RequestContext, biz: BizId) -> Result<(), Failure> {
        check_user(&ctx.user)?;
        if self.viewer.may_view(&ctx.user, biz) {
            return Ok(());
        }
        let name = self
            .store
            .business(biz)
            .await?
            .filter(|b| b.bk_supplier_account == ctx.supplier_account)
            .map(|b| b.bk_biz_name)
            .unwrap_or_default();
        Err(Failure::view_denied(biz, &name))
    }

    /// [`Engine::find_sets`] for a caller the engine does not trust: the acting user must be a
    /// valid user name and may view the biz; the answer is one [`Page`] with the total count.
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::find_sets`].
    pub async fn find_sets_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        set: Option<SetId>,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.localized(self.may_view(ctx, biz).await)?;
        Ok(page.cut(self.find_sets(&ctx.supplier_account, biz, set).await?))
    }

    /// [`Engine::list_modules`] for a caller the engine does not trust, paged (see
    /// [`Engine::find_sets_as`]).
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::list_modules`].
    pub async fn list_modules_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        set: SetId,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.localized(self.may_view(ctx, biz).await)?;
        Ok(page.cut(self.list_modules(&ctx.supplier_account, biz, set).await?))
    }

    /// [`Engine::audit_records`] for a caller the engine does not trust, paged (see
    /// [`Engine::find_sets_as`]).
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::audit_records`].
    pub async fn audit_records_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        resource_type: Option<ResourceType>,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.localized(self.may_view(ctx, biz).await)?;
        Ok(page.cut(
            self.audit_records(&ctx.supplier_account, biz, resource_type)
                .await?,
        ))
    }

    /// The sets of a biz (archived ones too), or one set; ordered by `bk_set_id`. No
    /// permission check and no page: for a trusted, embedding caller; adapters that answer
    /// untrusted callers use [`Engine::find_sets_as`].
    ///
    /// # Errors
    /// 1199011 for an unknown biz, 1199019 for a set not in it.
    pub async fn find_sets(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: Option<SetId>,
    ) -> Result<Vec<Document>, Failure> {
        let found = async {
            self.readable_biz(supplier_account, biz).await?;
            let sets = self.store.sets(biz, set).await?;
            if set.is_some() && sets.is_empty() {
                return Err(Error::NotFound.into());
            }
            Ok(sets)
        };
        self.localized(found.await)
    }

    /// The modules of a set, ordered by `bk_module_id`.
    ///
    /// # Errors
    /// 1199011 for an unknown biz, 1199019 for a set not in it.
    pub async fn list_modules(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: SetId,
    ) -> Result<Vec<Document>, Failure> {
        self.find_sets(supplier_account, biz, Some(set)).await?;
        self.localized(self.store.modules(set).await.map_err(Failure::from))
    }

    /// The audit records of a biz, ordered by `id`.
    ///
    /// # Errors
    /// 1199011 for an unknown biz.
    pub async fn audit_records(
        &self,
        supplier_account: &str,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, Failure> {
        let records = async {
            self.readable_biz(supplier_account, biz).await?;
            Ok(self.store.audit_records(biz, resource_type).await?)
        };
        self.localized(records.await)
    }

    /// The request context of an ESB request.
    fn context(&self, args: &EsbArgs, request_id: String) -> RequestContext {
        RequestContext {
            user: args.user.clone(),
            supplier_account: args.supplier_account.clone(),
            app_code: args.app_code.clone(),
            request_id,
        }
    }

    /// Answers an ESB `create_set` request body with the response envelope.
    pub async fn handle_create_set(&self, body: &[u8], request_id: Option<String>) -> Envelope {
        let meta = RequestMeta {
            request_id,
            ..RequestMeta::default()
        };
        self.handle_create_set_with(body, &meta).await
    }

    /// [`Engine::handle_create_set`] with what the adapter knows of the request: its id, the
    /// caller's language and the `X-Bkapi-Authorization` header.
    pub async fn handle_create_set_with(&self, body: &[u8], meta: &RequestMeta) -> Envelope {
        let rid = self.request_id_of(meta);
        let language = meta.language.unwrap_or(self.options.language);
        let args = match self.esb_args(body, meta) {
            Ok(args) => args,
            Err(e) => return Envelope::failure(rid, &Failure::from(e).in_language(language)),
        };
        let ctx = self.context(&args, rid.clone());
        match self.create_set(&ctx, args.biz, &args.data).await {
            Ok(doc) => Envelope::success(rid, Value::Object(doc)),
            Err(f) => Envelope::failure(rid, &f.in_language(language)),
        }
    }

    /// Answers a batch request body (`data: {"sets": […], "atomic": bool}`) with the envelope.
    pub async fn handle_batch_create(&self, body: &[u8], request_id: Option<String>) -> Envelope {
        let meta = RequestMeta {
            request_id,
            ..RequestMeta::default()
        };
        self.handle_batch_create_with(body, &meta).await
    }

    /// [`Engine::handle_batch_create`] with what the adapter knows of the request.
    pub async fn handle_batch_create_with(&self, body: &[u8], meta: &RequestMeta) -> Envelope {
        let rid = self.request_id_of(meta);
        let language = meta.language.unwrap_or(self.options.language);
        let parsed = self.esb_args(body, meta).and_then(|args| {
            let (sets, atomic) = batch_fields(&args.data)?;
            Ok((args, sets, atomic))
        });
        let (args, sets, atomic) = match parsed {
            Ok(parts) => parts,
            Err(e) => return Envelope::failure(rid, &Failure::from(e).in_language(language)),
        };
        let ctx = self.context(&args, rid.clone());
        self.batch_envelope_for(&ctx, args.biz, &sets, atomic, language)
            .await
    }

    fn request_id_of(&self, meta: &RequestMeta) -> String {
        meta.request_id
            .clone()
            .unwrap_or_else(|| self.new_request_id())
    }

    fn esb_args(&self, body: &[u8], meta: &RequestMeta) -> Result<EsbArgs, Error> {
        parse_body(body).and_then(|b| {
            parse_esb_with(
                &b,
                meta.authorization.as_deref(),
                self.options.default_user.as_deref(),
            )
        })
    }

    /// Answers a batch whose envelope fields are already known (e.g. from HTTP headers):
    /// `data` is `{"sets": […], "atomic": bool}`. The envelope's `request_id` is the context's.
    /// Messages are in `language`.
    pub async fn handle_batch(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
        language: Language,
    ) -> Envelope {
        match batch_fields(data) {
            Ok((sets, atomic)) => {
                self.batch_envelope_for(ctx, biz, &sets, atomic, language)
                    .await
            }
            Err(e) => Envelope::failure(
                ctx.request_id.clone(),
                &Failure::from(e).in_language(language),
            ),
        }
    }

    async fn batch_envelope_for(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[Value],
        atomic: bool,
        language: Language,
    ) -> Envelope {
        let rid = ctx.request_id.clone();
        match self.batch_create(ctx, biz, sets, atomic).await {
            Ok(elements) => {
                let elements: Vec<BatchElement> = elements
                    .into_iter()
                    .map(|e| BatchElement {
                        index: e.index,
                        outcome: e.outcome.map_err(|f| f.in_language(language)),
                    })
                    .collect();
                batch_envelope(rid, &elements)
            }
            Err(f) => Envelope::failure(rid, &f.in_language(language)),
        }
    }
}

/// Reads `sets` (an array, 1199006 otherwise) and `atomic` (a bool, default false).
fn batch_fields(data: &Document) -> Result<(Vec<Value>, bool), Error> {
    let sets = match data.get("sets") {
        Some(Value::Array(items)) => items.clone(),
        _ => return Err(Error::invalid("sets")),
    };
    let atomic = match data.get("atomic") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("atomic")),
    };
    Ok((sets, atomic))
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

/// The envelope of a completed batch: `data` lists every element; `result` is true only when
/// all succeeded, else code and message are the first failure's.
fn batch_envelope(request_id: String, elements: &[BatchElement]) -> Envelope {
    let data: Vec<Value> = elements
        .iter()
        .map(|e| match &e.outcome {
            Ok(doc) => json!({"index": e.index, "code": 0, "error_message": "", "data": doc}),
            Err(f) => {
                json!({"index": e.index, "code": f.code, "error_message": f.message, "data": null})
            }
        })
        .collect();
    let first_failure = elements.iter().find_map(|e| e.outcome.as_ref().err());
    let mut envelope = Envelope::success(request_id, Value::Array(data));
    if let Some(f) = first_failure {
        envelope.result = false;
        envelope.code = f.code;
        envelope.message = f.message.clone();
    }
    envelope
}
