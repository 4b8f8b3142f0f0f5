//! Custom roles loaded from configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Permission};

/// Custom roles, as serde data. The built-in `viewer`, `developer` and `admin` roles always
/// exist and cannot be redefined here; new roles can inherit from them.
///
/// ```toml
/// [roles.auditor]
/// description = "Reads everything, plus the audit log"
/// inherits = ["viewer"]
/// permissions = ["audit:read"]
///
/// [roles.graph-curator]
/// inherits = ["developer"]
/// permissions = ["graph:*"]
/// ```
///
/// Unknown fields are rejected, so a typo fails at startup. [`crate::Policy::from_config`]
/// validates role names, parents and cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RolesConfig {
    /// Custom roles by name.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleConfig>,
}

/// One custom role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RoleConfig {
    /// What the role is for; informational only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Roles whose permissions this role also has.
    #[serde(default)]
    pub inherits: Vec<String>,
    /// Permissions granted by this role itself.
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

impl RolesConfig {
    /// Parses a TOML document with a top-level `[roles.NAME]` table per role.
    /// Only the syntax and permission strings are checked here; see [`crate::Policy::from_config`].
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(Error::Config)
    }

    /// Adds (or replaces) a custom role.
    pub fn with_role(mut self, name: impl Into<String>, role: RoleConfig) -> Self {
        self.roles.insert(name.into(), role);
        self
    }
}

impl RoleConfig {
    /// A role with no parents and no permissions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parent role.
    pub fn inherits(mut self, parent: impl Into<String>) -> Self {
        self.inherits.push(parent.into());
        self
    }

    /// Adds a permission.
    pub fn permission(mut self, permission: Permission) -> Self {
        self.permissions.push(permission);
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_roles_parse_into_config() {
        let config = RolesConfig::from_toml(
            r#"
            [roles.auditor]
            description = "reads audit"
            inherits = ["viewer"]
            permissions = ["audit:read", "tools:*"]
            "#,
        )
        .unwrap();
        let expected = RolesConfig::default().with_role(
            "auditor",
            RoleConfig::new()
                .description("reads audit")
                .inherits("viewer")
                .permission("audit:read".parse().unwrap())
                .permission("tools:*".parse().unwrap()),
        );
        assert_eq!(config, expected);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = RolesConfig::from_toml("[roles.auditor]\ninherit = [\"viewer\"]\n").unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(err.to_string().contains("unknown field `inherit`"), "{err}");
        assert!(RolesConfig::from_toml("[rolez.x]\n").is_err());
    }

    #[test]
    fn bad_permission_in_toml_names_the_permission() {
        let err =
            RolesConfig::from_toml("[roles.x]\npermissions = [\"tools:read:all\"]\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("invalid permission `tools:read:all`: it has more than one `:`"),
            "{msg}"
        );
    }

    #[test]
    fn empty_document_has_no_custom_roles() {
        assert_eq!(RolesConfig::from_toml("").unwrap(), RolesConfig::default());
    }
}
