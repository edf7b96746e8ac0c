//! Opening an engine on a store named by a location, and closing it.

use std::sync::Arc;

use cmdb_core::StoreError;

use super::Engine;
use crate::open::{OpenError, StoreConfig, UnknownLocation, open_store_async};

/// Why [`Engine::open`] could not open an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineOpenError {
    /// The location names no store.
    #[error(transparent)]
    Location(#[from] UnknownLocation),
    /// The store refused to open (its refusal is the source).
    #[error(transparent)]
    Store(#[from] OpenError),
}

impl Engine {
    /// An engine with the default options on the store `location` names (see
    /// [`StoreConfig::from_location`]: `sqlite://cmdb.sqlite`, `redb://cmdb.redb`,
    /// `postgres://user:password@host/db`, `memory:`, or a SQLite file's path). The store
    /// opens off the caller's thread. For other options, open a store and use
    /// [`Engine::builder`].
    ///
    /// # Errors
    /// [`EngineOpenError`]: the location names no store, or the store refused to open.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> anyhow::Result<()> {
    /// use cmdb_app::Engine;
    /// use cmdb_app::engine::EngineOpenError;
    /// use cmdb_core::BizId;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let location = format!("sqlite://{}", dir.path().join("cmdb.sqlite").display());
    /// let engine = Engine::open(&location).await?;
    /// let fixture = r#"{"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}"#;
    /// engine.load_fixture(fixture.parse()?, "admin").await?;
    /// engine.close().await?;
    ///
    /// // Reopened, the file holds the business and its idle set.
    /// let engine = Engine::open(&location).await?;
    /// assert_eq!(engine.sets("0", BizId(1), None).await?.len(), 1);
    /// engine.close().await?;
    ///
    /// // A location that names no store is a typed error, not a panic.
    /// let refused = Engine::open("mongodb://db").await.unwrap_err();
    /// assert!(matches!(refused, EngineOpenError::Location(_)), "{refused}");
    /// # Ok(()) }
    /// ```
    pub async fn open(location: &str) -> Result<Engine, EngineOpenError> {
        let config = StoreConfig::from_location(location)?;
        let opened = open_store_async(&config).await?;
        tracing::info!(store = opened.store.backend(), "store opened");
        Ok(Engine::builder(Arc::clone(&opened.store)).build())
    }

    /// Closes the store once every write queued before this call has committed (an embedded
    /// store's writer thread drains its queue first). Later calls may fail. Dropping an
    /// engine instead never waits: its store finishes the queued writes on its own threads.
    ///
    /// # Errors
    /// The store's failure to flush or let go of its files.
    pub async fn close(&self) -> Result<(), StoreError> {
        let store = self.store().backend();
        let closed = self.store().close().await;
        match &closed {
            Ok(()) => tracing::info!(store, "store closed"),
            Err(e) => tracing::warn!(store, error = %e, "the store's close failed"),
        }
        closed
    }
}
