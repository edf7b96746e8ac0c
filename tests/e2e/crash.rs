//! crash tests (being written).
