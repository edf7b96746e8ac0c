//! The conformance suite over `cmdb_store_group::kv` on a plain `BTreeMap`: the key layout,
//! its savepoints and its counters are engine-independent (redb is one engine under them; this
//! is a second one, in a few lines, whose transactions copy the map and swap it in on commit).

use std::collections::BTreeMap;
use std::ops::Bound::{Included, Unbounded};
use std::sync::{Arc, PoisonError, RwLock};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_core::ports::SetStore;
use cmdb_store_conformance::StoreFactory;
use cmdb_store_group::kv::{KvRead, KvTx, KvWrite, Visit};
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, WriteError};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// The committed map, shared by the stores a test opens on it (a reopen sees what was stored).
#[derive(Debug, Default, Clone)]
struct Committed(Arc<RwLock<Arc<Map>>>);

impl Committed {
    fn now(&self) -> Arc<Map> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A map as a transaction's: a snapshot (`&Map`) or a private copy being written (`&mut Map`).
struct MapKv<M>(M);

fn scan(map: &Map, from: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
    for (k, v) in map.range::<[u8], _>((Included(from), Unbounded)) {
        if !visit(k, v)? {
            break;
        }
    }
    Ok(())
}

impl KvRead for MapKv<&Map> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(&self, from: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
        scan(self.0, from, visit)
    }
}

impl KvRead for MapKv<&mut Map> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(&self, from: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
        scan(self.0, from, visit)
    }
}

impl KvWrite for MapKv<&mut Map> {
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.insert(key.to_vec(), value.to_vec()))
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.0.remove(key);
        Ok(())
    }
}

impl Backend for Committed {
    const NAME: &'static str = "kv-map";

    fn write<R, E>(
        &self,
        mut body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        let mut copy = Map::clone(&self.now());
        let out = body(&mut KvTx::new(MapKv(&mut copy))).map_err(WriteError::Body)?;
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(copy);
        Ok(out)
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        body(&mut KvTx::new(MapKv(&*self.now())))
    }
}

struct MapFactory(GroupOptions);

impl StoreFactory for MapFactory {
    type Guard = Committed;

    async fn open_fresh(&self) -> (Arc<dyn SetStore>, Self::Guard) {
        let committed = Committed::default();
        let store = EmbeddedStore::start(committed.clone(), self.0);
        (Arc::new(store), committed)
    }

    async fn reopen(&self, committed: &Self::Guard) -> Option<Arc<dyn SetStore>> {
        Some(Arc::new(EmbeddedStore::start(committed.clone(), self.0)))
    }
}

mod grouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(MapFactory(GroupOptions::default()));
}

mod ungrouped {
    use super::*;
    cmdb_store_conformance::store_conformance_tests!(MapFactory(GroupOptions::ungrouped()));
}
