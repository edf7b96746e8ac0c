//! The set model: attribute definitions, value validation and the built-in attributes.
//!
//! Modules and what each uses inside `model` (test modules included). Every module uses only
//! modules of an earlier layer, so there is no cycle:
//!
//! ```text
//! layer 0  kind       (nothing)
//!          reserved   (nothing)
//! layer 1  option     → kind
//! layer 2  value      → option            (its tests also → kind)
//! layer 3  attribute  → kind, option, value, reserved
//! layer 4  builtin    → attribute, reserved
//! ```
//!
//! - `kind`: [`AttributeType`], the 13 types, their names and per-type facts.
//! - `reserved`: the built-in attribute ids and the stored fields no custom attribute may take.
//! - `option`: checks a definition's `option` for its type and compiles it into a `Rule`.
//! - `value`: `Rule::check`, the per-type value rules.
//! - [`attribute`]: [`RawAttribute`] and [`AttributeDef`]: type by name, `null` and required,
//!   defaults and absent values, custom ids.
//! - [`builtin`]: the built-in attribute definitions and the keys the server owns or drops.
//!
//! Each module's tests sit beside it: value rules are tested in `value`, driving `Rule`
//! directly; option shapes in `option`; only what needs a definition in `attribute`.
//!
//! `kind`, `reserved`, `option` and `value` are private: their public items are re-exported
//! from [`attribute`] (`AttributeType`, the byte limits) and [`builtin`] (the reserved names).

pub mod attribute;
pub mod builtin;
mod kind;
pub(crate) mod option;
mod reserved;
pub(crate) mod value;

pub use attribute::{AttributeDef, AttributeType, RawAttribute};
