//! The set model: attribute definitions, value validation and the built-in attributes.

pub mod attribute;
pub mod builtin;
mod option;
mod value;

pub use attribute::{AttributeDef, AttributeType, RawAttribute};
