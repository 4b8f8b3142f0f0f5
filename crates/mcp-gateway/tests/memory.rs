//! The pin-store conformance suite against the in-memory store.

use mcp_gateway::pin::memory::MemoryPinStore;

mcp_gateway::pin_store_conformance!(async { MemoryPinStore::new() });
