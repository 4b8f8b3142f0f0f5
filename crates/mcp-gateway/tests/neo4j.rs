//! The pin-store conformance suite over real Bolt (FalkorDB from `./scripts/test`, or Neo4j).
//! Skips with a message when no server is configured.

use mcp_core::bolt::testing::bolt_test_config;
use mcp_gateway::pin::neo4j::Neo4jPinStore;

mcp_gateway::pin_store_conformance!(optional: async {
    let config = bolt_test_config("gateway_pins")?;
    Some(Neo4jPinStore::connect(config).await.expect("connect to the Bolt test server"))
});
