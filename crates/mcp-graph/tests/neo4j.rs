//! The graph-store conformance suite (core and query cases) over real Bolt (FalkorDB from
//! `./scripts/test`, or Neo4j). Skips with a message when no server is configured, unless
//! `MCP_TEST_BOLT_REQUIRED=1`.

use mcp_core::bolt::testing::bolt_test_config;
use mcp_graph::store::neo4j::Neo4jGraphStore;

mcp_graph::graph_store_conformance!(optional: async {
    let config = bolt_test_config("graph")?;
    Some(Neo4jGraphStore::connect(config).await.expect("connect to the Bolt test server"))
});

mod relationships {
    use mcp_core::bolt::testing::bolt_test_config;
    use mcp_graph::store::neo4j::Neo4jGraphStore;
    use mcp_graph::{GraphStore, Label, NodeKey, NodeRef, QueryValue, ReadQuery, RelType};

    #[tokio::test]
    async fn a_returned_relationship_names_its_endpoints() {
        let Some(config) = bolt_test_config("graph_rel_cells") else {
            return;
        };
        let store = Neo4jGraphStore::connect(config).await.expect("connect");
        let person = Label::new("Person").unwrap();
        for key in ["a", "b"] {
            store
                .upsert_node(&person, &NodeKey::new(key).unwrap(), Default::default())
                .await
                .unwrap();
        }
        let (a, b) = (
            NodeRef::parse("Person", "a").unwrap(),
            NodeRef::parse("Person", "b").unwrap(),
        );
        let knows = RelType::new("KNOWS").unwrap();
        let stored = store
            .upsert_relationship(&a, &knows, &b, Default::default())
            .await
            .unwrap();
        let result = store
            .query(&ReadQuery::new(
                "MATCH (:Person)-[r:KNOWS]->(:Person) RETURN r",
            ))
            .await
            .unwrap();
        assert_eq!(result.rows, vec![vec![QueryValue::Relationship(stored)]]);
    }
}
