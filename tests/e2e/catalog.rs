//! catalog tests (being written).
