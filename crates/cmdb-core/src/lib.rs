//! `cmdb-core`: the pure domain of the CMDB `create_set` engine.
//!
//! It holds every rule of the create-set contract and nothing else: the set model and the
//! validation of its 13 attribute types ([`model`]), the name, parent, template, key and
//! built-in-set rules ([`rules`]), the create plan and its commit ([`plan`]), fixtures
//! ([`fixture`]), ids and sequences ([`ids`]), error codes ([`error`]) and the ports through
//! which time, permission and storage come in ([`ports`]). It does no I/O.
//!
//! Planning a create is a pure function of the request and the stored facts; a store then
//! commits the plan in one transaction (`cmdb-app`'s `Engine` wires the two together):
//!
//! ```
//! use cmdb_core::catalog::Business;
//! use cmdb_core::facts::CreateFacts;
//! use cmdb_core::plan::{PlanOptions, RequestContext, plan_create};
//! use cmdb_core::{BizId, Code};
//! use serde_json::json;
//!
//! let facts = CreateFacts {
//!     business: Some(Business {
//!         bk_biz_id: BizId(1),
//!         bk_biz_name: "demo".into(),
//!         archived: false,
//!         bk_supplier_account: "0".into(),
//!     }),
//!     ..CreateFacts::default()
//! };
//! let ctx = RequestContext {
//!     user: "alice".into(),
//!     supplier_account: "0".into(),
//!     app_code: "".into(),
//!     request_id: "0123456789abcdef0123456789abcdef".into(),
//! };
//! let time = "2026-11-27T20:34:01.386+08:00";
//! let data = json!({"bk_parent_id": 1, "bk_set_name": " web ", "bk_capacity": 10});
//! let plan = plan_create(&ctx, BizId(1), data.as_object().unwrap(), &facts,
//!                        PlanOptions::default(), time).unwrap();
//! assert_eq!(plan.set_doc["bk_set_name"], json!("web"));
//! assert_eq!(plan.set_doc["bk_set_env"], json!("3"));
//! assert_eq!(plan.set_doc["create_time"], json!(time));
//!
//! let bad = json!({"bk_parent_id": 1, "bk_set_name": "a/b"});
//! let err = plan_create(&ctx, BizId(1), bad.as_object().unwrap(), &facts,
//!                       PlanOptions::default(), time).unwrap_err();
//! assert_eq!(err.code(), Code::ParamInvalid);
//! assert_eq!(err.to_string(), "'bk_set_name' the parameter is invalid");
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod catalog;
pub mod catalog_key;
pub mod counter;
pub mod error;
pub mod facts;
pub mod fixture;
pub mod gather;
pub mod ids;
pub mod language;
pub mod listing;
pub mod model;
pub mod plan;
pub mod ports;
pub mod records;
pub mod rules;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod time;
pub mod tx;
pub mod typed;

pub use error::{BodyProblem, Code, Error, Result, StoreError};
pub use ids::{AuditId, BizId, ModuleId, SequenceKind, SetId};
pub use language::Language;
