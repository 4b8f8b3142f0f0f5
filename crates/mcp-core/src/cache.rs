//! [`TtlCache`]: a bounded map whose entries are used for a fixed time, the core of the
//! caching decorators in front of the stores (`mcp_rbac::store::CachedRoleStore`, the
//! server's `CachedUserStore`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A thread-safe map whose entries are answered for `ttl` after they were read from their
/// source, holding at most `capacity` of them.
///
/// - [`TtlCache::get`] returns a copy of the value while the entry is younger than the TTL.
/// - Before reading the source, take a [`Stamp`] with [`TtlCache::stamp`], and give it to
///   [`TtlCache::insert`] with the answer. The entry's age counts from the stamp, so it never
///   outlives the TTL, and the answer is dropped if [`TtlCache::invalidate`] or
///   [`TtlCache::clear`] ran in between: it may predate the write that caused them.
/// - When full, an insert of a new key drops the expired entries first, then arbitrary ones.
/// - A TTL or a capacity of zero turns the cache off: `get` finds nothing and `insert` keeps
///   nothing, without taking the lock.
///
/// ```
/// use std::time::Duration;
/// use mcp_core::cache::TtlCache;
///
/// let cache: TtlCache<String, Vec<&str>> = TtlCache::new(Duration::from_secs(2), 1_000);
/// assert_eq!(cache.get("alice"), None);
///
/// let stamp = cache.stamp();          // before reading the source
/// let roles = vec!["developer"];      // the answer read from the source
/// cache.insert("alice".to_owned(), roles.clone(), stamp);
/// assert_eq!(cache.get("alice"), Some(roles));
///
/// cache.invalidate("alice");          // after a write to alice's entry
/// assert_eq!(cache.get("alice"), None);
/// ```
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries<K, V>>,
}

/// When a read of the source started, for [`TtlCache::insert`]. Taken by [`TtlCache::stamp`].
#[derive(Debug, Clone, Copy)]
#[must_use = "give the stamp to TtlCache::insert"]
pub struct Stamp {
    at: Instant,
    generation: u64,
}

#[derive(Debug)]
struct Entries<K, V> {
    /// key -> (when read, value)
    map: HashMap<K, (Instant, V)>,
    /// Bumped by every invalidation; an answer stamped before one is not stored.
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache answering entries for `ttl`, holding at most `capacity` of them (either zero:
    /// no caching).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// How long an entry is answered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many entries are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether anything is cached at all (TTL and capacity both non-zero).
    pub fn is_enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// How many entries are kept now (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the value for `key`, if it is younger than the TTL.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.is_enabled() {
            return None;
        }
        let entries = self.lock();
        let (at, value) = entries.map.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Marks the start of a read of the source; pass it to [`TtlCache::insert`].
    pub fn stamp(&self) -> Stamp {
        let generation = if self.is_enabled() {
            self.lock().generation
        } else {
            0
        };
        Stamp {
            at: Instant::now(),
            generation,
        }
    }

    /// Keeps `value` for `key`, aged from `stamp`, unless an invalidation ran since `stamp` was
    /// taken. When the cache is full and `key` is new, expired entries are dropped first, then
    /// arbitrary ones.
    pub fn insert(&self, key: K, value: V, stamp: Stamp) {
        if !self.is_enabled() {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != stamp.generation {
            return;
        }
        if entries.map.len() >= self.capacity && !entries.map.contains_key(&key) {
            let ttl = self.ttl;
            let now = Instant::now();
            entries
                .map
                .retain(|_, (at, _)| now.duration_since(*at) < ttl);
            // Still full: drop arbitrary entries (`HashMap` order) to make room for one.
            let mut excess = (entries.map.len() + 1).saturating_sub(self.capacity);
            entries.map.retain(|_, _| {
                let keep = excess == 0;
                excess = excess.saturating_sub(1);
                keep
            });
        }
        entries.map.insert(key, (stamp.at, value));
    }

    /// Forgets `key`, and makes every answer stamped before now be dropped by `insert`.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        entries.generation = entries.generation.wrapping_add(1);
        entries.map.remove(key);
    }

    /// Forgets every entry, and makes every answer stamped before now be dropped by `insert`.
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.generation = entries.generation.wrapping_add(1);
        entries.map.clear();
    }

    // Each critical section is a single map operation or a sweep, so a poisoned lock (a panic
    // elsewhere while it was held) cannot leave the map inconsistent: keep using it.
    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn cache(ttl: Duration, capacity: usize) -> TtlCache<String, u32> {
        TtlCache::new(ttl, capacity)
    }

    fn put(cache: &TtlCache<String, u32>, key: &str, value: u32) {
        cache.insert(key.to_owned(), value, cache.stamp());
    }

    #[test]
    fn a_fresh_entry_is_returned_and_a_missing_one_is_not() {
        let cache = cache(LONG, 10);
        assert_eq!(cache.get("alice"), None);
        put(&cache, "alice", 1);
        assert_eq!(cache.get("alice"), Some(1));
        assert_eq!(cache.get("bob"), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_insert_replaces_the_value_of_its_key() {
        let cache = cache(LONG, 10);
        put(&cache, "alice", 1);
        put(&cache, "alice", 2);
        assert_eq!(cache.get("alice"), Some(2));
        assert_eq!(cache.len(), 1);
    }

    /// A stamp taken `age` ago: a read of the source that started then.
    fn stamped_ago(cache: &TtlCache<String, u32>, age: Duration) -> Stamp {
        let stamp = cache.stamp();
        Stamp {
            at: stamp.at.checked_sub(age).expect("the clock is past `age`"),
            ..stamp
        }
    }

    #[test]
    fn an_entry_ages_from_its_stamp_and_is_not_returned_after_the_ttl() {
        let cache = cache(LONG, 10);
        cache.insert("old".to_owned(), 1, stamped_ago(&cache, LONG));
        cache.insert("young".to_owned(), 2, stamped_ago(&cache, LONG / 2));
        assert_eq!(cache.get("old"), None);
        assert_eq!(cache.get("young"), Some(2));
    }

    #[test]
    fn an_entry_expires_once_the_ttl_has_passed() {
        let ttl = Duration::from_millis(50);
        let cache = cache(ttl, 10);
        put(&cache, "alice", 1);
        std::thread::sleep(ttl + Duration::from_millis(10));
        assert_eq!(cache.get("alice"), None);
    }

    #[test]
    fn invalidate_forgets_one_key_and_clear_forgets_all() {
        let cache = cache(LONG, 10);
        put(&cache, "alice", 1);
        put(&cache, "bob", 2);
        cache.invalidate("alice");
        assert_eq!(cache.get("alice"), None);
        assert_eq!(cache.get("bob"), Some(2));
        cache.clear();
        assert_eq!(cache.get("bob"), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn an_answer_stamped_before_an_invalidation_is_not_stored() {
        let cache = cache(LONG, 10);
        let before_invalidate = cache.stamp();
        cache.invalidate("alice");
        cache.insert("alice".to_owned(), 1, before_invalidate);
        assert_eq!(cache.get("alice"), None);

        let before_clear = cache.stamp();
        cache.clear();
        cache.insert("alice".to_owned(), 1, before_clear);
        assert!(cache.is_empty());

        put(&cache, "alice", 2);
        assert_eq!(cache.get("alice"), Some(2));
    }

    #[test]
    fn a_zero_ttl_or_capacity_keeps_nothing() {
        for cache in [cache(Duration::ZERO, 10), cache(LONG, 0)] {
            assert!(!cache.is_enabled());
            put(&cache, "alice", 1);
            assert_eq!(cache.get("alice"), None);
            assert!(cache.is_empty());
        }
        assert!(cache(LONG, 1).is_enabled());
    }

    #[test]
    fn many_distinct_keys_never_exceed_the_capacity_and_the_newest_is_kept() {
        let cache = cache(LONG, 8);
        for i in 0..100 {
            put(&cache, &format!("user-{i}"), i);
            assert!(cache.len() <= 8, "{} entries", cache.len());
        }
        assert_eq!(cache.len(), 8);
        assert_eq!(cache.get("user-99"), Some(99));
    }

    #[test]
    fn when_full_expired_entries_are_dropped_before_fresh_ones() {
        let cache = cache(LONG, 3);
        cache.insert("old-1".to_owned(), 1, stamped_ago(&cache, 2 * LONG));
        cache.insert("old-2".to_owned(), 2, stamped_ago(&cache, 2 * LONG));
        put(&cache, "fresh", 3);
        put(&cache, "new", 4); // full: both expired entries go, "fresh" stays
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("fresh"), Some(3));
        assert_eq!(cache.get("new"), Some(4));
    }

    #[test]
    fn updating_a_key_of_a_full_cache_drops_nothing() {
        let cache = cache(LONG, 2);
        put(&cache, "alice", 1);
        put(&cache, "bob", 2);
        put(&cache, "alice", 3);
        assert_eq!(cache.get("alice"), Some(3));
        assert_eq!(cache.get("bob"), Some(2));
    }
}
