//! [`GroupOptions`]: how large a group may grow and how many submissions may wait.

/// Options of a [`crate::GroupCommitter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOptions {
    /// Whether creates submitted concurrently share one transaction (default `true`). With
    /// `false` every submission commits on its own: the "ungrouped" mode, for comparison.
    pub enabled: bool,
    /// The most creates one transaction holds (default 256). A single submission larger than
    /// this (a batch) still commits whole, in a transaction of its own.
    pub max_creates: usize,
    /// The most bytes of documents one transaction holds, estimated by
    /// [`crate::approx_plan_bytes`] (default 4 MiB).
    pub max_bytes: usize,
    /// How many submissions may wait for the writer (default 1024). A caller beyond it waits
    /// (asynchronously) for room: backpressure instead of unbounded memory.
    pub queue_capacity: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            enabled: true,
            max_creates: 256,
            max_bytes: 4 << 20,
            queue_capacity: 1024,
        }
    }
}

impl GroupOptions {
    /// The options with grouping turned off (every submission its own transaction).
    pub fn ungrouped() -> Self {
        GroupOptions {
            enabled: false,
            ..GroupOptions::default()
        }
    }
}
