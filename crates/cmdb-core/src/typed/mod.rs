//! Typed values for a Rust caller: [`NewSet`] (a create request, built field by field) and
//! [`Set`] / [`Module`] (stored documents with an accessor per built-in field).
//!
//! A [`Set`] is checked once, when it is made from a stored document, so its accessors cannot
//! fail; it serialises to exactly that document (same keys, same order, same values). A
//! [`NewSet`] becomes the same request data a JSON caller sends, so it meets the same rules in
//! the same order, with the same codes and messages.

mod fields;
mod module;
mod new_set;
mod set;

pub use fields::{InvalidDocument, ServiceStatus, SetEnv};
pub use module::Module;
pub use new_set::NewSet;
pub use set::Set;
