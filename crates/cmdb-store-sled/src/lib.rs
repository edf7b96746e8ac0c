//! `cmdb-store-sled`: the [`SetStore`](cmdb_core::ports::SetStore) port of the CMDB
//! `create_set` engine on [sled](https://docs.rs/sled/0.34.7) 0.34.
//!
//! [`SledStore`] is [`EmbeddedStore`] over [`SledBackend`]: the shared store runs group
//! commit on its writer thread, reads on its reader threads, atomic batches and catalog
//! loads; the backend gives it one serializable multi-tree sled transaction per write and
//! reads of sled's trees. Open a store with `SledStore::open(path, options).await`
//! ([`EmbeddedStore::open`]), or [`EmbeddedStore::open_blocking`] from synchronous code.
//!
//! Ids are taken from sequences stored in the same transaction (never from
//! `Db::generate_id`, which is neither rolled back nor gapless), and unique indexes are
//! checked and written there. Concurrent creates share one transaction and one flush; a
//! create refused inside a group leaves no trace, because its writes are staged until it
//! succeeded (sled has no savepoints, see `SledTx`).
//!
//! # Durability
//!
//! | [`FlushMode`] | a write returned `Ok`, then the process crashes | … then the power fails |
//! |---|---|---|
//! | `EveryWrite` (default) | kept | kept (the write waited for sled's fsync) |
//! | `Background` | may lose the last ~500 ms of writes | may lose the last ~500 ms of writes |
//!
//! In both modes a transaction is recovered whole or not at all, and a write that returned an
//! error left no trace. A failed flush after a commit makes the store refuse every later
//! write until it is reopened.
//!
//! # Closing, dropping, locking
//!
//! A store locks its directory (and sled locks its log): a second open, from another process
//! or from this one, fails at once with [`OpenError::Busy`] while the first is open.
//!
//! [`SetStore::close`](cmdb_core::ports::SetStore::close) runs on the store's writer thread,
//! after the writes queued before it: it flushes, drops sled's handles, waits for sled to let
//! go of its files, records the clean close in the [`sidecar`] (with a fingerprint of the
//! files) and unlocks the directory. Once `close().await` returned `Ok`, the directory can be
//! opened again at once, in this process or another, even while the closed handle is still
//! alive; every later call on the closed handle fails with a [`StoreError::Backend`] saying
//! it is closed (a second close does nothing).
//!
//! Dropping a store never waits and does no i/o on the dropping thread: the writer thread
//! finishes the queued writes, then drops sled's handles (sled flushes in its `Drop`) and
//! unlocks the directory. Such a store is not marked closed: the next open recovers as after
//! a crash, and may find sled's log still held for a moment by sled's threads
//! ([`OpenError::Busy`]).
//!
//! # Damage
//!
//! Opening a damaged store fails with [`OpenError::Damaged`] (or [`OpenError::Foreign`],
//! [`OpenError::TooNew`]) and a one-line message; nothing panics. What is detected, and
//! whether the damaged files are left untouched, depends on how the store was last shut down
//! (details in [`sidecar`]):
//!
//! | the last handle… | damage to sled's files found at the next open | files left untouched |
//! |---|---|---|
//! | was closed ([`SetStore::close`](cmdb_core::ports::SetStore::close) `Ok`) | any change of any file (content, length, a file removed or added), named in the message: ``… changed since the store was closed cleanly: the content of `db` changed …`` | yes: sled is not called |
//! | crashed, or was dropped without a close | sled's own refusals; a store that recovers none of its data, or any sequence below its last durable value | no: sled's recovery has rewritten the log |
//!
//! In both cases a sidecar that does not decode or names another format or layout version is
//! refused before sled runs; a sled database without our format marker (not a store of ours),
//! or with another layout version in it, is refused after sled opened it.
//!
//! Not detected: after a crash, damage that leaves every sequence where it was (a value that
//! no longer decodes is reported as `StoreError::Corrupt` naming its tree and key when it is
//! read); damage made while the store is open; a removed sidecar (the directory then opens as
//! after a crash); a deliberate forgery (the checksum is FNV-1a-64, not a signature).
//!
//! Cost: the open of a cleanly closed store and a close each read every byte of the store's
//! files once (linear in the store size) and write the sidecar once.
//!
//! The tree and key layout is described in [`layout`]; values use the versioned encoding of
//! [`codec`].
//!
//! [`OpenError::Busy`]: cmdb_store_group::OpenError::Busy
//! [`OpenError::Damaged`]: cmdb_store_group::OpenError::Damaged
//! [`OpenError::Foreign`]: cmdb_store_group::OpenError::Foreign
//! [`OpenError::TooNew`]: cmdb_store_group::OpenError::TooNew
//! [`StoreError::Backend`]: cmdb_core::StoreError::Backend
#![deny(missing_docs)]

mod backend;
mod catalog;
mod close;
pub mod codec;
mod error;
mod fingerprint;
pub mod layout;
mod open;
mod read;
pub mod sidecar;
mod tx;
mod upgrade;

pub use backend::{BACKGROUND_FLUSH_MS, FlushMode, SledBackend, SledOptions};
use cmdb_store_group::EmbeddedStore;
pub use layout::SIDECAR_FILE;

/// The sled [`SetStore`](cmdb_core::ports::SetStore): [`EmbeddedStore`] over
/// [`SledBackend`]. `SledStore::open(path, SledOptions::default()).await`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cmdb_core::BizId;
/// use cmdb_core::fixture::{CatalogBatch, Fixture};
/// use cmdb_core::ports::SetStore;
/// use cmdb_store_sled::{SledOptions, SledStore};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cmdb.sled");
/// let store = SledStore::open(&path, SledOptions::default()).await?;
/// let catalog = serde_json::json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]});
/// let now = "2026-01-01T00:00:00.000+08:00".to_owned();
/// let batch = CatalogBatch::prepare(Fixture::from_json(catalog)?, now, "admin".into())?;
/// store.apply_catalog(batch).await?;
/// store.close().await?;
///
/// // Reopened (`open_blocking` from sync code), the store holds the business's idle set.
/// let store = SledStore::open_blocking(&path, SledOptions::default())?;
/// let sets = store.sets(BizId(1), None).await?;
/// assert_eq!(sets.len(), 1);
/// assert_eq!(sets[0]["bk_set_name"], "空闲机池");
/// store.close().await?;
/// # Ok(()) }
/// ```
pub type SledStore = EmbeddedStore<SledBackend>;
