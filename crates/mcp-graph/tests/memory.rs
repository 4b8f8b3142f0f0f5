//! The shared conformance suite against the in-memory backend.

mcp_graph::graph_store_conformance!(async { mcp_graph::MemoryGraphStore::new() });
mcp_graph::graph_store_conformance!(embedded: async { mcp_graph::MemoryGraphStore::new() });
