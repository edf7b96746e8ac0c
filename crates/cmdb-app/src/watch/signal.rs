//! [`CommitSignal`]: wakes waiting watchers when creates commit: at once for creates made
//! through this engine's store, and through a slow poll of the store's audit sequence (only
//! while someone waits) for creates of other processes or engines on the same database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cmdb_core::ids::SequenceKind;
use cmdb_core::ports::SetStore;
use tokio::sync::watch;

/// How often the backstop poll reads the audit sequence while watchers wait: the most a
/// create committed by another process or engine waits before its watchers wake.
pub const BACKSTOP_POLL: Duration = Duration::from_millis(500);

/// A counter bumped after every commit of creates, which waiting watchers subscribe to.
#[derive(Debug)]
pub(crate) struct CommitSignal {
    commits: watch::Sender<u64>,
    /// How many watchers wait now (the poll runs while this is above 0).
    waiting: AtomicUsize,
    /// Whether the backstop poll task runs.
    polling: AtomicBool,
}

impl Default for CommitSignal {
    fn default() -> Self {
        CommitSignal {
            commits: watch::Sender::new(0),
            waiting: AtomicUsize::new(0),
            polling: AtomicBool::new(false),
        }
    }
}

impl CommitSignal {
    /// Wakes every watcher waiting now.
    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every commit signalled after this call.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// How many watchers wait now.
    pub(crate) fn waiting_now(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Counts a waiting watcher until the guard drops, and makes sure the backstop poll over
    /// `store`, every `every`, runs meanwhile (on the current tokio runtime).
    pub(crate) fn waiting(self: &Arc<Self>, store: &Arc<dyn SetStore>, every: Duration) -> Waiting {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        crate::observe::watchers_waiting(1.0);
        if !self.polling.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll(Arc::clone(self), Arc::clone(store), every));
        }
        Waiting(Arc::clone(self))
    }
}

/// A waiting watcher, counted while it lives.
#[derive(Debug)]
pub(crate) struct Waiting(Arc<CommitSignal>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        crate::observe::watchers_waiting(-1.0);
    }
}

/// The backstop poll: while someone waits, reads the audit sequence every `every` and
/// signals when it moved; stops when nobody waits.
async fn poll(signal: Arc<CommitSignal>, store: Arc<dyn SetStore>, every: Duration) {
    let mut seen = store.sequence_last(SequenceKind::Audit).await.ok();
    loop {
        tokio::time::sleep(every).await;
        if signal.waiting.load(Ordering::SeqCst) == 0 {
            signal.polling.store(false, Ordering::SeqCst);
            // A watcher that came after the check and saw the poll still running started
            // none: take the poll back up for it.
            let came = signal.waiting.load(Ordering::SeqCst) > 0;
            if !came || signal.polling.swap(true, Ordering::SeqCst) {
                return;
            }
        }
        match store.sequence_last(SequenceKind::Audit).await {
            Ok(last) if Some(last) != seen => {
                seen = Some(last);
                signal.committed();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the watch's backstop poll could not read the store")
            }
        }
    }
}
