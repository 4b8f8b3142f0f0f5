//! The revocation-store conformance suite against the cache in front of the in-memory backend:
//! the decorator must not change what the store answers.

use std::time::Duration;

use mcp_jwt::store::{CachedRevocationStore, memory::MemoryRevocationStore};

mcp_jwt::revocation_store_conformance!(async {
    CachedRevocationStore::new(MemoryRevocationStore::new(), Duration::from_secs(60))
});
