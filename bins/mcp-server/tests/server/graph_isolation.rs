//! The graph query tool reads its whole Neo4j database, so no other store may share it unless
//! the operator opts in with `storage.neo4j.dangerous_allow_shared_graph_database`: the real
//! binary refuses such a config, and over Bolt the separation is what keeps roles, revocations
//! and audit events out of graph queries.
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-server"))
}

/// Every store on `neo4j`, in database `mcp` of a server at `uri`, plus `extra`.
fn all_on_neo4j(args: &[&str], uri: &str, extra: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(args)
        .env("MCP_DATA_DIR", dir.path())
        .env("MCP_JWT_SECRET", "graph-isolation-test-secret-of-40-bytes!")
        .env("MCP_STORAGE_BACKEND", "neo4j")
        .env("MCP_NEO4J_URI", uri)
        .env("MCP_NEO4J_DATABASE", "mcp")
        .env("MCP_NEO4J_PASSWORD", "a-password-neo4j-would-ask-for");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn config_check_refuses_stores_in_the_graph_database_and_names_the_keys_to_set() {
    let out = all_on_neo4j(
        &["config", "check"],
        "bolt://127.0.0.1:1",
        &[("MCP_NEO4J_USERS_DATABASE", "mcp_users")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for needle in [
        "roles, tokens, audit",
        "MCP_NEO4J_GRAPH_DATABASE",
        "storage.neo4j.dangerous_allow_shared_graph_database = true",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
}

#[test]
fn config_check_accepts_a_graph_database_of_its_own_or_the_dangerous_opt_in() {
    for extra in [
        ("MCP_NEO4J_GRAPH_DATABASE", "mcp_graph"),
        ("MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE", "true"),
    ] {
        let out = all_on_neo4j(&["config", "check"], "bolt://127.0.0.1:1", &[extra]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("dangerous_allow_shared_graph_database"),
            "{text}"
        );
    }
}

#[cfg(feature = "neo4j")]
mod over_bolt {
    use chrono::{Duration, Utc};
    use mcp_audit::AuditEvent;
    use mcp_core::bolt::testing::bolt_test_config;
    use mcp_graph::{QueryValue, ReadQuery};
    use mcp_server::config::{Backend, Config, Neo4jConfig, Secret};
    use mcp_server::state::Backends;

    /// Every store on the test Bolt server, in one fresh database; `None` when there is no
    /// server (skipped).
    fn config(test: &str) -> Option<(Config, String)> {
        let bolt = bolt_test_config(test)?;
        let database = bolt.database.clone().unwrap_or_default();
        let mut neo = Neo4jConfig::new(bolt.uri, bolt.user, Secret::new(bolt.password));
        neo.server = serde_json::to_value(bolt.server)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        neo.database = Some(database.clone());
        let mut config = Config::default();
        config.storage.backend = Backend::Neo4j;
        config.storage.neo4j = Some(neo);
        Some((config, database))
    }

    async fn count(backends: &Backends, label: &str) -> serde_json::Value {
        let result = backends
            .graph
            .query(&ReadQuery::new(format!(
                "MATCH (n:{label}) RETURN count(n) AS n"
            )))
            .await
            .unwrap();
        match &result.rows[0][0] {
            QueryValue::Value(n) => n.clone(),
            other => panic!("a count, not {other:?}"),
        }
    }

    /// Writes a role assignment, a revocation and an audit event, then counts what a graph
    /// query sees of each.
    async fn visible_to_graph_queries(config: &Config) -> Vec<serde_json::Value> {
        let backends = Backends::connect(config, false).await.unwrap();
        backends.roles.assign_role("u-1", "viewer").await.unwrap();
        backends
            .revocations
            .revoke("jti-1", Utc::now() + Duration::hours(1))
            .await
            .unwrap();
        backends
            .audit
            .append_one(&AuditEvent::authentication("u-1", true, None))
            .await
            .unwrap();
        let mut seen = Vec::new();
        for label in ["Role", "RevokedToken", "AuditEvent"] {
            seen.push(count(&backends, label).await);
        }
        seen
    }

    #[tokio::test]
    async fn graph_queries_read_roles_revocations_and_audit_only_when_they_share_its_database() {
        let Some((mut shared, _)) = config("graph isolation shared") else {
            return;
        };
        let neo = shared.storage.neo4j.as_mut().unwrap();
        neo.dangerous_allow_shared_graph_database = true;
        let seen = visible_to_graph_queries(&shared).await;
        // The exposure the start-up check prevents is real: everything is readable.
        assert!(
            seen.iter().all(|n| n.as_u64().is_some_and(|n| n >= 1)),
            "{seen:?}"
        );

        let Some((mut apart, database)) = config("graph isolation apart") else {
            return;
        };
        apart.storage.neo4j.as_mut().unwrap().graph_database = Some(format!("{database}_graph"));
        let seen = visible_to_graph_queries(&apart).await;
        assert!(seen.iter().all(|n| n.as_u64() == Some(0)), "{seen:?}");
    }

    #[test]
    fn the_dangerous_opt_in_starts_with_a_warning_naming_the_shared_stores() {
        let Some((config, database)) = config("graph isolation warning") else {
            return;
        };
        let neo = config.storage.neo4j.unwrap();
        let out = super::bin()
            .args(["roles", "list"])
            .env("MCP_DATA_DIR", tempfile::tempdir().unwrap().path())
            .env("MCP_JWT_SECRET", "graph-isolation-test-secret-of-40-bytes!")
            .env("MCP_STORAGE_BACKEND", "neo4j")
            .env("MCP_NEO4J_URI", &neo.uri)
            .env("MCP_NEO4J_USER", &neo.user)
            .env("MCP_NEO4J_PASSWORD", neo.password.expose())
            .env("MCP_NEO4J_SERVER", &neo.server)
            .env("MCP_NEO4J_DATABASE", &database)
            .env("MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE", "true")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("DANGEROUS") && err.contains("users,roles,tokens,audit"),
            "{err}"
        );
    }
}
