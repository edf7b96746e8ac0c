//! The 13 attribute types of the set model ([`AttributeType`]): their bk-cmdb names and the
//! per-type facts that the option and definition rules ask about.

use serde::{Deserialize, Serialize};

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

impl AttributeType {
    /// Every type, in the spec's table order.
    pub const ALL: [AttributeType; 13] = [
        AttributeType::Singlechar,
        AttributeType::Longchar,
        AttributeType::Int,
        AttributeType::Float,
        AttributeType::Enum,
        AttributeType::Enummulti,
        AttributeType::Date,
        AttributeType::Time,
        AttributeType::Timezone,
        AttributeType::Bool,
        AttributeType::Objuser,
        AttributeType::List,
        AttributeType::Organization,
    ];

    /// The bk-cmdb type name, e.g. `singlechar`.
    pub fn name(self) -> &'static str {
        match self {
            AttributeType::Singlechar => "singlechar",
            AttributeType::Longchar => "longchar",
            AttributeType::Int => "int",
            AttributeType::Float => "float",
            AttributeType::Enum => "enum",
            AttributeType::Enummulti => "enummulti",
            AttributeType::Date => "date",
            AttributeType::Time => "time",
            AttributeType::Timezone => "timezone",
            AttributeType::Bool => "bool",
            AttributeType::Objuser => "objuser",
            AttributeType::List => "list",
            AttributeType::Organization => "organization",
        }
    }

    /// The type with this exact (lowercase) name.
    pub fn from_name(name: &str) -> Option<AttributeType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether `ismultiple: true` is allowed: enummulti, objuser and organization.
    pub fn allows_multiple(self) -> bool {
        matches!(
            self,
            AttributeType::Enummulti | AttributeType::Objuser | AttributeType::Organization
        )
    }

    /// Whether a non-required attribute of this type stores `""` as `""`: char, date, time
    /// and objuser.
    pub fn accepts_empty_string(self) -> bool {
        matches!(
            self,
            AttributeType::Singlechar
                | AttributeType::Longchar
                | AttributeType::Date
                | AttributeType::Time
                | AttributeType::Objuser
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        for t in AttributeType::ALL {
            assert_eq!(AttributeType::from_name(t.name()), Some(t));
            let via_serde: AttributeType = serde_json::from_value(json!(t.name())).unwrap();
            assert_eq!(via_serde, t);
        }
        for bad in ["Singlechar", "string", "", "int ", "enumquote"] {
            assert_eq!(AttributeType::from_name(bad), None);
        }
    }
}
