//! The create rules of the spec, one module per rule, each a pure function of its inputs.

pub mod builtin_set;
pub mod keys;
pub mod name;
pub mod parent;
pub mod template;
pub mod unique;
