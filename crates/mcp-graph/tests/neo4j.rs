//! The graph-store conformance suite (core and query cases) over real Bolt (FalkorDB from
//! `./scripts/test`, or Neo4j). Skips with a message when no server is configured, unless
//! `MCP_TEST_BOLT_REQUIRED=1`.

use mcp_core::bolt::testing::bolt_test_config;
use mcp_graph::store::neo4j::Neo4jGraphStore;

mcp_graph::graph_store_conformance!(optional: async {
    let config = bolt_test_config("graph")?;
    Some(Neo4jGraphStore::connect(config).await.expect("connect to the Bolt test server"))
});
