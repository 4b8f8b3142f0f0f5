//! The revocation-store conformance suite over real Bolt (FalkorDB from `./scripts/test`, or
//! Neo4j). Skips with a message when no server is configured, unless
//! `MCP_TEST_BOLT_REQUIRED=1`.

use mcp_core::bolt::testing::bolt_test_config;
use mcp_jwt::store::neo4j::Neo4jRevocationStore;

mcp_jwt::revocation_store_conformance!(optional: async {
    let config = bolt_test_config("jwt_revocation")?;
    Some(Neo4jRevocationStore::connect(config).await.expect("connect to the Bolt test server"))
});
