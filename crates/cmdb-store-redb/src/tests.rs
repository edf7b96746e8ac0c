//! Unit tests of the redb backend: key order, savepoints, the dry run.
