//! Opening a store at a path: [`OpenBackend`] (what a file-backed backend implements), the
//! async and blocking `open` of [`EmbeddedStore`] over it, and [`OpenError`], the one shape of
//! every store's refusal to open.

use std::path::{Path, PathBuf};

use cmdb_core::StoreError;
use cmdb_core::error::Detail;

use crate::backend::Backend;
use crate::embedded::{EmbeddedStore, OpenPanicked};
use crate::options::GroupOptions;

/// A backend opened from a path with options.
pub trait OpenBackend: Backend + Sized {
    /// The options of an open (durability, timeouts, and the [`GroupOptions`]).
    type Options: Clone + Send + 'static;

    /// Opens (creating when absent, recovering, migrating) the backend at `path`. It blocks;
    /// [`EmbeddedStore::open`] runs it on a thread of its own.
    ///
    /// # Errors
    /// Why the location is refused; a refused location is left as it was.
    fn open_backend(path: &Path, options: &Self::Options) -> Result<Self, OpenError>;

    /// How the store groups its creates.
    fn group_options(options: &Self::Options) -> GroupOptions;
}

impl<B: OpenBackend> EmbeddedStore<B> {
    /// Opens the store at `path` off the caller's thread (the async caller only waits).
    ///
    /// # Errors
    /// Why the location is refused ([`OpenError`]); it is left as it was.
    pub async fn open(path: impl AsRef<Path>, options: B::Options) -> Result<Self, OpenError> {
        let path: PathBuf = path.as_ref().to_owned();
        let group = B::group_options(&options);
        EmbeddedStore::open_with(move || B::open_backend(&path, &options), group).await
    }

    /// Opens the store at `path` on the calling thread, for synchronous callers.
    ///
    /// # Errors
    /// As [`EmbeddedStore::open`].
    pub fn open_blocking(path: impl AsRef<Path>, options: B::Options) -> Result<Self, OpenError> {
        let group = B::group_options(&options);
        B::open_backend(path.as_ref(), &options).map(|backend| EmbeddedStore::start(backend, group))
    }
}

/// Why a store refused to open a location. Opening never modifies a location it refuses.
///
/// Each variant's message is the store's own one-line explanation (it names the file and the
/// problem); the backend's error, when there is one, is kept as the detail's source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The location holds a store of a newer engine.
    #[error("{what} version {found} is newer than this engine supports ({supported})")]
    TooNew {
        /// What carries the version (`database schema`, `store format`).
        what: &'static str,
        /// The stored version.
        found: i64,
        /// The newest version this engine reads.
        supported: i64,
    },
    /// The location holds something that is not a store of ours (another application's
    /// database, a file of another kind).
    #[error("{0}")]
    Foreign(Detail),
    /// A store of ours whose files are damaged (truncated, changed, failing their checks).
    #[error("{0}")]
    Damaged(Detail),
    /// Another handle or process holds the store.
    #[error("{0}")]
    Busy(Detail),
    /// The location (a file, a server) cannot be reached or read.
    #[error("{0}")]
    Unreachable(Detail),
    /// The location itself is not valid (a URL that does not parse).
    #[error("{0}")]
    Invalid(Detail),
    /// Another failure of the backend.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OpenPanicked> for OpenError {
    fn from(e: OpenPanicked) -> Self {
        OpenError::Store(e.into())
    }
}

impl From<OpenError> for StoreError {
    /// A damaged, foreign or too new store is [`StoreError::Corrupt`]; a busy one
    /// [`StoreError::Busy`]; an unreachable one [`StoreError::Unavailable`].
    fn from(e: OpenError) -> Self {
        let message = e.to_string();
        match e {
            OpenError::Store(inner) => inner,
            OpenError::TooNew { .. } => StoreError::Corrupt(message.into()),
            OpenError::Foreign(d) | OpenError::Damaged(d) => {
                StoreError::Corrupt(d.renamed(message))
            }
            OpenError::Busy(d) => StoreError::Busy(d.renamed(message)),
            OpenError::Unreachable(d) => StoreError::Unavailable(d.renamed(message)),
            OpenError::Invalid(d) => StoreError::Backend(d.renamed(message)),
        }
    }
}

impl From<OpenError> for cmdb_core::Error {
    /// Through [`StoreError`]: an internal error (1199999) for the envelope.
    fn from(e: OpenError) -> Self {
        cmdb_core::Error::Store(e.into())
    }
}

impl OpenError {
    /// Refuses a store whose format marker (`found`: its name and layout version) is not
    /// `expected` at a version this build reads (1 to `supported`): another name is
    /// [`OpenError::Foreign`], a newer version [`OpenError::TooNew`], a version below 1 (never
    /// written) [`OpenError::Damaged`]. The message names `path` and both formats.
    ///
    /// # Errors
    /// The refusal, when there is one.
    pub fn check_format(
        path: &Path,
        found: (&str, i64),
        expected: &str,
        supported: i64,
    ) -> Result<(), OpenError> {
        let (name, version) = found;
        if name == expected && (1..=supported).contains(&version) {
            return Ok(());
        }
        let message = format!(
            "{} holds format {name:?} version {version}; this build reads {expected} version \
             {supported}",
            path.display()
        );
        Err(if name != expected {
            OpenError::Foreign(message.into())
        } else if version > supported {
            OpenError::TooNew {
                what: "store format",
                found: version,
                supported,
            }
        } else {
            OpenError::Damaged(message.into())
        })
    }
}
