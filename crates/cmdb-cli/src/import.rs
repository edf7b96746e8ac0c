//! `cmdb import` (spec `watch-and-import.md` I1–I2): a CSV or JSONL file (or stdin) into one
//! business, each refused row on stderr and in the rejects file, the summary on stdout,
//! SIGINT/SIGTERM finishing the group in flight, and a progress display.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use cmdb_app::Engine;
use cmdb_app::import::{Format, ImportOptions, RejectedInput, RowResult, Rows};
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;

use crate::cli::UsageError;

/// `cmdb import`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ImportArgs {
    /// The business the sets are created in.
    #[arg(long)]
    pub biz: i64,
    /// The file's format (default: from its extension, .csv or .jsonl/.json; needed for stdin).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// All rows or none, in one transaction (at most 50,000 rows and 32 MiB).
    #[arg(long)]
    pub atomic: bool,
    /// Write each refused row to this file, one JSON object a line.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Skip the rows starting on lines up to this one (the `skip` of an interrupted import's
    /// summary resumes it).
    #[arg(long, default_value_t = 0)]
    pub skip: u64,
    /// Off a terminal, print a progress line on stderr every few seconds and one at the end.
    #[arg(long)]
    pub progress: bool,
    /// The file, or - for stdin.
    pub file: PathBuf,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// CSV with a header of property ids.
    Csv,
    /// One create_set data object a line.
    Jsonl,
}

/// The input of an import, opened before the store is: its format, reader and size.
pub(crate) struct Input {
    format: Format,
    reader: Box<dyn BufRead + Send>,
    size: Option<u64>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("format", &self.format)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Opens the file (or stdin) and decides its format.
///
/// # Errors
/// An unreadable file, or no format known.
pub(crate) fn open_input(args: &ImportArgs) -> Result<Input, UsageError> {
    let stdin = args.file.as_os_str() == "-";
    let format = match (args.format, stdin) {
        (Some(FormatArg::Csv), _) => Format::Csv,
        (Some(FormatArg::Jsonl), _) => Format::Jsonl,
        (None, true) => {
            return Err(UsageError(
                "import from stdin needs --format csv or --format jsonl".into(),
            ));
        }
        (None, false) => Format::from_extension(&args.file).ok_or_else(|| {
            UsageError(
                format!(
                    "cannot tell the format of {} from its extension: give --format csv or --format jsonl",
                    args.file.display()
                )
                .into(),
            )
        })?,
    };
    if stdin {
        return Ok(Input {
            format,
            reader: Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
            size: None,
        });
    }
    let file = File::open(&args.file).map_err(|e| {
        UsageError::caused_by(format!("cannot read {}: {e}", args.file.display()), e)
    })?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok(Input {
        format,
        reader: Box::new(BufReader::with_capacity(1 << 16, file)),
        size,
    })
}

/// Runs the import; answers the exit status (0 every row created, 1 some row refused).
///
/// # Errors
/// A header error, an unwritable rejects file, an atomic import over the limit, or a read
/// error: exit 2.
pub(crate) async fn run(
    engine: &Engine,
    ctx: RequestContext,
    args: &ImportArgs,
    input: Input,
) -> Result<u8, UsageError> {
    let biz = BizId(args.biz);
    let model = engine
        .import_model(&ctx.supplier_account, biz)
        .await
        .map_err(|f| UsageError(format!("{}: {}", f.code().number(), f.message()).into()))?;
    let rows = Rows::new(input.reader, input.format, &model)
        .map_err(|e| UsageError::caused_by(e.to_string(), e))?
        .skip_through(args.skip);
    let mut rejects = match &args.rejects {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|e| {
            UsageError::caused_by(format!("cannot write {}: {e}", path.display()), e)
        })?)),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let signals = tokio::spawn(stop_on_signal(stop.clone()));
    let progress = Progress::new(args.progress, input.size, rows.bytes_read());
    let options = ImportOptions {
        atomic: args.atomic,
        group_rows: 0,
        stop: Some(stop),
    };
    let mut stderr = BufWriter::new(std::io::stderr());
    let mut write_failed = None;
    let mut rows = rows;
    let mut sink = |results: &[RowResult]| {
        let written = progress.suspended(|| write_group(results, &mut stderr, rejects.as_mut()));
        if let Err(e) = written {
            write_failed.get_or_insert(e);
        }
        progress.rows(results.len() as u64);
    };
    let summary = engine
        .import(&ctx, biz, rows.by_ref(), &options, &mut sink)
        .await;
    signals.abort();
    progress.finish();
    let summary = summary.map_err(|e| UsageError::caused_by(e.to_string(), e))?;
    if let Some(e) = rows.take_error() {
        println!("{}", summary.to_json());
        return Err(UsageError::caused_by(
            format!("reading {} failed: {e}", args.file.display()),
            e,
        ));
    }
    if let Some(e) = write_failed {
        println!("{}", summary.to_json());
        return Err(UsageError::caused_by(
            format!("writing the refusals failed: {e}"),
            e,
        ));
    }
    println!("{}", summary.to_json());
    Ok(if summary.refused > 0 { 1 } else { 0 })
}

/// Writes a committed group's refusals: `line N: CODE message` on stderr, and the rejects
/// line; both flushed before the next group commits.
fn write_group(
    results: &[RowResult],
    stderr: &mut impl Write,
    mut rejects: Option<&mut BufWriter<File>>,
) -> std::io::Result<()> {
    for result in results {
        let Err(rejected) = &result.outcome else {
            continue;
        };
        let code = rejected.failure.code().number();
        let message = rejected.failure.message();
        writeln!(stderr, "line {}: {code} {message}", result.line)?;
        if let Some(file) = rejects.as_deref_mut() {
            // Keys in the spec's order: line, code, message, then row or raw.
            let (key, input) = match &rejected.input {
                RejectedInput::Row(row) => ("row", serde_json::to_string(row)?),
                RejectedInput::Raw(raw) => ("raw", serde_json::to_string(raw)?),
            };
            let message = serde_json::to_string(message)?;
            writeln!(
                file,
                r#"{{"line":{},"code":{code},"message":{message},"{key}":{input}}}"#,
                result.line
            )?;
        }
    }
    stderr.flush()?;
    if let Some(file) = rejects {
        file.flush()?;
    }
    Ok(())
}

/// Sets `stop` on the first SIGINT or SIGTERM.
async fn stop_on_signal(stop: Arc<AtomicBool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    stop.store(true, Ordering::SeqCst);
}

/// The progress display: a bar on a terminal (rows/s, and the time left when the size is
/// known), a plain line every few seconds and one at the end with `--progress` off one, else
/// nothing.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    started: Instant,
    last: std::sync::Mutex<Instant>,
    done: AtomicU64,
    bytes: Arc<AtomicU64>,
    size: Option<u64>,
}

/// How often `--progress` prints a line off a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    fn new(asked: bool, size: Option<u64>, bytes: Arc<AtomicU64>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = match size {
                Some(size) => indicatif::ProgressBar::new(size),
                None => indicatif::ProgressBar::no_length(),
            };
            let template = if size.is_some() {
                "{bar:30} {percent:>3}% {msg}, ETA {eta}"
            } else {
                "{spinner} {msg}, {elapsed}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            plain: asked && !terminal,
            started: now,
            last: std::sync::Mutex::new(now),
            done: AtomicU64::new(0),
            bytes,
            size,
        }
    }

    /// `count` more rows answered.
    fn rows(&self, count: u64) {
        let done = self.done.fetch_add(count, Ordering::Relaxed) + count;
        let bytes = self.bytes.load(Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{done} rows, {rate:.0} rows/s"));
        } else if self.plain {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                self.plain_line(done, bytes, "");
            }
        }
    }

    /// One `--progress` line: rows so far, their rate, the share of the input read.
    fn plain_line(&self, done: u64, bytes: u64, end: &str) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let share = self
            .size
            .filter(|s| *s > 0)
            .map(|s| format!(", {:.0}%", bytes as f64 * 100.0 / s as f64))
            .unwrap_or_default();
        // A closed stderr is no reason to stop the import.
        let _ = writeln!(
            std::io::stderr(),
            "cmdb import: {done} rows, {:.0} rows/s{share}{end}",
            done as f64 / secs
        );
    }

    /// Runs `write` with the bar hidden, so lines on stderr do not tear it.
    fn suspended<T>(&self, write: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Clears the bar; with `--progress` off a terminal, a last line with the totals.
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        } else if self.plain {
            let done = self.done.load(Ordering::Relaxed);
            self.plain_line(done, self.bytes.load(Ordering::Relaxed), ", done");
        }
    }
}
