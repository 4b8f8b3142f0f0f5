//! An in-process revocation store, for tests and single-process embedding.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RevocationStore, StoreError, check_jti};

/// Keeps revocations in a map (expiry in whole seconds, like the other backends); they are
/// lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryRevocationStore {
    revoked: Mutex<HashMap<String, i64>>,
}

impl MemoryRevocationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // Every critical section leaves the map consistent, so a poisoned lock is safe to use.
        self.revoked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl RevocationStore for MemoryRevocationStore {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        check_jti(jti)?;
        let mut map = self.map();
        let expires_at = expires_at.timestamp();
        let entry = map.entry(jti.to_owned()).or_insert(expires_at);
        *entry = (*entry).max(expires_at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.map().contains_key(jti))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut map = self.map();
        let before = map.len();
        let now = now.timestamp();
        map.retain(|_, expires_at| *expires_at > now);
        Ok(u64::try_from(before - map.len()).unwrap_or(u64::MAX))
    }
}
