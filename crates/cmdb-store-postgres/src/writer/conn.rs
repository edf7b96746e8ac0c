//! The writer's connection: connecting, preparing its statements, reconnecting on demand, and
//! the background warm-up of a store opened before its server is up.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use futures::future::join_all;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::{Shared, Writer};
use crate::error::{Retry, retry_kind, store_error};
use crate::failover::{Step, log_connected, log_lost, no_primary, server_address, transient};
use crate::schema::migrate;
use crate::sql;

/// The prepared statements of the writer's connection.
pub(super) struct Statements {
    pub(super) lock: Statement,
    pub(super) names: Statement,
    pub(super) keys: Statement,
    pub(super) builtin: Statement,
    pub(super) insert_sets: Statement,
    pub(super) insert_keys: Statement,
    pub(super) insert_modules: Statement,
    pub(super) insert_audit: Statement,
    pub(super) update_sequences: Statement,
    pub(super) add_counts: Statement,
    pub(super) upsert_mainline: Statement,
    pub(super) upsert_business: Statement,
    pub(super) upsert_instance: Statement,
    pub(super) upsert_attribute: Statement,
    pub(super) insert_rule: Statement,
    pub(super) upsert_service_template: Statement,
    pub(super) upsert_set_template: Statement,
}

/// The writer's connection with its statements.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) stmts: Statements,
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
        sql::ADD_COUNTS,
        sql::UPSERT_MAINLINE,
        sql::UPSERT_BUSINESS,
        sql::UPSERT_INSTANCE,
        sql::UPSERT_ATTRIBUTE,
        sql::INSERT_RULE,
        sql::UPSERT_SERVICE_TEMPLATE,
        sql::UPSERT_SET_TEMPLATE,
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
        add_counts: next()?,
        upsert_mainline: next()?,
        upsert_business: next()?,
        upsert_instance: next()?,
        upsert_attribute: next()?,
        insert_rule: next()?,
        upsert_service_template: next()?,
        upsert_set_template: next()?,
    })
}

impl Writer {
    /// Takes an open connection to a migrated database, preparing its statements.
    async fn adopt(&mut self, client: Client) -> Result<(), tokio_postgres::Error> {
        let stmts = prepare(&client).await?;
        self.conn = Some(Conn { client, stmts });
        Ok(())
    }

    /// The open connection. When there is none, connects to whichever host of the URL is the
    /// writable primary; while none is, tries again with backoff, holding the job for at most
    /// [`crate::PgOptions::failover_wait`] from the first failed attempt of the outage (then
    /// the job fails with the last attempt's error). A refusal that another attempt would not
    /// change (a wrong password, a foreign schema) fails at once.
    pub(super) async fn connection(&mut self) -> Result<&Conn, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            // The server closed it while the writer was idle (a primary that died): look for
            // a primary now rather than fail this job on the dead connection.
            self.conn = None;
            log_lost(
                self.server.as_deref().unwrap_or("?"),
                &StoreError::Unavailable("the server closed the connection".into()),
            );
        }
        while self.conn.is_none() {
            match self.backoff.step(Instant::now()) {
                Step::Try => match self.open().await {
                    Ok(()) => {}
                    Err(e) if transient(&e) => self.backoff.failed(Instant::now(), e),
                    Err(e) => return Err(e),
                },
                Step::Sleep(pause) => tokio::time::sleep(pause).await,
                Step::Fail(e) => return Err(e),
            }
        }
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Backend("no connection to the PostgreSQL server".into()))
    }

    /// One attempt: connect, migrate when this store has not yet, prepare; log the primary
    /// reached, and after a failover start the facts cache over (with asynchronous
    /// replication the new primary may lack catalog changes whose version was seen).
    async fn open(&mut self) -> Result<(), StoreError> {
        let (mut client, _task) =
            connect(&self.config)
                .await
                .map_err(|e| match retry_kind(&e) {
                    Retry::Reconnect => no_primary(&self.target, e),
                    _ => store_error(e),
                })?;
        if !self.shared.ready.load(Ordering::Relaxed) {
            migrate(&mut client).await.map_err(StoreError::from)?;
            self.shared.ready.store(true, Ordering::Relaxed);
        }
        let address = server_address(&client).await;
        self.adopt(client).await.map_err(store_error)?;
        let outage = self.backoff.connected(Instant::now());
        if self.server.is_some() {
            self.shared.facts.start_over();
        }
        log_connected(self.server.as_deref(), &address, outage);
        self.server = Some(address);
        Ok(())
    }
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
                // Transient: the server went away again, or a lock; try again later.
                Err(
                    crate::OpenError::Store(_)
                    | crate::OpenError::Unreachable(_)
                    | crate::OpenError::Busy(_),
                ) => {}
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
