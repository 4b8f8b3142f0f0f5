//! The [`RoleStore`] trait: which roles each user holds.
//!
//! Backends: [`memory::MemoryRoleStore`] (always built) and, with the `sqlite` feature,
//! `sqlite::SqliteRoleStore`. Every backend passes the same conformance suite
//! (`role_store_conformance!`, feature `testing`). [`CachedRoleStore`] wraps any of them with a
//! short-lived cache of `roles_of`.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_core::StoreError;

use crate::role;

pub mod cached;
pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use cached::CachedRoleStore;

/// Longest accepted user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;

/// Persistent assignments of roles to users.
///
/// Contract, checked by the conformance suite for every backend:
/// - User ids are opaque, case-sensitive strings (any Unicode); they must be non-empty, at most
///   [`MAX_USER_ID_LEN`] bytes and free of control characters. Role names follow
///   [`role::validate_name`]. Anything else is refused with [`StoreError::Invalid`] before any
///   write ([`validate_user_id`] and [`validate_role`] do both checks).
/// - Writes are visible to the next read: a revoked role is gone from the next `roles_of`.
/// - [`RoleStore::roles_of`] returns the user's roles sorted and without duplicates; a user with
///   no assigned role gets `["viewer"]` ([`with_default_role`]).
/// - The store does not know the policy: it stores any syntactically valid role name.
///   [`crate::Authorizer::assign_role`] refuses roles the policy does not define.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Gives `role` to `user`. Returns `true` if the user did not have it yet; assigning a role
    /// twice is not an error.
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError>;

    /// Takes `role` from `user`. Returns `true` if the user had it; revoking a role the user does
    /// not have is not an error.
    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError>;

    /// The user's roles, sorted; `["viewer"]` when none is assigned.
    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError>;

    /// The users explicitly assigned `role`, sorted. Users who only have the implicit `viewer`
    /// role are not listed.
    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError>;
}

#[async_trait]
impl<T: RoleStore + ?Sized> RoleStore for Arc<T> {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        (**self).assign_role(user, role).await
    }

    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        (**self).revoke_role(user, role).await
    }

    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        (**self).roles_of(user).await
    }

    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        (**self).users_with(role).await
    }
}

/// Refuses an empty, overlong or control-character user id with [`StoreError::Invalid`].
pub fn validate_user_id(user: &str) -> Result<(), StoreError> {
    if user.is_empty() {
        return Err(StoreError::Invalid("user id is empty".into()));
    }
    if user.len() > MAX_USER_ID_LEN {
        return Err(StoreError::Invalid(format!(
            "user id is longer than {MAX_USER_ID_LEN} bytes"
        )));
    }
    if user.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "user id contains a control character".into(),
        ));
    }
    Ok(())
}

/// Refuses an invalid role name (see [`role::validate_name`]) with [`StoreError::Invalid`].
pub fn validate_role(role: &str) -> Result<(), StoreError> {
    role::validate_name(role).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Sorts and deduplicates `roles`, and gives `["viewer"]` when there are none.
pub fn with_default_role(mut roles: Vec<String>) -> Vec<String> {
    if roles.is_empty() {
        roles.push(role::VIEWER.to_owned());
    }
    roles.sort_unstable();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_must_be_non_empty_short_and_printable() {
        assert!(validate_user_id("alice@example.com").is_ok());
        assert!(validate_user_id("用户-🔑").is_ok());
        for bad in ["", "a\u{0}b", "tab\there", &"u".repeat(MAX_USER_ID_LEN + 1)] {
            assert!(
                matches!(validate_user_id(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invalid_role_is_reported_as_invalid_store_input() {
        let err = validate_role("Bad Role").unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("invalid role name `Bad Role`")),
            "{err}"
        );
    }

    #[test]
    fn no_roles_means_viewer_and_lists_are_sorted_and_unique() {
        assert_eq!(with_default_role(vec![]), ["viewer"]);
        let roles = vec![
            "developer".to_owned(),
            "admin".to_owned(),
            "developer".to_owned(),
        ];
        assert_eq!(with_default_role(roles), ["admin", "developer"]);
    }
}
