//! What the engine tells the outside about its work: `tracing` spans for each create and
//! batch, events for opens, closes and refusals, and counters and histograms through the
//! `metrics` facade. The program linking the engine picks the subscriber and the recorder
//! (`cmdb serve` installs a Prometheus one and answers `GET /metrics`); without them both cost
//! next to nothing.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | [`CREATES`] | counter | `store`, `code` (0 for a created set) |
//! | [`CREATE_SECONDS`] | histogram | `store` |
//! | [`BATCHES`] | counter | `store`, `atomic`, `code` (the batch's own code) |
//! | [`BATCH_SIZE`] | histogram | `store` |
//! | `cmdb_group_commit_size`, `cmdb_writer_queue_depth` | histogram, gauge | (the store's writer) |
//! | `cmdb_pg_facts_cache_total` | counter | `result` (`hit`, `miss`) |
//! | [`WATCHERS`] | gauge | (none): watches waiting for an event now |
//! | [`IMPORT_ROWS`] | counter | `store`, `code` (0 for a created set) |

use std::time::Instant;

use cmdb_core::Code;

/// Creates answered, by store and code.
pub const CREATES: &str = "cmdb_creates_total";
/// How long a create took, in seconds, by store.
pub const CREATE_SECONDS: &str = "cmdb_create_duration_seconds";
/// Batches answered, by store, atomicity and the batch's code.
pub const BATCHES: &str = "cmdb_batches_total";
/// How many elements a batch held, by store.
pub const BATCH_SIZE: &str = "cmdb_batch_size";
/// How many watches wait for an event now.
pub const WATCHERS: &str = "cmdb_watchers_waiting";
/// Imported rows answered, by store and code.
pub const IMPORT_ROWS: &str = "cmdb_import_rows_total";

/// Describes the engine's metrics to the installed recorder (units and help texts). Call it
/// once after installing a recorder.
pub fn describe() {
    metrics::describe_counter!(CREATES, "create_set calls answered, by store and code");
    metrics::describe_histogram!(
        CREATE_SECONDS,
        metrics::Unit::Seconds,
        "how long a create_set took"
    );
    metrics::describe_counter!(BATCHES, "batch create calls answered");
    metrics::describe_histogram!(BATCH_SIZE, "elements per batch create");
    metrics::describe_gauge!(WATCHERS, "watches waiting for an event");
    metrics::describe_counter!(IMPORT_ROWS, "imported rows answered, by store and code");
}

/// Records one answered import row.
pub(crate) fn import_row_answered(store: &'static str, code: Option<Code>) {
    metrics::counter!(IMPORT_ROWS, "store" => store, "code" => code_label(code)).increment(1);
}

/// One more (`+1.0`) or one fewer (`-1.0`) watch waits.
pub(crate) fn watchers_waiting(change: f64) {
    metrics::gauge!(WATCHERS).increment(change);
}

/// The label value of a code.
fn code_label(code: Option<Code>) -> String {
    code.map_or(0, Code::number).to_string()
}

/// Records one answered create.
pub(crate) fn create_answered(store: &'static str, started: Instant, code: Option<Code>) {
    metrics::counter!(CREATES, "store" => store, "code" => code_label(code)).increment(1);
    metrics::histogram!(CREATE_SECONDS, "store" => store).record(started.elapsed().as_secs_f64());
}

/// Records one answered batch.
pub(crate) fn batch_answered(store: &'static str, atomic: bool, size: usize, code: Option<Code>) {
    let atomic = if atomic { "true" } else { "false" };
    metrics::counter!(BATCHES, "store" => store, "atomic" => atomic, "code" => code_label(code))
        .increment(1);
    metrics::histogram!(BATCH_SIZE, "store" => store).record(size as f64);
}
