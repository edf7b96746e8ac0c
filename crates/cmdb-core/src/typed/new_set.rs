//! [`NewSet`]: a create request built field by field instead of as a JSON map.

use serde_json::Value;

use super::fields::{ServiceStatus, SetEnv};
use crate::model::builtin::{DEFAULT, PARENT_ID, SET_NAME, SET_TEMPLATE_ID};
use crate::records::Document;

/// A set to create: the name and parent it needs, then any of the optional built-in fields and
/// custom attributes. It is checked by the same rules as a JSON request (the same codes, order
/// and messages) when it is created; [`NewSet::to_data`] is the request data it stands for.
///
/// ```
/// use cmdb_core::typed::{NewSet, SetEnv};
/// use serde_json::json;
///
/// let set = NewSet::new("web", 1).template(2).env(SetEnv::Test).capacity(500)
///     .attribute("owner", "ops");
/// assert_eq!(
///     serde_json::Value::Object(set.to_data()),
///     json!({"bk_set_name": "web", "bk_parent_id": 1, "set_template_id": 2,
///            "bk_set_env": "1", "bk_capacity": 500, "owner": "ops"})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewSet {
    name: String,
    parent: i64,
    template: Option<i64>,
    builtin: bool,
    env: Option<SetEnv>,
    service_status: Option<ServiceStatus>,
    capacity: Option<i64>,
    set_desc: Option<String>,
    description: Option<String>,
    custom: Document,
}

impl NewSet {
    /// A set named `name` (`bk_set_name`, trimmed when created) under `parent`
    /// (`bk_parent_id`: the biz id, or the mainline instance above sets).
    pub fn new(name: impl Into<String>, parent: i64) -> Self {
        NewSet {
            name: name.into(),
            parent,
            ..NewSet::default()
        }
    }

    /// Creates it from set template `id` (`set_template_id`): the template's attribute values
    /// win over the set's, and a module is created per service template.
    #[must_use]
    pub fn template(mut self, id: i64) -> Self {
        self.template = Some(id);
        self
    }

    /// Makes it the biz's built-in set (`default` 1), of which a biz has at most one.
    #[must_use]
    pub fn builtin(mut self, builtin: bool) -> Self {
        self.builtin = builtin;
        self
    }

    /// `bk_set_env` (the model's default: formal).
    #[must_use]
    pub fn env(mut self, env: SetEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// `bk_service_status` (the model's default: open).
    #[must_use]
    pub fn service_status(mut self, status: ServiceStatus) -> Self {
        self.service_status = Some(status);
        self
    }

    /// `bk_capacity` (1 to 999,999,999).
    #[must_use]
    pub fn capacity(mut self, capacity: i64) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// `bk_set_desc` (at most 256 characters).
    #[must_use]
    pub fn set_desc(mut self, desc: impl Into<String>) -> Self {
        self.set_desc = Some(desc.into());
        self
    }

    /// `description`.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The custom attribute `id`, checked against the model's definition when the set is
    /// created (an id the model does not define is refused as a JSON key would be). The
    /// built-in fields set by the other methods win over an attribute of the same id.
    #[must_use]
    pub fn attribute(mut self, id: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(id.into(), value.into());
        self
    }

    /// The name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The request data this set stands for: the `data` object of a JSON create.
    pub fn to_data(&self) -> Document {
        let mut data = self.custom.clone();
        data.insert(SET_NAME.into(), Value::from(self.name.as_str()));
        data.insert(PARENT_ID.into(), Value::from(self.parent));
        if let Some(id) = self.template {
            data.insert(SET_TEMPLATE_ID.into(), Value::from(id));
        }
        if self.builtin {
            data.insert(DEFAULT.into(), Value::from(1));
        }
        let optional = [
            ("bk_set_env", self.env.map(|e| Value::from(e.id()))),
            (
                "bk_service_status",
                self.service_status.map(|s| Value::from(s.id())),
            ),
            ("bk_capacity", self.capacity.map(Value::from)),
            ("bk_set_desc", self.set_desc.as_deref().map(Value::from)),
            ("description", self.description.as_deref().map(Value::from)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                data.insert(key.into(), value);
            }
        }
        data
    }
}
