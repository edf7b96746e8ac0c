//! `cmdb-app`: the create-set engine as a library (the `cmdb` command line is `cmdb-cli`).
//!
//! It wires the pure rules of [`cmdb_core`] to a store, a clock, an authorizer and a
//! request-id source, and speaks bk-cmdb's ESB request and response envelope. Stores are cargo
//! features: `sqlite` (default), `sled`, `redb`, `postgres`; memory is always there. With
//! `default-features = false, features = ["sqlite"]` a program links SQLite and nothing of
//! sled, redb, tokio-postgres or clap.
//!
//! ```
//! use std::sync::Arc;
//! use cmdb_app::Engine;
//! use cmdb_core::plan::RequestContext;
//! use cmdb_core::BizId;
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let engine = Engine::builder(Arc::new(cmdb_store_memory::MemoryStore::new())).build();
//! engine
//!     .load_fixture(json!({"businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}]}), "admin")
//!     .await
//!     .unwrap();
//! let ctx = RequestContext {
//!     user: "alice".into(),
//!     supplier_account: "0".into(),
//!     app_code: "my_app".into(),
//!     request_id: "0123456789abcdef0123456789abcdef".into(),
//! };
//! let data = json!({"bk_parent_id": 1, "bk_set_name": "web"});
//! let set = engine.create_set(&ctx, BizId(1), data.as_object().unwrap()).await.unwrap();
//! assert_eq!(set["bk_set_id"], json!(2)); // set 1 is the business's idle pool
//! assert_eq!(set["bk_set_env"], json!("3"));
//! # });
//! ```
#![deny(missing_docs)]

pub mod apps;
pub mod auth;
pub mod blocking;
pub mod engine;
pub mod envelope;
pub mod import;
pub mod observe;
pub mod open;
pub mod paging;
pub mod request;
mod strict_json;
pub mod system;
pub mod watch;

pub use cmdb_core::Language;
pub use engine::{Engine, EngineBuilder, EngineOptions, RequestMeta};
pub use envelope::{Envelope, Failure};
