//! Choosing and opening a store backend from configuration.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;
use cmdb_core::ports::SetStore;
use cmdb_store_group::GroupOptions;
use serde::Serialize;

/// The store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// Embedded sled directory.
    Sled,
    /// In memory, for one process lifetime.
    Memory,
}

/// SQLite's `synchronous` pragma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SqliteSync {
    /// Every commit reaches the disk before it is acknowledged (survives power loss).
    #[default]
    Full,
    /// May lose the last commits on power loss, never on a process crash.
    Normal,
}

/// sled's flush policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SledFlush {
    /// Flush before acknowledging every write.
    #[default]
    EveryWrite,
    /// Let sled flush in the background (may lose about the last 500 ms on a crash).
    Background,
}

/// Which store to open, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The backend.
    pub kind: StoreKind,
    /// The file or directory; default `./cmdb.sqlite` / `./cmdb.sled`.
    pub path: Option<PathBuf>,
    /// SQLite durability.
    pub sqlite_sync: SqliteSync,
    /// sled durability.
    pub sled_flush: SledFlush,
    /// How concurrent creates share commits (default grouped; every store).
    pub group: GroupOptions,
}

impl StoreConfig {
    /// The default configuration of a backend.
    pub fn new(kind: StoreKind) -> Self {
        StoreConfig {
            kind,
            path: None,
            sqlite_sync: SqliteSync::Full,
            sled_flush: SledFlush::EveryWrite,
            group: GroupOptions::default(),
        }
    }

    /// The path the store lives at (none for memory).
    pub fn resolved_path(&self) -> Option<PathBuf> {
        match self.kind {
            StoreKind::Memory => None,
            StoreKind::Sqlite => Some(self.path.clone().unwrap_or_else(|| "cmdb.sqlite".into())),
            StoreKind::Sled => Some(self.path.clone().unwrap_or_else(|| "cmdb.sled".into())),
        }
    }
}

/// An opened store and what `cmdb init` reports of it.
#[derive(Debug, Clone)]
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn SetStore>,
    /// The backend.
    pub kind: StoreKind,
    /// Where it lives.
    pub path: Option<PathBuf>,
    /// The schema (or encoding) version of the store format.
    pub schema_version: i64,
}

/// The store cannot be opened (damaged, locked, from a newer engine, unreadable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot open {kind} store at {path}: {reason}")]
pub struct OpenError {
    kind: &'static str,
    path: String,
    reason: String,
}

/// Opens (creating if needed) the configured store.
///
/// # Errors
/// [`OpenError`] with a one-line reason.
pub fn open_store(config: &StoreConfig) -> Result<OpenedStore, OpenError> {
    let path = config.resolved_path();
    let shown = path
        .as_ref()
        .map_or_else(String::new, |p| p.display().to_string());
    let fail = |kind: &'static str, reason: String| OpenError {
        kind,
        path: shown.clone(),
        reason: reason.replace('\n', " "),
    };
    let (store, schema_version): (Arc<dyn SetStore>, i64) = match (config.kind, &path) {
        (StoreKind::Memory, _) | (_, None) => (
            Arc::new(cmdb_store_memory::MemoryStore::with_options(config.group)),
            0,
        ),
        (StoreKind::Sqlite, Some(p)) => {
            let options = cmdb_store_sqlite::SqliteOptions {
                synchronous: match config.sqlite_sync {
                    SqliteSync::Full => cmdb_store_sqlite::Synchronous::Full,
                    SqliteSync::Normal => cmdb_store_sqlite::Synchronous::Normal,
                },
                group: config.group,
                ..Default::default()
            };
            let store = cmdb_store_sqlite::SqliteStore::open(p, options)
                .map_err(|e| fail("sqlite", e.to_string()))?;
            (Arc::new(store), cmdb_store_sqlite::SCHEMA_VERSION)
        }
        (StoreKind::Sled, Some(p)) => {
            let options = cmdb_store_sled::SledOptions {
                flush: match config.sled_flush {
                    SledFlush::EveryWrite => cmdb_store_sled::FlushMode::EveryWrite,
                    SledFlush::Background => cmdb_store_sled::FlushMode::Background,
                },
                group: config.group,
            };
            let store = cmdb_store_sled::SledStore::open(p, options)
                .map_err(|e| fail("sled", e.to_string()))?;
            (
                Arc::new(store),
                i64::from(cmdb_store_sled::layout::FORMAT_VERSION),
            )
        }
    };
    Ok(OpenedStore {
        store,
        kind: config.kind,
        path,
        schema_version,
    })
}
