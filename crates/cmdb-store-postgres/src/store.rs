//! [`PgStore`]: the [`SetStore`] on a PostgreSQL database: connecting, the read pool, and the
//! handle on the writer task.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use cmdb_core::backend::DocQuery;
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::counter::Counter;
use cmdb_core::error::Detail;
use cmdb_core::facts::{FactsQuery, FactsSource, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::ids::{AuditId, BizId, SequenceKind, SetId};
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{BatchFailure, CommitStats, CommitWaker, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{Error, StoreError};
use cmdb_store_group::approx_plan_bytes;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, NoTls};

use cmdb_store_group::OpenError;

use crate::error::{Retry, bad_url, retry_kind, store_error};
use crate::facts_cache::tagged;

/// The metric of create-facts lookups, by `result`: `hit` (answered from the facts cache) or
/// `miss` (read from the database).
pub const FACTS_CACHE: &str = "cmdb_pg_facts_cache_total";
use crate::failover::{MAX_DELAY, MIN_DELAY, no_primary, transient};
use crate::options::PgOptions;
use crate::schema::migrate;
use crate::sql;
use crate::writer::{Job, Shared, Writer, connect, warm_up};

/// A [`SetStore`] on a PostgreSQL database (see the crate docs for how it writes).
///
/// Several stores, in one process or many, may share one database: the id counter rows and
/// the unique indexes keep names, keys, built-in sets and ids right across all of them.
pub struct PgStore {
    pool: Pool,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    /// Signalled when the writer thread has drained its queue and stopped.
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
    shared: Arc<Shared>,
    options: PgOptions,
    target: String,
    /// Where the commit listener connects.
    config: Config,
    /// The wakers of [`SetStore::on_commits`], called by the listener; its stop signal (the
    /// listener ends when this is dropped with the store).
    listening: Mutex<Option<(Wakers, oneshot::Sender<()>)>>,
}

/// The wakers the commit listener calls.
type Wakers = Arc<Mutex<Vec<CommitWaker>>>;

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// `host:port,host:port/dbname` of a config, for messages (never the password).
fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = match config.get_hosts() {
        [] => vec!["localhost".into()],
        hosts => hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let host = match host {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                };
                // One port for every host, or one per host (libpq's rule).
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                format!("{host}:{port}")
            })
            .collect(),
    };
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!("{}/{db}", hosts.join(","))
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`),
    /// creating the schema when the database has none and migrating an older one, and starts
    /// the writer task on the current tokio runtime.
    ///
    /// # Errors
    /// - [`OpenError::Invalid`]: the URL does not parse;
    /// - [`OpenError::TooNew`]: the schema version is above [`crate::SCHEMA_VERSION`];
    /// - [`OpenError::Foreign`]: the database holds something else;
    /// - [`OpenError::Unreachable`]: the server cannot be reached; [`OpenError::Busy`]: a lock
    ///   is held too long; [`OpenError::Store`]: the server refuses (wrong password, no such
    ///   database); each naming the server.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, OpenError> {
        let (config, target) = parse(url, options)?;
        let (mut client, _task) = connect(&config).await.map_err(|e| {
            OpenError::Store(StoreError::Backend(Detail::caused_by(
                format!(
                    "cannot connect to PostgreSQL at {target}: {}",
                    connect_message(&e)
                ),
                e,
            )))
        })?;
        migrate(&mut client).await?;
        // The check connection goes; the writer connects from its own thread.
        drop(client);
        let shared = Arc::new(Shared::new(options.facts_cache_entries));
        shared.ready.store(true, Ordering::Relaxed);
        let writer = Writer::new(
            config.clone(),
            target.clone(),
            &options,
            Arc::clone(&shared),
        );
        Self::start(config, target, options, shared, writer)
    }

    /// Opens the store without waiting for the server: only a URL that does not parse is
    /// refused. A background task connects (and migrates) with backoff until the server
    /// answers; until then writes and reads fail with a store error naming the connection and
    /// [`SetStore::health`] reports why. For long-running servers (`cmdb serve`) that must come
    /// up before their database.
    ///
    /// # Errors
    /// [`OpenError::Invalid`]: the URL does not parse.
    pub async fn connect_lazy(url: &str, options: PgOptions) -> Result<Self, OpenError> {
        let (config, target) = parse(url, options)?;
        let shared = Arc::new(Shared::new(options.facts_cache_entries));
        let writer = Writer::new(
            config.clone(),
            target.clone(),
            &options,
            Arc::clone(&shared),
        );
        tokio::spawn(warm_up(config.clone(), Arc::downgrade(&shared)));
        Self::start(config, target, options, shared, writer)
    }

    /// Starts the writer task and builds the read pool.
    fn start(
        config: Config,
        target: String,
        options: PgOptions,
        shared: Arc<Shared>,
        writer: Writer,
    ) -> Result<Self, OpenError> {
        let (sender, receiver) = mpsc::channel(options.group.queue_capacity.max(1));
        let (done, writer_done) = oneshot::channel();
        // The writer gets a thread and a single-threaded runtime of its own, as the embedded
        // stores' writers do: its wake-ups never queue behind request tasks, and it runs
        // whatever the flavour of the caller's runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                OpenError::Store(StoreError::Backend(Detail::caused_by(
                    format!("cannot start the writer's runtime: {e}"),
                    e,
                )))
            })?;
        std::thread::Builder::new()
            .name("cmdb-pg-writer".into())
            .spawn(move || {
                runtime.block_on(writer.run(receiver, options.group));
                let _ = done.send(());
            })
            .map_err(|e| {
                OpenError::Store(StoreError::Backend(Detail::caused_by(
                    format!("cannot start the writer thread: {e}"),
                    e,
                )))
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.read_connections.max(1))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| {
                OpenError::Store(StoreError::Backend(Detail::caused_by(e.to_string(), e)))
            })?;
        Ok(PgStore {
            pool,
            sender: Mutex::new(Some(sender)),
            writer_done: Mutex::new(Some(writer_done)),
            shared,
            options,
            target,
            config,
            listening: Mutex::new(None),
        })
    }

    /// The options the store was opened with.
    pub fn options(&self) -> PgOptions {
        self.options
    }

    /// How many write transactions were run again after a serialization failure (40001), a
    /// deadlock (40P01) or a unique violation the locked reads did not foresee (a tuning
    /// hook: many mean many engines contending at SERIALIZABLE).
    pub fn retried_transactions(&self) -> u64 {
        self.shared.retries.load(Ordering::Relaxed)
    }

    /// How many plans the writer refused because the catalog changed after their facts were
    /// read (each was planned again by its engine): the price of the facts cache, paid only
    /// after catalog changes.
    pub fn stale_plans(&self) -> u64 {
        self.shared.stale_plans.load(Ordering::Relaxed)
    }

    /// A pooled read connection. While no primary is reachable (the pool cannot open a
    /// connection), tries again with backoff for up to [`PgOptions::failover_wait`].
    async fn reader(&self) -> Result<Object, StoreError> {
        let deadline = Instant::now() + self.options.failover_wait;
        let mut pause = MIN_DELAY;
        loop {
            match self.pooled().await {
                Err(e) if transient(&e) && Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_DELAY);
                }
                other => return other,
            }
        }
    }

    /// A pooled read connection, or why there is none (one attempt).
    async fn pooled(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => match retry_kind(&e) {
                Retry::Reconnect => no_primary(&self.target, e),
                _ => store_error(e),
            },
            other => StoreError::Unavailable(Detail::caused_by(
                format!("lost the connection to the PostgreSQL server: {other}"),
                other,
            )),
        })
    }

    /// Hands a job to the writer.
    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<T>) -> Job,
    ) -> Result<T, StoreError> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        sender.send(job(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| {
            StoreError::Backend("the PostgreSQL store's writer stopped before answering".into())
        })
    }
}

/// Parses a URL into the driver's config with the store's settings, and names its target.
/// Every connection asks for a read-write session, whatever the URL says: the writer must
/// never reach a standby, and reads go to the primary so they see every acknowledged create.
/// A `connect_timeout` in the URL wins over [`PgOptions::connect_timeout`].
fn parse(url: &str, options: PgOptions) -> Result<(Config, String), OpenError> {
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| bad_url(e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    config.target_session_attrs(TargetSessionAttrs::ReadWrite);
    if config.get_application_name().is_none() {
        config.application_name("cmdb");
    }
    let target = describe(&config);
    Ok((config, target))
}

/// The server's words for a failed connection, without the driver's wrapping.
fn connect_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => match std::error::Error::source(e) {
            Some(source) => source.to_string(),
            None => e.to_string(),
        },
    }
}

fn closed() -> StoreError {
    StoreError::Backend("the PostgreSQL store is closed".into())
}

#[async_trait]
impl SetStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, Error> {
        self.submit(|reply| Job::Catalog {
            batch: Box::new(batch),
            reply,
        })
        .await
        .map_err(Error::Store)?
    }

    async fn create_sets(&self, plans: Vec<CreatePlan>) -> Vec<Result<CreatedSet, Error>> {
        if plans.is_empty() {
            return Vec::new();
        }
        let count = plans.len();
        let bytes = if self.options.group.enabled {
            plans.iter().map(approx_plan_bytes).sum()
        } else {
            0
        };
        self.shared
            .in_flight
            .fetch_add(count as u64, Ordering::Relaxed);
        let answer = self
            .submit(|reply| Job::Creates {
                plans,
                bytes,
                reply,
            })
            .await;
        match answer {
            Ok(results) => results,
            Err(e) => {
                self.shared
                    .in_flight
                    .fetch_sub(count as u64, Ordering::Relaxed);
                vec![Err(Error::Store(e)); count]
            }
        }
    }

    async fn health(&self) -> Result<(), StoreError> {
        if let Some(fatal) = self
            .shared
            .fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(fatal);
        }
        if !self.shared.ready.load(Ordering::Relaxed) {
            return Err(StoreError::Backend(
                format!(
                    "the PostgreSQL server at {} has not answered yet (connecting with backoff)",
                    self.target
                )
                .into(),
            ));
        }
        // One attempt, never the failover wait: /healthz must say at once that no primary is
        // reachable.
        let client = self.pooled().await?;
        client
            .simple_query(sql::PING)
            .await
            .map(drop)
            .map_err(store_error)
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(CommitStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            creates: self.shared.creates.load(Ordering::Relaxed),
            in_flight: self.shared.in_flight.load(Ordering::Relaxed),
        })
    }

    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        if let Some(cached) = self.shared.facts.get(query) {
            metrics::counter!(FACTS_CACHE, "result" => "hit").increment(1);
            return Ok(cached);
        }
        metrics::counter!(FACTS_CACHE, "result" => "miss").increment(1);
        // An answer read across a failover (the cache started over meanwhile) is not kept.
        let epoch = self.shared.facts.epoch();
        let mut facts = sql::create_facts(&*self.reader().await?, query).await?;
        if let FactsSource::Read(version) = facts.source {
            let version = tagged(epoch, version)
                .ok_or_else(|| StoreError::Corrupt("the catalog version is out of range".into()))?;
            facts.source = FactsSource::Read(version);
        }
        self.shared.facts.put(query, &facts, epoch);
        Ok(facts)
    }

    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        self.submit(|reply| Job::Atomic { plans, reply })
            .await
            .map_err(|e| BatchFailure {
                index: 0,
                error: Error::Store(e),
            })?
    }

    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.submit(|reply| Job::Raise { kind, value, reply })
            .await?
    }

    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        sql::sequence_last(&*self.reader().await?, kind).await
    }

    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        sql::catalog_item(&*self.reader().await?, key).await
    }

    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        let client = self.reader().await?;
        match set {
            None => sql::documents(&client, sql::SELECT_SETS, &[&biz.0], "set").await,
            Some(id) => sql::documents(&client, sql::SELECT_ONE_SET, &[&biz.0, &id.0], "set").await,
        }
    }

    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        sql::documents(
            &*self.reader().await?,
            sql::SELECT_MODULES,
            &[&set.0],
            "module",
        )
        .await
    }

    async fn audit_records(
        &self,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        let client = self.reader().await?;
        match resource_type {
            None => sql::documents(&client, sql::SELECT_AUDIT, &[&biz.0], "audit record").await,
            Some(rt) => {
                sql::documents(
                    &client,
                    sql::SELECT_AUDIT_OF_TYPE,
                    &[&biz.0, &rt.name()],
                    "audit record",
                )
                .await
            }
        }
    }

    /// One statement (one snapshot, one round trip) answers the page and the count (from the
    /// listing counters, but for a set's modules).
    async fn page(&self, query: DocQuery, window: Window) -> Result<DocPage, StoreError> {
        let limit = i64::try_from(window.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(window.start).unwrap_or(i64::MAX);
        let client = self.reader().await?;
        let counters: Vec<String> = Counter::of_listing(query)
            .unwrap_or_default()
            .iter()
            .map(|c| c.name().into_owned())
            .collect();
        match query {
            DocQuery::Sets { biz, set: Some(id) } => {
                let params: [&(dyn ToSql + Sync); 2] = [&biz.0, &id.0];
                let one = sql::documents(&client, sql::SELECT_ONE_SET, &params, "set").await?;
                Ok(window.cut(one))
            }
            DocQuery::Sets { biz, set: None } => {
                let params: [&(dyn ToSql + Sync); 4] = [&biz.0, &limit, &offset, &counters];
                sql::page(&client, sql::PAGE_SETS, &params, "set").await
            }
            DocQuery::Modules { set } => {
                let params: [&(dyn ToSql + Sync); 3] = [&set.0, &limit, &offset];
                sql::page(&client, sql::PAGE_MODULES, &params, "module").await
            }
            DocQuery::Audit { biz, resource_type } => {
                let of_type = resource_type.map(ResourceType::name);
                let params: [&(dyn ToSql + Sync); 5] =
                    [&biz.0, &of_type, &limit, &offset, &counters];
                sql::page(&client, sql::PAGE_AUDIT, &params, "audit record").await
            }
        }
    }

    /// A range of the primary key: every engine's transaction takes the `sequences` row locks
    /// before it allocates ids and holds them to its commit, so a snapshot that sees an id
    /// sees every smaller one.
    async fn audit_after(&self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.reader().await?;
        let params: [&(dyn ToSql + Sync); 2] = [&after.0, &limit];
        sql::documents(&client, sql::SELECT_AUDIT_AFTER, &params, "audit record").await
    }

    /// One `LISTEN` connection per store, started by the first call, calling every waker.
    fn on_commits(&self, wake: CommitWaker) -> bool {
        let mut listening = self
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((wakers, _)) = listening.as_ref() {
            wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(wake);
            return true;
        }
        let wakers = Arc::new(Mutex::new(vec![wake]));
        let (stop, stopped) = oneshot::channel();
        let all = Arc::clone(&wakers);
        let wake_all: CommitWaker = Arc::new(move || {
            for wake in all.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                wake();
            }
        });
        let started = crate::listen::spawn(self.config.clone(), wake_all, stopped);
        if started {
            *listening = Some((wakers, stop));
        }
        started
    }

    async fn close(&self) -> Result<(), StoreError> {
        // Dropping the sender lets the writer finish what is queued, then stop.
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let done = self
            .writer_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(done) = done {
            done.await.map_err(|_| {
                StoreError::Backend("the PostgreSQL store's writer thread failed".into())
            })?;
        }
        self.pool.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_multi_host_url_names_every_host_and_always_asks_for_a_read_write_session() {
        let options = PgOptions::default();
        let (config, target) = parse(
            "postgres://cmdb:secret@db1:5433,db2:5434/cmdb?connect_timeout=2",
            options,
        )
        .expect("a multi-host URL");
        assert_eq!(target, "db1:5433,db2:5434/cmdb");
        assert_eq!(
            config.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );
        // The URL's timeout wins over the option's.
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        // Asked for "any", still read-write: the writer must never reach a standby.
        let (config, target) =
            parse("postgres://cmdb@db1/cmdb?target_session_attrs=any", options).expect("a URL");
        assert_eq!(target, "db1:5432/cmdb");
        assert_eq!(
            config.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );
        assert_eq!(config.get_connect_timeout(), Some(&options.connect_timeout));
        // One port for every host.
        let (_, target) = parse("host=a,b port=7 dbname=d", options).expect("key=value");
        assert_eq!(target, "a:7,b:7/d");
    }
}
