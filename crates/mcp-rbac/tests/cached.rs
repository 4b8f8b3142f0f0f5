//! The role store conformance suite against the cache in front of the in-memory backend: the
//! decorator must not change what the store answers.

use std::time::Duration;

use mcp_rbac::store::{CachedRoleStore, memory::MemoryRoleStore};

mcp_rbac::role_store_conformance!(async {
    CachedRoleStore::new(MemoryRoleStore::new(), Duration::from_secs(60))
});
