//! [`CachedRevocationStore`]: a bounded, short-lived cache of [`RevocationStore::is_revoked`] in
//! front of any revocation store.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::cache::TtlCache;

use super::{RevocationStore, StoreError};

/// Remembers for a short time whether a token id is revoked, so verifying a token does not read
/// the backend on every request.
///
/// - `is_revoked` answers from the cache while the entry is younger than the TTL; otherwise it
///   reads the inner store and remembers the answer (revoked or not). Errors are not cached.
/// - `revoke` goes to the inner store and then drops that id's entry, so a revocation made
///   **through this decorator** is seen by the next `is_revoked` at once.
/// - A revocation made **behind its back** (another server instance on the same database, a
///   direct write to the inner store) is seen once the entry expires: after at most the TTL.
/// - `purge_expired` goes to the inner store and then forgets every entry.
/// - At most `capacity` ids are remembered. When full, expired entries are dropped first and
///   then arbitrary ones, so many distinct tokens cannot grow the cache without bound.
///
/// A TTL of zero turns the cache off: every call goes to the inner store.
///
/// ```
/// use std::time::Duration;
/// use chrono::Utc;
/// use mcp_jwt::store::{CachedRevocationStore, RevocationStore, memory::MemoryRevocationStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_core::StoreError> {
/// let store = CachedRevocationStore::new(MemoryRevocationStore::new(), Duration::from_secs(2));
/// assert!(!store.is_revoked("jti-1").await?);  // read from the inner store, then remembered
/// store.revoke("jti-1", Utc::now()).await?;     // drops jti-1's entry
/// assert!(store.is_revoked("jti-1").await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CachedRevocationStore<S> {
    inner: S,
    /// jti -> revoked. An invalidation also drops the answers of reads that started before it,
    /// which may predate the write.
    cache: TtlCache<String, bool>,
}

impl<S: RevocationStore> CachedRevocationStore<S> {
    /// How long an entry is used when no TTL is configured: the bound for a revocation made
    /// elsewhere to apply here.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(2);
    /// How many token ids are remembered at most by [`CachedRevocationStore::new`].
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// Caches `inner` for `ttl` (zero: no caching), remembering at most
    /// [`Self::DEFAULT_CAPACITY`] token ids.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self::with_capacity(inner, ttl, Self::DEFAULT_CAPACITY)
    }

    /// Caches `inner` for `ttl` (zero: no caching), remembering at most `capacity` token ids
    /// (zero: no caching).
    pub fn with_capacity(inner: S, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            cache: TtlCache::new(ttl, capacity),
        }
    }

    /// The wrapped store (reads through it skip the cache, e.g. a readiness probe).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How long an entry is used.
    pub fn ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// How many token ids are remembered now (expired entries included until they are dropped).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no token id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token id, so the next `is_revoked` of each reads the inner store.
    pub fn clear(&self) {
        self.cache.clear();
    }
}

#[async_trait]
impl<S: RevocationStore> RevocationStore for CachedRevocationStore<S> {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self.inner.revoke(jti, expires_at).await;
        // Also on error: the write may have landed before the failure was reported.
        self.cache.invalidate(jti);
        result
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        if !self.cache.is_enabled() {
            return self.inner.is_revoked(jti).await;
        }
        if let Some(revoked) = self.cache.get(jti) {
            return Ok(revoked);
        }
        let stamp = self.cache.stamp();
        let revoked = self.inner.is_revoked(jti).await?;
        self.cache.insert(jti.to_owned(), revoked, stamp);
        Ok(revoked)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = self.inner.purge_expired(now).await;
        self.cache.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::memory::MemoryRevocationStore;

    /// A memory store that counts `is_revoked` reads and can be made to fail; shared so a test
    /// can write behind the cache's back.
    #[derive(Default)]
    struct Counting {
        store: MemoryRevocationStore,
        reads: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl RevocationStore for Counting {
        async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
            self.store.revoke(jti, expires_at).await
        }
        async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable("down"));
            }
            self.store.is_revoked(jti).await
        }
        async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
            self.store.purge_expired(now).await
        }
    }

    fn cached(ttl: Duration) -> (Arc<Counting>, CachedRevocationStore<Arc<Counting>>) {
        let inner = Arc::new(Counting::default());
        (Arc::clone(&inner), CachedRevocationStore::new(inner, ttl))
    }

    fn later() -> DateTime<Utc> {
        Utc::now() + chrono::Duration::hours(1)
    }

    #[tokio::test]
    async fn a_cache_hit_does_not_read_the_inner_store() {
        let (inner, store) = cached(Duration::from_secs(60));
        inner.revoke("gone", later()).await.unwrap();
        for _ in 0..5 {
            assert!(!store.is_revoked("live").await.unwrap());
            assert!(store.is_revoked("gone").await.unwrap());
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_local_revocation_is_seen_at_once() {
        let (_, store) = cached(Duration::from_secs(60));
        assert!(!store.is_revoked("jti").await.unwrap());
        store.revoke("jti", later()).await.unwrap();
        assert!(store.is_revoked("jti").await.unwrap());
    }

    #[tokio::test]
    async fn a_revocation_behind_the_caches_back_is_seen_after_the_ttl() {
        let ttl = Duration::from_millis(100);
        let (inner, store) = cached(ttl);
        assert!(!store.is_revoked("jti").await.unwrap());
        // Another instance revokes the token in the shared database.
        inner.revoke("jti", later()).await.unwrap();
        assert!(!store.is_revoked("jti").await.unwrap(), "cached");
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        assert!(store.is_revoked("jti").await.unwrap());
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let (inner, store) = cached(Duration::from_secs(60));
        inner.failing.store(true, Ordering::SeqCst);
        assert!(store.is_revoked("jti").await.is_err());
        assert!(store.is_empty());
        inner.failing.store(false, Ordering::SeqCst);
        inner.revoke("jti", later()).await.unwrap();
        assert!(store.is_revoked("jti").await.unwrap());
    }

    #[tokio::test]
    async fn a_purge_forgets_every_cached_answer() {
        let (inner, store) = cached(Duration::from_secs(60));
        store.revoke("old", Utc::now()).await.unwrap();
        assert!(store.is_revoked("old").await.unwrap());
        let purged = store
            .purge_expired(Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(purged, 1);
        assert!(store.is_empty());
        assert!(!store.is_revoked("old").await.unwrap());
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn many_distinct_tokens_never_exceed_the_capacity() {
        let inner = Arc::new(Counting::default());
        let store =
            CachedRevocationStore::with_capacity(Arc::clone(&inner), Duration::from_secs(60), 8);
        for i in 0..100 {
            assert!(!store.is_revoked(&format!("jti-{i}")).await.unwrap());
            assert!(store.len() <= 8, "{} entries", store.len());
        }
        assert_eq!(store.len(), 8);
        let reads = inner.reads.load(Ordering::SeqCst);
        store.is_revoked("jti-99").await.unwrap();
        assert_eq!(
            inner.reads.load(Ordering::SeqCst),
            reads,
            "the newest is kept"
        );
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_the_inner_store_every_time() {
        let (inner, store) = cached(Duration::ZERO);
        for _ in 0..3 {
            store.is_revoked("jti").await.unwrap();
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 3);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_read_racing_a_local_revocation_does_not_store_the_old_answer() {
        let (inner, store) = cached(Duration::from_secs(60));
        // A read starts (stamp taken), the revocation lands, then the read's old answer arrives.
        let stamp = store.cache.stamp();
        let old = inner.is_revoked("jti").await.unwrap();
        store.revoke("jti", later()).await.unwrap();
        store.cache.insert("jti".to_owned(), old, stamp);
        assert!(store.is_revoked("jti").await.unwrap());
    }
}
