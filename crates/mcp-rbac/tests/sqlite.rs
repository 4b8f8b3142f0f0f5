//! The role store conformance suite against a real SQLite file, plus persistence across reopen.

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_rbac::RoleStore;
use mcp_rbac::store::sqlite::SqliteRoleStore;
use tempfile::TempDir;

/// A store in a fresh file that deletes its directory when dropped.
struct InTempDir {
    store: SqliteRoleStore,
    _dir: TempDir,
}

async fn fresh_store() -> InTempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteRoleStore::open(dir.path().join("roles.db"))
        .await
        .expect("open SQLite role store");
    InTempDir { store, _dir: dir }
}

#[async_trait]
impl RoleStore for InTempDir {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        self.store.assign_role(user, role).await
    }
    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        self.store.revoke_role(user, role).await
    }
    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        self.store.roles_of(user).await
    }
    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        self.store.users_with(role).await
    }
}

mcp_rbac::role_store_conformance!(fresh_store());

#[tokio::test]
async fn roles_survive_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roles.db");
    {
        let store = SqliteRoleStore::open(&path).await.unwrap();
        store.assign_role("alice", "admin").await.unwrap();
        store.assign_role("alice", "developer").await.unwrap();
        store.assign_role("bob", "developer").await.unwrap();
        store.revoke_role("alice", "developer").await.unwrap();
    }
    let reopened = SqliteRoleStore::open(&path).await.unwrap();
    assert_eq!(reopened.roles_of("alice").await.unwrap(), ["admin"]);
    assert_eq!(reopened.users_with("developer").await.unwrap(), ["bob"]);
    assert_eq!(reopened.roles_of("carol").await.unwrap(), ["viewer"]);
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roles.db");
    let a = SqliteRoleStore::open(&path).await.unwrap();
    let b = SqliteRoleStore::open(&path).await.unwrap();
    a.assign_role("alice", "admin").await.unwrap();
    assert_eq!(b.roles_of("alice").await.unwrap(), ["admin"]);
    b.revoke_role("alice", "admin").await.unwrap();
    assert_eq!(a.roles_of("alice").await.unwrap(), ["viewer"]);
}
