//! Choosing and opening a store backend from configuration. Each store is a cargo feature
//! (`sqlite` by default, `sled`, `redb`, `postgres`; memory always); `open/stores.rs` holds
//! the code of each, and a store whose feature is off is refused with a one-line reason.

mod stores;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cmdb_core::error::Detail;
use cmdb_core::ports::SetStore;
use cmdb_store_group::GroupOptions;
/// A store's own refusal to open (`TooNew`, `Foreign`, `Damaged`, `Busy`, `Unreachable`, `Invalid`,
/// `Store`), as every store answers it.
pub use cmdb_store_group::OpenError as StoreOpenError;
use serde::Serialize;

/// The store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// Embedded sled directory.
    Sled,
    /// Embedded redb file.
    Redb,
    /// In memory, for one process lifetime.
    Memory,
    /// A PostgreSQL database (`--db postgres://user:password@host:port/dbname`), shared by
    /// any number of engines. Opened with [`open_store_async`].
    Postgres,
}

/// SQLite's `synchronous` pragma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Every commit reaches the disk before it is acknowledged (survives power loss).
    #[default]
    Full,
    /// May lose the last commits on power loss, never on a process crash.
    Normal,
}

/// sled's flush policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SledFlush {
    /// Flush before acknowledging every write.
    #[default]
    EveryWrite,
    /// Let sled flush in the background (may lose about the last 500 ms on a crash).
    Background,
}

/// redb's durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedbSync {
    /// Every commit is fsynced before it is acknowledged (survives power loss).
    #[default]
    Immediate,
    /// redb's non-durable commits, made durable every 500 ms and at close (a crash, of the
    /// process too, may lose about the last 500 ms).
    None,
}

/// A configuration choice spelled as a word (`--store sqlite`, `--sled-flush every-write`):
/// its names, and parsing and printing them.
macro_rules! named_choice {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name of this choice.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownChoice;

            fn from_str(s: &str) -> Result<Self, UnknownChoice> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(UnknownChoice {
                        given: other.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_choice!(StoreKind {
    Sqlite => "sqlite",
    Sled => "sled",
    Redb => "redb",
    Memory => "memory",
    Postgres => "postgres",
});
named_choice!(SqliteSync { Full => "full", Normal => "normal" });
named_choice!(SledFlush { EveryWrite => "every-write", Background => "background" });
named_choice!(RedbSync { Immediate => "immediate", None => "none" });

/// A location [`StoreConfig::from_location`] does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' names no store: use sqlite://PATH, redb://PATH, sled://PATH, postgres://…, memory: \
     or a SQLite file's path"
)]
pub struct UnknownLocation(String);

/// A word that names none of a choice's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not one of {}", expected.join(", "))]
pub struct UnknownChoice {
    given: String,
    expected: &'static [&'static str],
}

/// Which store to open, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The backend.
    pub kind: StoreKind,
    /// The file or directory; default `./cmdb.sqlite` / `./cmdb.sled` / `./cmdb.redb`. For
    /// PostgreSQL, the connection URL (required).
    pub path: Option<PathBuf>,
    /// SQLite durability.
    pub sqlite_sync: SqliteSync,
    /// sled durability.
    pub sled_flush: SledFlush,
    /// redb durability.
    pub redb_sync: RedbSync,
    /// How concurrent creates share commits (default grouped; every store).
    pub group: GroupOptions,
}

impl StoreConfig {
    /// The configuration a location names: `sqlite://PATH`, `redb://PATH`, `sled://PATH`,
    /// `postgres://…` (or `postgresql://…`, the URL kept whole), `memory:`, or a plain path (a
    /// SQLite file). Every other option is the default.
    ///
    /// # Errors
    /// [`UnknownLocation`] for another scheme or an empty path.
    pub fn from_location(location: &str) -> Result<Self, UnknownLocation> {
        let unknown = || UnknownLocation(location.to_owned());
        let (kind, path) = match location.split_once("://") {
            Some(("postgres" | "postgresql", _)) => (StoreKind::Postgres, Some(location)),
            Some(("sqlite", path)) => (StoreKind::Sqlite, Some(path)),
            Some(("redb", path)) => (StoreKind::Redb, Some(path)),
            Some(("sled", path)) => (StoreKind::Sled, Some(path)),
            Some(("memory", "")) => (StoreKind::Memory, None),
            Some(_) => return Err(unknown()),
            None if location == "memory:" => (StoreKind::Memory, None),
            None => (StoreKind::Sqlite, Some(location)),
        };
        if path.is_some_and(str::is_empty) {
            return Err(unknown());
        }
        Ok(StoreConfig {
            path: path.map(PathBuf::from),
            ..StoreConfig::new(kind)
        })
    }

    /// The default configuration of a backend.
    pub fn new(kind: StoreKind) -> Self {
        StoreConfig {
            kind,
            path: None,
            sqlite_sync: SqliteSync::Full,
            sled_flush: SledFlush::EveryWrite,
            redb_sync: RedbSync::Immediate,
            group: GroupOptions::default(),
        }
    }

    /// The path the store lives at (none for memory).
    pub fn resolved_path(&self) -> Option<PathBuf> {
        match self.kind {
            StoreKind::Memory => None,
            StoreKind::Sqlite => Some(self.path.clone().unwrap_or_else(|| "cmdb.sqlite".into())),
            StoreKind::Sled => Some(self.path.clone().unwrap_or_else(|| "cmdb.sled".into())),
            StoreKind::Redb => Some(self.path.clone().unwrap_or_else(|| "cmdb.redb".into())),
            StoreKind::Postgres => self.path.clone(),
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

/// The store cannot be opened (damaged, locked, from a newer engine, unreadable). The store's
/// own refusal, when there is one, keeps its kind ([`OpenError::store_refusal`]) and is the
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    kind: &'static str,
    path: String,
    reason: OpenReason,
}

/// Why a store was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenReason {
    /// The store refused the location: too new, foreign, damaged, busy, unreachable, invalid,
    /// or another failure of its engine (the store's error).
    Store(StoreOpenError),
    /// The engine did not get as far as the store: a store this build leaves out, a missing
    /// URL, the thread that opens it could not start.
    Engine(Detail),
}

impl OpenError {
    /// The store's kind (`sqlite`, `postgres`, …).
    pub fn store_kind(&self) -> &'static str {
        self.kind
    }

    /// Why the store was not opened.
    pub fn reason(&self) -> &OpenReason {
        &self.reason
    }

    /// The store's own refusal, with its kind, when the store refused.
    pub fn store_refusal(&self) -> Option<&StoreOpenError> {
        match &self.reason {
            OpenReason::Store(refusal) => Some(refusal),
            OpenReason::Engine(_) => None,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open {} store at {}: ", self.kind, self.path)?;
        match &self.reason {
            OpenReason::Store(refusal) => write!(f, "{}", refusal.to_string().replace('\n', " ")),
            OpenReason::Engine(detail) => write!(f, "{detail}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            OpenReason::Store(refusal) => Some(refusal),
            OpenReason::Engine(detail) => detail
                .backend_error()
                .map(|e| e as &(dyn std::error::Error + 'static)),
        }
    }
}

impl From<Detail> for OpenReason {
    fn from(detail: Detail) -> Self {
        OpenReason::Engine(detail)
    }
}

impl From<StoreOpenError> for OpenReason {
    fn from(refusal: StoreOpenError) -> Self {
        OpenReason::Store(refusal)
    }
}

/// Opens (creating if needed) the configured store, PostgreSQL included: connecting needs the
/// caller's tokio runtime, which keeps the store's writer task.
///
/// # Errors
/// [`OpenError`] with a one-line reason (never the password of a URL).
pub async fn open_store_async(config: &StoreConfig) -> Result<OpenedStore, OpenError> {
    open_postgres(config, false).await
}

/// [`open_store_async`] for a long-running server: a PostgreSQL store whose server is not up
/// yet opens anyway and connects in the background with backoff (its
/// [`SetStore::health`] says why it cannot serve meanwhile). Embedded stores open as usual.
///
/// # Errors
/// As [`open_store_async`], but never for an unreachable PostgreSQL server.
pub async fn open_store_waiting(config: &StoreConfig) -> Result<OpenedStore, OpenError> {
    open_postgres(config, true).await
}

async fn open_postgres(config: &StoreConfig, wait: bool) -> Result<OpenedStore, OpenError> {
    match config.kind {
        StoreKind::Postgres => {}
        // Opening may create, recover and migrate files: off the caller's thread.
        StoreKind::Sqlite | StoreKind::Sled | StoreKind::Redb => {
            return open_embedded_async(config).await;
        }
        StoreKind::Memory => return open_store(config),
    }
    let fail = |path: String, reason: OpenReason| OpenError {
        kind: "postgres",
        path,
        reason,
    };
    let Some(url) = config.path.as_ref().and_then(|p| p.to_str()) else {
        return Err(fail(
            String::new(),
            Detail::from("--store postgres needs --db postgres://user:password@host:port/dbname")
                .into(),
        ));
    };
    let shown = redact_password(url);
    let (store, schema_version) = stores::open_postgres(config, url, wait)
        .await
        .map_err(|reason| fail(shown.clone(), reason))?;
    Ok(OpenedStore {
        store,
        kind: StoreKind::Postgres,
        path: Some(shown.into()),
        schema_version,
    })
}

/// [`open_store`] of a file-backed embedded store, its open run off the caller's thread.
async fn open_embedded_async(config: &StoreConfig) -> Result<OpenedStore, OpenError> {
    let Some(path) = config.resolved_path() else {
        return open_store(config);
    };
    let (store, schema_version) = stores::open_embedded(config, &path)
        .await
        .map_err(|reason| OpenError {
            kind: config.kind.name(),
            path: path.display().to_string(),
            reason,
        })?;
    Ok(OpenedStore {
        store,
        kind: config.kind,
        path: Some(path),
        schema_version,
    })
}

/// A connection URL with its password (if any) replaced by `***`.
pub fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// Opens (creating if needed) the configured embedded store (every kind but PostgreSQL,
/// which [`open_store_async`] opens) on the calling thread, for synchronous callers; async
/// callers use [`open_store_async`], which opens off their thread.
///
/// # Errors
/// [`OpenError`] with a one-line reason.
pub fn open_store(config: &StoreConfig) -> Result<OpenedStore, OpenError> {
    let path = config.resolved_path();
    let shown = path
        .as_ref()
        .map_or_else(String::new, |p| redact_password(&p.display().to_string()));
    let fail = |kind: &'static str, reason: OpenReason| OpenError {
        kind,
        path: shown.clone(),
        reason,
    };
    let (store, schema_version): (Arc<dyn SetStore>, i64) = match (config.kind, &path) {
        (StoreKind::Postgres, _) => {
            return Err(fail(
                "postgres",
                Detail::from("a PostgreSQL store is opened with open_store_async").into(),
            ));
        }
        (StoreKind::Memory, _) | (_, None) => (
            Arc::new(cmdb_store_memory::MemoryStore::with_options(config.group)),
            0,
        ),
        (kind, Some(p)) => {
            stores::open_embedded_blocking(config, p).map_err(|reason| fail(kind.name(), reason))?
        }
    };
    Ok(OpenedStore {
        store,
        kind: config.kind,
        path,
        schema_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_their_store_and_path() {
        let read = |location: &str| {
            StoreConfig::from_location(location)
                .map(|c| (c.kind, c.path.map(|p| p.display().to_string())))
        };
        let some = |p: &str| Some(p.to_owned());
        assert_eq!(
            read("sqlite://a/b.sqlite"),
            Ok((StoreKind::Sqlite, some("a/b.sqlite")))
        );
        assert_eq!(
            read("/x/cmdb.sqlite"),
            Ok((StoreKind::Sqlite, some("/x/cmdb.sqlite")))
        );
        assert_eq!(
            read("redb:///x/c.redb"),
            Ok((StoreKind::Redb, some("/x/c.redb")))
        );
        assert_eq!(read("sled://d.sled"), Ok((StoreKind::Sled, some("d.sled"))));
        let url = "postgres://u:p@h:5432/db?sslmode=disable";
        assert_eq!(read(url), Ok((StoreKind::Postgres, some(url))));
        assert_eq!(
            read("postgresql://h/db"),
            Ok((StoreKind::Postgres, some("postgresql://h/db")))
        );
        assert_eq!(read("memory:"), Ok((StoreKind::Memory, None)));
        assert_eq!(read("memory://"), Ok((StoreKind::Memory, None)));
        for refused in ["", "sqlite://", "redb://", "memory://x", "mongodb://db"] {
            assert_eq!(
                read(refused),
                Err(UnknownLocation(refused.to_owned())),
                "{refused}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_password("postgres://cmdb:s3cr:et@db:5432/cmdb?x=1"),
            "postgres://cmdb:***@db:5432/cmdb?x=1"
        );
        assert_eq!(
            redact_password("postgres://cmdb@db/cmdb"),
            "postgres://cmdb@db/cmdb"
        );
        assert_eq!(redact_password("postgres://db/a@b"), "postgres://db/a@b");
        assert_eq!(redact_password("cmdb.sqlite"), "cmdb.sqlite");
    }

    #[tokio::test]
    async fn postgres_needs_a_url_and_the_async_opener() {
        let config = StoreConfig::new(StoreKind::Postgres);
        let sync = open_store(&config).expect_err("refused");
        assert_eq!(
            sync.to_string(),
            "cannot open postgres store at : a PostgreSQL store is opened with open_store_async"
        );
        let missing = open_store_async(&config).await.expect_err("refused");
        assert_eq!(
            missing.to_string(),
            "cannot open postgres store at : --store postgres needs --db postgres://user:password@host:port/dbname"
        );
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn a_refused_store_is_kept_as_the_source() {
        use std::error::Error as _;
        let config = StoreConfig {
            path: Some("postgres://cmdb:pw@db:notaport/cmdb".into()),
            ..StoreConfig::new(StoreKind::Postgres)
        };
        let refused = open_store_async(&config).await.expect_err("refused");
        assert!(
            refused
                .to_string()
                .starts_with("cannot open postgres store at postgres://cmdb:***@db:notaport/cmdb: invalid PostgreSQL URL: "),
            "{refused}"
        );
        let source = refused.source().expect("the store's refusal is kept");
        assert!(
            source
                .downcast_ref::<cmdb_store_postgres::OpenError>()
                .is_some_and(|e| matches!(e, cmdb_store_postgres::OpenError::Invalid(_))),
            "{source:?}"
        );
    }

    /// Run by CI with `cargo test -p cmdb-app --no-default-features --lib`.
    #[cfg(not(any(feature = "sled", feature = "postgres")))]
    #[tokio::test]
    async fn a_store_the_build_leaves_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            path: Some(dir.path().join("cmdb.sled")),
            ..StoreConfig::new(StoreKind::Sled)
        };
        let reason = "this build has no sled store (build cmdb-app with the `sled` feature)";
        let sync = open_store(&config).expect_err("refused");
        assert!(sync.to_string().ends_with(reason), "{sync}");
        let sync_path = config.path.clone().unwrap();
        assert!(!sync_path.exists(), "nothing is created");
        let pg = StoreConfig {
            path: Some("postgres://db/cmdb".into()),
            ..StoreConfig::new(StoreKind::Postgres)
        };
        let refused = open_store_async(&pg).await.expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "cannot open postgres store at postgres://db/cmdb: this build has no postgres store \
             (build cmdb-app with the `postgres` feature)"
        );
    }
}
