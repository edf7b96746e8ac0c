//! `cmdb watch` (spec W4): the events of a resource, one JSON object a line, following new
//! ones until interrupted, or until caught up with `--once`.

use std::io::Write;

use cmdb_app::engine::Engine;
use cmdb_app::envelope::Failure;
use cmdb_app::watch::{WatchRequest, WatchStart};
use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;
use serde_json::{Value, json};

use crate::cli::ResourceTypeArg;

/// `cmdb watch`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WatchArgs {
    /// The resource watched.
    #[arg(long, value_enum)]
    pub resource: ResourceTypeArg,
    /// Continue after the event this cursor was handed out with.
    #[arg(long, conflicts_with = "from")]
    pub cursor: Option<String>,
    /// Start with what was created at or after these unix seconds.
    #[arg(long)]
    pub from: Option<i64>,
    /// Only these keys of each document (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Only these event types (comma-separated: create, update, delete).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Stop when caught up instead of following; without --cursor or --from it starts with
    /// the first event (without --once: with what commits from now on).
    #[arg(long)]
    pub once: bool,
}

impl WatchArgs {
    /// The request the flags ask for, read by the HTTP route's rules (1199006 naming a field).
    fn request(&self) -> Result<WatchRequest, Failure> {
        let mut fields = Document::new();
        if let Some(cursor) = &self.cursor {
            fields.insert("bk_cursor".into(), json!(cursor));
        }
        if let Some(from) = self.from {
            fields.insert("bk_start_from".into(), json!(from));
        }
        if !self.fields.is_empty() {
            fields.insert("bk_fields".into(), json!(self.fields));
        }
        if !self.types.is_empty() {
            fields.insert("bk_event_types".into(), json!(self.types));
        }
        let resource = match self.resource {
            ResourceTypeArg::Set => "set",
            ResourceTypeArg::Module => "module",
        };
        let mut request = WatchRequest::from_fields(Some(resource), &fields)?;
        if self.once && request.start == WatchStart::Now {
            request.start = WatchStart::Beginning;
        }
        Ok(request)
    }
}

/// Prints the events `args` ask for as `ctx` may read them, until caught up (`--once`) or
/// until SIGINT / SIGTERM.
///
/// # Errors
/// The refusal of the watch (1199006, 1199027, 1103007, a store failure).
pub(crate) async fn watch(
    engine: &Engine,
    ctx: &RequestContext,
    args: &WatchArgs,
) -> Result<(), Failure> {
    let mut stream = engine.watch_stream(ctx, args.request()?).await?;
    if args.once {
        stream = stream.until_caught_up();
    }
    let interrupted = cmdb_http::shutdown_signal();
    tokio::pin!(interrupted);
    let mut out = std::io::stdout().lock();
    loop {
        let event = tokio::select! {
            event = stream.next() => event,
            () = &mut interrupted => return Ok(()),
        };
        match event {
            None => return Ok(()),
            Some(Err(refused)) => return Err(refused),
            Some(Ok(event)) => {
                let line = Value::to_string(&event.to_json());
                // A closed stdout (a pipe to `head`) ends the watch.
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return Ok(());
                }
            }
        }
    }
}
