//! The `cmdb` binary on PostgreSQL (`CMDB_PG_URL`, see `scripts/with-postgres`): every command
//! with `--store postgres`, refusals at open, several `cmdb serve` on one database, faults,
//! and failovers to a standby (`scripts/pg-pair`).
//! Each test uses a database of its own; without `CMDB_PG_URL` each test prints why it skips
//! (and fails under `CI=true`).

mod load;
mod pair;
mod support;

mod catalog;
mod cli;
mod engines;
mod failover;
mod faults;
