//! [`CachedUserStore`]: a bounded, short-lived cache of [`UserStore::by_id`], the lookup every
//! authenticated request makes.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_core::StoreError;

use super::{User, UserStore};

/// Remembers users found by id for a short time (the same design as
/// `mcp_rbac::CachedRoleStore`).
///
/// - `by_id` answers from the cache while the entry is younger than the TTL. Unknown ids and
///   errors are not cached. Every other method goes to the inner store.
/// - `set_disabled` and `set_password_hash` drop that user's entry, so disabling a user through
///   this instance locks them out at once. A disable made elsewhere (another instance, the
///   `users disable` command) applies here within the TTL.
/// - At most `capacity` users are remembered; when full, expired entries go first, then
///   arbitrary ones.
///
/// A TTL of zero turns the cache off.
pub struct CachedUserStore<S> {
    inner: S,
    ttl: Duration,
    capacity: usize,
    cache: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// id -> (when read, user)
    map: HashMap<String, (Instant, User)>,
    /// Bumped by every invalidation; a read that started before one does not store its answer.
    generation: u64,
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
            ttl,
            capacity,
            cache: Mutex::new(Entries::default()),
        }
    }

    /// How many users are remembered now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no user is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the user with this id.
    pub fn invalidate(&self, id: &str) {
        let mut cache = self.lock();
        cache.generation = cache.generation.wrapping_add(1);
        cache.map.remove(id);
    }

    // One map operation or sweep per critical section: a poisoned lock is still consistent.
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, user: &User, read_at: Instant, generation: u64) {
        let mut cache = self.lock();
        if cache.generation != generation {
            return;
        }
        if cache.map.len() >= self.capacity && !cache.map.contains_key(&user.id) {
            let ttl = self.ttl;
            let now = Instant::now();
            cache.map.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            while cache.map.len() >= self.capacity {
                let Some(victim) = cache.map.keys().next().cloned() else {
                    break;
                };
                cache.map.remove(&victim);
            }
        }
        cache.map.insert(user.id.clone(), (read_at, user.clone()));
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
        if self.ttl.is_zero() || self.capacity == 0 {
            return self.inner.by_id(id).await;
        }
        let generation = {
            let cache = self.lock();
            if let Some((at, user)) = cache.map.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(Some(user.clone()));
            }
            cache.generation
        };
        let read_at = Instant::now();
        let user = self.inner.by_id(id).await?;
        if let Some(user) = &user {
            self.store(user, read_at, generation);
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

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::users::MemoryUserStore;

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
        crate::users::conformance::run(&store).await;
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
