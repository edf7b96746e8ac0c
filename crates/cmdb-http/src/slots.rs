//! Connection slots: the server-wide cap, the per-peer cap, and, when the server is full, the
//! choice of a connection to close for a new one, so that one peer holding every slot with
//! idle or slow connections cannot keep others out. Only a connection with no request in
//! flight (between requests, or still sending its head) is ever closed for another; of those,
//! one of the peer holding the most connections, quiet the longest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::idle::Activity;
use crate::peer::Peer;

/// Every open connection, and the caps.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    per_peer: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    open: HashMap<u64, Open>,
    per_peer: HashMap<Peer, usize>,
    /// Connections asked to close for another, not yet closed (counted in `open`).
    closing: usize,
}

#[derive(Debug)]
struct Open {
    peer: Peer,
    activity: Arc<Activity>,
    evict: Arc<Notify>,
    evicted: bool,
}

/// A connection's slot: given back when dropped. [`Slot::evicted`] completes when the server
/// closes the connection for another.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    evict: Arc<Notify>,
}

/// Why a connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// Its peer holds `max_connections_per_peer`.
    Peer,
    /// Every slot is taken by a connection with a request in flight.
    Server,
}

impl Slots {
    /// At most `max` connections, `per_peer` of one peer (0: no per-peer cap).
    pub(crate) fn new(max: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Slots {
            max: max.max(1),
            per_peer: if per_peer == 0 { usize::MAX } else { per_peer },
            inner: Mutex::new(Inner::default()),
        })
    }

    /// A slot for a connection of `peer`, closing another connection for it when the server
    /// is full (that one's slot comes back once it has closed, so the count may pass `max`
    /// by the connections being closed).
    ///
    /// # Errors
    /// [`Full`] when there is no slot for it.
    pub(crate) fn take(
        self: &Arc<Self>,
        peer: Peer,
        activity: Arc<Activity>,
    ) -> Result<Slot, Full> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.per_peer.get(&peer).copied().unwrap_or(0) >= self.per_peer {
            return Err(Full::Peer);
        }
        if inner.open.len() - inner.closing >= self.max {
            let victim = inner
                .open
                .iter()
                .filter(|(_, open)| !open.evicted && open.activity.is_quiet())
                .max_by_key(|(_, open)| {
                    (
                        inner.per_peer.get(&open.peer).copied().unwrap_or(0),
                        std::cmp::Reverse(open.activity.last_active()),
                    )
                })
                .map(|(id, _)| *id)
                .ok_or(Full::Server)?;
            if let Some(open) = inner.open.get_mut(&victim) {
                open.evicted = true;
                open.evict.notify_one();
            }
            inner.closing += 1;
        }
        let id = inner.next;
        inner.next += 1;
        let evict = Arc::new(Notify::new());
        inner.open.insert(
            id,
            Open {
                peer,
                activity,
                evict: evict.clone(),
                evicted: false,
            },
        );
        *inner.per_peer.entry(peer).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            evict,
        })
    }
}

impl Slot {
    /// What is notified when the server closes this connection for another.
    pub(crate) fn eviction(&self) -> Arc<Notify> {
        Arc::clone(&self.evict)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.slots.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = inner.open.remove(&self.id) {
            if open.evicted {
                inner.closing -= 1;
            }
            if let Some(count) = inner.per_peer.get_mut(&open.peer) {
                *count -= 1;
                if *count == 0 {
                    inner.per_peer.remove(&open.peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8) -> Peer {
        Peer(std::net::IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn a_peer_has_its_cap_and_the_busiest_peer_gives_way() {
        let slots = Slots::new(3, 2);
        let a1 = slots.take(peer(1), Activity::new()).expect("a1");
        let _a2 = slots.take(peer(1), Activity::new()).expect("a2");
        assert_eq!(
            slots.take(peer(1), Activity::new()).unwrap_err(),
            Full::Peer
        );
        let busy = Activity::new();
        let _b = slots.take(peer(2), busy.clone()).expect("b");
        // Full: a new peer closes one of peer 1's connections (it holds the most).
        let _c = slots.take(peer(3), Activity::new()).expect("c");
        let evicted = {
            let inner = slots.inner.lock().unwrap();
            assert_eq!((inner.open.len(), inner.closing), (4, 1));
            inner
                .open
                .values()
                .filter(|o| o.evicted)
                .map(|o| o.peer)
                .collect::<Vec<_>>()
        };
        assert_eq!(evicted, vec![peer(1)]);
        drop(a1);
        let inner = slots.inner.lock().unwrap();
        assert_eq!(inner.per_peer.get(&peer(1)), Some(&1));
    }

    #[test]
    fn a_connection_with_a_request_in_flight_is_never_closed_for_another() {
        let slots = Slots::new(1, 0);
        let busy = Activity::new();
        let _guard = crate::idle::InFlight::start(&busy);
        let _a = slots.take(peer(1), busy.clone()).expect("a");
        assert_eq!(
            slots.take(peer(2), Activity::new()).unwrap_err(),
            Full::Server
        );
    }
}
