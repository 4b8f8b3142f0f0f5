//! Stand-in for the Neo4j backends in a build without the `neo4j` feature: asking for one is a
//! clear start-up error.
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::users::UserStore;

fn not_compiled<T>() -> anyhow::Result<T> {
    Err(ConfigError::BackendNotCompiled("neo4j").into())
}

/// Refuses: not compiled in.
pub async fn users(_: &Config) -> anyhow::Result<Arc<dyn UserStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn counters(_: &Config) -> anyhow::Result<Arc<dyn mcp_limits::CounterStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn roles(_: &Config) -> anyhow::Result<Arc<dyn mcp_rbac::RoleStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn revocations(_: &Config) -> anyhow::Result<Arc<dyn mcp_jwt::store::RevocationStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn oauth(_: &Config) -> anyhow::Result<Arc<dyn mcp_oauth::OAuthStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn audit(_: &Config) -> anyhow::Result<Arc<dyn mcp_audit::AuditSink>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn graph(_: &Config) -> anyhow::Result<Arc<dyn mcp_graph::GraphStore>> {
    not_compiled()
}

/// Refuses: not compiled in.
pub async fn pins(_: &Config) -> anyhow::Result<Arc<dyn mcp_gateway::PinStore>> {
    not_compiled()
}
