//! [`CachedRoleStore`]: a bounded, short-lived cache of [`RoleStore::roles_of`] in front of any
//! role store.

use std::time::Duration;

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::cache::TtlCache;

use super::RoleStore;

/// Remembers each user's roles for a short time, so a guarded request does not read the backend.
///
/// - `roles_of` answers from the cache while the entry is younger than the TTL; otherwise it
///   reads the inner store and remembers the answer. Errors are not cached.
/// - `assign_role` and `revoke_role` go to the inner store and then drop that user's entry, so a
///   change made **through this decorator** is visible to the next `roles_of` at once.
/// - A change made **behind its back** (another server instance on the same database, a direct
///   write to the inner store) is visible once the entry expires: after at most the TTL.
/// - At most `capacity` users are remembered. When full, expired entries are dropped first and
///   then arbitrary ones, so many distinct users cannot grow the cache without bound.
/// - `users_with` is not cached.
///
/// A TTL of zero turns the cache off: every call goes to the inner store.
///
/// ```
/// use std::time::Duration;
/// use mcp_rbac::store::{RoleStore, CachedRoleStore, memory::MemoryRoleStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_core::StoreError> {
/// let store = CachedRoleStore::new(MemoryRoleStore::new(), Duration::from_secs(2));
/// store.assign_role("alice", "developer").await?;
/// assert_eq!(store.roles_of("alice").await?, ["developer"]); // read from the inner store
/// store.revoke_role("alice", "developer").await?;            // drops alice's entry
/// assert_eq!(store.roles_of("alice").await?, ["viewer"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CachedRoleStore<S> {
    inner: S,
    /// user -> roles. An invalidation also drops the answers of reads that started before it,
    /// which may predate the write.
    cache: TtlCache<String, Vec<String>>,
}

impl<S: RoleStore> CachedRoleStore<S> {
    /// How long an entry is used when no TTL is configured: the bound for a role change made
    /// elsewhere to apply here.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(2);
    /// How many users are remembered at most by [`CachedRoleStore::new`].
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// Caches `inner` for `ttl` (zero: no caching), remembering at most
    /// [`Self::DEFAULT_CAPACITY`] users.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self::with_capacity(inner, ttl, Self::DEFAULT_CAPACITY)
    }

    /// Caches `inner` for `ttl` (zero: no caching), remembering at most `capacity` users
    /// (zero: no caching).
    pub fn with_capacity(inner: S, ttl: Duration, capacity: usize) -> Self {
        Self {
            inner,
            cache: TtlCache::new(ttl, capacity),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How long an entry is used.
    pub fn ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// How many users are remembered now (expired entries included until they are dropped).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no user is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets `user`'s roles, so the next `roles_of` reads the inner store.
    pub fn invalidate(&self, user: &str) {
        self.cache.invalidate(user);
    }

    /// Forgets every user.
    pub fn clear(&self) {
        self.cache.clear();
    }
}

#[async_trait]
impl<S: RoleStore> RoleStore for CachedRoleStore<S> {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        let result = self.inner.assign_role(user, role).await;
        // Also on error: the write may have landed before the failure was reported.
        self.invalidate(user);
        result
    }

    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        let result = self.inner.revoke_role(user, role).await;
        self.invalidate(user);
        result
    }

    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        if !self.cache.is_enabled() {
            return self.inner.roles_of(user).await;
        }
        if let Some(roles) = self.cache.get(user) {
            return Ok(roles);
        }
        let stamp = self.cache.stamp();
        let roles = self.inner.roles_of(user).await?;
        self.cache.insert(user.to_owned(), roles.clone(), stamp);
        Ok(roles)
    }

    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        self.inner.users_with(role).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::memory::MemoryRoleStore;

    /// A memory store that counts `roles_of` reads; shared so a test can write behind the
    /// cache's back.
    #[derive(Default)]
    struct Counting {
        store: MemoryRoleStore,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl RoleStore for Counting {
        async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
            self.store.assign_role(user, role).await
        }
        async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
            self.store.revoke_role(user, role).await
        }
        async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.store.roles_of(user).await
        }
        async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
            self.store.users_with(role).await
        }
    }

    fn cached(ttl: Duration) -> (Arc<Counting>, CachedRoleStore<Arc<Counting>>) {
        let inner = Arc::new(Counting::default());
        (Arc::clone(&inner), CachedRoleStore::new(inner, ttl))
    }

    #[tokio::test]
    async fn a_cache_hit_does_not_read_the_inner_store() {
        let (inner, store) = cached(Duration::from_secs(60));
        store.assign_role("alice", "developer").await.unwrap();
        for _ in 0..5 {
            assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_local_revoke_or_assign_is_visible_immediately() {
        let (inner, store) = cached(Duration::from_secs(60));
        store.assign_role("alice", "admin").await.unwrap();
        assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
        store.revoke_role("alice", "admin").await.unwrap();
        assert_eq!(store.roles_of("alice").await.unwrap(), ["viewer"]);
        store.assign_role("alice", "developer").await.unwrap();
        assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
        assert_eq!(inner.reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_change_behind_the_caches_back_is_visible_after_the_ttl() {
        let ttl = Duration::from_millis(100);
        let (inner, store) = cached(ttl);
        inner.assign_role("alice", "admin").await.unwrap();
        assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
        // Another instance revokes the role in the shared database.
        inner.revoke_role("alice", "admin").await.unwrap();
        assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"], "cached");
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        assert_eq!(store.roles_of("alice").await.unwrap(), ["viewer"]);
    }

    #[tokio::test]
    async fn many_distinct_users_never_exceed_the_capacity() {
        let inner = Arc::new(Counting::default());
        let store = CachedRoleStore::with_capacity(Arc::clone(&inner), Duration::from_secs(60), 8);
        for i in 0..100 {
            assert_eq!(
                store.roles_of(&format!("user-{i}")).await.unwrap(),
                ["viewer"]
            );
            assert!(store.len() <= 8, "{} entries", store.len());
        }
        assert_eq!(store.len(), 8);
        // The most recent user was kept.
        let reads = inner.reads.load(Ordering::SeqCst);
        store.roles_of("user-99").await.unwrap();
        assert_eq!(inner.reads.load(Ordering::SeqCst), reads);
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_the_inner_store_every_time() {
        let (inner, store) = cached(Duration::ZERO);
        for _ in 0..3 {
            store.roles_of("alice").await.unwrap();
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 3);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_users_with_is_not_cached() {
        let mut mock = crate::store::MockRoleStore::new();
        let mut seq = mockall::Sequence::new();
        mock.expect_roles_of()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(StoreError::unavailable("down")));
        mock.expect_roles_of()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec!["admin".to_owned()]));
        mock.expect_users_with()
            .times(2)
            .returning(|_| Ok(vec!["alice".to_owned()]));
        let store = CachedRoleStore::new(mock, Duration::from_secs(60));
        assert!(store.roles_of("alice").await.is_err());
        assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
        assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
        store.users_with("admin").await.unwrap();
        store.users_with("admin").await.unwrap();
    }

    #[tokio::test]
    async fn a_read_racing_a_local_revoke_does_not_store_the_old_roles() {
        let (inner, store) = cached(Duration::from_secs(60));
        inner.assign_role("alice", "admin").await.unwrap();
        // A read starts (stamp taken), the revoke lands, then the read's old answer arrives.
        let stamp = store.cache.stamp();
        let old = inner.roles_of("alice").await.unwrap();
        store.revoke_role("alice", "admin").await.unwrap();
        store.cache.insert("alice".to_owned(), old, stamp);
        assert_eq!(store.roles_of("alice").await.unwrap(), ["viewer"]);
    }
}
