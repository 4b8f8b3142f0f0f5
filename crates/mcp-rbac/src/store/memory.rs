//! An in-memory [`RoleStore`] for tests and embedding.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use mcp_core::StoreError;

use super::{RoleStore, validate_role, validate_user_id, with_default_role};

/// Role assignments kept in process memory; lost when dropped.
///
/// ```
/// use mcp_rbac::store::{RoleStore, memory::MemoryRoleStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_core::StoreError> {
/// let store = MemoryRoleStore::new();
/// store.assign_role("alice", "developer").await?;
/// assert_eq!(store.roles_of("alice").await?, ["developer"]);
/// assert_eq!(store.roles_of("bob").await?, ["viewer"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryRoleStore {
    /// user -> roles
    assignments: RwLock<BTreeMap<String, BTreeSet<String>>>,
}

impl MemoryRoleStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the maps half-updated (each write is one
    // insert or remove), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, BTreeSet<String>>> {
        self.assignments.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, BTreeSet<String>>> {
        self.assignments.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RoleStore for MemoryRoleStore {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        Ok(self
            .write()
            .entry(user.to_owned())
            .or_default()
            .insert(role.to_owned()))
    }

    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        let mut map = self.write();
        let Some(roles) = map.get_mut(user) else {
            return Ok(false);
        };
        let removed = roles.remove(role);
        if roles.is_empty() {
            map.remove(user);
        }
        Ok(removed)
    }

    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        validate_user_id(user)?;
        let roles = self
            .read()
            .get(user)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        Ok(with_default_role(roles))
    }

    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        validate_role(role)?;
        Ok(self
            .read()
            .iter()
            .filter(|(_, roles)| roles.contains(role))
            .map(|(u, _)| u.clone())
            .collect())
    }
}
