//! The revocation store: which token ids (`jti`) are revoked, and until when.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use mcp_core::StoreError;

mod cached;
pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use cached::CachedRevocationStore;

/// Remembers revoked token ids until the tokens would have expired anyway.
///
/// Contract, checked for every backend by the conformance suite
/// (`revocation_store_conformance!`, feature `testing`):
///
/// * `revoke` is idempotent; revoking a `jti` again keeps the later `expires_at`.
/// * `is_revoked` is true from the moment `revoke` returns until an entry is purged; an
///   unknown `jti` is not revoked.
/// * `purge_expired(now)` removes exactly the entries with `expires_at <= now` and returns
///   how many it removed. Times are compared in whole seconds (token expiries are whole
///   seconds anyway).
/// * An empty `jti` is refused with [`StoreError::Invalid`]; any other string (quotes,
///   Unicode, long ids) is stored as is.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Marks `jti` as revoked until `expires_at` (the token's own expiry).
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Whether `jti` is revoked.
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Removes revocations whose `expires_at` is at or before `now`; returns the count.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[async_trait]
impl<T: RevocationStore + ?Sized> RevocationStore for Arc<T> {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).revoke(jti, expires_at).await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        (**self).is_revoked(jti).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).purge_expired(now).await
    }
}

/// Refuses an empty `jti`; shared by the backends.
pub(crate) fn check_jti(jti: &str) -> Result<(), StoreError> {
    if jti.is_empty() {
        return Err(StoreError::Invalid("jti must not be empty".to_owned()));
    }
    Ok(())
}
