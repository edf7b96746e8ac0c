//! concurrency tests (being written).
