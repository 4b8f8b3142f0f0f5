//! `[storage.neo4j]`: the Bolt server, which database each store lives in, and the check that
//! keeps the graph's database free of roles, revocations, audit events and accounts.
//!
//! The knowledge-graph query tool runs read-only Cypher from any caller with `graph:query`, and
//! read-only Cypher reads everything in its database. So no other store may share the graph's
//! database unless the operator says so with `dangerous_allow_shared_graph_database`.
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Backend, ConfigError, Secret, StorageConfig, StoreKind};

/// A Neo4j (Bolt) server, and the database (Neo4j) or graph (FalkorDB) of each store on it.
///
/// Every store uses `database` unless its own `<store>_database` is set. When the graph store is
/// on `neo4j`, no other store on `neo4j` may resolve to the graph's database (start-up is refused)
/// unless `dangerous_allow_shared_graph_database` is set.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neo4jConfig {
    /// `bolt://host:port` or `neo4j://host:port`.
    pub uri: String,
    /// User name.
    #[serde(default)]
    pub user: String,
    /// Password.
    #[serde(default)]
    pub password: Secret,
    /// Neo4j: the database (default: the server's); FalkorDB: the graph name. The default for
    /// every store whose own `<store>_database` is not set.
    #[serde(default)]
    pub database: Option<String>,
    /// The database (Neo4j) or graph (FalkorDB) of the knowledge graph; default: `database`.
    /// Setting it is the simplest way to keep the other stores out of the graph query tool's
    /// reach.
    #[serde(default)]
    pub graph_database: Option<String>,
    /// The database (Neo4j) or graph (FalkorDB) of the user accounts; default: `database`.
    #[serde(default)]
    pub users_database: Option<String>,
    /// The database (Neo4j) or graph (FalkorDB) of roles and role assignments; default:
    /// `database`.
    #[serde(default)]
    pub roles_database: Option<String>,
    /// The database (Neo4j) or graph (FalkorDB) of revoked tokens; default: `database`.
    #[serde(default)]
    pub tokens_database: Option<String>,
    /// The database (Neo4j) or graph (FalkorDB) of the audit log; default: `database`. Give each
    /// instance its own on servers that do not enforce the audit chain's `seq` uniqueness
    /// (FalkorDB), so that every instance keeps one valid chain.
    #[serde(default)]
    pub audit_database: Option<String>,
    /// Lets other stores share the graph's database although every caller with `graph:query`
    /// can then read them (password hashes, role assignments, revocations, the audit log)
    /// through the graph query tool. Start-up logs a warning naming them. Default `false`.
    #[serde(default)]
    pub dangerous_allow_shared_graph_database: bool,
    /// Which server speaks Bolt there: `neo4j` (default) or `falkordb`.
    #[serde(default = "default_bolt_server")]
    pub server: String,
}

fn default_bolt_server() -> String {
    "neo4j".into()
}

impl fmt::Debug for Neo4jConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Neo4jConfig")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("graph_database", &self.graph_database)
            .field("users_database", &self.users_database)
            .field("roles_database", &self.roles_database)
            .field("tokens_database", &self.tokens_database)
            .field("audit_database", &self.audit_database)
            .field(
                "dangerous_allow_shared_graph_database",
                &self.dangerous_allow_shared_graph_database,
            )
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Neo4jConfig {
    /// A server at `uri` with every store in the server's default database (tests, examples).
    pub fn new(uri: impl Into<String>, user: impl Into<String>, password: Secret) -> Self {
        Self {
            uri: uri.into(),
            user: user.into(),
            password,
            database: None,
            graph_database: None,
            users_database: None,
            roles_database: None,
            tokens_database: None,
            audit_database: None,
            dangerous_allow_shared_graph_database: false,
            server: default_bolt_server(),
        }
    }

    /// The database (Neo4j) or graph (FalkorDB) of one store: its own `<store>_database`, else
    /// `database`; `None` is the server's default.
    pub fn database_of(&self, store: StoreKind) -> Option<&str> {
        let own = match store {
            StoreKind::Users => &self.users_database,
            StoreKind::Roles => &self.roles_database,
            StoreKind::Tokens => &self.tokens_database,
            StoreKind::Audit => &self.audit_database,
            StoreKind::Graph => &self.graph_database,
        };
        own.as_deref().or(self.database.as_deref())
    }

    /// Whether two stores resolve to the same database. Unset means the server's default, taken
    /// as `neo4j` on Neo4j and `falkordb` on FalkorDB; Neo4j names are case-insensitive, FalkorDB
    /// graph names are not. Aliases and a changed default database are not known here.
    fn same_database(&self, a: StoreKind, b: StoreKind) -> bool {
        let falkordb = self.server.eq_ignore_ascii_case("falkordb");
        let default = if falkordb { "falkordb" } else { "neo4j" };
        let a = self.database_of(a).unwrap_or(default);
        let b = self.database_of(b).unwrap_or(default);
        if falkordb {
            a == b
        } else {
            a.eq_ignore_ascii_case(b)
        }
    }
}

/// The `storage.neo4j.<store>_database` key of a store, and its environment alias.
fn database_key(store: StoreKind) -> (&'static str, &'static str) {
    match store {
        StoreKind::Users => ("users_database", "MCP_NEO4J_USERS_DATABASE"),
        StoreKind::Roles => ("roles_database", "MCP_NEO4J_ROLES_DATABASE"),
        StoreKind::Tokens => ("tokens_database", "MCP_NEO4J_TOKENS_DATABASE"),
        StoreKind::Audit => ("audit_database", "MCP_NEO4J_AUDIT_DATABASE"),
        StoreKind::Graph => ("graph_database", "MCP_NEO4J_GRAPH_DATABASE"),
    }
}

impl StorageConfig {
    /// The stores on `neo4j` whose database is the graph's, when the graph is on `neo4j` too
    /// (empty otherwise): every caller with `graph:query` can read them through the graph query
    /// tool.
    pub fn stores_sharing_the_graph_database(&self) -> Vec<StoreKind> {
        let Some(neo) = &self.neo4j else {
            return Vec::new();
        };
        if self.backend_of(StoreKind::Graph) != Backend::Neo4j {
            return Vec::new();
        }
        StoreKind::ALL
            .into_iter()
            .filter(|s| *s != StoreKind::Graph)
            .filter(|s| self.backend_of(*s) == Backend::Neo4j)
            .filter(|s| neo.same_database(*s, StoreKind::Graph))
            .collect()
    }

    /// Refuses stores in the graph's database unless
    /// `storage.neo4j.dangerous_allow_shared_graph_database` is set; the error names the keys
    /// that fix it.
    pub fn check_graph_database_isolation(&self) -> Result<(), ConfigError> {
        let shared = self.stores_sharing_the_graph_database();
        let Some(neo) = &self.neo4j else {
            return Ok(());
        };
        if shared.is_empty() || neo.dangerous_allow_shared_graph_database {
            return Ok(());
        }
        let names: Vec<&str> = shared.iter().map(|s| s.name()).collect();
        let keys: Vec<String> = shared
            .iter()
            .map(|s| {
                let (key, env) = database_key(*s);
                format!("storage.neo4j.{key} ({env})")
            })
            .collect();
        let (graph_key, graph_env) = database_key(StoreKind::Graph);
        Err(ConfigError::Invalid(format!(
            "the graph store's database `{graph}` on neo4j also holds {stores}: the graph query \
             tool lets every caller with graph:query read all of its database. Give the graph a \
             database of its own with storage.neo4j.{graph_key} ({graph_env}), or move those \
             stores with {keys} or to sqlite (storage.<store> = \"sqlite\"). To accept the \
             exposure, set storage.neo4j.dangerous_allow_shared_graph_database = true \
             (MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE)",
            graph = neo
                .database_of(StoreKind::Graph)
                .unwrap_or("(server default)"),
            stores = names.join(", "),
            keys = keys.join(", "),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(neo: Neo4jConfig) -> StorageConfig {
        StorageConfig {
            backend: Backend::Neo4j,
            neo4j: Some(neo),
            ..StorageConfig::default()
        }
    }

    fn server(database: Option<&str>) -> Neo4jConfig {
        let mut neo = Neo4jConfig::new("bolt://db:7687", "u", Secret::new("p"));
        neo.database = database.map(Into::into);
        neo
    }

    #[test]
    fn each_store_uses_its_own_database_else_the_default_one() {
        let mut neo = server(Some("mcp"));
        neo.graph_database = Some("mcp_graph".into());
        neo.tokens_database = Some("mcp_tokens".into());
        assert_eq!(neo.database_of(StoreKind::Graph), Some("mcp_graph"));
        assert_eq!(neo.database_of(StoreKind::Tokens), Some("mcp_tokens"));
        assert_eq!(neo.database_of(StoreKind::Roles), Some("mcp"));
        assert_eq!(server(None).database_of(StoreKind::Users), None);
    }

    #[test]
    fn every_store_in_the_graph_database_is_named_with_the_keys_that_fix_it() {
        let s = storage(server(Some("mcp")));
        assert_eq!(
            s.stores_sharing_the_graph_database(),
            [
                StoreKind::Users,
                StoreKind::Roles,
                StoreKind::Tokens,
                StoreKind::Audit
            ]
        );
        let err = s.check_graph_database_isolation().unwrap_err().to_string();
        for needle in [
            "users, roles, tokens, audit",
            "storage.neo4j.graph_database (MCP_NEO4J_GRAPH_DATABASE)",
            "storage.neo4j.roles_database (MCP_NEO4J_ROLES_DATABASE)",
            "storage.neo4j.tokens_database (MCP_NEO4J_TOKENS_DATABASE)",
            "storage.neo4j.dangerous_allow_shared_graph_database = true",
            "MCP_NEO4J_DANGEROUS_ALLOW_SHARED_GRAPH_DATABASE",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }

    #[test]
    fn unset_names_are_the_server_default_and_neo4j_names_ignore_case() {
        let mut neo = server(None);
        neo.graph_database = Some("NEO4J".into());
        assert_eq!(storage(neo).stores_sharing_the_graph_database().len(), 4);
        let mut neo = server(None);
        neo.server = "falkordb".into();
        neo.roles_database = Some("falkordb".into());
        neo.users_database = Some("FalkorDB".into());
        neo.tokens_database = Some("mcp_tokens".into());
        neo.audit_database = Some("mcp_audit".into());
        // FalkorDB graph names are case-sensitive: `FalkorDB` is another graph than the
        // default `falkordb`, which the graph and the roles share.
        assert_eq!(
            storage(neo).stores_sharing_the_graph_database(),
            [StoreKind::Roles]
        );
    }

    #[test]
    fn stores_off_neo4j_or_a_graph_off_neo4j_share_nothing() {
        let mut s = storage(server(Some("mcp")));
        s.graph = Some(Backend::Sqlite);
        assert!(s.stores_sharing_the_graph_database().is_empty());
        let mut s = storage(server(Some("mcp")));
        s.backend = Backend::Sqlite;
        s.graph = Some(Backend::Neo4j);
        s.audit = Some(Backend::Neo4j);
        assert_eq!(s.stores_sharing_the_graph_database(), [StoreKind::Audit]);
    }

    #[test]
    fn a_graph_database_of_its_own_passes_the_check() {
        let mut neo = server(Some("mcp"));
        neo.graph_database = Some("mcp_graph".into());
        let s = storage(neo);
        assert!(s.stores_sharing_the_graph_database().is_empty());
        s.check_graph_database_isolation().unwrap();
    }

    #[test]
    fn the_dangerous_opt_in_accepts_a_shared_database_but_still_reports_it() {
        let mut neo = server(Some("mcp"));
        neo.dangerous_allow_shared_graph_database = true;
        let s = storage(neo);
        s.check_graph_database_isolation().unwrap();
        assert_eq!(s.stores_sharing_the_graph_database().len(), 4);
    }

    #[test]
    fn debug_shows_every_database_and_the_opt_in_but_not_the_password() {
        let mut neo = server(Some("mcp"));
        neo.password = Secret::new("hunter2-secret");
        neo.roles_database = Some("mcp_roles".into());
        let text = format!("{neo:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("mcp_roles") && text.contains("dangerous_allow_shared_graph_database"),
            "{text}"
        );
    }
}
