//! The `cmdb` command line: flags, commands, output and exit codes (catalog-and-cli spec).

use std::fmt;
use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use cmdb_core::error::Detail;
use cmdb_core::records::ResourceType;
use cmdb_core::rules::keys::UnknownKeys;
use cmdb_core::{BizId, SetId};
use serde_json::{Value, json};

use chrono::FixedOffset;
use cmdb_app::apps::AppRegistry;
use cmdb_app::auth::StaticPolicy;
use cmdb_app::engine::Engine;
use cmdb_app::envelope::{Envelope, Failure};
use cmdb_app::paging::{Listing, Page};
use cmdb_core::Language;
use cmdb_core::plan::RequestContext;
use cmdb_store_group::GroupOptions;

use cmdb_app::open::{
    RedbSync, SledFlush, SqliteSync, StoreConfig, StoreKind, open_store_async, open_store_waiting,
};

/// Parses one of a configuration choice's names (clap lists them in help and errors).
fn choice<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = cmdb_app::open::UnknownChoice> + Clone + Send + Sync + 'static,
{
    clap::builder::TypedValueParser::try_map(
        clap::builder::PossibleValuesParser::new(names),
        |name| name.parse::<T>(),
    )
}

/// The user written on catalog entities a fixture creates when `--user` is not given.
pub(crate) const DEFAULT_OPERATOR: &str = "admin";

/// `cmdb`: create BlueKing CMDB sets on an embedded store.
#[derive(Debug, Parser)]
#[command(name = "cmdb", version, about)]
pub(crate) struct Cli {
    /// The store backend.
    #[arg(long, value_parser = choice::<StoreKind>(StoreKind::NAMES), default_value_t = StoreKind::Sqlite, global = true)]
    pub store: StoreKind,
    /// The store's path (default ./cmdb.sqlite, ./cmdb.sled or ./cmdb.redb), created on first
    /// use; for `--store postgres` the URL postgres://user:password@host:port/dbname.
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
    /// A fixture to load before the command (idempotent).
    #[arg(long, global = true)]
    pub fixture: Option<PathBuf>,
    /// The acting user when a request has no bk_username, and the reader of find-set,
    /// list-modules and audit (default admin).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// The tenant of find-set, list-modules and audit.
    #[arg(long, default_value = "0", global = true)]
    pub supplier_account: String,
    /// Reject or drop keys that are not attributes.
    #[arg(long, value_enum, default_value_t = UnknownKeysArg::Reject, global = true)]
    pub unknown_keys: UnknownKeysArg,
    /// A static authorization policy file.
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// SQLite synchronous mode: full (durable on power loss) or normal (may lose the last commits on power loss).
    #[arg(long, value_parser = choice::<SqliteSync>(SqliteSync::NAMES), default_value_t = SqliteSync::Full, global = true)]
    pub sqlite_sync: SqliteSync,
    /// sled flush mode: every-write (durable) or background (may lose ~the last 500 ms).
    #[arg(long, value_parser = choice::<SledFlush>(SledFlush::NAMES), default_value_t = SledFlush::EveryWrite, global = true)]
    pub sled_flush: SledFlush,
    /// redb durability: immediate (every commit fsynced) or none (durable every 500 ms: a crash
    /// may lose ~the last 500 ms).
    #[arg(long, value_parser = choice::<RedbSync>(RedbSync::NAMES), default_value_t = RedbSync::Immediate, global = true)]
    pub redb_sync: RedbSync,
    /// Group commit: concurrent creates (and a non-atomic batch's elements) share one
    /// transaction and one sync (on), or each commits alone (off, for comparison).
    #[arg(long, value_enum, default_value_t = GroupCommit::On, global = true)]
    pub group_commit: GroupCommit,
    /// The language of messages: en, or zh-cn (also zh, cn): bk-cmdb's Chinese templates.
    #[arg(long, value_parser = parse_language, default_value = "en", global = true)]
    pub language: Language,
    /// The UTC offset timestamps are written in, as ±HH:MM (default +08:00, as bk-cmdb).
    #[arg(long, value_parser = parse_utc_offset, global = true, allow_hyphen_values = true)]
    pub utc_offset: Option<FixedOffset>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--language`: `en`, `zh-cn`, `zh` or `cn`.
fn parse_language(tag: &str) -> Result<Language, String> {
    Language::parse(tag).ok_or_else(|| format!("unknown language {tag:?} (en or zh-cn)"))
}

/// `--utc-offset`: `±HH:MM` (hours 0–23, minutes 0–59), or `Z`.
fn parse_utc_offset(text: &str) -> Result<FixedOffset, String> {
    let bad = || format!("{text:?} is not a UTC offset like +08:00 or -05:30");
    if text.eq_ignore_ascii_case("z") {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (hours, minutes) = rest.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    match (two_digits(hours), two_digits(minutes)) {
        (Some(h), Some(m)) if h < 24 && m < 60 => {
            FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// `--group-commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GroupCommit {
    /// Concurrent creates share commits.
    On,
    /// Every create commits alone.
    Off,
}

/// `--unknown-keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UnknownKeysArg {
    /// Refuse with 1199011.
    Reject,
    /// Drop silently.
    Drop,
}

/// `--resource-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResourceTypeArg {
    /// Set records.
    Set,
    /// Module records.
    Module,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the store (if needed) and print its kind, path and schema version.
    Init,
    /// Load a fixture file.
    Load {
        /// The fixture file.
        file: PathBuf,
    },
    /// Create a set from an ESB create_set request (a file, or - / nothing for stdin).
    CreateSet {
        /// The request file.
        file: Option<PathBuf>,
    },
    /// Create several sets from a batch request (a file, or - / nothing for stdin).
    BatchCreateSet {
        /// The request file.
        file: Option<PathBuf>,
    },
    /// List the sets of a business, or one set: a page of them and the total count.
    FindSet {
        /// The business id.
        #[arg(long)]
        biz: i64,
        /// Only this set.
        #[arg(long)]
        set_id: Option<i64>,
        /// The index of the first set listed (0-based).
        #[arg(long, default_value_t = 0)]
        start: i64,
        /// How many sets at most (1 to 500; 0 means 500).
        #[arg(long, default_value_t = 500)]
        limit: i64,
    },
    /// List the modules of a set.
    ListModules {
        /// The business id.
        #[arg(long)]
        biz: i64,
        /// The set id.
        #[arg(long)]
        set_id: i64,
    },
    /// Serve bk-cmdb's HTTP routes (ESB and native) until SIGTERM or ctrl-c.
    Serve(ServeArgs),
    /// Print the events of created sets or modules, one JSON object a line, following new
    /// ones until interrupted (--once: until caught up).
    Watch(crate::watch::WatchArgs),
    /// Create the sets of a CSV or JSONL file (or stdin) in a business: refusals on stderr,
    /// the summary on stdout.
    Import(crate::import::ImportArgs),
    /// List the audit records of a business.
    Audit {
        /// The business id.
        #[arg(long)]
        biz: i64,
        /// Only records of this resource type.
        #[arg(long, value_enum)]
        resource_type: Option<ResourceTypeArg>,
    },
}

/// `cmdb serve`'s flags (see `crates/cmdb-http/README.md`, "Running it in production").
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on. Without --apps or --trust-headers only a loopback address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The language of messages for requests without a `Blueking-Language` header
    /// (default: --language).
    #[arg(long, value_parser = parse_language)]
    pub default_language: Option<Language>,
    /// The apps that may call (spec section 16): each request must carry a listed
    /// bk_app_code with its bk_app_secret, and act only for the app's tenants and users.
    #[arg(long)]
    pub apps: Option<PathBuf>,
    /// Trust the user and app code callers name, also on a non-loopback address (behind a
    /// gateway that authenticates them).
    #[arg(long)]
    pub trust_headers: bool,
    /// Seconds a client may take to send a request's head (then closed, no answer).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a keep-alive connection may stay idle between requests (at most the header
    /// timeout in effect).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds a client may take to send a request's body (then 408).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// MiB all request bodies being read at once may hold (a body finding it spent waits).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_budget_mib: u64,
    /// The most connections served at once (when full, an idle one of the busiest peer is
    /// closed for a new one; when none is idle, the new one is answered 503).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// The most connections one peer address (an IPv6 /64) may hold (0: no cap; behind a
    /// proxy, all come from its address).
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_peer: u64,
    /// With --apps: MiB of bodies one peer may have in flight before its app is known.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub unauthenticated_mib_per_peer: u64,
    /// With --apps: failed authentications a peer may make a second on average (ten times
    /// that for one app code; over it: 429; 0: no limit).
    #[arg(long, default_value_t = 1)]
    pub auth_fail_limit: u32,
    /// With --apps: how many failed authentications a peer may make at once (ten times that
    /// for one app code).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_fail_burst: u32,
    /// The largest request head in bytes, 8192 to 1048576 (larger: 431 or 414).
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u64).range(8192..=1_048_576))]
    pub max_header_bytes: u64,
    /// Requests per second each app of --apps may send on average (0: no limit; over it: 429).
    #[arg(long, default_value_t = 1000)]
    pub rate_limit: u32,
    /// How many requests an app may send at once after a quiet time.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,
    /// MiB an import body (`POST /api/v3/set/{bk_biz_id}/import`) may hold.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub import_max_mib: u64,
    /// Seconds connections may take to finish after SIGTERM; then they are closed.
    #[arg(long, default_value_t = 10)]
    pub shutdown_deadline: u64,
    /// Seconds a watch (resource_watch) waits for an event before it answers without one.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub watch_timeout: u64,
    /// The access log's format on stderr: text or json (one object a line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// What the binary's HTTP server is handed: the flags and the apps file, already read.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    /// The flags.
    pub args: ServeArgs,
    /// The apps file's apps, when `--apps` was given.
    pub apps: Option<Arc<AppRegistry>>,
}

/// A usage error, an unreadable file or a store that cannot be opened: exit status 2. The
/// message is the line printed; the error behind it (an `io::Error`, the store's refusal) is
/// kept as its [`source`](std::error::Error::source).
#[derive(Debug)]
pub(crate) struct UsageError(pub Detail);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .backend_error()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl UsageError {
    /// `message`, keeping `source` behind it.
    pub(crate) fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        UsageError(Detail::caused_by(message, source))
    }
}

/// Starts the HTTP server of `cmdb serve` as `config` says and runs it until shutdown, closing
/// the store at the end. Supplied by the binary, which links an HTTP adapter (this crate does
/// not).
pub(crate) type ServeFn =
    fn(Engine, ServeConfig) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Runs the command line; returns the exit status (0 result true, 1 result false, 2 usage).
/// `serve` runs `cmdb serve`; without it that command is a usage error.
pub(crate) fn main_with_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    serve: Option<ServeFn>,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!(
                "cmdb: a command is required; Usage: cmdb [OPTIONS] <COMMAND> (see cmdb --help)"
            );
            return ExitCode::from(2);
        }
        Err(e) if e.use_stderr() => {
            // A usage error is one line on stderr; `--help` for the details.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more"))
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("cmdb: {message} (see cmdb --help)");
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    // The server gets a worker per core; one-shot commands need no more than one thread.
    let runtime = match &cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cmdb: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli, serve)) {
        Ok(Output::Envelope(envelope)) => {
            println!("{}", envelope.to_json());
            ExitCode::from(if envelope.result { 0 } else { 1 })
        }
        Ok(Output::Exit(code)) => ExitCode::from(code),
        Ok(Output::Nothing) => ExitCode::SUCCESS,
        Err(UsageError(message)) => {
            eprintln!("cmdb: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

/// What a command leaves to print.
#[derive(Debug)]
pub(crate) enum Output {
    /// An envelope to print; its result decides the exit status.
    Envelope(Envelope),
    /// Printed already (`import`): the exit status.
    Exit(u8),
    /// Nothing (after `serve`).
    Nothing,
}

/// Runs one parsed command line and returns what to print.
///
/// # Errors
/// [`UsageError`] for unreadable files, a bad policy, a store that cannot be opened, or a
/// server that cannot start.
pub(crate) async fn run(cli: Cli, serve: Option<ServeFn>) -> Result<Output, UsageError> {
    let config = StoreConfig {
        kind: cli.store,
        path: cli.db.clone(),
        sqlite_sync: cli.sqlite_sync,
        sled_flush: cli.sled_flush,
        redb_sync: cli.redb_sync,
        group: match cli.group_commit {
            GroupCommit::On => GroupOptions::default(),
            GroupCommit::Off => GroupOptions::ungrouped(),
        },
    };
    // Read every input before opening the store, so a usage error touches nothing.
    let policy = match &cli.policy {
        Some(path) => Some(
            StaticPolicy::from_json(&read_file(path)?)
                .map_err(|e| UsageError::caused_by(format!("{}: {e}", path.display()), e))?,
        ),
        None => None,
    };
    let fixture = match &cli.fixture {
        Some(path) => Some(read_file(path)?),
        None => None,
    };
    let serve_config = match &cli.command {
        Command::Serve(args) => Some(serve_config(args)?),
        _ => None,
    };
    // A request body is kept as bytes: the engine refuses one that is not UTF-8 (1199000).
    let input: Option<Vec<u8>> = match &cli.command {
        Command::Load { file } => Some(read_file(file)?.into_bytes()),
        Command::CreateSet { file } | Command::BatchCreateSet { file } => {
            Some(read_input(file.as_deref())?)
        }
        _ => None,
    };
    let import_input = match &cli.command {
        Command::Import(args) => Some(crate::import::open_input(args)?),
        _ => None,
    };

    // A server comes up before its database may: it waits for PostgreSQL in the background.
    let opened = if matches!(cli.command, Command::Serve { .. }) {
        open_store_waiting(&config).await
    } else {
        open_store_async(&config).await
    }
    .map_err(|e| UsageError::caused_by(e.to_string(), e))?;
    let mut builder = Engine::builder(opened.store.clone())
        .unknown_keys(match cli.unknown_keys {
            UnknownKeysArg::Reject => UnknownKeys::Reject,
            UnknownKeysArg::Drop => UnknownKeys::Drop,
        })
        .default_user(cli.user.clone())
        .language(match &cli.command {
            Command::Serve(ServeArgs {
                default_language: Some(language),
                ..
            }) => *language,
            _ => cli.language,
        });
    if let Some(offset) = cli.utc_offset {
        builder = builder.utc_offset(offset);
    }
    if let Some(policy) = policy {
        let policy = Arc::new(policy);
        builder = builder.authorizer(policy.clone()).viewer(policy);
    }
    let engine = builder.build();
    let operator = cli
        .user
        .clone()
        .unwrap_or_else(|| DEFAULT_OPERATOR.to_owned());

    if let Some(text) = fixture {
        let envelope = load(&engine, &text, &operator).await;
        if !envelope.result {
            close(&engine).await;
            return Ok(Output::Envelope(envelope));
        }
    }
    if let Some(config) = serve_config {
        let Some(serve) = serve else {
            close(&engine).await;
            return Err(UsageError("this build of cmdb has no HTTP server".into()));
        };
        let listen = config.args.listen;
        // The server closes the store when it stops.
        return serve(engine, config)
            .await
            .map(|()| Output::Nothing)
            .map_err(|e| UsageError::caused_by(format!("serving on {listen} failed: {e}"), e));
    }
    let sup = cli.supplier_account.as_str();
    let rid = engine.new_request_id();
    // Reads act as --user (default admin): the user-name rule and the policy's view
    // permission apply, as on every entry point.
    let reader = RequestContext {
        user: operator.clone(),
        supplier_account: sup.to_owned(),
        app_code: String::new(),
        request_id: rid.clone(),
    };
    if let (Command::Import(args), Some(input)) = (&cli.command, import_input) {
        let ctx = RequestContext {
            app_code: String::new(),
            ..reader
        };
        let imported = crate::import::run(&engine, ctx, args, input).await;
        close(&engine).await;
        return imported.map(Output::Exit);
    }
    let envelope = match cli.command {
        Command::Init => Envelope::success(
            rid,
            json!({
                "store": opened.kind,
                "path": opened.path.as_ref().map(|p| p.display().to_string()),
                "schema_version": opened.schema_version,
            }),
        ),
        Command::Load { .. } => {
            let text = String::from_utf8_lossy(input.as_deref().unwrap_or_default());
            load(&engine, &text, &operator).await
        }
        Command::CreateSet { .. } => {
            engine
                .handle_create_set(input.as_deref().unwrap_or_default(), Some(rid))
                .await
        }
        Command::BatchCreateSet { .. } => {
            engine
                .handle_batch_create(input.as_deref().unwrap_or_default(), Some(rid))
                .await
        }
        Command::FindSet {
            biz,
            set_id,
            start,
            limit,
        } => match Page::new(Some(start), Some(limit)) {
            Ok(page) => paged(
                rid,
                engine
                    .find_sets_as(&reader, BizId(biz), set_id.map(SetId), page)
                    .await,
            ),
            Err(e) => Envelope::failure(rid, &Failure::from(e).in_language(cli.language)),
        },
        Command::ListModules { biz, set_id } => paged(
            rid,
            engine
                .list_modules_as(&reader, BizId(biz), SetId(set_id), EVERYTHING)
                .await,
        ),
        Command::Serve(_) => unreachable!("serve returned above"),
        Command::Watch(args) => match crate::watch::watch(&engine, &reader, &args).await {
            Ok(()) => {
                close(&engine).await;
                return Ok(Output::Exit(0));
            }
            Err(refused) => Envelope::failure(rid, &refused.in_language(cli.language)),
        },
        Command::Import(_) => unreachable!("import returned above"),
        Command::Audit { biz, resource_type } => {
            let rt = resource_type.map(|r| match r {
                ResourceTypeArg::Set => ResourceType::Set,
                ResourceTypeArg::Module => ResourceType::Module,
            });
            paged(
                rid,
                engine
                    .audit_records_as(&reader, BizId(biz), rt, EVERYTHING)
                    .await,
            )
        }
    };
    close(&engine).await;
    Ok(Output::Envelope(envelope))
}

/// Reads `--apps` and refuses a listener no caller could be trusted on: a non-loopback
/// address with neither `--apps` nor `--trust-headers`.
fn serve_config(args: &ServeArgs) -> Result<ServeConfig, UsageError> {
    let apps = match &args.apps {
        Some(path) => Some(Arc::new(
            AppRegistry::from_json(&read_file(path)?)
                .map_err(|e| UsageError::caused_by(format!("{}: {e}", path.display()), e))?,
        )),
        None => None,
    };
    if apps.is_none() && !args.trust_headers && !args.listen.ip().is_loopback() {
        return Err(UsageError(
            format!(
                "refusing to serve on {} without --apps or --trust-headers: any caller could act as any user",
                args.listen
            )
            .into(),
        ));
    }
    Ok(ServeConfig {
        args: args.clone(),
        apps,
    })
}

async fn close(engine: &Engine) {
    if let Err(e) = engine.store().close().await {
        eprintln!("cmdb: closing the store failed: {e}");
    }
}

async fn load(engine: &Engine, text: &str, operator: &str) -> Envelope {
    let rid = engine.new_request_id();
    let value = match cmdb_app::request::parse_body(text.as_bytes()) {
        Ok(map) => Value::Object(map),
        Err(e) => return Envelope::failure(rid, &e.into()),
    };
    match engine.load_fixture(value, operator).await {
        Ok(report) => Envelope::success(rid, json!(report)),
        Err(f) => Envelope::failure(rid, &f),
    }
}

/// The whole listing: list-modules and audit are not paged on the command line.
const EVERYTHING: Page = Page {
    start: 0,
    limit: usize::MAX,
};

fn paged(rid: String, result: Result<Listing, Failure>) -> Envelope {
    match result {
        Ok(listing) => Envelope::success(rid, listing.to_value()),
        Err(f) => Envelope::failure(rid, &f),
    }
}

fn read_file(path: &Path) -> Result<String, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError::caused_by(format!("cannot read {}: {e}", path.display()), e))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// A request body from a file or stdin (`-` or none), as bytes.
fn read_input(path: Option<&Path>) -> Result<Vec<u8>, UsageError> {
    match path {
        Some(p) if p != Path::new("-") => std::fs::read(p)
            .map_err(|e| UsageError::caused_by(format!("cannot read {}: {e}", p.display()), e)),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| UsageError::caused_by(format!("cannot read stdin: {e}"), e))?;
            Ok(bytes)
        }
    }
}
