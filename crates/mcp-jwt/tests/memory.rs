//! The revocation-store conformance suite against the in-memory backend.

use mcp_jwt::store::memory::MemoryRevocationStore;

mcp_jwt::revocation_store_conformance!(async { MemoryRevocationStore::new() });

/// The `optional:` form, as an externally hosted backend mounts it: `Some` runs the cases.
mod optional_form_with_a_store {
    use super::MemoryRevocationStore;

    mcp_jwt::revocation_store_conformance!(optional: async { Some(MemoryRevocationStore::new()) });
}

/// The `optional:` form with no backend configured: every case skips instead of failing.
mod optional_form_without_a_store {
    use super::MemoryRevocationStore;

    mcp_jwt::revocation_store_conformance!(optional: async { None::<MemoryRevocationStore> });
}
