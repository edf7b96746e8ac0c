//! Reading typed fields out of a stored document, the two built-in enumerations of the set
//! model, and [`InvalidDocument`], the refusal of a document that lacks a built-in field.

use serde_json::Value;

use crate::records::Document;

/// A stored document lacks a built-in field, or holds it with another type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored {kind} document's `{field}` is missing or not {expected}")]
pub struct InvalidDocument {
    /// `set` or `module`.
    pub kind: &'static str,
    /// The field.
    pub field: &'static str,
    /// What the field must hold (`an integer`, `a string`, …).
    pub expected: &'static str,
}

/// `bk_set_env`: the set's environment (option ids `"1"`, `"2"`, `"3"` of the set model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetEnv {
    /// `"1"`: test.
    Test,
    /// `"2"`: experience.
    Experience,
    /// `"3"`: formal (the model's default).
    Formal,
}

impl SetEnv {
    /// The option id stored in `bk_set_env`.
    pub fn id(self) -> &'static str {
        match self {
            SetEnv::Test => "1",
            SetEnv::Experience => "2",
            SetEnv::Formal => "3",
        }
    }

    /// The environment whose option id is `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        [SetEnv::Test, SetEnv::Experience, SetEnv::Formal]
            .into_iter()
            .find(|e| e.id() == id)
    }
}

/// `bk_service_status`: whether the set is in service (option ids `"1"`, `"2"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceStatus {
    /// `"1"`: open (the model's default).
    Open,
    /// `"2"`: closed.
    Closed,
}

impl ServiceStatus {
    /// The option id stored in `bk_service_status`.
    pub fn id(self) -> &'static str {
        match self {
            ServiceStatus::Open => "1",
            ServiceStatus::Closed => "2",
        }
    }

    /// The status whose option id is `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        [ServiceStatus::Open, ServiceStatus::Closed]
            .into_iter()
            .find(|s| s.id() == id)
    }
}

/// Checks a document's built-in fields for one kind of document (`set`, `module`); its
/// readers assume what it checked.
pub(super) struct Checker<'a> {
    pub(super) kind: &'static str,
    pub(super) doc: &'a Document,
}

impl Checker<'_> {
    fn refuse(&self, field: &'static str, expected: &'static str) -> InvalidDocument {
        InvalidDocument {
            kind: self.kind,
            field,
            expected,
        }
    }

    /// `field` holds an integer.
    pub(super) fn int(&self, field: &'static str) -> Result<(), InvalidDocument> {
        match self.doc.get(field) {
            Some(v) if v.is_i64() => Ok(()),
            _ => Err(self.refuse(field, "an integer")),
        }
    }

    /// `field` holds an integer or null.
    pub(super) fn int_or_null(&self, field: &'static str) -> Result<(), InvalidDocument> {
        match self.doc.get(field) {
            Some(v) if v.is_i64() || v.is_null() => Ok(()),
            _ => Err(self.refuse(field, "an integer or null")),
        }
    }

    /// `field` holds a string.
    pub(super) fn string(&self, field: &'static str) -> Result<(), InvalidDocument> {
        match self.doc.get(field) {
            Some(Value::String(_)) => Ok(()),
            _ => Err(self.refuse(field, "a string")),
        }
    }

    /// `field` holds a string accepted by `ok`, or null.
    pub(super) fn string_or_null(
        &self,
        field: &'static str,
        ok: impl Fn(&str) -> bool,
        expected: &'static str,
    ) -> Result<(), InvalidDocument> {
        match self.doc.get(field) {
            Some(Value::Null) => Ok(()),
            Some(Value::String(s)) if ok(s) => Ok(()),
            _ => Err(self.refuse(field, expected)),
        }
    }

    /// `field` holds a boolean.
    pub(super) fn boolean(&self, field: &'static str) -> Result<(), InvalidDocument> {
        match self.doc.get(field) {
            Some(Value::Bool(_)) => Ok(()),
            _ => Err(self.refuse(field, "a boolean")),
        }
    }
}

/// The integer a checked field holds (0 when unchecked: never, for a checked document).
pub(super) fn int(doc: &Document, field: &str) -> i64 {
    doc.get(field).and_then(Value::as_i64).unwrap_or_default()
}

/// The integer a checked field holds, `None` for null.
pub(super) fn int_or_null(doc: &Document, field: &str) -> Option<i64> {
    doc.get(field).and_then(Value::as_i64)
}

/// The string a checked field holds (`""` when unchecked: never, for a checked document).
pub(super) fn string<'d>(doc: &'d Document, field: &str) -> &'d str {
    string_or_null(doc, field).unwrap_or_default()
}

/// The string a checked field holds, `None` for null.
pub(super) fn string_or_null<'d>(doc: &'d Document, field: &str) -> Option<&'d str> {
    doc.get(field).and_then(Value::as_str)
}
