//! The end-to-end test binary: every use case over every store, the CLI, and reliability.

mod support;

mod batch;
mod catalog;
mod cli;
mod create_set;

mod concurrency;
mod crash;
mod damaged;
mod hostile;
mod import_crash;
