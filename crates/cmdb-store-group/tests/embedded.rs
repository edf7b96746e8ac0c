//! `EmbeddedStore` never blocks its async caller: on a current-thread runtime, a backend whose
//! open, close and drop each block until another task of the same runtime releases them still
//! opens, closes and drops — which could not happen had any of them run on the runtime's only
//! thread. And the backend's drop runs on the store's writer thread.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cmdb_core::StoreError;
use cmdb_core::backend::{BackendRead, BackendTx, CatalogList, DocQuery, IndexKey};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::ports::SetStore;
use cmdb_core::records::Document;
use cmdb_store_group::{Backend, EmbeddedStore, GroupOptions, OpenError, WriteError};

/// How long a gate waits before giving up. Only a broken store ever waits this long: the
/// outcome is decided by who opened the gate, not by the time.
const GIVE_UP: Duration = Duration::from_secs(20);

/// A gate a backend call waits at until a task opens it.
#[derive(Debug, Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    /// Waits until the gate is opened; `false` when it was not within [`GIVE_UP`].
    fn pass(&self) -> bool {
        let guard = self.open.lock().unwrap();
        let (guard, _) = self
            .opened
            .wait_timeout_while(guard, GIVE_UP, |open| !*open)
            .unwrap();
        *guard
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// What the gated backend saw: whether each gate was opened in time, and on which thread the
/// backend was dropped.
#[derive(Debug, Default)]
struct Seen {
    opened_in_time: Mutex<Option<bool>>,
    dropped_on: Mutex<Option<(String, bool)>>,
}

#[derive(Debug)]
struct Gated {
    close: Arc<Gate>,
    drop: Arc<Gate>,
    seen: Arc<Seen>,
}

impl Drop for Gated {
    fn drop(&mut self) {
        let passed = self.drop.pass();
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        *self.seen.dropped_on.lock().unwrap() = Some((thread, passed));
    }
}

/// A snapshot of nothing.
struct Empty;

impl BackendRead for Empty {
    fn catalog_get(&mut self, _: &CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        Ok(None)
    }
    fn catalog_list(&mut self, _: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError> {
        Ok(Vec::new())
    }
    fn probe(&mut self, _: IndexKey<'_>) -> Result<Option<SetId>, StoreError> {
        Ok(None)
    }
    fn page(
        &mut self,
        _: DocQuery,
        _: cmdb_core::listing::Window,
    ) -> Result<cmdb_core::listing::DocPage, StoreError> {
        Ok(cmdb_core::listing::DocPage::default())
    }
    fn counter(&mut self, _: cmdb_core::counter::Counter) -> Result<i64, StoreError> {
        Ok(7)
    }
    fn audit_after(
        &mut self,
        _: cmdb_core::ids::AuditId,
        _: usize,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(Vec::new())
    }
}

impl Backend for Gated {
    const NAME: &'static str = "gated";

    fn write<R, E>(
        &self,
        _: impl FnMut(&mut dyn BackendTx) -> Result<R, E>,
    ) -> Result<R, WriteError<E>> {
        Err(WriteError::Failed(StoreError::Backend("read-only".into())))
    }

    fn read<R>(
        &self,
        body: impl FnOnce(&mut dyn BackendRead) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        body(&mut Empty)
    }

    fn close(&self) -> Result<(), StoreError> {
        if self.close.pass() {
            Ok(())
        } else {
            Err(StoreError::Backend(
                "the close gate was never opened".into(),
            ))
        }
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn open_close_and_drop_never_block_a_current_thread_runtime() {
    let (open_gate, close_gate, drop_gate) = (
        Arc::new(Gate::default()),
        Arc::new(Gate::default()),
        Arc::new(Gate::default()),
    );
    let seen = Arc::new(Seen::default());
    let runtime = current_thread();
    runtime.block_on(async {
        // Open: the backend's open waits for a task of this runtime.
        let opener = {
            let (open_gate, close, drop, seen) = (
                Arc::clone(&open_gate),
                Arc::clone(&close_gate),
                Arc::clone(&drop_gate),
                Arc::clone(&seen),
            );
            EmbeddedStore::open_with(
                move || {
                    *seen.opened_in_time.lock().unwrap() = Some(open_gate.pass());
                    Ok::<_, OpenError>(Gated { close, drop, seen })
                },
                GroupOptions::default(),
            )
        };
        let releaser = tokio::spawn({
            let gate = Arc::clone(&open_gate);
            async move { gate.open() }
        });
        let store = opener.await.expect("the store opens");
        releaser.await.unwrap();
        assert_eq!(*seen.opened_in_time.lock().unwrap(), Some(true));
        assert_eq!(store.sequence_last(SequenceKind::Set).await, Ok(7));

        // Close: runs on the writer thread and waits for a task of this runtime.
        let releaser = tokio::spawn({
            let gate = Arc::clone(&close_gate);
            async move { gate.open() }
        });
        assert_eq!(store.close().await, Ok(()));
        releaser.await.unwrap();

        // Drop: returns at once; the backend's drop waits on the writer thread until this
        // runtime opens its gate.
        drop(store);
        assert_eq!(*seen.dropped_on.lock().unwrap(), None, "not dropped yet");
        drop_gate.open();
    });
    // The writer thread ends on its own once the gate is open; wait for it boundedly.
    let waited = std::time::Instant::now();
    while seen.dropped_on.lock().unwrap().is_none() && waited.elapsed() < GIVE_UP {
        std::thread::yield_now();
    }
    assert_eq!(
        *seen.dropped_on.lock().unwrap(),
        Some(("cmdb-gated-writer".to_owned(), true)),
        "the backend is dropped on the writer thread, after the runtime opened the gate"
    );
}
