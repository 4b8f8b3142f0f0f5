//! The rules of every operation as pure functions of an entry's state, shared by the memory
//! and SQLite backends (the Neo4j backend states the same rules in Cypher). Times are
//! milliseconds since the Unix epoch.

use super::{
    Admission, FailureLimit, PENDING_WAIT, Quota, Reservation, Reserved, duration_ms, millis,
};

/// What is kept per key. A key is used for one kind of entry; the fields of the other kinds stay
/// zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Rate bucket: the theoretical arrival time of the next call.
    pub tat: i64,
    /// Failure window: failures and reserved places.
    pub count: i64,
    /// Failure window: when it began; mark: when it was set.
    pub start: i64,
    /// Failure window: the end of the lock, or 0.
    pub locked_until: i64,
    /// When the entry stops affecting any answer (then it may be purged).
    pub expires: i64,
}

/// What an operation does to the stored entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    /// Leave it as it is.
    Keep,
    /// Store this.
    Put(Entry),
    /// Remove it.
    Delete,
}

pub(crate) fn acquire(entry: Option<Entry>, quota: Quota, now: i64) -> (Admission, Write) {
    let tat = entry.map_or(now, |e| e.tat).max(now);
    let next = tat.saturating_add(quota.interval_ms());
    if next - now <= quota.horizon_ms() {
        let entry = Entry {
            tat: next,
            expires: next,
            ..Entry::default()
        };
        (Admission::Allowed, Write::Put(entry))
    } else {
        let wait = next - quota.horizon_ms() - now;
        (Admission::Wait(duration_ms(wait)), Write::Keep)
    }
}

fn fresh(now: i64, limit: FailureLimit) -> Entry {
    Entry {
        start: now,
        expires: now.saturating_add(millis(limit.window)),
        ..Entry::default()
    }
}

/// The window's entry as it stands at `now`: a new one when it is over and no lock holds.
fn rolled(entry: Entry, limit: FailureLimit, now: i64) -> Entry {
    if entry.locked_until <= now && now - entry.start >= millis(limit.window) {
        fresh(now, limit)
    } else {
        entry
    }
}

fn with_expiry(mut entry: Entry, limit: FailureLimit) -> Entry {
    entry.expires = entry
        .start
        .saturating_add(millis(limit.window))
        .max(entry.locked_until);
    entry
}

pub(crate) fn reserve(
    entry: Option<Entry>,
    limit: FailureLimit,
    forget_before: Option<i64>,
    now: i64,
) -> (Reservation, Write) {
    let mut entry = match entry {
        Some(e) if forget_before.is_none_or(|t| e.start >= t) => rolled(e, limit, now),
        _ => fresh(now, limit),
    };
    if entry.locked_until > now {
        let wait = duration_ms(entry.locked_until - now);
        return (Reservation::Locked { wait }, Write::Put(entry));
    }
    if entry.count >= i64::from(limit.max) {
        return (Reservation::Full { wait: PENDING_WAIT }, Write::Put(entry));
    }
    entry.count += 1;
    let reserved = Reserved::new(entry.start);
    (
        Reservation::Reserved(reserved),
        Write::Put(with_expiry(entry, limit)),
    )
}

pub(crate) fn fail(
    entry: Option<Entry>,
    reserved: Reserved,
    limit: FailureLimit,
    now: i64,
) -> (bool, Write) {
    // Reset meanwhile (an unlock, a success): nothing of it counts any more.
    let Some(entry) = entry else {
        return (false, Write::Keep);
    };
    let moved = entry.start != reserved.window_start();
    let mut entry = if entry.locked_until <= now && now - entry.start >= millis(limit.window) {
        // The window is over: this failure opens the next one.
        Entry {
            count: 1,
            ..fresh(now, limit)
        }
    } else if moved {
        // The reserved place went with an older window: count the failure in this one.
        Entry {
            count: entry.count + 1,
            ..entry
        }
    } else {
        entry
    };
    let lock = entry.count >= i64::from(limit.max) && entry.locked_until <= now;
    if lock {
        entry.locked_until = now.saturating_add(millis(limit.window));
    }
    (lock, Write::Put(with_expiry(entry, limit)))
}

pub(crate) fn release(entry: Option<Entry>, reserved: Reserved) -> Write {
    match entry {
        Some(mut e) if e.start == reserved.window_start() && e.count > 0 => {
            e.count -= 1;
            Write::Put(e)
        }
        _ => Write::Keep,
    }
}

pub(crate) fn remember(ttl_ms: i64, now: i64) -> Entry {
    Entry {
        start: now,
        expires: now.saturating_add(ttl_ms),
        ..Entry::default()
    }
}

pub(crate) fn remembered(entry: Option<Entry>, now: i64) -> bool {
    entry.is_some_and(|e| e.expires > now)
}

/// Whether the entry no longer affects any answer at `now`.
pub(crate) fn expired(entry: &Entry, now: i64) -> bool {
    entry.expires <= now
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn apply(entry: Option<Entry>, write: Write) -> Option<Entry> {
        match write {
            Write::Keep => entry,
            Write::Put(e) => Some(e),
            Write::Delete => None,
        }
    }

    #[test]
    fn a_bucket_allows_the_burst_then_one_call_per_interval() {
        let quota = Quota::per_minute(3);
        let mut entry = None;
        for _ in 0..3 {
            let (admission, write) = acquire(entry, quota, 0);
            assert_eq!(admission, Admission::Allowed);
            entry = apply(entry, write);
        }
        let (admission, write) = acquire(entry, quota, 0);
        assert_eq!(admission, Admission::Wait(Duration::from_secs(20)));
        assert_eq!(write, Write::Keep, "a refused call takes nothing");
        assert_eq!(
            acquire(entry, quota, 19_999).0,
            Admission::Wait(Duration::from_millis(1))
        );
        assert_eq!(acquire(entry, quota, 20_000).0, Admission::Allowed);
    }

    #[test]
    fn a_long_idle_bucket_holds_no_more_than_its_burst() {
        let quota = Quota::per_minute(2);
        let (_, write) = acquire(None, quota, 0);
        let mut entry = apply(None, write);
        for _ in 0..2 {
            let (admission, write) = acquire(entry, quota, 3_600_000);
            assert_eq!(admission, Admission::Allowed);
            entry = apply(entry, write);
        }
        assert!(matches!(
            acquire(entry, quota, 3_600_000).0,
            Admission::Wait(_)
        ));
    }

    #[test]
    fn a_failure_after_the_window_ended_opens_a_new_one() {
        let limit = FailureLimit::new(2, Duration::from_secs(10));
        let (r, write) = reserve(None, limit, None, 0);
        let Reservation::Reserved(place) = r else {
            panic!("{r:?}")
        };
        let entry = apply(None, write);
        let (locked, write) = fail(entry, place, limit, 15_000);
        assert!(!locked);
        let entry = apply(entry, write).unwrap();
        assert_eq!((entry.count, entry.start), (1, 15_000));
    }

    #[test]
    fn a_failure_whose_window_moved_counts_in_the_new_one() {
        let limit = FailureLimit::new(2, Duration::from_secs(10));
        let (r, write) = reserve(None, limit, None, 0);
        let Reservation::Reserved(old) = r else {
            panic!("{r:?}")
        };
        let entry = apply(None, write);
        // Another attempt after the window ended rolls it over.
        let (r, write) = reserve(entry, limit, None, 11_000);
        assert!(matches!(r, Reservation::Reserved(_)));
        let entry = apply(entry, write);
        let (locked, write) = fail(entry, old, limit, 11_500);
        assert!(locked, "the old failure plus the new place reach max");
        assert_eq!(apply(entry, write).unwrap().count, 2);
    }

    #[test]
    fn releasing_a_place_of_an_older_window_changes_nothing() {
        let entry = Entry {
            count: 3,
            start: 100,
            ..Entry::default()
        };
        assert_eq!(release(Some(entry), Reserved::new(99)), Write::Keep);
        assert_eq!(release(None, Reserved::new(100)), Write::Keep);
    }

    #[test]
    fn an_entry_expires_when_neither_its_window_nor_its_lock_holds() {
        let limit = FailureLimit::new(1, Duration::from_secs(10));
        let (r, write) = reserve(None, limit, None, 0);
        let Reservation::Reserved(place) = r else {
            panic!("{r:?}")
        };
        let (locked, write) = fail(apply(None, write), place, limit, 9_000);
        assert!(locked);
        let entry = apply(None, write).unwrap();
        assert_eq!(entry.expires, 19_000, "the lock outlasts the window");
        assert!(!expired(&entry, 18_999));
        assert!(expired(&entry, 19_000));
    }
}
