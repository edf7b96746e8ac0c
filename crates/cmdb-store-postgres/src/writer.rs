//! The writer: one connection, one task on a thread of its own, draining a bounded queue.
//! Every create queued while the previous transaction was committing goes into the next one
//! (group commit), and every other write (fixtures, atomic batches, sequence raises) runs
//! alone between groups.
//!
//! A transaction is two pipelined flights: `BEGIN`, the sequence-row locks and the reads the
//! domain needs (names, unique keys, built-in sets of the group's plans); then the domain
//! decides in memory over a [`View`] (each plan isolated by the view's savepoints, exactly as
//! [`cmdb_core::plan::commit_group`] does on the embedded stores), and the writes, the
//! sequence bumps and `COMMIT` go out as the second flight. Serialization failures and
//! deadlocks are retried with backoff and jitter.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cmdb_core::catalog::{
    Business, MainlineInstance, ServiceTemplate, SetTemplate, StoredAttribute, UniqueRule,
};
use cmdb_core::fixture::{CatalogBatch, LoadReport, apply_fixture};
use cmdb_core::ids::{Sequence, SequenceKind, SetId};
use cmdb_core::plan::{CreatePlan, commit_group, commit_plan};
use cmdb_core::ports::{BatchFailure, StoreTx};
use cmdb_core::records::CreatedSet;
use cmdb_core::{Error, StoreError};
use cmdb_store_group::GroupOptions;
use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::error::{Retry, retry_kind, store_error};
use crate::facts_cache::FactsCache;
use crate::options::Isolation;
use crate::schema::migrate;
use crate::sql::{self, decode, encode};
use crate::view::{Catalog, Prefetched, View, Writes};

/// How often a transaction is tried before a serialization failure is reported.
const MAX_ATTEMPTS: u32 = 40;

/// One submission to the writer.
pub(crate) enum Job {
    /// Creates to group-commit, their estimated bytes, and where their results go.
    Creates {
        plans: Vec<CreatePlan>,
        bytes: usize,
        reply: oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
    },
    /// An all-or-nothing batch.
    Atomic {
        plans: Vec<CreatePlan>,
        reply: oneshot::Sender<Result<Vec<CreatedSet>, BatchFailure>>,
    },
    /// A fixture load.
    Catalog {
        batch: Box<CatalogBatch>,
        reply: oneshot::Sender<Result<LoadReport, Error>>,
    },
    /// A sequence raise.
    Raise {
        kind: SequenceKind,
        value: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// One caller's creates and where their results go.
type Submission = (
    Vec<CreatePlan>,
    oneshot::Sender<Vec<Result<CreatedSet, Error>>>,
);

/// Counters and state the store handle reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub commits: AtomicU64,
    pub creates: AtomicU64,
    pub in_flight: AtomicU64,
    /// Transactions run again after a serialization failure, a deadlock or a unique violation.
    pub retries: AtomicU64,
    /// Whether the schema is known to be in place (migrated by this store, or found current).
    pub ready: AtomicBool,
    /// Why the database can never be used (a schema too new, a foreign database).
    pub fatal: std::sync::Mutex<Option<StoreError>>,
    /// Create facts kept for the store's reads, and the newest catalog version seen (the
    /// writer reports every version it reads under the locks).
    pub facts: FactsCache,
    /// Plans refused because the catalog changed after their facts were read.
    pub stale_plans: AtomicU64,
}

impl Shared {
    /// Fresh state with a facts cache of `cache_entries` answers.
    pub(crate) fn new(cache_entries: usize) -> Self {
        Shared {
            commits: AtomicU64::new(0),
            creates: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            fatal: std::sync::Mutex::new(None),
            facts: FactsCache::new(cache_entries),
            stale_plans: AtomicU64::new(0),
        }
    }
}

/// The prepared statements of the writer's connection.
struct Statements {
    lock: Statement,
    names: Statement,
    keys: Statement,
    builtin: Statement,
    insert_sets: Statement,
    insert_keys: Statement,
    insert_modules: Statement,
    insert_audit: Statement,
    update_sequences: Statement,
    upsert_mainline: Statement,
    upsert_business: Statement,
    upsert_instance: Statement,
    upsert_attribute: Statement,
    insert_rule: Statement,
    upsert_service_template: Statement,
    upsert_set_template: Statement,
}

/// The writer's connection with its statements.
struct Conn {
    client: Client,
    stmts: Statements,
}

/// Connects and prepares the writer's statements (pipelined).
///
/// # Errors
/// The server's refusal.
pub(crate) async fn connect(
    config: &Config,
) -> Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let task = tokio::spawn(async move {
        // The connection ends with an error when the server goes away; the next statement on
        // the client reports it.
        let _ = connection.await;
    });
    Ok((client, task))
}

async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
    let sqls = [
        sql::LOCK_SEQUENCES,
        sql::NAMES_TAKEN,
        sql::KEYS_TAKEN,
        sql::BUILTIN_OF,
        sql::INSERT_SETS,
        sql::INSERT_KEYS,
        sql::INSERT_MODULES,
        sql::INSERT_AUDIT,
        sql::UPDATE_SEQUENCES,
        UPSERT_MAINLINE,
        UPSERT_BUSINESS,
        UPSERT_INSTANCE,
        UPSERT_ATTRIBUTE,
        INSERT_RULE,
        UPSERT_SERVICE_TEMPLATE,
        UPSERT_SET_TEMPLATE,
    ];
    let prepared = join_all(sqls.iter().map(|s| client.prepare(s))).await;
    let mut it = prepared.into_iter();
    let mut next = || it.next().expect("one statement per sql");
    Ok(Statements {
        lock: next()?,
        names: next()?,
        keys: next()?,
        builtin: next()?,
        insert_sets: next()?,
        insert_keys: next()?,
        insert_modules: next()?,
        insert_audit: next()?,
        update_sequences: next()?,
        upsert_mainline: next()?,
        upsert_business: next()?,
        upsert_instance: next()?,
        upsert_attribute: next()?,
        insert_rule: next()?,
        upsert_service_template: next()?,
        upsert_set_template: next()?,
    })
}

const UPSERT_MAINLINE: &str = "INSERT INTO mainline (bk_supplier_account, levels) VALUES ($1, $2) \
     ON CONFLICT (bk_supplier_account) DO UPDATE SET levels = excluded.levels";
const UPSERT_BUSINESS: &str = "INSERT INTO businesses (bk_biz_id, doc) VALUES ($1, $2) \
     ON CONFLICT (bk_biz_id) DO UPDATE SET doc = excluded.doc";
const UPSERT_INSTANCE: &str = "INSERT INTO mainline_instances (bk_inst_id, doc) VALUES ($1, $2) \
     ON CONFLICT (bk_inst_id) DO UPDATE SET doc = excluded.doc";
const UPSERT_ATTRIBUTE: &str = "INSERT INTO set_attributes \
     (bk_supplier_account, bk_property_id, ordinal, bk_biz_id, doc) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (bk_supplier_account, bk_property_id) DO UPDATE SET \
     ordinal = excluded.ordinal, bk_biz_id = excluded.bk_biz_id, doc = excluded.doc";
const INSERT_RULE: &str =
    "INSERT INTO unique_rules (bk_supplier_account, rule_key, doc) VALUES ($1, $2, $3)";
const UPSERT_SERVICE_TEMPLATE: &str = "INSERT INTO service_templates (id, doc) VALUES ($1, $2) \
     ON CONFLICT (id) DO UPDATE SET doc = excluded.doc";
const UPSERT_SET_TEMPLATE: &str = "INSERT INTO set_templates (id, service_template_ids, doc) \
     VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
     service_template_ids = excluded.service_template_ids, doc = excluded.doc";

/// What a transaction reads before the domain runs.
enum Prefetch<'a> {
    /// The index slots of these plans.
    Plans(&'a [CreatePlan]),
    /// The whole catalog (a fixture load).
    Catalog,
    /// Only the sequences.
    Sequences,
}

/// Why one attempt at a transaction failed.
enum AttemptError<E> {
    /// The server's error (the transaction is rolled back or the connection is gone).
    Pg(tokio_postgres::Error),
    /// Our own failure (a row that does not decode, an encoding error): rolled back.
    Store(StoreError),
    /// The domain refused: rolled back.
    Body(E),
}

/// Why a transaction failed.
enum TxError<E> {
    /// A storage failure: nothing of the transaction is stored.
    Store(StoreError),
    /// The domain refused: nothing is stored.
    Body(E),
}

/// The writer: its connection (reconnected on demand) and its options.
pub(crate) struct Writer {
    config: Config,
    isolation: Isolation,
    conn: Option<Conn>,
    shared: Arc<Shared>,
}

impl Writer {
    /// A writer with no connection yet (it connects on its first job).
    pub(crate) fn new(config: Config, isolation: Isolation, shared: Arc<Shared>) -> Self {
        Writer {
            config,
            isolation,
            conn: None,
            shared,
        }
    }

    /// Takes an open connection to a migrated database, preparing its statements.
    async fn adopt(&mut self, client: Client) -> Result<(), tokio_postgres::Error> {
        let stmts = prepare(&client).await?;
        self.conn = Some(Conn { client, stmts });
        Ok(())
    }

    /// Drains the queue until every sender is gone.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Job>, options: GroupOptions) {
        let mut pending: Option<Job> = None;
        loop {
            let job = match pending.take() {
                Some(job) => job,
                None => match rx.recv().await {
                    Some(job) => job,
                    None => break,
                },
            };
            match job {
                Job::Creates {
                    plans,
                    bytes,
                    reply,
                } => {
                    let mut count = plans.len();
                    let mut total = bytes;
                    let mut group: Vec<Submission> = vec![(plans, reply)];
                    while options.enabled
                        && count < options.max_creates
                        && total < options.max_bytes
                    {
                        match rx.try_recv() {
                            Ok(Job::Creates {
                                plans,
                                bytes,
                                reply,
                            }) => {
                                count += plans.len();
                                total += bytes;
                                group.push((plans, reply));
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_creates(group).await;
                }
                Job::Atomic { plans, reply } => {
                    let _ = reply.send(self.atomic(&plans).await);
                }
                Job::Catalog { batch, reply } => {
                    let result = self
                        .transaction(Prefetch::Catalog, |view| apply_fixture(view, &batch))
                        .await;
                    let _ = reply.send(result.map_err(|e| match e {
                        TxError::Store(e) => Error::Store(e),
                        TxError::Body(e) => e,
                    }));
                }
                Job::Raise { kind, value, reply } => {
                    let result = self
                        .transaction(Prefetch::Sequences, |view| view.raise_sequence(kind, value))
                        .await;
                    let _ = reply.send(result.map_err(|e| match e {
                        TxError::Store(e) | TxError::Body(e) => e,
                    }));
                }
            }
        }
    }

    /// Commits a group of submissions in one transaction and answers each. A group failing
    /// for a reason of its data (not the connection, not a conflict) is split: each
    /// submission then commits alone, so one create's storage error stays its own.
    async fn commit_creates(&mut self, group: Vec<Submission>) {
        let mut all: Vec<CreatePlan> = Vec::new();
        let mut replies = Vec::with_capacity(group.len());
        for (plans, reply) in group {
            replies.push((plans.len(), reply));
            all.extend(plans);
        }
        let mut results = self.commit_plans(&all).await;
        if matches!(results, Err((_, true))) && replies.len() > 1 {
            let mut split = Vec::with_capacity(all.len());
            let mut rest = all.as_slice();
            for (count, _) in &replies {
                let (plans, after) = rest.split_at(*count);
                rest = after;
                match self.commit_plans(plans).await {
                    Ok(r) => split.extend(r),
                    Err((e, _)) => {
                        split.extend(plans.iter().map(|_| Err(Error::Store(e.clone()))));
                    }
                }
            }
            results = Ok(split);
        }
        let mut results = match results {
            Ok(r) => r.into_iter(),
            Err((e, _)) => vec![Err(Error::Store(e)); all.len()].into_iter(),
        };
        for (count, reply) in replies {
            let answers: Vec<_> = results.by_ref().take(count).collect();
            self.shared
                .in_flight
                .fetch_sub(count as u64, Ordering::Relaxed);
            let _ = reply.send(answers);
        }
    }

    /// One transaction of plans, each isolated. `Err((e, data))`: the whole transaction
    /// failed, `data` when it failed on its own data rather than the connection or a conflict.
    async fn commit_plans(
        &mut self,
        plans: &[CreatePlan],
    ) -> Result<Vec<Result<CreatedSet, Error>>, (StoreError, bool)> {
        match self
            .transaction(Prefetch::Plans(plans), |view| {
                commit_group(view, plans.to_vec())
            })
            .await
        {
            Ok(results) => {
                let stale = results
                    .iter()
                    .filter(|r| r.as_ref().is_err_and(is_stale))
                    .count() as u64;
                self.shared.stale_plans.fetch_add(stale, Ordering::Relaxed);
                let stored = results.iter().filter(|r| r.is_ok()).count() as u64;
                if stored > 0 {
                    self.shared.commits.fetch_add(1, Ordering::Relaxed);
                    self.shared.creates.fetch_add(stored, Ordering::Relaxed);
                }
                Ok(results)
            }
            Err(TxError::Body(e)) => Err((e, false)),
            Err(TxError::Store(e)) => {
                let data = !matches!(e, StoreError::Busy(_)) && self.conn.is_some();
                Err((e, data))
            }
        }
    }

    async fn atomic(&mut self, plans: &[CreatePlan]) -> Result<Vec<CreatedSet>, BatchFailure> {
        let result = self
            .transaction(Prefetch::Plans(plans), |view| {
                plans
                    .iter()
                    .enumerate()
                    .map(|(index, plan)| {
                        commit_plan(view, plan.clone())
                            .map_err(|error| BatchFailure { index, error })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
        match result {
            Ok(created) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .creates
                    .fetch_add(created.len() as u64, Ordering::Relaxed);
                Ok(created)
            }
            Err(TxError::Body(e)) => {
                if is_stale(&e.error) {
                    self.shared.stale_plans.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
            }
            Err(TxError::Store(e)) => Err(BatchFailure {
                index: 0,
                error: Error::Store(e),
            }),
        }
    }

    /// Runs `body` over a [`View`] in one transaction, retrying serialization failures and
    /// deadlocks (and, at READ COMMITTED, a unique violation the locked reads could not
    /// foresee) with backoff and jitter.
    async fn transaction<T, E>(
        &mut self,
        prefetch: Prefetch<'_>,
        mut body: impl FnMut(&mut View) -> Result<T, E>,
    ) -> Result<T, TxError<E>> {
        let mut attempt = 0;
        let isolation = self.isolation;
        let shared = Arc::clone(&self.shared);
        loop {
            attempt += 1;
            let conn = match self.connection().await {
                Ok(conn) => conn,
                Err(e) => return Err(TxError::Store(e)),
            };
            let outcome = attempt_once(conn, isolation, &prefetch, &shared, &mut body).await;
            match outcome {
                Ok(t) => return Ok(t),
                Err(AttemptError::Body(e)) => {
                    rollback(conn).await;
                    return Err(TxError::Body(e));
                }
                Err(AttemptError::Store(e)) => {
                    rollback(conn).await;
                    return Err(TxError::Store(e));
                }
                Err(AttemptError::Pg(e)) => {
                    let unique = e.code() == Some(&SqlState::UNIQUE_VIOLATION);
                    match retry_kind(&e) {
                        Retry::Reconnect => {
                            self.conn = None;
                            return Err(TxError::Store(store_error(e)));
                        }
                        Retry::Transaction if attempt < MAX_ATTEMPTS => {
                            rollback(conn).await;
                            self.shared.retries.fetch_add(1, Ordering::Relaxed);
                            backoff(attempt).await;
                        }
                        Retry::No if unique && attempt < 3 => {
                            rollback(conn).await;
                            self.shared.retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Retry::Transaction | Retry::No => {
                            rollback(conn).await;
                            return Err(TxError::Store(store_error(e)));
                        }
                    }
                }
            }
        }
    }

    /// The open connection, connecting (once) when there is none.
    async fn connection(&mut self) -> Result<&Conn, StoreError> {
        if self.conn.is_none() {
            let (mut client, _task) = connect(&self.config).await.map_err(store_error)?;
            if !self.shared.ready.load(Ordering::Relaxed) {
                migrate(&mut client).await.map_err(StoreError::from)?;
                self.shared.ready.store(true, Ordering::Relaxed);
            }
            self.adopt(client).await.map_err(store_error)?;
        }
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Backend("no connection to the PostgreSQL server".into()))
    }
}

/// Sleeps before another attempt: exponential from 1 ms, capped at 100 ms, with full jitter.
async fn backoff(attempt: u32) {
    let cap = (1u64 << attempt.min(7)).min(100);
    let jitter = RandomState::new().hash_one(Instant::now()) % (cap * 1000 + 1);
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

async fn rollback(conn: &Conn) {
    // A failed rollback leaves an aborted transaction only on a broken connection, which the
    // next statement reports.
    let _ = conn.client.batch_execute("ROLLBACK").await;
}

/// One attempt: the first flight (begin, locks, reads), the domain, the second flight
/// (writes, sequences, commit).
async fn attempt_once<T, E>(
    conn: &Conn,
    isolation: Isolation,
    prefetch: &Prefetch<'_>,
    shared: &Shared,
    body: &mut impl FnMut(&mut View) -> Result<T, E>,
) -> Result<T, AttemptError<E>> {
    let read = read_flight(conn, isolation, prefetch).await?;
    shared.facts.saw(read.catalog_version);
    let mut view = View::new(read);
    let out = body(&mut view).map_err(AttemptError::Body)?;
    let mut sequences: Vec<(&str, i64)> = view
        .changed_sequences()
        .into_iter()
        .map(|(kind, last)| (kind.name(), last))
        .collect();
    let bumped = view
        .changes_catalog()
        .then(|| view.read_catalog_version() + 1);
    if let Some(version) = bumped {
        let last = i64::try_from(version).map_err(|_| {
            AttemptError::Store(StoreError::Corrupt(
                "the catalog version is out of range".into(),
            ))
        })?;
        sequences.push((sql::CATALOG_VERSION, last));
    }
    write_flight(conn, &view.writes, &sequences).await?;
    if let Some(version) = bumped {
        shared.facts.saw(version);
    }
    Ok(out)
}

/// Whether the domain refused a plan as checked against another catalog version.
fn is_stale(error: &Error) -> bool {
    matches!(error, Error::Store(StoreError::StaleFacts(_)))
}

/// The name slots (as three columns), unique keys and the bizs of built-in plans,
/// deduplicated: what the domain will ask the view about.
#[derive(Default)]
struct Slots {
    bizs: Vec<i64>,
    parents: Vec<i64>,
    names: Vec<String>,
    keys: Vec<String>,
    builtin_bizs: Vec<i64>,
}

fn slots(plans: &[CreatePlan]) -> Slots {
    let mut seen = HashSet::new();
    let mut out = Slots::default();
    let mut keys = HashSet::new();
    let mut builtin = HashSet::new();
    for p in plans {
        if seen.insert((p.biz.0, p.parent, p.name.clone())) {
            out.bizs.push(p.biz.0);
            out.parents.push(p.parent);
            out.names.push(p.name.clone());
        }
        keys.extend(p.unique_keys.iter().map(|k| k.storage_key()));
        if p.builtin {
            builtin.insert(p.biz.0);
        }
    }
    out.keys = keys.into_iter().collect();
    out.builtin_bizs = builtin.into_iter().collect();
    out
}

async fn read_flight<E>(
    conn: &Conn,
    isolation: Isolation,
    prefetch: &Prefetch<'_>,
) -> Result<Prefetched, AttemptError<E>> {
    let c = &conn.client;
    let s = &conn.stmts;
    let begin = c.batch_execute(isolation.begin());
    let lock = c.query(&s.lock, &[]);
    let mut read = Prefetched::default();
    match prefetch {
        Prefetch::Plans(plans) => {
            let Slots {
                bizs,
                parents,
                names,
                keys,
                builtin_bizs,
            } = slots(plans);
            let name_params: [&(dyn ToSql + Sync); 3] = [&bizs, &parents, &names];
            let key_params: [&(dyn ToSql + Sync); 1] = [&keys];
            let builtin_params: [&(dyn ToSql + Sync); 1] = [&builtin_bizs];
            // A group without unique keys or built-in sets (the usual one) skips those reads.
            let keys_read = async {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                c.query(&s.keys, &key_params).await
            };
            let builtin_read = async {
                if builtin_bizs.is_empty() {
                    return Ok(Vec::new());
                }
                c.query(&s.builtin, &builtin_params).await
            };
            let (b, l, n, k, bi) = tokio::join!(
                begin,
                lock,
                c.query(&s.names, &name_params),
                keys_read,
                builtin_read,
            );
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
            for row in n.map_err(AttemptError::Pg)? {
                read.names_taken.insert((
                    row.try_get(0)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                    row.try_get(1)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                    row.try_get(2)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                ));
            }
            for row in k.map_err(AttemptError::Pg)? {
                read.keys_taken.insert(
                    row.try_get(0)
                        .map_err(sql::corrupt)
                        .map_err(AttemptError::Store)?,
                );
            }
            read.builtin = builtin_bizs.iter().map(|b| (*b, None)).collect();
            for row in bi.map_err(AttemptError::Pg)? {
                let biz: i64 = row
                    .try_get(0)
                    .map_err(sql::corrupt)
                    .map_err(AttemptError::Store)?;
                let id: i64 = row
                    .try_get(1)
                    .map_err(sql::corrupt)
                    .map_err(AttemptError::Store)?;
                read.builtin.insert(biz, Some(SetId(id)));
            }
            read.name_domain = bizs
                .into_iter()
                .zip(parents)
                .zip(names)
                .map(|((b, p), n)| (b, p, n))
                .collect();
            read.key_domain = keys.into_iter().collect();
        }
        Prefetch::Catalog => {
            let (b, l, catalog) = tokio::join!(begin, lock, read_catalog(c));
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
            read.catalog = Some(catalog?);
        }
        Prefetch::Sequences => {
            let (b, l) = tokio::join!(begin, lock);
            b.map_err(AttemptError::Pg)?;
            (read.sequences, read.catalog_version) = sequences(&l.map_err(AttemptError::Pg)?)?;
        }
    }
    Ok(read)
}

/// The id sequences and the catalog version, from the locked counter rows.
fn sequences<E>(rows: &[tokio_postgres::Row]) -> Result<([Sequence; 4], u64), AttemptError<E>> {
    let mut out = [Sequence::default(); 4];
    let mut catalog = None;
    for row in rows {
        let kind: String = row
            .try_get(0)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)?;
        let last: i64 = row
            .try_get(1)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)?;
        if kind == sql::CATALOG_VERSION {
            catalog = Some(last);
            continue;
        }
        let Some(kind) = SequenceKind::from_name(&kind) else {
            continue;
        };
        let index = SequenceKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        out[index] = Sequence::from_last(last);
    }
    let catalog = sql::catalog_version(catalog).map_err(AttemptError::Store)?;
    Ok((out, catalog))
}

/// Every catalog row (a fixture load reads them all: the catalog is small, and the domain's
/// loader asks about any of them).
async fn read_catalog<E>(c: &Client) -> Result<Catalog, AttemptError<E>> {
    let (mainline, businesses, instances, attributes, rules, services, templates) = tokio::join!(
        c.query("SELECT bk_supplier_account, levels FROM mainline", &[]),
        c.query("SELECT doc FROM businesses", &[]),
        c.query("SELECT doc FROM mainline_instances", &[]),
        c.query("SELECT doc FROM set_attributes", &[]),
        c.query("SELECT doc FROM unique_rules", &[]),
        c.query("SELECT doc FROM service_templates", &[]),
        c.query("SELECT doc FROM set_templates", &[]),
    );
    let text = |row: &tokio_postgres::Row, i: usize| -> Result<String, AttemptError<E>> {
        row.try_get(i)
            .map_err(sql::corrupt)
            .map_err(AttemptError::Store)
    };
    let store = AttemptError::Store;
    let mut catalog = Catalog::default();
    for row in mainline.map_err(AttemptError::Pg)? {
        catalog.mainline.insert(
            text(&row, 0)?,
            decode(&text(&row, 1)?, "mainline").map_err(store)?,
        );
    }
    for row in businesses.map_err(AttemptError::Pg)? {
        let b: Business = decode(&text(&row, 0)?, "business").map_err(store)?;
        catalog.businesses.insert(b.bk_biz_id.0, b);
    }
    for row in instances.map_err(AttemptError::Pg)? {
        let i: MainlineInstance = decode(&text(&row, 0)?, "mainline instance").map_err(store)?;
        catalog.instances.insert(i.bk_inst_id, i);
    }
    for row in attributes.map_err(AttemptError::Pg)? {
        let a: StoredAttribute = decode(&text(&row, 0)?, "set attribute").map_err(store)?;
        catalog.attributes.insert(
            (a.bk_supplier_account.clone(), a.raw.bk_property_id.clone()),
            a,
        );
    }
    for row in rules.map_err(AttemptError::Pg)? {
        let r: UniqueRule = decode(&text(&row, 0)?, "unique rule").map_err(store)?;
        catalog
            .rules
            .insert((r.bk_supplier_account.clone(), r.key()), r);
    }
    for row in services.map_err(AttemptError::Pg)? {
        let s: ServiceTemplate = decode(&text(&row, 0)?, "service template").map_err(store)?;
        catalog.service_templates.insert(s.id, s);
    }
    for row in templates.map_err(AttemptError::Pg)? {
        let t: SetTemplate = decode(&text(&row, 0)?, "set template").map_err(store)?;
        catalog.set_templates.insert(t.id, t);
    }
    Ok(catalog)
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// The column arrays of the writes, owned so the pipelined statements can borrow them.
#[derive(Default)]
struct Columns {
    set_ids: Vec<i64>,
    set_bizs: Vec<i64>,
    set_parents: Vec<i64>,
    set_names: Vec<String>,
    set_builtin: Vec<bool>,
    set_docs: Vec<String>,
    keys: Vec<String>,
    key_sets: Vec<i64>,
    module_ids: Vec<i64>,
    module_sets: Vec<i64>,
    module_bizs: Vec<i64>,
    module_docs: Vec<String>,
    audit_ids: Vec<i64>,
    audit_bizs: Vec<i64>,
    audit_types: Vec<String>,
    audit_docs: Vec<String>,
    seq_kinds: Vec<String>,
    seq_lasts: Vec<i64>,
    /// Catalog rows: (statement slot, parameters).
    catalog: Vec<CatalogRow>,
}

/// One catalog row to write.
enum CatalogRow {
    Mainline(String, String),
    Business(i64, String),
    Instance(i64, String),
    Attribute(String, String, i64, i64, String),
    Rule(String, String, String),
    ServiceTemplate(i64, String),
    SetTemplate(i64, Vec<i64>, String),
}

fn columns(writes: &Writes, sequences: &[(&str, i64)]) -> Result<Columns, StoreError> {
    let mut c = Columns::default();
    for s in &writes.sets {
        c.set_ids.push(s.id.0);
        c.set_bizs.push(s.biz.0);
        c.set_parents.push(s.parent);
        c.set_names.push(s.name.clone());
        c.set_builtin.push(s.builtin);
        c.set_docs.push(encode(s.doc.as_ref())?);
        for k in &s.unique_keys {
            c.keys.push(k.storage_key());
            c.key_sets.push(s.id.0);
        }
    }
    for m in &writes.modules {
        c.module_ids.push(m.id.0);
        c.module_sets.push(m.set.0);
        c.module_bizs.push(m.biz.0);
        c.module_docs.push(encode(m.doc.as_ref())?);
    }
    for a in &writes.audits {
        c.audit_ids.push(a.id.0);
        c.audit_bizs.push(a.biz.0);
        c.audit_types.push(a.resource_type.name().to_owned());
        c.audit_docs.push(encode(a)?);
    }
    for (kind, last) in sequences {
        c.seq_kinds.push((*kind).to_owned());
        c.seq_lasts.push(*last);
    }
    for (sup, levels) in &writes.mainline {
        c.catalog
            .push(CatalogRow::Mainline(sup.clone(), encode(levels)?));
    }
    for b in &writes.businesses {
        c.catalog
            .push(CatalogRow::Business(b.bk_biz_id.0, encode(b)?));
    }
    for i in &writes.instances {
        c.catalog
            .push(CatalogRow::Instance(i.bk_inst_id, encode(i)?));
    }
    for a in &writes.attributes {
        c.catalog.push(CatalogRow::Attribute(
            a.bk_supplier_account.clone(),
            a.raw.bk_property_id.clone(),
            a.ordinal,
            a.raw.bk_biz_id,
            encode(a)?,
        ));
    }
    for r in &writes.rules {
        c.catalog.push(CatalogRow::Rule(
            r.bk_supplier_account.clone(),
            r.key(),
            encode(r)?,
        ));
    }
    for t in &writes.service_templates {
        c.catalog
            .push(CatalogRow::ServiceTemplate(t.id, encode(t)?));
    }
    for t in &writes.set_templates {
        c.catalog.push(CatalogRow::SetTemplate(
            t.id,
            t.service_template_ids.clone(),
            encode(t)?,
        ));
    }
    Ok(c)
}

/// The writes, the sequence bumps and `COMMIT`, pipelined. `COMMIT` after a failed statement
/// only rolls back, so every statement's result is checked, not only the commit's.
async fn write_flight<E>(
    conn: &Conn,
    writes: &Writes,
    sequences: &[(&str, i64)],
) -> Result<(), AttemptError<E>> {
    let cols = columns(writes, sequences).map_err(AttemptError::Store)?;
    write_columns(conn, &cols).await
}

async fn write_columns<'a, E>(conn: &'a Conn, cols: &'a Columns) -> Result<(), AttemptError<E>> {
    let c = &conn.client;
    let s = &conn.stmts;
    let mut flight: Vec<Pending<'_>> = Vec::new();
    let mut run = |stmt: &'a Statement, params: Vec<&'a (dyn ToSql + Sync)>| {
        flight.push(Box::pin(c.execute_raw(stmt, params)));
    };
    // Catalog rows first: the idle set of a new business follows its business row.
    for row in &cols.catalog {
        match row {
            CatalogRow::Mainline(a, b) => run(&s.upsert_mainline, vec![a, b]),
            CatalogRow::Business(a, b) => run(&s.upsert_business, vec![a, b]),
            CatalogRow::Instance(a, b) => run(&s.upsert_instance, vec![a, b]),
            CatalogRow::Attribute(a, b, d, e, f) => run(&s.upsert_attribute, vec![a, b, d, e, f]),
            CatalogRow::Rule(a, b, d) => run(&s.insert_rule, vec![a, b, d]),
            CatalogRow::ServiceTemplate(a, b) => run(&s.upsert_service_template, vec![a, b]),
            CatalogRow::SetTemplate(a, b, d) => run(&s.upsert_set_template, vec![a, b, d]),
        }
    }
    if !cols.set_ids.is_empty() {
        run(
            &s.insert_sets,
            vec![
                &cols.set_ids,
                &cols.set_bizs,
                &cols.set_parents,
                &cols.set_names,
                &cols.set_builtin,
                &cols.set_docs,
            ],
        );
    }
    if !cols.keys.is_empty() {
        run(&s.insert_keys, vec![&cols.keys, &cols.key_sets]);
    }
    if !cols.module_ids.is_empty() {
        run(
            &s.insert_modules,
            vec![
                &cols.module_ids,
                &cols.module_sets,
                &cols.module_bizs,
                &cols.module_docs,
            ],
        );
    }
    if !cols.audit_ids.is_empty() {
        run(
            &s.insert_audit,
            vec![
                &cols.audit_ids,
                &cols.audit_bizs,
                &cols.audit_types,
                &cols.audit_docs,
            ],
        );
    }
    if !cols.seq_kinds.is_empty() {
        run(&s.update_sequences, vec![&cols.seq_kinds, &cols.seq_lasts]);
    }
    flight.push(Box::pin(async move {
        c.batch_execute("COMMIT").await.map(|()| 0)
    }));
    for result in join_all(flight).await {
        result.map_err(AttemptError::Pg)?;
    }
    Ok(())
}

/// Connects and migrates in the background until it succeeds (backoff from 50 ms to 2 s), for
/// a store opened before its server is up. Stops when the store is gone, or for good on a
/// database that can never be used (recorded in [`Shared::fatal`]).
pub(crate) async fn warm_up(config: Config, shared: std::sync::Weak<Shared>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(state) = shared.upgrade() else {
            return;
        };
        if state.ready.load(Ordering::Relaxed) {
            return;
        }
        if let Ok((mut client, _task)) = connect(&config).await {
            match migrate(&mut client).await {
                Ok(_) => {
                    state.ready.store(true, Ordering::Relaxed);
                    return;
                }
                Err(crate::OpenError::Store(_)) => {}
                Err(fatal) => {
                    *state
                        .fatal
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fatal.into());
                    return;
                }
            }
        }
        drop(state);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
