//! Neo4j (Bolt) backends, in a build with the `neo4j` feature.
//!
//! Roles, revoked tokens, the audit log and the graph use their crates' Neo4j backends; user
//! accounts use the server's own [`Neo4jUserStore`](crate::users::Neo4jUserStore).
use std::sync::Arc;

use anyhow::Context;
use mcp_core::bolt::BoltConfig;

use crate::config::{Backend, Config, ConfigError, StoreKind};
use crate::users::{Neo4jUserStore, UserStore};

/// The Bolt client settings from `[storage.neo4j]`.
pub fn bolt_config(config: &Config) -> anyhow::Result<BoltConfig> {
    let neo = config
        .storage
        .neo4j
        .as_ref()
        .context("[storage.neo4j] is not set")?;
    let value = serde_json::json!({
        "uri": neo.uri,
        "user": neo.user,
        "password": neo.password.expose(),
        "database": neo.database,
        "server": neo.server,
    });
    serde_json::from_value(value).context("invalid [storage.neo4j]")
}

/// The user store on Neo4j, in `[storage.neo4j] users_database` (default: `database`).
///
/// Refused when the graph store is on Neo4j in that same database: the graph's read-only
/// query tool (open to every role with `graph:query`) would read the password hashes.
pub async fn users(config: &Config) -> anyhow::Result<Arc<dyn UserStore>> {
    let mut bolt = bolt_config(config)?;
    let neo = config.storage.neo4j.as_ref();
    let graph_database = neo.and_then(|n| n.database.clone());
    let users_database = neo
        .and_then(|n| n.users_database.clone())
        .or_else(|| graph_database.clone());
    if config.storage.backend_of(StoreKind::Graph) == Backend::Neo4j
        && users_database == graph_database
    {
        return Err(ConfigError::Invalid(
            "users and graph are both on neo4j in the same database: the graph query tool \
             would expose the password hashes; set [storage.neo4j] users_database \
             (MCP_NEO4J_USERS_DATABASE) to another database or graph"
                .into(),
        )
        .into());
    }
    bolt.database = users_database;
    let store = Neo4jUserStore::connect(bolt)
        .await
        .context("users store on neo4j")?;
    Ok(Arc::new(store))
}

/// The role store on Neo4j.
pub async fn roles(config: &Config) -> anyhow::Result<Arc<dyn mcp_rbac::RoleStore>> {
    let store = mcp_rbac::store::neo4j::Neo4jRoleStore::connect(bolt_config(config)?)
        .await
        .context("roles store on neo4j")?;
    Ok(Arc::new(store))
}

/// The revocation store on Neo4j.
pub async fn revocations(
    config: &Config,
) -> anyhow::Result<Arc<dyn mcp_jwt::store::RevocationStore>> {
    let store = mcp_jwt::store::neo4j::Neo4jRevocationStore::connect(bolt_config(config)?)
        .await
        .context("tokens store on neo4j")?;
    Ok(Arc::new(store))
}

/// The audit sink on Neo4j, in `[storage.neo4j] audit_database` (default: `database`).
pub async fn audit(config: &Config) -> anyhow::Result<Arc<dyn mcp_audit::AuditSink>> {
    let mut bolt = bolt_config(config)?;
    if let Some(audit_database) = config
        .storage
        .neo4j
        .as_ref()
        .and_then(|n| n.audit_database.clone())
    {
        bolt.database = Some(audit_database);
    }
    let sink = mcp_audit::sink::neo4j::Neo4jAuditSink::connect(bolt)
        .await
        .context("audit store on neo4j")?;
    Ok(Arc::new(sink))
}

/// The graph store on Neo4j.
pub async fn graph(config: &Config) -> anyhow::Result<Arc<dyn mcp_graph::GraphStore>> {
    let store = mcp_graph::store::neo4j::Neo4jGraphStore::connect(bolt_config(config)?)
        .await
        .context("graph store on neo4j")?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Neo4jConfig, Secret};

    fn config(graph: Backend, database: Option<&str>, users_database: Option<&str>) -> Config {
        let mut config = Config::default();
        config.storage.users = Some(Backend::Neo4j);
        config.storage.graph = Some(graph);
        config.storage.neo4j = Some(Neo4jConfig {
            // Nothing listens on port 1: the pool is lazy, and the schema step fails fast.
            uri: "bolt://127.0.0.1:1".into(),
            user: "u".into(),
            password: Secret::new("p"),
            database: database.map(Into::into),
            users_database: users_database.map(Into::into),
            audit_database: None,
            server: "falkordb".into(),
        });
        config
    }

    #[tokio::test]
    async fn users_in_the_graph_database_are_refused_when_the_graph_is_on_neo4j() {
        for (db, users_db) in [
            (None, None),
            (Some("mcp"), None),
            (Some("mcp"), Some("mcp")),
        ] {
            let err = users(&config(Backend::Neo4j, db, users_db))
                .await
                .err()
                .expect("refused");
            assert!(err.to_string().contains("users_database"), "{err:#}");
        }
    }

    #[tokio::test]
    async fn users_in_their_own_database_pass_the_check_and_reach_the_server() {
        for (graph, db, users_db) in [
            (Backend::Neo4j, Some("mcp"), Some("mcp_users")),
            (Backend::Sqlite, Some("mcp"), None),
        ] {
            // Past the check, the (dead) server is what fails.
            let err = users(&config(graph, db, users_db))
                .await
                .err()
                .expect("no server");
            assert!(!format!("{err:#}").contains("users_database"), "{err:#}");
            assert!(
                format!("{err:#}").contains("users store on neo4j"),
                "{err:#}"
            );
        }
    }
}
