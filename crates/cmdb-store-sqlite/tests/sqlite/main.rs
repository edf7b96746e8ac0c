//! SQLite-specific tests of `SqliteStore`: writes and reads, reopen, damaged files, and two
//! connections racing on one file. The shared suite runs in `tests/conformance.rs`.

mod concurrent;
mod damaged;
mod group;
mod migration;
mod reopen;
mod support;
mod writes;
