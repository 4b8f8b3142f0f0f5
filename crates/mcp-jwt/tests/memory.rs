//! The revocation-store conformance suite against the in-memory backend.

use mcp_jwt::store::memory::MemoryRevocationStore;

mcp_jwt::revocation_store_conformance!(async { MemoryRevocationStore::new() });
