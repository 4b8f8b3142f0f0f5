//! The behaviour every [`CounterStore`] backend must show (feature `testing`).
//!
//! Mount it in a backend's integration test with
//! [`counter_store_conformance!`](crate::counter_store_conformance), which expands to one
//! `#[tokio::test]` per case below, each with a fresh store from the expression you pass. The
//! mounting crate needs `tokio` (`macros`, `rt-multi-thread`) as a dev-dependency.
//!
//! Times are fixed instants, so no case depends on the wall clock or on how fast it runs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::{
    Admission, CounterStore, FailureLimit, MAX_KEY_BYTES, Quota, Reservation, Reserved, StoreError,
};

/// A counter store that is down: every call fails with [`StoreError::Unavailable`]. For
/// testing that callers refuse rather than admit when their counters cannot be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableCounterStore;

fn unavailable() -> StoreError {
    StoreError::unavailable("counter store down")
}

#[async_trait]
impl CounterStore for UnavailableCounterStore {
    async fn acquire(&self, _: &str, _: Quota, _: DateTime<Utc>) -> Result<Admission, StoreError> {
        Err(unavailable())
    }
    async fn reserve(
        &self,
        _: &str,
        _: FailureLimit,
        _: Option<DateTime<Utc>>,
        _: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        Err(unavailable())
    }
    async fn fail(
        &self,
        _: &str,
        _: Reserved,
        _: FailureLimit,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Err(unavailable())
    }
    async fn release(&self, _: &str, _: Reserved, _: DateTime<Utc>) -> Result<(), StoreError> {
        Err(unavailable())
    }
    async fn reset(&self, _: &str) -> Result<(), StoreError> {
        Err(unavailable())
    }
    async fn remember(&self, _: &str, _: Duration, _: DateTime<Utc>) -> Result<(), StoreError> {
        Err(unavailable())
    }
    async fn remembered(&self, _: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
        Err(unavailable())
    }
    async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(unavailable())
    }
}

/// A store together with something that must outlive it (see [`with_guard`]).
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

/// Pairs `store` with `guard` (for example a `tempfile::TempDir`), dropping the guard only
/// after the store.
pub fn with_guard<S: CounterStore, G: Send + Sync>(store: S, guard: G) -> Guarded<S, G> {
    Guarded {
        store,
        _guard: guard,
    }
}

#[async_trait]
impl<S: CounterStore, G: Send + Sync> CounterStore for Guarded<S, G> {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        self.store.acquire(key, quota, now).await
    }

    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        self.store.reserve(key, limit, forget_before, now).await
    }

    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store.fail(key, reserved, limit, now).await
    }

    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.release(key, reserved, now).await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.store.reset(key).await
    }

    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.remember(key, ttl, now).await
    }

    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.store.remembered(key, now).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.purge_expired(now).await
    }
}

/// A fixed instant `ms` milliseconds after a base time.
pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("fixed test instant in range")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Expands to one `#[tokio::test]` per conformance case, each calling the case with a fresh
/// store built by awaiting the expression.
///
/// With `optional:` the future yields an `Option` of a store, and `None` skips the case: use it
/// for backends that need an external service (Neo4j) when none is configured.
///
/// ```no_run
/// // tests/memory.rs
/// use mcp_limits::store::memory::MemoryCounterStore;
/// mcp_limits::counter_store_conformance!(async { MemoryCounterStore::new() });
/// ```
#[macro_export]
macro_rules! counter_store_conformance {
    (optional: $make:expr $(,)?) => {
        $crate::__counter_store_cases!(optional $make);
    };
    ($make:expr $(,)?) => {
        $crate::__counter_store_cases!(always $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __counter_store_cases {
    ($mode:ident $make:expr) => {
        $crate::__counter_store_cases!(
            $mode $make;
            a_bucket_allows_its_burst_then_says_how_long_to_wait,
            a_refused_call_takes_nothing_from_the_bucket,
            a_bucket_refills_one_call_per_interval,
            buckets_of_different_keys_are_independent,
            reservations_fill_the_window_up_to_max,
            a_released_place_can_be_taken_again,
            the_failure_that_reaches_max_locks_the_key_for_the_window,
            a_lock_ends_after_its_time_and_counting_starts_afresh,
            a_window_without_a_lock_starts_afresh_after_its_length,
            an_unlock_mark_forgets_an_older_window_and_its_lock,
            reset_forgets_the_window_and_a_later_failure_counts_nothing,
            a_failure_of_an_ended_window_counts_in_the_next,
            a_mark_is_remembered_until_its_time,
            purge_removes_only_what_no_longer_matters,
            keys_are_compared_verbatim_and_bounded,
            concurrent_calls_never_exceed_the_burst,
            concurrent_attempts_never_exceed_max,
        );
    };
    ($mode:ident $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $crate::__counter_store_make!($mode $make);
                $crate::conformance::$case(store).await;
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __counter_store_make {
    (always $make:expr) => {
        $make.await
    };
    (optional $make:expr) => {
        match $make.await {
            ::core::option::Option::Some(store) => store,
            ::core::option::Option::None => {
                ::std::eprintln!("skipped: counter store backend not configured");
                return;
            }
        }
    };
}

async fn reserved<S: CounterStore>(
    store: &S,
    key: &str,
    limit: FailureLimit,
    now: DateTime<Utc>,
) -> Reserved {
    match store.reserve(key, limit, None, now).await.expect("reserve") {
        Reservation::Reserved(place) => place,
        other => panic!("expected a place in {key}'s window, got {other:?}"),
    }
}

/// `burst` calls pass at once; the next is told to wait one interval.
pub async fn a_bucket_allows_its_burst_then_says_how_long_to_wait<S: CounterStore>(store: S) {
    let quota = Quota::per_minute(3);
    for _ in 0..3 {
        assert_eq!(
            store.acquire("k", quota, at(0)).await.unwrap(),
            Admission::Allowed
        );
    }
    assert_eq!(
        store.acquire("k", quota, at(0)).await.unwrap(),
        Admission::Wait(secs(20))
    );
    assert_eq!(
        store.acquire("k", quota, at(5_000)).await.unwrap(),
        Admission::Wait(secs(15))
    );
}

/// Refused calls do not push the next free call further away.
pub async fn a_refused_call_takes_nothing_from_the_bucket<S: CounterStore>(store: S) {
    let quota = Quota::per_minute(1);
    assert_eq!(
        store.acquire("k", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    for ms in [1, 10_000, 59_999] {
        assert!(matches!(
            store.acquire("k", quota, at(ms)).await.unwrap(),
            Admission::Wait(_)
        ));
    }
    assert_eq!(
        store.acquire("k", quota, at(60_000)).await.unwrap(),
        Admission::Allowed
    );
}

/// After the burst, one call per `period / burst`; an idle bucket holds no more than its burst.
pub async fn a_bucket_refills_one_call_per_interval<S: CounterStore>(store: S) {
    let quota = Quota::new(2, secs(10));
    for _ in 0..2 {
        assert_eq!(
            store.acquire("k", quota, at(0)).await.unwrap(),
            Admission::Allowed
        );
    }
    assert_eq!(
        store.acquire("k", quota, at(5_000)).await.unwrap(),
        Admission::Allowed
    );
    assert_eq!(
        store.acquire("k", quota, at(5_000)).await.unwrap(),
        Admission::Wait(secs(5))
    );
    // An hour later: two at once again, not more.
    for _ in 0..2 {
        assert_eq!(
            store.acquire("k", quota, at(3_600_000)).await.unwrap(),
            Admission::Allowed
        );
    }
    assert!(matches!(
        store.acquire("k", quota, at(3_600_000)).await.unwrap(),
        Admission::Wait(_)
    ));
}

/// Each key has its own bucket.
pub async fn buckets_of_different_keys_are_independent<S: CounterStore>(store: S) {
    let quota = Quota::per_minute(1);
    assert_eq!(
        store.acquire("rate:alice", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    assert!(matches!(
        store.acquire("rate:alice", quota, at(0)).await.unwrap(),
        Admission::Wait(_)
    ));
    assert_eq!(
        store.acquire("rate:bob", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
}

/// `max` places can be reserved; one more is refused as full (the holders are still checking).
pub async fn reservations_fill_the_window_up_to_max<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(3, secs(60));
    for ms in 0..3 {
        let _held = reserved(&store, "k", limit, at(ms)).await;
    }
    assert_eq!(
        store.reserve("k", limit, None, at(10)).await.unwrap(),
        Reservation::Full {
            wait: crate::store::PENDING_WAIT
        }
    );
    assert!(matches!(
        store.reserve("other", limit, None, at(10)).await.unwrap(),
        Reservation::Reserved(_)
    ));
}

/// A released place (a success, or an attempt never checked) frees room in the window.
pub async fn a_released_place_can_be_taken_again<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(1, secs(60));
    let place = reserved(&store, "k", limit, at(0)).await;
    assert!(matches!(
        store.reserve("k", limit, None, at(1)).await.unwrap(),
        Reservation::Full { .. }
    ));
    store.release("k", place, at(2)).await.unwrap();
    let _held = reserved(&store, "k", limit, at(3)).await;
}

/// The `max`-th failure locks the key for the window's length from that failure.
pub async fn the_failure_that_reaches_max_locks_the_key_for_the_window<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(2, secs(300));
    let first = reserved(&store, "k", limit, at(0)).await;
    assert!(!store.fail("k", first, limit, at(1_000)).await.unwrap());
    let second = reserved(&store, "k", limit, at(2_000)).await;
    assert!(
        store.fail("k", second, limit, at(10_000)).await.unwrap(),
        "the second failure locks"
    );
    assert_eq!(
        store.reserve("k", limit, None, at(20_000)).await.unwrap(),
        Reservation::Locked {
            wait: Duration::from_millis(290_000)
        }
    );
}

/// Once the lock is over, a new window starts with nothing counted.
pub async fn a_lock_ends_after_its_time_and_counting_starts_afresh<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(1, secs(60));
    let place = reserved(&store, "k", limit, at(0)).await;
    assert!(store.fail("k", place, limit, at(30_000)).await.unwrap());
    assert!(matches!(
        store.reserve("k", limit, None, at(89_999)).await.unwrap(),
        Reservation::Locked { .. }
    ));
    let place = reserved(&store, "k", limit, at(90_000)).await;
    store.release("k", place, at(90_001)).await.unwrap();
    let _held = reserved(&store, "k", limit, at(90_002)).await;
}

/// Failures below `max` are forgotten when the window's time is over.
pub async fn a_window_without_a_lock_starts_afresh_after_its_length<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(2, secs(60));
    let place = reserved(&store, "k", limit, at(0)).await;
    assert!(!store.fail("k", place, limit, at(1)).await.unwrap());
    let place = reserved(&store, "k", limit, at(60_000)).await;
    assert!(
        !store.fail("k", place, limit, at(60_001)).await.unwrap(),
        "the first failure of a new window does not lock"
    );
}

/// A window (and its lock) that began before `forget_before` is forgotten.
pub async fn an_unlock_mark_forgets_an_older_window_and_its_lock<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(1, secs(600));
    let place = reserved(&store, "k", limit, at(0)).await;
    assert!(store.fail("k", place, limit, at(1_000)).await.unwrap());
    assert!(
        matches!(
            store
                .reserve("k", limit, Some(at(0)), at(2_000))
                .await
                .unwrap(),
            Reservation::Locked { .. }
        ),
        "a mark no later than the window's start forgets nothing"
    );
    assert!(matches!(
        store
            .reserve("k", limit, Some(at(1_500)), at(2_000))
            .await
            .unwrap(),
        Reservation::Reserved(_)
    ));
}

/// `reset` forgets the key; a failure whose place was taken before counts nothing.
pub async fn reset_forgets_the_window_and_a_later_failure_counts_nothing<S: CounterStore>(
    store: S,
) {
    let limit = FailureLimit::new(1, secs(600));
    let place = reserved(&store, "k", limit, at(0)).await;
    store.reset("k").await.unwrap();
    assert!(!store.fail("k", place, limit, at(1)).await.unwrap());
    let _held = reserved(&store, "k", limit, at(2)).await;
    let quota = Quota::per_minute(1);
    assert_eq!(
        store.acquire("b", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    store.reset("b").await.unwrap();
    assert_eq!(
        store.acquire("b", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
}

/// A failure settled after its window ended counts in the next window.
pub async fn a_failure_of_an_ended_window_counts_in_the_next<S: CounterStore>(store: S) {
    let limit = FailureLimit::new(2, secs(60));
    let old = reserved(&store, "k", limit, at(0)).await;
    let _new = reserved(&store, "k", limit, at(61_000)).await;
    assert!(
        store.fail("k", old, limit, at(61_500)).await.unwrap(),
        "the old failure and the new place fill the new window"
    );
}

/// A mark is remembered for its time to live, and not a millisecond longer.
pub async fn a_mark_is_remembered_until_its_time<S: CounterStore>(store: S) {
    assert!(
        !store
            .remembered("known:alice:10.0.0.1", at(0))
            .await
            .unwrap()
    );
    store
        .remember("known:alice:10.0.0.1", secs(30), at(0))
        .await
        .unwrap();
    assert!(
        store
            .remembered("known:alice:10.0.0.1", at(29_999))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remembered("known:alice:10.0.0.1", at(30_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remembered("known:alice:10.0.0.2", at(1))
            .await
            .unwrap()
    );
    store
        .remember("known:alice:10.0.0.1", secs(30), at(20_000))
        .await
        .unwrap();
    assert!(
        store
            .remembered("known:alice:10.0.0.1", at(49_999))
            .await
            .unwrap()
    );
}

/// `purge_expired` removes exactly the entries that no longer change an answer.
pub async fn purge_removes_only_what_no_longer_matters<S: CounterStore>(store: S) {
    let quota = Quota::per_minute(1);
    let limit = FailureLimit::new(1, secs(60));
    assert_eq!(
        store.acquire("bucket", quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    let place = reserved(&store, "locked", limit, at(0)).await;
    assert!(
        store
            .fail("locked", place, limit, at(50_000))
            .await
            .unwrap()
    );
    store.remember("mark", secs(120), at(0)).await.unwrap();
    assert_eq!(store.purge_expired(at(59_999)).await.unwrap(), 0);
    // The bucket is full again at 60 s; the lock lasts until 110 s, the mark until 120 s.
    assert_eq!(store.purge_expired(at(60_000)).await.unwrap(), 1);
    assert!(matches!(
        store
            .reserve("locked", limit, None, at(60_001))
            .await
            .unwrap(),
        Reservation::Locked { .. }
    ));
    assert_eq!(store.purge_expired(at(120_000)).await.unwrap(), 2);
    assert_eq!(store.purge_expired(at(120_000)).await.unwrap(), 0);
}

/// Keys are compared as given (case, spaces, Unicode, quotes); empty and overlong keys are
/// refused as invalid.
pub async fn keys_are_compared_verbatim_and_bounded<S: CounterStore>(store: S) {
    let quota = Quota::per_minute(1);
    let odd = "login:O'Brien \"x\" \u{00e9}\u{1F600}:[::1]";
    assert_eq!(
        store.acquire(odd, quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    assert!(matches!(
        store.acquire(odd, quota, at(0)).await.unwrap(),
        Admission::Wait(_)
    ));
    assert_eq!(
        store
            .acquire(&odd.to_uppercase(), quota, at(0))
            .await
            .unwrap(),
        Admission::Allowed
    );
    assert_eq!(
        store
            .acquire(&format!("{odd} "), quota, at(0))
            .await
            .unwrap(),
        Admission::Allowed
    );
    let longest = "k".repeat(MAX_KEY_BYTES);
    assert_eq!(
        store.acquire(&longest, quota, at(0)).await.unwrap(),
        Admission::Allowed
    );
    for bad in [String::new(), "k".repeat(MAX_KEY_BYTES + 1)] {
        assert!(matches!(
            store.acquire(&bad, quota, at(0)).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store
                .reserve(&bad, FailureLimit::new(1, secs(1)), None, at(0))
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
}

/// However many calls arrive at once, no more than the burst pass.
pub async fn concurrent_calls_never_exceed_the_burst<S: CounterStore + 'static>(store: S) {
    let store = Arc::new(store);
    let quota = Quota::per_minute(5);
    let calls = (0..24).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.acquire("shared", quota, at(0)).await.unwrap() })
    });
    let mut allowed = 0;
    for call in calls.collect::<Vec<_>>() {
        allowed += usize::from(call.await.unwrap() == Admission::Allowed);
    }
    assert_eq!(allowed, 5);
}

/// However many attempts arrive at once, no more than `max` get a place.
pub async fn concurrent_attempts_never_exceed_max<S: CounterStore + 'static>(store: S) {
    let store = Arc::new(store);
    let limit = FailureLimit::new(4, secs(60));
    let attempts = (0..24).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.reserve("shared", limit, None, at(0)).await.unwrap() })
    });
    let mut places = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        places += usize::from(matches!(attempt.await.unwrap(), Reservation::Reserved(_)));
    }
    assert_eq!(places, 4);
}
