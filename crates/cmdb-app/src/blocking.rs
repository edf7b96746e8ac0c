//! A blocking facade over [`crate::Engine`] for programs with no async code of their own.
//!
//! [`Engine`] owns a small tokio runtime (one worker thread, for what a store runs in the
//! background, such as PostgreSQL's connections) and waits for each call on the caller's
//! thread. It must not be called on a thread that runs a tokio runtime: blocking there would
//! stall the runtime, so every call refuses with [`Error::InsideRuntime`] instead (tokio
//! itself would panic). Async code uses [`crate::Engine`] directly.
//!
//! ```
//! use cmdb_app::blocking::Engine;
//! use cmdb_core::BizId;
//! use cmdb_core::plan::RequestContext;
//! use cmdb_core::typed::NewSet;
//!
//! fn main() -> anyhow::Result<()> {
//!     let engine = Engine::open("memory:")?;
//!     let fixture = r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}"#;
//!     engine.load_fixture(fixture.parse()?, "admin")?;
//!     let ctx = RequestContext {
//!         user: "alice".into(),
//!         supplier_account: "0".into(),
//!         app_code: "my_app".into(),
//!         request_id: engine.new_request_id(),
//!     };
//!     let set = engine.create(&ctx, BizId(1), NewSet::new("web", 1))?;
//!     assert_eq!((set.id().0, set.name()), (2, "web")); // set 1 is the idle pool
//!     let sets = engine.sets("0", BizId(1), None)?;
//!     assert_eq!(sets.iter().map(|s| s.id().0).collect::<Vec<_>>(), [1, 2]);
//!     engine.close()?;
//!     Ok(())
//! }
//! ```

use cmdb_core::fixture::LoadReport;
use cmdb_core::plan::RequestContext;
use cmdb_core::typed::{Module, NewSet, Set};
use cmdb_core::{BizId, SetId, StoreError};
use serde_json::Value;
use tokio::runtime::{Handle, Runtime};

use crate::engine::{EngineOpenError, EventStream};
use crate::envelope::Failure;
use crate::watch::{Event, WatchRequest};

/// Why a call of the blocking [`Engine`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call was made on a thread inside a tokio runtime's context (a task, `block_on`, or
    /// `spawn_blocking`'s threads), where waiting would stall the runtime. Use the async
    /// [`crate::Engine`] there.
    #[error(
        "the blocking cmdb engine was called inside a tokio runtime; \
         use cmdb_app::Engine's async methods there, or call it from a thread of its own"
    )]
    InsideRuntime,
    /// The engine's runtime could not be started.
    #[error("could not start the blocking cmdb engine's runtime")]
    Runtime(#[source] std::io::Error),
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] EngineOpenError),
    /// The engine refused the request (its bk-cmdb code and message).
    #[error(transparent)]
    Failure(#[from] Failure),
    /// The store failed to close.
    #[error(transparent)]
    Close(#[from] StoreError),
}

impl Error {
    /// The engine's refusal, when that is what this is.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::Failure(failure) => Some(failure),
            _ => None,
        }
    }
}

/// The create-set engine with blocking methods: [`crate::Engine`]'s, each waited for on the
/// caller's thread. It can be shared between threads (`Arc<Engine>`); each call blocks only
/// its caller. Dropping it never blocks: the store finishes its queued writes on its own
/// threads; [`Engine::close`] waits for them.
#[derive(Debug)]
pub struct Engine {
    engine: crate::Engine,
    /// The runtime's handle, which each call waits through.
    handle: Handle,
    /// The runtime, taken when the engine is dropped.
    runtime: Option<Runtime>,
}

/// Refuses a call made inside a tokio runtime's context.
fn outside_runtime() -> Result<(), Error> {
    match Handle::try_current() {
        Ok(_) => Err(Error::InsideRuntime),
        Err(_) => Ok(()),
    }
}

/// The engine's runtime: one worker thread for the tasks a store spawns; the calls themselves
/// run on their callers' threads.
fn runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cmdb-blocking")
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

impl Engine {
    /// [`crate::Engine::open`], blocking: an engine with the default options on the store
    /// `location` names (`sqlite://cmdb.sqlite`, `redb://…`, `sled://…`,
    /// `postgres://user:password@host/db`, `memory:`, or a SQLite file's path).
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Open`] when the location names no store or the store
    /// refuses to open; [`Error::Runtime`] when no thread could be started.
    pub fn open(location: &str) -> Result<Engine, Error> {
        outside_runtime()?;
        let runtime = runtime()?;
        let engine = runtime.block_on(crate::Engine::open(location))?;
        Ok(Engine::over(engine, runtime))
    }

    /// Wraps an engine made with [`crate::Engine::builder`] (other options, ports or a store
    /// opened by hand, e.g. with `SqliteStore::open_blocking`).
    ///
    /// # Errors
    /// [`Error::InsideRuntime`], [`Error::Runtime`].
    pub fn new(engine: crate::Engine) -> Result<Engine, Error> {
        outside_runtime()?;
        Ok(Engine::over(engine, runtime()?))
    }

    fn over(engine: crate::Engine, runtime: Runtime) -> Engine {
        Engine {
            engine,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        }
    }

    /// The async engine this one waits for (for its options, store and non-async methods).
    pub fn engine(&self) -> &crate::Engine {
        &self.engine
    }

    /// A fresh request id.
    pub fn new_request_id(&self) -> String {
        self.engine.new_request_id()
    }

    /// Waits for `future` on the caller's thread, inside the engine's runtime.
    fn wait<T, E>(&self, future: impl Future<Output = Result<T, E>>) -> Result<T, Error>
    where
        Error: From<E>,
    {
        outside_runtime()?;
        Ok(self.handle.block_on(future)?)
    }

    /// [`crate::Engine::load_fixture`]: loads a catalog in one transaction.
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Failure`] with the first problem's code.
    pub fn load_fixture(&self, fixture: Value, operator: &str) -> Result<LoadReport, Error> {
        self.wait(self.engine.load_fixture(fixture, operator))
    }

    /// [`crate::Engine::create`]: creates one set, answering it as stored.
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Failure`] with the first failing rule's code.
    pub fn create(&self, ctx: &RequestContext, biz: BizId, set: NewSet) -> Result<Set, Error> {
        self.wait(self.engine.create(ctx, biz, set))
    }

    /// [`crate::Engine::create_batch`]: up to 100 sets, each element's result in its slot
    /// (`atomic`: all in one transaction, or none).
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Failure`] for a request-level refusal (and for an
    /// atomic batch, the failing element's).
    pub fn create_batch(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[NewSet],
        atomic: bool,
    ) -> Result<Vec<Result<Set, Failure>>, Error> {
        self.wait(self.engine.create_batch(ctx, biz, sets, atomic))
    }

    /// [`crate::Engine::sets`]: the sets of a biz, or one set, ordered by id.
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Failure`]: 1199011 for an unknown biz, 1199019 for
    /// a set not in it.
    pub fn sets(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: Option<SetId>,
    ) -> Result<Vec<Set>, Error> {
        self.wait(self.engine.sets(supplier_account, biz, set))
    }

    /// [`crate::Engine::modules`]: the modules of a set, ordered by id.
    ///
    /// # Errors
    /// As [`Engine::sets`].
    pub fn modules(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: SetId,
    ) -> Result<Vec<Module>, Error> {
        self.wait(self.engine.modules(supplier_account, biz, set))
    }

    /// [`crate::Engine::watch_stream`] as a blocking iterator: each `next` waits on the
    /// caller's thread for the next event (following new ones, or ending when caught up with
    /// [`Events::until_caught_up`]).
    ///
    /// # Errors
    /// [`Error::InsideRuntime`]; [`Error::Failure`]: 1199027, 1103007 for a cursor of another
    /// store, tenant or resource.
    pub fn watch(&self, ctx: &RequestContext, request: WatchRequest) -> Result<Events<'_>, Error> {
        let stream = self.wait(self.engine.watch_stream(ctx, request))?;
        Ok(Events {
            engine: self,
            stream,
        })
    }

    /// [`crate::Engine::close`]: closes the store once every write queued before this call has
    /// committed, then stops the runtime.
    ///
    /// # Errors
    /// [`Error::InsideRuntime`] (the store is then left to close itself when dropped);
    /// [`Error::Close`]: the store's failure to flush or let go of its files.
    pub fn close(self) -> Result<(), Error> {
        self.wait(self.engine.close())
    }
}

impl Drop for Engine {
    /// Stops the runtime without waiting for its tasks (so dropping never blocks, and is
    /// allowed inside another runtime, where dropping a runtime would panic).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The events of a watch, each waited for on the caller's thread: [`Engine::watch`].
#[derive(Debug)]
pub struct Events<'a> {
    engine: &'a Engine,
    stream: EventStream,
}

impl Events<'_> {
    /// Ends the iteration when it has caught up instead of waiting for new events.
    #[must_use]
    pub fn until_caught_up(self) -> Self {
        Events {
            engine: self.engine,
            stream: self.stream.until_caught_up(),
        }
    }

    /// Where the watch continues (after the last event fetched or looked past).
    pub fn cursor(&self) -> crate::watch::Cursor {
        self.stream.cursor()
    }
}

impl Iterator for Events<'_> {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(inside) = outside_runtime() {
            return Some(Err(inside));
        }
        let next = self.engine.handle.block_on(self.stream.next());
        next.map(|event| event.map_err(Error::from))
    }
}
