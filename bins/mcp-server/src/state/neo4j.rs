//! Neo4j (Bolt) backends, in a build with the `neo4j` feature.
//!
//! Roles, revoked tokens, the audit log and the graph use their crates' Neo4j backends; user
//! accounts use the server's own [`Neo4jUserStore`](crate::users::Neo4jUserStore).
use std::sync::Arc;

use anyhow::Context;
use mcp_core::bolt::BoltConfig;

use crate::config::Config;
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

/// The user store on Neo4j.
pub async fn users(config: &Config) -> anyhow::Result<Arc<dyn UserStore>> {
    let store = Neo4jUserStore::connect(bolt_config(config)?)
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

/// The audit sink on Neo4j.
pub async fn audit(config: &Config) -> anyhow::Result<Arc<dyn mcp_audit::AuditSink>> {
    let sink = mcp_audit::sink::neo4j::Neo4jAuditSink::connect(bolt_config(config)?)
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
