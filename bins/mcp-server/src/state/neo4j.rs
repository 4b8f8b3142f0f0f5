//! Neo4j (Bolt) backends, in a build with the `neo4j` feature.
//!
//! Roles, revoked tokens, the audit log and the graph use their crates' Neo4j backends; user
//! accounts use the server's own [`Neo4jUserStore`](crate::users::Neo4jUserStore).
use std::sync::Arc;

use anyhow::Context;
use mcp_core::bolt::BoltConfig;

use crate::config::{Config, StoreKind};
use crate::users::{Neo4jUserStore, UserStore};

/// The Bolt client settings from `[storage.neo4j]` for one store, in its database
/// ([`Neo4jConfig::database_of`](crate::config::Neo4jConfig::database_of)).
pub fn bolt_config(config: &Config, store: StoreKind) -> anyhow::Result<BoltConfig> {
    let neo = config
        .storage
        .neo4j
        .as_ref()
        .context("[storage.neo4j] is not set")?;
    let value = serde_json::json!({
        "uri": neo.uri,
        "user": neo.user,
        "password": neo.password.expose(),
        "database": neo.database_of(store),
        "server": neo.server,
    });
    serde_json::from_value(value).context("invalid [storage.neo4j]")
}

/// The user store on Neo4j, in `users_database` (default: `database`).
pub async fn users(config: &Config) -> anyhow::Result<Arc<dyn UserStore>> {
    let store = Neo4jUserStore::connect(bolt_config(config, StoreKind::Users)?)
        .await
        .context("users store on neo4j")?;
    Ok(Arc::new(store))
}

/// The rate-limit and lock-out counters on Neo4j, in the user accounts' database
/// (`users_database`, default `database`), shared by every instance on it.
pub async fn counters(config: &Config) -> anyhow::Result<Arc<dyn mcp_limits::CounterStore>> {
    let bolt = bolt_config(config, StoreKind::Users)?;
    let store = mcp_limits::store::neo4j::Neo4jCounterStore::connect(bolt)
        .await
        .context("limit counters on neo4j (limits.counters)")?;
    Ok(Arc::new(store))
}

/// The role store on Neo4j, in `roles_database` (default: `database`).
pub async fn roles(config: &Config) -> anyhow::Result<Arc<dyn mcp_rbac::RoleStore>> {
    let bolt = bolt_config(config, StoreKind::Roles)?;
    let store = mcp_rbac::store::neo4j::Neo4jRoleStore::connect(bolt)
        .await
        .context("roles store on neo4j")?;
    Ok(Arc::new(store))
}

/// The revocation store on Neo4j, in `tokens_database` (default: `database`).
pub async fn revocations(
    config: &Config,
) -> anyhow::Result<Arc<dyn mcp_jwt::store::RevocationStore>> {
    let bolt = bolt_config(config, StoreKind::Tokens)?;
    let store = mcp_jwt::store::neo4j::Neo4jRevocationStore::connect(bolt)
        .await
        .context("tokens store on neo4j")?;
    Ok(Arc::new(store))
}

/// The OAuth store on Neo4j, beside the revoked tokens in `tokens_database`.
pub async fn oauth(config: &Config) -> anyhow::Result<Arc<dyn mcp_oauth::OAuthStore>> {
    let bolt = bolt_config(config, StoreKind::Tokens)?;
    let store = mcp_oauth::store::neo4j::Neo4jOAuthStore::connect(bolt)
        .await
        .context("OAuth store on neo4j")?;
    Ok(Arc::new(store))
}

/// The audit sink on Neo4j, in `audit_database` (default: `database`).
pub async fn audit(config: &Config) -> anyhow::Result<Arc<dyn mcp_audit::AuditSink>> {
    let bolt = bolt_config(config, StoreKind::Audit)?;
    let sink = mcp_audit::sink::neo4j::Neo4jAuditSink::connect(bolt)
        .await
        .context("audit store on neo4j")?;
    Ok(Arc::new(sink))
}

/// The gateway's pin store on Neo4j, in the roles' database.
pub async fn pins(config: &Config) -> anyhow::Result<Arc<dyn mcp_gateway::PinStore>> {
    let bolt = bolt_config(config, StoreKind::Roles)?;
    let store = mcp_gateway::pin::neo4j::Neo4jPinStore::connect(bolt)
        .await
        .context("gateway pin store on neo4j")?;
    Ok(Arc::new(store))
}

/// The graph store on Neo4j, in `graph_database` (default: `database`).
pub async fn graph(config: &Config) -> anyhow::Result<Arc<dyn mcp_graph::GraphStore>> {
    let bolt = bolt_config(config, StoreKind::Graph)?;
    let store = mcp_graph::store::neo4j::Neo4jGraphStore::connect(bolt)
        .await
        .context("graph store on neo4j")?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, Neo4jConfig, Secret};
    use crate::state::Backends;

    /// Every store on a dead server (nothing listens on port 1: the pool is lazy, and the
    /// schema step fails fast), all in database `mcp`.
    fn config() -> Config {
        let mut config = Config::default();
        config.storage.backend = Backend::Neo4j;
        let mut neo = Neo4jConfig::new("bolt://127.0.0.1:1", "u", Secret::new("p"));
        neo.database = Some("mcp".into());
        neo.server = "falkordb".into();
        config.storage.neo4j = Some(neo);
        config
    }

    #[test]
    fn each_store_connects_to_its_own_database() {
        let mut config = config();
        let neo = config.storage.neo4j.as_mut().unwrap();
        neo.graph_database = Some("g".into());
        neo.users_database = Some("u".into());
        neo.roles_database = Some("r".into());
        neo.tokens_database = Some("t".into());
        neo.audit_database = Some("a".into());
        for (store, db) in [
            (StoreKind::Graph, "g"),
            (StoreKind::Users, "u"),
            (StoreKind::Roles, "r"),
            (StoreKind::Tokens, "t"),
            (StoreKind::Audit, "a"),
        ] {
            let bolt = bolt_config(&config, store).unwrap();
            assert_eq!(bolt.database.as_deref(), Some(db), "{store:?}");
        }
        config.storage.neo4j.as_mut().unwrap().roles_database = None;
        let bolt = bolt_config(&config, StoreKind::Roles).unwrap();
        assert_eq!(bolt.database.as_deref(), Some("mcp"));
    }

    #[tokio::test]
    async fn backends_refuse_a_shared_graph_database_before_connecting_even_unvalidated() {
        // Built by hand, so `Config::validate` never ran: the state checks again.
        let err = Backends::connect(&config(), false)
            .await
            .err()
            .expect("refused");
        let text = format!("{err:#}");
        assert!(
            text.contains("storage.neo4j.graph_database") && !text.contains("store on neo4j"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn with_the_opt_in_or_apart_the_backends_reach_the_server() {
        let mut shared = config();
        shared
            .storage
            .neo4j
            .as_mut()
            .unwrap()
            .dangerous_allow_shared_graph_database = true;
        let mut apart = config();
        apart.storage.neo4j.as_mut().unwrap().graph_database = Some("mcp_graph".into());
        for config in [shared, apart] {
            // Past the check, the (dead) server is what fails.
            let err = Backends::connect(&config, false)
                .await
                .err()
                .expect("no server");
            let text = format!("{err:#}");
            assert!(text.contains("store on neo4j"), "{text}");
        }
    }
}
