//! The role store conformance suite against the in-memory backend.

use mcp_rbac::store::memory::MemoryRoleStore;

mcp_rbac::role_store_conformance!(async { MemoryRoleStore::new() });
