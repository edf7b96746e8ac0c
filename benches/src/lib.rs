//! Shared pieces of the `cmdb-benches` benchmarks: the stores under test, the seed fixture and
//! requests, pre-filled stores, and the raw storage floors the engine is compared with.
//!
//! The benchmarks themselves are the criterion targets beside this crate's `Cargo.toml`
//! (`create_set.rs`, `validation.rs`, `scaling.rs`, `batch.rs`); `benches/README.md` says how
//! to run them and what they measured.

pub mod floor;
pub mod pg_db;
pub mod pg_floor;
pub mod setup;

pub use setup::{Backend, Harness};
