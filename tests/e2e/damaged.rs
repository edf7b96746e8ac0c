//! damaged tests (being written).
