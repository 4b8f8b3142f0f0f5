//! The store conformance suite over real Bolt (FalkorDB from `./scripts/test`, or Neo4j).
//! Skips with a message when no server is configured, unless `MCP_TEST_BOLT_REQUIRED=1`.

use mcp_core::bolt::testing::bolt_test_config;
use mcp_oauth::store::neo4j::Neo4jOAuthStore;

mcp_oauth::oauth_store_conformance!(optional: async {
    let config = bolt_test_config("oauth_store")?;
    Some(Neo4jOAuthStore::connect(config).await.expect("connect to the Bolt test server"))
});
