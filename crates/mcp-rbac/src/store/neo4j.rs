//! A role store in Neo4j or FalkorDB over Bolt (feature `neo4j`).
//!
//! Schema: `(:User {user_id})-[:HAS_ROLE]->(:Role {name})`. `User.user_id` and `Role.name`
//! are unique (constraints on Neo4j; on FalkorDB indexes plus `MERGE`, which FalkorDB runs
//! under its per-graph write lock). Every call is one auto-commit query.

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::bolt::neo4rs::Row;
use mcp_core::bolt::{BoltClient, BoltConfig};

use super::{RoleStore, validate_role, validate_user_id, with_default_role};

/// Keeps role assignments as `HAS_ROLE` relationships in a Bolt server.
#[derive(Clone, Debug)]
pub struct Neo4jRoleStore {
    client: BoltClient,
}

impl Neo4jRoleStore {
    /// Connects with `config` and creates the constraints if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the constraints if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("User", "user_id").await?;
        client.ensure_unique("Role", "name").await?;
        Ok(Self { client })
    }
}

fn int(rows: &[Row], column: &str) -> Result<i64, StoreError> {
    match rows.first() {
        Some(row) => row
            .get::<i64>(column)
            .map_err(|e| StoreError::backend(format!("unexpected column {column}"), e)),
        None => Ok(0),
    }
}

fn strings(rows: &[Row], column: &str) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|row| {
            row.get::<String>(column)
                .map_err(|e| StoreError::backend(format!("unexpected column {column}"), e))
        })
        .collect()
}

#[async_trait]
impl RoleStore for Neo4jRoleStore {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        let query = self
            .client
            .query(
                "MERGE (u:User {user_id: $user}) \
                 MERGE (r:Role {name: $role}) \
                 WITH u, r \
                 OPTIONAL MATCH (u)-[e:HAS_ROLE]->(r) \
                 WITH u, r, count(e) AS had \
                 MERGE (u)-[:HAS_ROLE]->(r) \
                 RETURN had",
            )
            .param("user", user)
            .param("role", role);
        Ok(int(&self.client.write(query).await?, "had")? == 0)
    }

    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        let query = self
            .client
            .query(
                "MATCH (:User {user_id: $user})-[e:HAS_ROLE]->(:Role {name: $role}) \
                 DELETE e RETURN count(*) AS removed",
            )
            .param("user", user)
            .param("role", role);
        Ok(int(&self.client.write(query).await?, "removed")? > 0)
    }

    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        validate_user_id(user)?;
        let query = self
            .client
            .query("MATCH (:User {user_id: $user})-[:HAS_ROLE]->(r:Role) RETURN r.name AS name")
            .param("user", user);
        Ok(with_default_role(strings(
            &self.client.read(query).await?,
            "name",
        )?))
    }

    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        validate_role(role)?;
        let query = self
            .client
            .query(
                "MATCH (u:User)-[:HAS_ROLE]->(:Role {name: $role}) \
                 RETURN DISTINCT u.user_id AS id ORDER BY id",
            )
            .param("role", role);
        let mut users = strings(&self.client.read(query).await?, "id")?;
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }
}
