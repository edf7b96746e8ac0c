//! `cmdb-store-memory`: the simplest correct [`SetStore`], kept in process memory.
//!
//! [`MemoryBackend`] is a [`Backend`] of [`cmdb_store_group::EmbeddedStore`]: all state sits
//! in one [`std::sync::Mutex`] of ordered maps. A write locks it and writes in place, logging
//! how to undo each write; on `Err` (and after a panic, at the next lock) the log is replayed
//! backwards, so a failed write leaves no trace, sequences included. Only the values a write
//! replaces are kept, never a copy of the state. Savepoints are marks in the log.
//!
//! Nothing survives the process: there is nothing to reopen. It is also the reference model of
//! the conformance suite's differential test.
//!
//! [`SetStore`]: cmdb_core::ports::SetStore
#![deny(missing_docs)]

mod state;
#[cfg(test)]
mod tests;
mod tx;

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx};
use cmdb_store_group::{Backend, EmbeddedStore, WriteError};

use crate::state::State;

/// The in-memory [`SetStore`](cmdb_core::ports::SetStore): `MemoryStore::default()`, or
/// `MemoryStore::with_options(GroupOptions::ungrouped())` to commit each create alone.
///
#[doc = include_str!("../doc/memory_store.md")]
pub type MemoryStore = EmbeddedStore<MemoryBackend>;

/// The [`Backend`] of [`MemoryStore`]: one mutex over ordered maps, all-or-nothing writes.
///
/// Writers are serialised by the mutex (and by the store's one writer thread), which makes the
/// domain's name and unique-key checks race-free. An async caller never waits for the lock: it
/// reads at once while the lock is free, else on the store's reader threads.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

impl MemoryBackend {
    /// Locks the state. A write that panicked left its undo log behind: it is rolled back
    /// here, so a poisoned lock is taken over with the state as it was before that write.
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.rollback_to(0);
        state
    }
}

impl Backend for MemoryBackend {
    const NAME: &'static str = "memory";

    fn write<R, E>(
        &self,
        mut body: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        let mut state = self.lock();
        match body(&mut *state) {
            Ok(out) => {
                state.commit();
                Ok(out)
            }
            Err(e) => {
                state.rollback_to(0);
                Err(WriteError::Body(e))
            }
        }
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        body(&mut *self.lock())
    }

    /// At once while no write holds the state (reads do no i/o), taking the lock as `lock`
    /// does (a write that panicked is rolled back first).
    fn read_without_blocking<R, F>(&self, body: F) -> Result<Result<R, StoreError>, F>
    where
        F: FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(body),
        };
        state.rollback_to(0);
        Ok(body(&mut *state))
    }
}
