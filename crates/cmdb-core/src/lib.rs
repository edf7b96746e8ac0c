//! `cmdb-core`: the pure domain of the CMDB `create_set` engine.
//!
//! It holds every rule of the create-set contract and nothing else: the set model and the
//! validation of its 13 attribute types ([`model`]), the name, parent, template, key and
//! built-in-set rules ([`rules`]), the create plan and its commit ([`plan`]), fixtures
//! ([`fixture`]), ids and sequences ([`ids`]), error codes ([`error`]) and the ports through
//! which time, permission and storage come in ([`ports`]). It does no I/O.

pub mod catalog;
pub mod error;
pub mod fixture;
pub mod ids;
pub mod model;
pub mod plan;
pub mod ports;
pub mod records;
pub mod rules;
pub mod time;

pub use error::{Code, Error, Result, StoreError};
pub use ids::{AuditId, BizId, ModuleId, SequenceKind, SetId};
