//! Users in Neo4j or FalkorDB over Bolt (feature `neo4j`), so several server instances share
//! one set of accounts.
//!
//! Schema: the account fields are properties of the role store's `(:User {user_id})` node:
//! `(:User {user_id, username, disabled, created_at, password_hash, tokens_valid_from,
//! unlocked_at})` (an integer and RFC 3339 text, absent until set), so a user's roles hang
//! off the same node (`-[:HAS_ROLE]->(:Role)`). A `:User` node without `username` is a role
//! holder without an account (the role store `MERGE`s such nodes) and is not a user here.
//! `User.user_id` and `User.username` are unique (constraints on Neo4j; on FalkorDB indexes,
//! and accounts are created with `MERGE` on `username`, which FalkorDB runs under its per-graph
//! write lock). `created_at` is RFC 3339 text, `disabled` a boolean. Every call is one
//! auto-commit query, and every value is a query parameter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use mcp_core::bolt::neo4rs::Row;
use mcp_core::bolt::{BoltClient, BoltConfig};

use super::{User, UserStore};

/// Keeps user accounts as properties of `(:User {user_id})` nodes in a Bolt server.
#[derive(Clone, Debug)]
pub struct Neo4jUserStore {
    client: BoltClient,
}

/// The columns every account query returns, from `u`.
const FIELDS: &str = "u.user_id AS id, u.username AS username, u.disabled AS disabled, \
                      u.created_at AS created_at, u.password_hash AS password_hash, \
                      u.tokens_valid_from AS tokens_valid_from, u.unlocked_at AS unlocked_at";

/// The Cypher of [`super::next_tokens_valid_from`], with `$next` the second after now.
const NEXT_VALID_FROM: &str = "CASE WHEN u.tokens_valid_from IS NOT NULL \
    AND u.tokens_valid_from + 1 > $next THEN u.tokens_valid_from + 1 ELSE $next END";

/// RFC 3339 with nanoseconds, the stored form of the session marks.
fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl Neo4jUserStore {
    /// Connects with `config` and creates the constraints (or indexes) if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the constraints if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("User", "user_id").await?;
        client.ensure_unique("User", "username").await?;
        Ok(Self { client })
    }

    /// Sets the time property `property` (a fixed name, never client text) of user `id` to now.
    async fn set_mark(&self, id: &str, property: &'static str) -> Result<(), StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{user_id: $id}}) WHERE u.username IS NOT NULL \
                 SET u.{property} = $now RETURN u.user_id AS id"
            ))
            .param("id", id)
            .param("now", format_time(Utc::now()));
        if self.client.write(query).await?.is_empty() {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn one(&self, query: mcp_core::bolt::neo4rs::Query) -> Result<Option<User>, StoreError> {
        self.client
            .read(query)
            .await?
            .first()
            .map(row_to_user)
            .transpose()
    }
}

fn column<T: serde::de::DeserializeOwned>(row: &Row, name: &str) -> Result<T, StoreError> {
    row.get::<T>(name)
        .map_err(|e| StoreError::backend(format!("unexpected user column {name}"), e))
}

fn row_to_user(row: &Row) -> Result<User, StoreError> {
    let created: String = column(row, "created_at")?;
    let mark = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(column::<Option<String>>(row, name)?
            .as_deref()
            .and_then(parse_time))
    };
    Ok(User {
        id: column(row, "id")?,
        username: column(row, "username")?,
        disabled: column::<Option<bool>>(row, "disabled")?.unwrap_or(false),
        created_at: parse_time(&created).unwrap_or_default(),
        password_hash: column(row, "password_hash")?,
        tokens_valid_from: column::<Option<i64>>(row, "tokens_valid_from")?,
        unlocked_at: mark("unlocked_at")?,
    })
}

#[async_trait]
impl UserStore for Neo4jUserStore {
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let user = User::new(username, password_hash);
        // MERGE on the name: a taken name returns the existing id, and a retry of this very
        // write (after the server applied it) returns ours, so retries stay idempotent.
        let query = self
            .client
            .query(
                "MERGE (u:User {username: $username}) \
                 ON CREATE SET u.user_id = $id, u.disabled = false, \
                 u.created_at = $created_at, u.password_hash = $password_hash \
                 RETURN u.user_id AS id",
            )
            .param("username", user.username.as_str())
            .param("id", user.id.as_str())
            .param("created_at", user.created_at.to_rfc3339())
            .param("password_hash", user.password_hash.as_str());
        let rows = self.client.write(query).await.map_err(|e| match e {
            // Neo4j's constraint refused a concurrent create of the same name.
            StoreError::Conflict(_) => StoreError::Conflict(format!("user `{username}` exists")),
            other => other,
        })?;
        let stored: String = match rows.first() {
            Some(row) => column(row, "id")?,
            None => {
                return Err(StoreError::backend(
                    "creating a user returned no row",
                    "empty result",
                ));
            }
        };
        if stored != user.id {
            return Err(StoreError::Conflict(format!("user `{username}` exists")));
        }
        Ok(user)
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{username: $username}}) WHERE u.user_id IS NOT NULL RETURN {FIELDS}"
            ))
            .param("username", username);
        self.one(query).await
    }

    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{user_id: $id}}) WHERE u.username IS NOT NULL RETURN {FIELDS}"
            ))
            .param("id", id);
        self.one(query).await
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let query = self.client.query(&format!(
            "MATCH (u:User) WHERE u.username IS NOT NULL AND u.user_id IS NOT NULL \
             RETURN {FIELDS} ORDER BY u.username"
        ));
        let mut users = self
            .client
            .read(query)
            .await?
            .iter()
            .map(row_to_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{user_id: $id}}) WHERE u.username IS NOT NULL \
                 SET u.disabled = $disabled, u.tokens_valid_from = \
                 CASE WHEN $disabled THEN {NEXT_VALID_FROM} ELSE u.tokens_valid_from END \
                 RETURN {FIELDS}"
            ))
            .param("id", id)
            .param("disabled", disabled)
            .param("next", Utc::now().timestamp() + 1);
        match self.client.write(query).await?.first() {
            Some(row) => row_to_user(row),
            None => Err(StoreError::NotFound(format!("user {id}"))),
        }
    }

    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{user_id: $id}}) WHERE u.username IS NOT NULL \
                 SET u.password_hash = $password_hash, u.tokens_valid_from = {NEXT_VALID_FROM} \
                 RETURN u.user_id AS id"
            ))
            .param("id", id)
            .param("password_hash", password_hash)
            .param("next", Utc::now().timestamp() + 1);
        if self.client.write(query).await?.is_empty() {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
        let query = self
            .client
            .query(&format!(
                "MATCH (u:User {{user_id: $id}}) WHERE u.username IS NOT NULL \
                 SET u.tokens_valid_from = {NEXT_VALID_FROM} RETURN u.user_id AS id"
            ))
            .param("id", id)
            .param("next", Utc::now().timestamp() + 1);
        if self.client.write(query).await?.is_empty() {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
        self.set_mark(id, "unlocked_at").await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        // The node goes with its role relationships (the caller revoked the roles first, so
        // the role store's caches know).
        let query = self
            .client
            .query(
                "MATCH (u:User {user_id: $id}) WHERE u.username IS NOT NULL \
                 WITH u, u.user_id AS id DETACH DELETE u RETURN id",
            )
            .param("id", id);
        if self.client.write(query).await?.is_empty() {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_core::bolt::testing::bolt_test_config;
    use mcp_rbac::RoleStore;
    use mcp_rbac::store::neo4j::Neo4jRoleStore;

    use super::*;

    #[tokio::test]
    async fn neo4j_store_passes_the_user_store_conformance_cases() {
        let Some(config) = bolt_test_config("users conformance") else {
            return;
        };
        let store = Neo4jUserStore::connect(config).await.unwrap();
        crate::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn two_instances_on_one_graph_share_accounts() {
        let Some(config) = bolt_test_config("users shared") else {
            return;
        };
        let a = Neo4jUserStore::connect(config.clone()).await.unwrap();
        let b = Neo4jUserStore::connect(config).await.unwrap();
        let alice = a.create("alice", "h1").await.unwrap();
        assert_eq!(b.by_username("alice").await.unwrap().unwrap(), alice);
        b.set_disabled(&alice.id, true).await.unwrap();
        assert!(a.by_id(&alice.id).await.unwrap().unwrap().disabled);
        assert!(matches!(
            b.create("alice", "h2").await,
            Err(StoreError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn accounts_and_roles_share_the_user_node_without_clashing() {
        let Some(config) = bolt_test_config("users with roles") else {
            return;
        };
        let client = BoltClient::connect(config).unwrap();
        let roles = Neo4jRoleStore::from_client(client.clone()).await.unwrap();
        let users = Neo4jUserStore::from_client(client.clone()).await.unwrap();
        // A role holder without an account is not a user.
        roles
            .assign_role("service-account", "reader")
            .await
            .unwrap();
        assert!(users.list().await.unwrap().is_empty());
        assert!(users.by_id("service-account").await.unwrap().is_none());
        assert!(matches!(
            users.set_disabled("service-account", true).await,
            Err(StoreError::NotFound(_))
        ));
        // Roles given before or after the account sit on the one node of the user.
        let alice = users.create("alice", "h1").await.unwrap();
        roles.assign_role(&alice.id, "admin").await.unwrap();
        assert_eq!(users.by_id(&alice.id).await.unwrap().unwrap(), alice);
        assert!(
            roles
                .roles_of(&alice.id)
                .await
                .unwrap()
                .contains(&"admin".to_owned())
        );
        let rows = client
            .read(
                client
                    .query("MATCH (u:User {user_id: $id}) RETURN count(u) AS n")
                    .param("id", alice.id.as_str()),
            )
            .await
            .unwrap();
        assert_eq!(rows[0].get::<i64>("n").unwrap(), 1);
        roles.revoke_role(&alice.id, "admin").await.unwrap();
        assert_eq!(users.by_id(&alice.id).await.unwrap().unwrap(), alice);
    }

    #[tokio::test]
    async fn real_argon2_hashes_and_odd_names_round_trip() {
        let Some(config) = bolt_test_config("users odd values") else {
            return;
        };
        let store = Neo4jUserStore::connect(config).await.unwrap();
        let hash = crate::hash_password("correct horse 'battery' \"staple\"").unwrap();
        let user = store.create("o'brien@x.y", &hash).await.unwrap();
        let back = store.by_username("o'brien@x.y").await.unwrap().unwrap();
        assert_eq!(back, user);
        assert!(crate::verify_password(
            "correct horse 'battery' \"staple\"",
            &back.password_hash
        ));
        let odd = "x' OR 1=1 //\\\"$";
        store.set_password_hash(&user.id, odd).await.unwrap();
        assert_eq!(
            store.by_id(&user.id).await.unwrap().unwrap().password_hash,
            odd
        );
        assert!(store.by_username("x' OR '1'='1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_creates_of_one_name_give_exactly_one_account() {
        let Some(config) = bolt_test_config("users race") else {
            return;
        };
        let store = Arc::new(Neo4jUserStore::connect(config).await.unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.create("carol", &format!("h{i}")).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e:?}"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(store.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_dead_server_is_unavailable_not_a_panic() {
        let config = BoltConfig::new("bolt://127.0.0.1:1", "u", "p")
            .with_query_timeout(std::time::Duration::from_millis(500))
            .with_retry(mcp_core::bolt::RetryPolicy::never());
        let err = Neo4jUserStore::connect(config).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}
