//! batch tests (being written).
