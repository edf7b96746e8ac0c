//! Who is on the other end of a connection, as the per-peer limits count it: the address, an
//! IPv6 address by its /64 (what one host usually holds), an IPv4-mapped one as IPv4; and the
//! body bytes each peer has in flight before its app is known.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The peer of the request's connection, put into its extensions by the server (absent when
/// the router is served by someone else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Peer(pub(crate) IpAddr);

impl Peer {
    /// The peer that `addr` counts as.
    pub(crate) fn of(addr: IpAddr) -> Peer {
        match addr {
            IpAddr::V4(v4) => Peer(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Peer(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Peer(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Bytes in flight per peer, at most `limit` each (one share is always granted).
#[derive(Debug)]
pub(crate) struct PeerBytes {
    limit: usize,
    held: Arc<Mutex<HashMap<Peer, usize>>>,
}

/// A peer's share, given back when dropped.
#[derive(Debug)]
pub(crate) struct PeerShare {
    peer: Peer,
    bytes: usize,
    held: Arc<Mutex<HashMap<Peer, usize>>>,
}

impl PeerBytes {
    /// At most `limit` bytes per peer.
    pub(crate) fn new(limit: usize) -> Self {
        PeerBytes {
            limit,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// `bytes` more for `peer`, or `None` when that would take it past the limit (a peer
    /// holding nothing always gets its share).
    pub(crate) fn take(&self, peer: Peer, bytes: usize) -> Option<PeerShare> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = held.get(&peer).copied().unwrap_or(0);
        if now > 0 && now.saturating_add(bytes) > self.limit {
            return None;
        }
        held.insert(peer, now.saturating_add(bytes));
        Some(PeerShare {
            peer,
            bytes,
            held: self.held.clone(),
        })
    }
}

impl Drop for PeerShare {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(now) = held.get_mut(&self.peer) {
            *now = now.saturating_sub(self.bytes);
            if *now == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_counts_by_its_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Peer::of(a), Peer::of(b));
        assert_ne!(Peer::of(a), Peer::of(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(Peer::of(mapped), Peer("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn shares_stay_within_the_limit_and_come_back() {
        let bytes = PeerBytes::new(10);
        let p = Peer("127.0.0.1".parse().unwrap());
        let q = Peer("127.0.0.2".parse().unwrap());
        // One share always, even over the limit.
        let big = bytes.take(p, 50).expect("the first share");
        assert!(bytes.take(p, 1).is_none());
        assert!(bytes.take(q, 4).is_some());
        drop(big);
        let a = bytes.take(p, 6).expect("room again");
        assert!(bytes.take(p, 5).is_none());
        let b = bytes.take(p, 4).expect("exactly the limit");
        drop((a, b));
        assert!(bytes.held.lock().unwrap().is_empty());
    }
}
