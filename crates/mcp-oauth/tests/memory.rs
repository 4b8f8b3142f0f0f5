//! The store conformance suite against the in-memory backend.

use mcp_oauth::store::memory::MemoryOAuthStore;

mcp_oauth::oauth_store_conformance!(async { MemoryOAuthStore::new() });

/// The `optional:` form with no backend configured: every case skips instead of failing.
mod optional_form_without_a_store {
    use super::MemoryOAuthStore;

    mcp_oauth::oauth_store_conformance!(optional: async { None::<MemoryOAuthStore> });
}
