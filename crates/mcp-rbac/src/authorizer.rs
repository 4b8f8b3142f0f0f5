//! [`Authorizer`]: a user's stored roles checked against the policy.

use std::sync::Arc;

use crate::store::RoleStore;
use crate::{Decision, Error, Permission, Policy};

/// Looks up a user's roles in a [`RoleStore`] and checks them against a [`Policy`].
///
/// Cheap to clone; share one per server.
#[derive(Clone)]
pub struct Authorizer {
    store: Arc<dyn RoleStore>,
    policy: Arc<Policy>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Combines a role store and a policy.
    pub fn new(store: Arc<dyn RoleStore>, policy: Policy) -> Self {
        Self {
            store,
            policy: Arc::new(policy),
        }
    }

    /// The policy decisions are made with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The role store.
    pub fn store(&self) -> &Arc<dyn RoleStore> {
        &self.store
    }

    /// Whether `user` holds `permission`, with the reason. A store failure is an error, never a
    /// silent allow or deny.
    pub async fn authorize(&self, user: &str, permission: &Permission) -> Result<Decision, Error> {
        let roles = self.store.roles_of(user).await?;
        let decision = self.policy.check(&roles, permission);
        if decision.is_allowed() {
            tracing::debug!(user, %permission, %decision, "permission check");
        } else {
            tracing::info!(user, %permission, %decision, "permission denied");
        }
        Ok(decision)
    }

    /// The user's roles as stored (`["viewer"]` when none is assigned).
    pub async fn roles_of(&self, user: &str) -> Result<Vec<String>, Error> {
        Ok(self.store.roles_of(user).await?)
    }

    /// Every permission the user's roles grant, sorted (for a `/me` endpoint).
    pub async fn permissions_of(&self, user: &str) -> Result<Vec<Permission>, Error> {
        let roles = self.store.roles_of(user).await?;
        Ok(self.policy.permissions_of(&roles))
    }

    /// Gives `role` to `user` after checking that the policy defines it
    /// ([`Error::UnknownRole`] otherwise). Returns `true` if the user did not have it yet.
    pub async fn assign_role(&self, user: &str, role: &str) -> Result<bool, Error> {
        if !self.policy.has_role(role) {
            return Err(Error::UnknownRole {
                role: role.to_owned(),
            });
        }
        let added = self.store.assign_role(user, role).await?;
        tracing::info!(user, role, added, "role assigned");
        Ok(added)
    }

    /// Takes `role` from `user`. Returns `true` if the user had it. Works for roles the policy
    /// no longer defines, so stale assignments can be cleaned up.
    pub async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, Error> {
        let removed = self.store.revoke_role(user, role).await?;
        tracing::info!(user, role, removed, "role revoked");
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use mcp_core::StoreError;
    use mockall::predicate::eq;

    use super::*;
    use crate::DenyReason;
    use crate::store::MockRoleStore;

    fn authorizer(store: MockRoleStore) -> Authorizer {
        Authorizer::new(Arc::new(store), Policy::builtin())
    }

    fn roles(list: &'static [&'static str]) -> Result<Vec<String>, StoreError> {
        Ok(list.iter().map(|r| (*r).to_owned()).collect())
    }

    #[tokio::test]
    async fn allowed_decision_names_the_granting_role_and_its_source() {
        let mut store = MockRoleStore::new();
        store
            .expect_roles_of()
            .with(eq("alice"))
            .times(1)
            .returning(|_| roles(&["developer"]));
        let decision = authorizer(store)
            .authorize("alice", &Permission::TOOLS_READ)
            .await
            .unwrap();
        assert_eq!(
            decision,
            Decision::Allowed {
                role: "developer".into(),
                granted_by: "viewer".into(),
                grant: Permission::TOOLS_READ
            }
        );
        assert_eq!(
            decision.to_string(),
            "allowed: role `developer` grants `tools:read` (inherited from `viewer`)"
        );
    }

    #[tokio::test]
    async fn denied_decision_lists_the_roles_that_did_not_grant() {
        let mut store = MockRoleStore::new();
        store
            .expect_roles_of()
            .returning(|_| roles(&["viewer", "ghost"]));
        let decision = authorizer(store)
            .authorize("bob", &Permission::GRAPH_DELETE)
            .await
            .unwrap();
        assert_eq!(
            decision,
            Decision::Denied(DenyReason::NotGranted {
                roles: vec!["viewer".into()],
                unknown_roles: vec!["ghost".into()]
            })
        );
        assert_eq!(
            decision.to_string(),
            "denied: not granted by roles [viewer]; unknown roles ignored: [ghost]"
        );
    }

    #[tokio::test]
    async fn store_error_propagates_instead_of_deciding() {
        let mut store = MockRoleStore::new();
        store
            .expect_roles_of()
            .returning(|_| Err(StoreError::unavailable("database is locked")));
        let err = authorizer(store)
            .authorize("alice", &Permission::TOOLS_READ)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Store(e) if e.is_transient()),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "store unavailable: database is locked");
    }

    #[tokio::test]
    async fn permissions_of_a_user_come_from_their_stored_roles() {
        let mut store = MockRoleStore::new();
        store
            .expect_roles_of()
            .with(eq("carol"))
            .returning(|_| roles(&["viewer"]));
        let perms = authorizer(store).permissions_of("carol").await.unwrap();
        assert_eq!(
            perms,
            [
                Permission::GRAPH_QUERY,
                Permission::TOOLS_LINT,
                Permission::TOOLS_READ
            ]
        );
    }

    #[tokio::test]
    async fn assigning_an_undefined_role_is_refused_without_touching_the_store() {
        let mut store = MockRoleStore::new();
        store.expect_assign_role().never();
        let err = authorizer(store)
            .assign_role("alice", "superuser")
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::UnknownRole { role } if role == "superuser"));
        assert_eq!(err.to_string(), "unknown role `superuser`");
    }

    #[tokio::test]
    async fn assign_and_revoke_pass_through_to_the_store() {
        let mut store = MockRoleStore::new();
        store
            .expect_assign_role()
            .with(eq("alice"), eq("admin"))
            .times(1)
            .returning(|_, _| Ok(true));
        store
            .expect_revoke_role()
            .with(eq("alice"), eq("admin"))
            .times(1)
            .returning(|_, _| Ok(false));
        let auth = authorizer(store);
        assert!(auth.assign_role("alice", "admin").await.unwrap());
        assert!(!auth.revoke_role("alice", "admin").await.unwrap());
    }

    #[tokio::test]
    async fn store_error_on_assign_propagates() {
        let mut store = MockRoleStore::new();
        store.expect_assign_role().returning(|_, _| {
            Err(StoreError::backend(
                "write failed",
                std::io::Error::other("disk full"),
            ))
        });
        let err = authorizer(store)
            .assign_role("alice", "developer")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Store(StoreError::Backend { .. })));
    }
}
