//! One write transaction with its retries: the read flight, the domain over a [`View`], the
//! write flight; serialization failures and deadlocks (and, at READ COMMITTED, a unique
//! violation the locked reads could not foresee) are tried again with backoff and jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use cmdb_core::plan::CreatePlan;
use tokio_postgres::error::SqlState;

use super::read_flight::read_flight;
use super::write_flight::write_flight;
use super::{Conn, Shared, Writer};
use crate::error::{Retry, retry_kind, store_error};
use crate::facts_cache::{tagged, untagged};
use crate::failover::log_lost;
use crate::options::Isolation;
use crate::sql;
use crate::view::View;

/// How often a transaction is tried before a serialization failure is reported.
const MAX_ATTEMPTS: u32 = 40;

/// What a transaction reads before the domain runs.
pub(super) enum Prefetch<'a> {
    /// The index slots of these plans.
    Plans(&'a [CreatePlan]),
    /// The whole catalog (a fixture load).
    Catalog,
    /// Only the sequences.
    Sequences,
}

/// Why one attempt at a transaction failed.
pub(super) enum AttemptError<E> {
    /// The server's error (the transaction is rolled back or the connection is gone).
    Pg(tokio_postgres::Error),
    /// The server's error in the first flight, before `COMMIT` was sent: nothing of the
    /// transaction can have committed, so a lost connection is worth another attempt.
    Unsent(tokio_postgres::Error),
    /// Our own failure (a row that does not decode, an encoding error): rolled back.
    Store(StoreError),
    /// The domain refused: rolled back.
    Body(E),
}

/// Why a transaction failed.
pub(super) enum TxError<E> {
    /// A storage failure: nothing of the transaction is stored.
    Store(StoreError),
    /// The domain refused: nothing is stored.
    Body(E),
}

impl Writer {
    /// Runs `body` over a [`View`] in one transaction, retrying serialization failures and
    /// deadlocks (and, at READ COMMITTED, a unique violation the locked reads could not
    /// foresee) with backoff and jitter.
    pub(super) async fn transaction<T, E>(
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
                // The connection died before the commit was sent: the outcome is known
                // (nothing stored), so the job waits for a primary instead of failing.
                Err(AttemptError::Unsent(e)) if lost_connection(&e) && attempt < MAX_ATTEMPTS => {
                    self.conn = None;
                    log_lost(self.server.as_deref().unwrap_or("?"), &store_error(e));
                }
                Err(AttemptError::Pg(e) | AttemptError::Unsent(e)) => {
                    let unique = e.code() == Some(&SqlState::UNIQUE_VIOLATION);
                    match retry_kind(&e) {
                        Retry::Reconnect => {
                            self.conn = None;
                            let e = store_error(e);
                            log_lost(self.server.as_deref().unwrap_or("?"), &e);
                            return Err(TxError::Store(e));
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
}

/// A lost connection, not a read-only server (whose create fails at once, see the crate docs).
fn lost_connection(e: &tokio_postgres::Error) -> bool {
    retry_kind(e) == Retry::Reconnect && e.code() != Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
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
    let _ = conn.client.batch_execute(sql::ROLLBACK).await;
}

fn out_of_range<E>() -> AttemptError<E> {
    AttemptError::Store(StoreError::Corrupt(
        "the catalog version is out of range".into(),
    ))
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
    let mut read = read_flight(conn, isolation, prefetch)
        .await
        .map_err(|e| match e {
            AttemptError::Pg(e) => AttemptError::Unsent(e),
            other => other,
        })?;
    // The view answers the version tagged with the cache's epoch (see `facts_cache::tagged`):
    // plans made on facts read before a failover are refused as stale.
    read.catalog_version =
        tagged(shared.facts.epoch(), read.catalog_version).ok_or_else(out_of_range)?;
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
        .then(|| untagged(view.read_catalog_version()) + 1);
    if let Some(version) = bumped {
        let last = i64::try_from(version).map_err(|_| out_of_range())?;
        sequences.push((sql::CATALOG_VERSION, last));
    }
    write_flight(conn, &view.writes, &sequences).await?;
    if let Some(version) = bumped {
        shared
            .facts
            .saw(tagged(shared.facts.epoch(), version).ok_or_else(out_of_range)?);
    }
    Ok(out)
}
