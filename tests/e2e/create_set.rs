//! create_set tests (being written).
