//! The outcome of a permission check, with its reason, for the audit log.

use std::fmt;

use crate::Permission;

/// Whether a permission check passed, and why.
///
/// `Display` gives a one-line reason suitable for an audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// One of the roles grants the permission.
    Allowed {
        /// The role, among those checked, that grants the permission.
        role: String,
        /// The role that declares the matching grant: `role` itself or one it inherits from.
        granted_by: String,
        /// The grant that matched, e.g. `tools:read`, `tools:*` or `*`.
        grant: Permission,
    },
    /// No role grants the permission.
    Denied(DenyReason),
}

/// Why a permission was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// No roles were given.
    NoRoles,
    /// None of the roles grants the permission.
    NotGranted {
        /// The roles the policy knows, none of which grants it.
        roles: Vec<String>,
        /// Roles the policy does not define; they grant nothing.
        unknown_roles: Vec<String>,
    },
}

impl Decision {
    /// Whether the permission is granted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed {
                role,
                granted_by,
                grant,
            } => {
                write!(f, "allowed: role `{role}` grants `{grant}`")?;
                if granted_by != role {
                    write!(f, " (inherited from `{granted_by}`)")?;
                }
                Ok(())
            }
            Decision::Denied(reason) => write!(f, "denied: {reason}"),
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NoRoles => f.write_str("no roles"),
            DenyReason::NotGranted {
                roles,
                unknown_roles,
            } => {
                if roles.is_empty() {
                    f.write_str("no known role")?;
                } else {
                    write!(f, "not granted by roles [{}]", roles.join(", "))?;
                }
                if !unknown_roles.is_empty() {
                    write!(f, "; unknown roles ignored: [{}]", unknown_roles.join(", "))?;
                }
                Ok(())
            }
        }
    }
}
