//! support tests (being written).
