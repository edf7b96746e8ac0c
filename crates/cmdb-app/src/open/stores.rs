//! The code of each store behind its cargo feature: its options from a [`StoreConfig`], and
//! its open, blocking and async. A store whose feature is off is a one-line refusal.

// A build without any store feature (memory only) leaves parts of this module unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "sled", feature = "redb")),
    allow(unused_variables, dead_code)
)]

use std::path::Path;
use std::sync::Arc;

use cmdb_core::error::Detail;
use cmdb_core::ports::SetStore;

#[allow(unused_imports)]
use super::{OpenReason, RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, StoreOpenError};

/// A store and the schema (or format) version it reports.
type Opened = (Arc<dyn SetStore>, i64);

/// A store's refusal to open, its kind kept.
fn refused(e: StoreOpenError) -> OpenReason {
    OpenReason::Store(e)
}

/// The refusal of a store this build leaves out.
fn not_built(kind: StoreKind) -> OpenReason {
    let detail: Detail =
        format!("this build has no {kind} store (build cmdb-app with the `{kind}` feature)").into();
    detail.into()
}

/// Opens the file-backed embedded store `config.kind` at `path` on the calling thread.
pub(super) fn open_embedded_blocking(
    config: &StoreConfig,
    path: &Path,
) -> Result<Opened, OpenReason> {
    match config.kind {
        #[cfg(feature = "sqlite")]
        StoreKind::Sqlite => {
            let store = cmdb_store_sqlite::SqliteStore::open_blocking(path, sqlite_options(config))
                .map_err(refused)?;
            Ok((Arc::new(store), cmdb_store_sqlite::SCHEMA_VERSION))
        }
        #[cfg(feature = "sled")]
        StoreKind::Sled => {
            let store = cmdb_store_sled::SledStore::open_blocking(path, sled_options(config))
                .map_err(refused)?;
            Ok((
                Arc::new(store),
                i64::from(cmdb_store_sled::layout::FORMAT_VERSION),
            ))
        }
        #[cfg(feature = "redb")]
        StoreKind::Redb => {
            let store = cmdb_store_redb::RedbStore::open_blocking(path, redb_options(config))
                .map_err(refused)?;
            Ok((Arc::new(store), cmdb_store_redb::FORMAT_VERSION))
        }
        other => Err(not_built(other)),
    }
}

/// [`open_embedded_blocking`] on a thread of its own: the async caller only waits (on any
/// runtime).
pub(super) async fn open_embedded(config: &StoreConfig, path: &Path) -> Result<Opened, OpenReason> {
    let (config, path) = (config.clone(), path.to_owned());
    let (reply, answer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("cmdb-open".into())
        .spawn(move || {
            let _ = reply.send(open_embedded_blocking(&config, &path));
        })
        .map_err(|e| Detail::caused_by("cannot start the thread that opens the store", e))?;
    answer
        .await
        .unwrap_or_else(|_| Err(Detail::from("the thread opening the store panicked").into()))
}

/// Connects to the PostgreSQL database at `url`; with `wait`, a server that is down yet is
/// connected to in the background.
#[cfg(feature = "postgres")]
pub(super) async fn open_postgres(
    config: &StoreConfig,
    url: &str,
    wait: bool,
) -> Result<Opened, OpenReason> {
    let options = cmdb_store_postgres::PgOptions {
        group: config.group,
        ..Default::default()
    };
    let store = if wait {
        cmdb_store_postgres::PgStore::connect_lazy(url, options).await
    } else {
        cmdb_store_postgres::PgStore::connect(url, options).await
    }
    .map_err(refused)?;
    Ok((Arc::new(store), cmdb_store_postgres::SCHEMA_VERSION))
}

/// The PostgreSQL store is not in this build.
#[cfg(not(feature = "postgres"))]
pub(super) async fn open_postgres(
    _config: &StoreConfig,
    _url: &str,
    _wait: bool,
) -> Result<Opened, OpenReason> {
    Err(not_built(StoreKind::Postgres))
}
#[cfg(feature = "redb")]
fn redb_options(config: &StoreConfig) -> cmdb_store_redb::RedbOptions {
    cmdb_store_redb::RedbOptions {
        durability: match config.redb_sync {
            RedbSync::Immediate => cmdb_store_redb::RedbDurability::Immediate,
            RedbSync::None => cmdb_store_redb::RedbDurability::None,
        },
        group: config.group,
    }
}

#[cfg(feature = "sled")]
fn sled_options(config: &StoreConfig) -> cmdb_store_sled::SledOptions {
    cmdb_store_sled::SledOptions {
        flush: match config.sled_flush {
            SledFlush::EveryWrite => cmdb_store_sled::FlushMode::EveryWrite,
            SledFlush::Background => cmdb_store_sled::FlushMode::Background,
        },
        group: config.group,
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_options(config: &StoreConfig) -> cmdb_store_sqlite::SqliteOptions {
    cmdb_store_sqlite::SqliteOptions {
        synchronous: match config.sqlite_sync {
            SqliteSync::Full => cmdb_store_sqlite::Synchronous::Full,
            SqliteSync::Normal => cmdb_store_sqlite::Synchronous::Normal,
        },
        group: config.group,
        ..Default::default()
    }
}
