//! A [`CounterStore`] in process memory: the counts of one instance alone.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::state::{self, Entry, Write};
use super::{
    Admission, CounterStore, FailureLimit, Quota, Reservation, Reserved, StoreError, check_key,
    epoch_ms, millis,
};

/// How many keys a [`MemoryCounterStore`] holds at most by default.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// Below this many entries the map is not pruned.
const PRUNE_ABOVE: usize = 1_000;

/// Counters kept in process memory: each server instance counts alone (with N instances a
/// limit allows up to N times its count), and a restart forgets them.
///
/// Memory is bounded: expired entries are dropped as the map grows (pruning doubles its
/// threshold from what stays, so it costs O(1) per insert), and past the capacity a new key is
/// refused with [`StoreError::Unavailable`] rather than tracked.
///
/// ```
/// use mcp_limits::store::{Admission, CounterStore, Quota, memory::MemoryCounterStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_core::StoreError> {
/// let store = MemoryCounterStore::new();
/// let now = chrono::Utc::now();
/// let quota = Quota::per_minute(1);
/// assert_eq!(store.acquire("execute:alice", quota, now).await?, Admission::Allowed);
/// assert!(matches!(store.acquire("execute:alice", quota, now).await?, Admission::Wait(_)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryCounterStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    prune_above: usize,
}

impl Default for MemoryCounterStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MemoryCounterStore {
    /// An empty store holding at most [`DEFAULT_CAPACITY`] keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding at most `capacity` keys (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                entries: HashMap::new(),
                prune_above: PRUNE_ABOVE,
            }),
        }
    }

    /// How many keys are held (expired ones included until they are pruned).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is one insert or remove: a poisoned lock leaves the map consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one operation on `key`'s entry under the lock.
    fn update<T>(
        &self,
        key: &str,
        now: i64,
        op: impl FnOnce(Option<Entry>) -> (T, Write),
    ) -> Result<T, StoreError> {
        check_key(key)?;
        let mut state = self.lock();
        let (answer, write) = op(state.entries.get(key).copied());
        match write {
            Write::Keep => {}
            Write::Delete => {
                state.entries.remove(key);
            }
            Write::Put(entry) => {
                if !state.entries.contains_key(key) {
                    state.make_room(now, self.capacity)?;
                }
                state.entries.insert(key.to_owned(), entry);
            }
        }
        Ok(answer)
    }
}

impl State {
    fn make_room(&mut self, now: i64, capacity: usize) -> Result<(), StoreError> {
        if self.entries.len() >= self.prune_above || self.entries.len() >= capacity {
            self.entries.retain(|_, e| !state::expired(e, now));
            self.prune_above = (self.entries.len() * 2).max(PRUNE_ABOVE);
        }
        if self.entries.len() >= capacity {
            return Err(StoreError::unavailable(format!(
                "counter store full: {capacity} keys are in use"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl CounterStore for MemoryCounterStore {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let now = epoch_ms(now);
        self.update(key, now, |e| state::acquire(e, quota, now))
    }

    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let now = epoch_ms(now);
        let forget = forget_before.map(epoch_ms);
        self.update(key, now, |e| state::reserve(e, limit, forget, now))
    }

    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = epoch_ms(now);
        self.update(key, now, |e| state::fail(e, reserved, limit, now))
    }

    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = epoch_ms(now);
        self.update(key, now, |e| ((), state::release(e, reserved)))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.update(key, 0, |_| ((), Write::Delete))
    }

    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = epoch_ms(now);
        self.update(key, now, |_| {
            ((), Write::Put(state::remember(millis(ttl), now)))
        })
    }

    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = epoch_ms(now);
        self.update(key, now, |e| (state::remembered(e, now), Write::Keep))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = epoch_ms(now);
        let mut state = self.lock();
        let before = state.entries.len();
        state.entries.retain(|_, e| !state::expired(e, now));
        Ok((before - state.entries.len()) as u64)
    }
}
