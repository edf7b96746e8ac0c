//! hostile tests (being written).
