//! Finding the primary again after losing it: the backoff between connection attempts, how
//! long a write or a read waits for a writable primary ([`crate::PgOptions::failover_wait`]),
//! the address of the server a connection reached, and the log lines that name a failover.
//!
//! Every connection the store opens asks for a read-write session (libpq's
//! `target_session_attrs=read-write`), so among the hosts of a multi-host URL only a writable
//! primary is ever connected to; a standby (or a primary set read-only) is skipped.

use std::time::{Duration, Instant};

use cmdb_core::StoreError;
use cmdb_core::error::Detail;
use tokio_postgres::Client;

/// The first pause between two connection attempts; it doubles up to [`MAX_DELAY`].
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(25);
/// The longest pause between two connection attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(250);

/// The server's address as it sees it (`host:port`; `NULL` over a Unix socket).
const SERVER_ADDRESS: &str =
    "SELECT coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'the local socket')";

/// What to do while there is no connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Try to connect now.
    Try,
    /// Wait this long, then ask again.
    Sleep(Duration),
    /// Give up on this job: the wait is over (the last attempt's error).
    Fail(StoreError),
}

/// When the writer tries to connect again and when it stops holding jobs back. The wait is
/// counted from the first failed attempt of an outage, not per job: once it is over, jobs
/// fail at once (with an attempt every [`MAX_DELAY`] at most) until a primary answers.
#[derive(Debug)]
pub(crate) struct Backoff {
    wait: Duration,
    /// When the first attempt of this outage failed.
    lost_at: Option<Instant>,
    next_try: Option<Instant>,
    delay: Duration,
    last: Option<StoreError>,
}

impl Backoff {
    /// A backoff holding jobs for at most `wait` per outage.
    pub(crate) fn new(wait: Duration) -> Self {
        Backoff {
            wait,
            lost_at: None,
            next_try: None,
            delay: MIN_DELAY,
            last: None,
        }
    }

    /// What to do at `now`, with no connection.
    pub(crate) fn step(&mut self, now: Instant) -> Step {
        let Some(next_try) = self.next_try.filter(|&at| at > now) else {
            return Step::Try;
        };
        let give_up = self.lost_at.unwrap_or(now) + self.wait;
        if now >= give_up {
            return Step::Fail(self.last.clone().unwrap_or_else(|| {
                StoreError::Unavailable("no PostgreSQL primary is reachable".into())
            }));
        }
        Step::Sleep(next_try.min(give_up) - now)
    }

    /// An attempt at `now` failed with `error` (a transient one: the server is down or read-only).
    pub(crate) fn failed(&mut self, now: Instant, error: StoreError) {
        self.lost_at.get_or_insert(now);
        self.next_try = Some(now + self.delay);
        self.delay = (self.delay * 2).min(MAX_DELAY);
        self.last = Some(error);
    }

    /// A connection is open: the outage is over. Returns how long it lasted, when there was
    /// one.
    pub(crate) fn connected(&mut self, now: Instant) -> Option<Duration> {
        let outage = self.lost_at.map(|at| now - at);
        *self = Backoff::new(self.wait);
        outage
    }
}

/// Whether an error of connecting is worth another attempt: the server is unreachable or
/// read-only (not a wrong password, a missing database or a foreign schema).
pub(crate) fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

/// The failed connection attempt as the error a job gets: [`StoreError::Unavailable`] naming
/// every host of the URL, the driver's error kept.
pub(crate) fn no_primary(target: &str, e: tokio_postgres::Error) -> StoreError {
    let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
    StoreError::Unavailable(Detail::caused_by(
        format!(
            "lost the connection to the PostgreSQL server and found no writable primary among {target}: {detail}"
        ),
        e,
    ))
}

/// The `host:port` the connection reached, for the log (`?` when the server does not say).
pub(crate) async fn server_address(client: &Client) -> String {
    match client.query_one(SERVER_ADDRESS, &[]).await {
        Ok(row) => row.try_get(0).unwrap_or_else(|_| "?".to_owned()),
        Err(_) => "?".to_owned(),
    }
}

/// Logs a new connection of the writer: the first one, a reconnection to the same server, or
/// a failover to another.
pub(crate) fn log_connected(previous: Option<&str>, now: &str, outage: Option<Duration>) {
    let ms = outage.map_or(0, |d| d.as_millis());
    match previous {
        None => {
            tracing::info!(target: "cmdb_store_postgres", "connected to the PostgreSQL primary at {now}")
        }
        Some(before) if before == now => tracing::warn!(
            target: "cmdb_store_postgres",
            "reconnected to the PostgreSQL primary at {now} after {ms} ms without one"
        ),
        Some(before) => tracing::warn!(
            target: "cmdb_store_postgres",
            "failover: the PostgreSQL primary is now {now} (was {before}; {ms} ms without one); the facts cache starts over"
        ),
    }
}

/// Logs the loss of the writer's primary.
pub(crate) fn log_lost(server: &str, error: &StoreError) {
    tracing::warn!(
        target: "cmdb_store_postgres",
        "lost the PostgreSQL primary at {server}: {error}; looking for a writable primary"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> StoreError {
        StoreError::Unavailable("down".into())
    }

    #[test]
    fn attempts_back_off_and_jobs_are_held_only_for_the_wait_of_the_outage() {
        let wait = Duration::from_secs(1);
        let mut b = Backoff::new(wait);
        let t0 = Instant::now();
        assert_eq!(b.step(t0), Step::Try);
        b.failed(t0, unavailable());
        // Held: the next attempt after the first delay.
        assert_eq!(b.step(t0), Step::Sleep(MIN_DELAY));
        assert_eq!(b.step(t0 + MIN_DELAY), Step::Try);
        b.failed(t0 + MIN_DELAY, unavailable());
        assert_eq!(b.step(t0 + MIN_DELAY), Step::Sleep(MIN_DELAY * 2));
        // The delay doubles up to its cap.
        let mut at = t0 + MIN_DELAY;
        for _ in 0..10 {
            at += Duration::from_millis(1);
            b.failed(at, unavailable());
        }
        assert_eq!(b.step(at), Step::Sleep(MAX_DELAY));
        // The wait counts from the first failure: past it, a job fails at once between
        // attempts, and an attempt is still made when its time comes.
        let late = t0 + wait + Duration::from_millis(1);
        b.failed(late, StoreError::Unavailable("still down".into()));
        assert_eq!(
            b.step(late),
            Step::Fail(StoreError::Unavailable("still down".into()))
        );
        assert_eq!(b.step(late + MAX_DELAY), Step::Try);
        // A sleep never runs past the end of the wait.
        let mut b = Backoff::new(Duration::from_millis(10));
        b.failed(t0, unavailable());
        assert_eq!(b.step(t0), Step::Sleep(Duration::from_millis(10)));
        // Connected: the outage's length, and the next loss starts from scratch.
        assert_eq!(
            b.connected(t0 + Duration::from_millis(7)),
            Some(Duration::from_millis(7))
        );
        assert_eq!(b.connected(t0), None);
        assert_eq!(b.step(t0), Step::Try);
        b.failed(t0 + MAX_DELAY, unavailable());
        assert_eq!(
            b.step(t0 + MAX_DELAY),
            Step::Sleep(Duration::from_millis(10))
        );
        assert_eq!(
            b.step(t0 + MAX_DELAY + Duration::from_millis(10)),
            Step::Fail(unavailable())
        );
    }

    #[test]
    fn only_an_unreachable_or_read_only_server_is_retried() {
        assert!(transient(&unavailable()));
        assert!(!transient(&StoreError::Backend("password".into())));
        assert!(!transient(&StoreError::Corrupt("foreign".into())));
    }
}
