//! The counter store: rate-limit buckets, failure windows and remembered marks, by key.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use mcp_core::StoreError;

pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub(crate) mod state;

/// The longest key a store accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// How long a caller refused by [`Reservation::Full`] is told to wait: the checks holding the
/// places are about to finish, one way or the other.
pub const PENDING_WAIT: Duration = Duration::from_secs(1);

/// A rate: at most `burst` calls at once, and one more every `period / burst` after that (the
/// generic cell rate algorithm, as the `governor` crate implements it). `Quota::per_minute(10)`
/// allows 10 calls at once and then one every 6 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    burst: NonZeroU32,
    period: Duration,
}

impl Quota {
    /// `n` calls per minute, all of them at once if need be (at least 1).
    pub fn per_minute(n: u32) -> Self {
        Self::new(n, Duration::from_secs(60))
    }

    /// `burst` calls (at least 1) refilled evenly over `period` (at least 1 ms).
    pub fn new(burst: u32, period: Duration) -> Self {
        Self {
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
            period: period.max(Duration::from_millis(1)),
        }
    }

    /// How many calls may come at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time over which `burst` calls are refilled.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Milliseconds between two refilled calls (at least 1).
    pub(crate) fn interval_ms(&self) -> i64 {
        (millis(self.period) / i64::from(self.burst.get())).max(1)
    }

    /// How far ahead of now the bucket may be booked: `interval × burst`.
    pub(crate) fn horizon_ms(&self) -> i64 {
        self.interval_ms()
            .saturating_mul(i64::from(self.burst.get()))
    }
}

/// The answer of [`CounterStore::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// The call is allowed and was counted.
    Allowed,
    /// The call is refused; the next one can pass after this long.
    Wait(Duration),
}

/// How many failures a window holds before it locks, and how long a window (and a lock) lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureLimit {
    /// Failures (and reserved attempts) that fill the window; the failure that reaches it
    /// locks the key for `window`. At least 1.
    pub max: u32,
    /// How long the count lasts from the window's first attempt, and how long a lock lasts.
    pub window: Duration,
}

impl FailureLimit {
    /// `max` failures (at least 1) per `window` (at least 1 ms).
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window: window.max(Duration::from_millis(1)),
        }
    }
}

/// A place taken by [`CounterStore::reserve`]: it counts as a failure until it is settled with
/// [`CounterStore::fail`] or [`CounterStore::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a reserved place counts as a failure until it is settled"]
pub struct Reserved {
    /// The start of the window the place was taken in (ms since the Unix epoch).
    window_start: i64,
}

impl Reserved {
    pub(crate) fn new(window_start: i64) -> Self {
        Self { window_start }
    }

    pub(crate) fn window_start(&self) -> i64 {
        self.window_start
    }
}

/// The answer of [`CounterStore::reserve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A place was taken; settle it when the attempt's outcome is known.
    Reserved(Reserved),
    /// The key is locked for this long.
    Locked {
        /// How long the lock still lasts.
        wait: Duration,
    },
    /// Failures and reserved places fill the window, and the attempts holding places have not
    /// finished yet: retry after [`PENDING_WAIT`].
    Full {
        /// How long to wait before trying again.
        wait: Duration,
    },
}

/// Counters shared by every server instance that uses the same store, keyed by text.
///
/// Three kinds of entry, each under keys of its own (callers put a prefix per use in the key):
///
/// * **Rate buckets** ([`acquire`](Self::acquire)): a [`Quota`] per key, refilled over time.
/// * **Failure windows** ([`reserve`](Self::reserve), [`fail`](Self::fail),
///   [`release`](Self::release), [`reset`](Self::reset)): a count of failures within a window
///   that starts at the first attempt; an attempt reserves its place before it is checked, so
///   however many attempts arrive at once (on however many instances), at most `max` of them
///   are ever checked per window. The failure that reaches `max` locks the key for the window's
///   length.
/// * **Marks** ([`remember`](Self::remember), [`remembered`](Self::remembered)): a key known
///   until a time.
///
/// Every operation on one key is atomic, whichever instance runs it: that is what makes a
/// limit hold across instances. Times come from the caller (`now`), so instances must have
/// synchronised clocks (NTP); a skew shifts a window by as much.
///
/// Contract, checked for every backend by the conformance suite
/// (`counter_store_conformance!`, feature `testing`): the semantics above, keys up to
/// [`MAX_KEY_BYTES`] (an empty or longer key is [`StoreError::Invalid`]), and
/// [`purge_expired`](Self::purge_expired) removing only entries that no longer affect any
/// answer.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Takes one call from `key`'s bucket under `quota`, or says how long until one is free.
    /// A refused call takes nothing.
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError>;

    /// Reserves a place for one attempt in `key`'s failure window, or says why not. The window
    /// starts afresh when its time is over and no lock holds, and when it began before
    /// `forget_before` (an administrator's unlock).
    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError>;

    /// Settles a reserved place as a failure (counted in the current window, if the reserved
    /// one has ended); returns whether this failure locked the key. A key reset meanwhile
    /// counts nothing.
    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives a reserved place back (the attempt succeeded, or was never checked).
    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets everything about `key` (its bucket, window, lock or mark).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;

    /// Remembers `key` until `now + ttl`.
    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether `key` is remembered at `now`.
    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Removes the entries that no longer affect any answer at `now`; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[async_trait]
impl<T: CounterStore + ?Sized> CounterStore for Arc<T> {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        (**self).acquire(key, quota, now).await
    }

    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        (**self).reserve(key, limit, forget_before, now).await
    }

    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        (**self).fail(key, reserved, limit, now).await
    }

    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        (**self).release(key, reserved, now).await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        (**self).reset(key).await
    }

    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        (**self).remember(key, ttl, now).await
    }

    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        (**self).remembered(key, now).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).purge_expired(now).await
    }
}

/// Refuses an empty key or one longer than [`MAX_KEY_BYTES`].
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid(
            "counter key must not be empty".to_owned(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "counter key of {} bytes is longer than {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Whole milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A non-negative number of milliseconds as a duration.
pub(crate) fn duration_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
