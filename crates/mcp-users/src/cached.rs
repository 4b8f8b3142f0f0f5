//! [`CachedUserStore`]: a bounded, short-lived cache of [`UserStore::by_id`], the lookup every
//! authenticated request makes.
use std::time::Duration;

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::cache::TtlCache;

use super::{User, UserStore};

/// Remembers users found by id for a short time (the same design as
/// `mcp_rbac::CachedRoleStore`, on the same [`TtlCache`]).
///
/// - `by_id` answers from the cache while the entry is younger than the TTL. Unknown ids and
///   errors are not cached. Every other method goes to the inner store.
/// - `set_disabled`, `set_password_hash`, `invalidate_tokens`, `record_unlock` and `delete` drop that
///   user's entry, so disabling a user (or ending their sessions) through this instance locks
///   them out at once. A disable made elsewhere (another instance, the
///   `users disable` command) applies here within the TTL.
/// - At most `capacity` users are remembered; when full, expired entries go first, then
///   arbitrary ones.
///
/// A TTL of zero turns the cache off.
pub struct CachedUserStore<S> {
    inner: S,
    /// id -> user. An invalidation also drops the answers of reads that started before it.
    cache: TtlCache<String, User>,
}

impl<S: UserStore> CachedUserStore<S> {
    /// How many users are remembered at most by [`CachedUserStore::new`].
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// Caches `inner` for `ttl` (zero: no caching).
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self::with_capacity(inner, ttl, Self::DEFAULT_CAPACITY)
    }

    /// Caches `inner` for `ttl`, remembering at most `capacity` users (zero: no caching).
    pub fn with_capacity(inner: S, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            cache: TtlCache::new(ttl, capacity),
        }
    }

    /// How many users are remembered now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no user is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the user with this id.
    pub fn invalidate(&self, id: &str) {
        self.cache.invalidate(id);
    }
}

#[async_trait]
impl<S: UserStore> UserStore for CachedUserStore<S> {
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        self.inner.create(username, password_hash).await
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.inner.by_username(username).await
    }

    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        if !self.cache.is_enabled() {
            return self.inner.by_id(id).await;
        }
        if let Some(user) = self.cache.get(id) {
            return Ok(Some(user));
        }
        let stamp = self.cache.stamp();
        let user = self.inner.by_id(id).await?;
        if let Some(user) = &user {
            self.cache.insert(user.id.clone(), user.clone(), stamp);
        }
        Ok(user)
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list().await
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
        let result = self.inner.set_disabled(id, disabled).await;
        // Also on error: the write may have landed before the failure was reported.
        self.invalidate(id);
        result
    }

    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let result = self.inner.set_password_hash(id, password_hash).await;
        self.invalidate(id);
        result
    }

    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
        let result = self.inner.invalidate_tokens(id).await;
        self.invalidate(id);
        result
    }

    async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
        let result = self.inner.record_unlock(id).await;
        self.invalidate(id);
        result
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let result = self.inner.delete(id).await;
        self.invalidate(id);
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::MemoryUserStore;

    /// A memory store counting `by_id` reads; shared so a test can write behind the cache.
    #[derive(Default)]
    struct Counting {
        store: MemoryUserStore,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl UserStore for Counting {
        async fn create(&self, username: &str, hash: &str) -> Result<User, StoreError> {
            self.store.create(username, hash).await
        }
        async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
            self.store.by_username(username).await
        }
        async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.store.by_id(id).await
        }
        async fn list(&self) -> Result<Vec<User>, StoreError> {
            self.store.list().await
        }
        async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
            self.store.set_disabled(id, disabled).await
        }
        async fn set_password_hash(&self, id: &str, hash: &str) -> Result<(), StoreError> {
            self.store.set_password_hash(id, hash).await
        }
        async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
            self.store.invalidate_tokens(id).await
        }
        async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
            self.store.record_unlock(id).await
        }
        async fn delete(&self, id: &str) -> Result<(), StoreError> {
            self.store.delete(id).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.store.ping().await
        }
    }

    fn cached(ttl: Duration) -> (Arc<Counting>, CachedUserStore<Arc<Counting>>) {
        let inner = Arc::new(Counting::default());
        (Arc::clone(&inner), CachedUserStore::new(inner, ttl))
    }

    #[tokio::test]
    async fn the_cached_store_passes_the_user_store_conformance_cases() {
        let (_, store) = cached(Duration::from_secs(60));
        crate::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn a_cache_hit_does_not_read_the_inner_store() {
        let (inner, store) = cached(Duration::from_secs(60));
        let alice = store.create("alice", "h").await.unwrap();
        for _ in 0..5 {
            assert_eq!(store.by_id(&alice.id).await.unwrap().unwrap().id, alice.id);
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_local_disable_is_visible_immediately() {
        let (_, store) = cached(Duration::from_secs(60));
        let alice = store.create("alice", "h").await.unwrap();
        assert!(!store.by_id(&alice.id).await.unwrap().unwrap().disabled);
        store.set_disabled(&alice.id, true).await.unwrap();
        assert!(store.by_id(&alice.id).await.unwrap().unwrap().disabled);
    }

    #[tokio::test]
    async fn a_disable_behind_the_caches_back_is_visible_after_the_ttl() {
        let ttl = Duration::from_millis(100);
        let (inner, store) = cached(ttl);
        let alice = store.create("alice", "h").await.unwrap();
        assert!(!store.by_id(&alice.id).await.unwrap().unwrap().disabled);
        inner.set_disabled(&alice.id, true).await.unwrap();
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        assert!(store.by_id(&alice.id).await.unwrap().unwrap().disabled);
    }

    #[tokio::test]
    async fn unknown_ids_are_not_cached() {
        let (inner, store) = cached(Duration::from_secs(60));
        assert!(store.by_id("nobody").await.unwrap().is_none());
        assert!(store.by_id("nobody").await.unwrap().is_none());
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn many_distinct_users_never_exceed_the_capacity() {
        let inner = Arc::new(Counting::default());
        let store = CachedUserStore::with_capacity(Arc::clone(&inner), Duration::from_secs(60), 4);
        for i in 0..20 {
            let user = store.create(&format!("user{i}"), "h").await.unwrap();
            store.by_id(&user.id).await.unwrap();
            assert!(store.len() <= 4, "{} entries", store.len());
        }
        assert_eq!(store.len(), 4);
    }
}
