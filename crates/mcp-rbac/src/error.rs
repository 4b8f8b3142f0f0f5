//! The crate's error type.

use mcp_core::StoreError;

/// Everything that can go wrong in this crate: bad permissions or role names, an invalid roles
/// configuration, and role store failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A permission string is not `resource:action`, `resource:*` or `*`.
    #[error("invalid permission `{input}`: {reason}")]
    InvalidPermission {
        /// The text that was refused.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A role name is empty, too long or uses characters outside `a-z`, `0-9`, `_` and `-`.
    #[error("invalid role name `{name}`: {reason}")]
    InvalidRoleName {
        /// The name that was refused.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A custom role inherits from a role that is neither built in nor defined.
    #[error("role `{role}` inherits from unknown role `{parent}`")]
    UnknownParent {
        /// The role that declares the parent.
        role: String,
        /// The missing parent.
        parent: String,
    },
    /// Custom roles inherit from each other in a loop.
    #[error("role inheritance cycle: {}", cycle.join(" -> "))]
    InheritanceCycle {
        /// The roles on the loop, with the first repeated at the end (`a -> b -> a`).
        cycle: Vec<String>,
    },
    /// The configuration tries to redefine `viewer`, `developer` or `admin`.
    #[error(
        "role `{role}` is built in and cannot be redefined; define a new role that inherits from it"
    )]
    BuiltinRoleRedefined {
        /// The built-in role's name.
        role: String,
    },
    /// A role was assigned that the policy does not define.
    #[error("unknown role `{role}`")]
    UnknownRole {
        /// The role that was asked for.
        role: String,
    },
    /// The roles configuration is not valid TOML or does not match [`crate::RolesConfig`].
    #[error("invalid roles configuration: {0}")]
    Config(#[source] toml::de::Error),
    /// The role store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
