//! [`LoginGuard`]: the brute-force lock-out of `POST /auth/token`.
//!
//! The model (SECURITY.md, "Log-in lock-out"):
//!
//! - **Per user name and client address** (`auth.max_failures_per_user`, 5): that many failed
//!   log-ins for one name from one address within `auth.lockout_secs` lock that pair for
//!   `auth.lockout_secs`. An attacker locks only themselves out: the owner, from another
//!   address, is not affected.
//! - **Per client address** (`auth.max_failures_per_ip`, 20), across names: an address
//!   spraying guesses over many names is locked.
//! - **Per user name, from new addresses** (`auth.max_failures_per_account`, 30): failures for
//!   one name from addresses that never logged in as it (within
//!   `auth.remember_login_address_days`) are counted together; past the limit such addresses
//!   wait until the window ends. This slows a distributed guesser down to that many guesses
//!   per window and name, while the owner, from an address they logged in from before, keeps
//!   the per-pair allowance (remembered addresses are also exempt from the per-address lock,
//!   so an attacker behind the same NAT does not lock the owner out).
//! - **Race-free:** an attempt reserves its place in every counter it is judged by before the
//!   password is checked ([`LoginGuard::begin`]), and the reservation counts as a failure
//!   until the check ends ([`Attempt::finish`]). However many guesses arrive at once, at most
//!   the limit of them are ever evaluated per pair, address and name.
//! - **Admin unlock:** [`LoginGuard::unlock`] forgets a name's counters and pairs at once;
//!   the `unlocked_at` mark a user store keeps (for other instances and the CLI) is passed to
//!   [`LoginGuard::begin`], which then drops counters older than it.
//!
//! Memory is bounded: idle entries are pruned as the maps grow, and past
//! [`MAX_TRACKED`] live entries new names or addresses are refused (503) rather than tracked.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The most user names (and, separately, addresses) tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// Below this many entries a map is not pruned.
const PRUNE_ABOVE: usize = 1_000;

/// How long a refused attempt waits when the outcome that decides is still being checked.
const PENDING_WAIT: Duration = Duration::from_secs(1);

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Locked (or, with checks under way, about to be): retry after this long.
    Locked {
        /// What is locked.
        scope: LockScope,
        /// How long until a retry can be judged.
        wait: Duration,
    },
    /// Too many names or addresses are tracked; nothing new is tracked (503).
    Full,
}

/// What a lock covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockScope {
    /// One user name from one client address.
    UserAndAddress,
    /// One client address, whatever the name.
    Address,
    /// One user name, from addresses that never logged in as it.
    UserFromNewAddresses,
}

impl LockScope {
    /// A stable name for audit events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserAndAddress => "user_and_address",
            Self::Address => "address",
            Self::UserFromNewAddresses => "user_from_new_addresses",
        }
    }
}

/// Failures and reservations in one window.
#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    pending: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            pending: 0,
            window_start: now,
            locked_until: None,
        }
    }

    /// Starts a new window when the old one is over and no lock holds.
    fn roll(&mut self, now: Instant, window: Duration) {
        let locked = self.locked_until.is_some_and(|u| u > now);
        if !locked && now.duration_since(self.window_start) >= window {
            self.failures = 0;
            self.window_start = now;
            self.locked_until = None;
        }
    }

    /// `Some(wait)` when this counter refuses one more attempt under `max`.
    fn refusal(&self, now: Instant, max: u32) -> Option<Duration> {
        if let Some(until) = self.locked_until.filter(|u| *u > now) {
            return Some(until - now);
        }
        (self.failures + self.pending >= max).then_some(PENDING_WAIT)
    }

    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.pending == 0
            && self.locked_until.is_none_or(|u| u <= now)
            && (self.failures == 0 || now.duration_since(self.window_start) >= window)
    }
}

/// Everything kept about one user name.
#[derive(Debug)]
struct Account {
    /// When this state began (wall clock), to compare with an admin unlock.
    since: DateTime<Utc>,
    from_new_addresses: Counter,
    pairs: HashMap<Option<IpAddr>, Counter>,
    /// Addresses that logged in as this name, with the last success.
    known: HashMap<Option<IpAddr>, Instant>,
}

impl Account {
    fn new(now: Instant) -> Self {
        Self {
            since: Utc::now(),
            from_new_addresses: Counter::new(now),
            pairs: HashMap::new(),
            known: HashMap::new(),
        }
    }

    fn idle(&mut self, now: Instant, limits: &Limits) -> bool {
        self.pairs.retain(|_, c| !c.idle(now, limits.window));
        self.known
            .retain(|_, last| now.duration_since(*last) < limits.remember);
        self.pairs.is_empty()
            && self.known.is_empty()
            && self.from_new_addresses.idle(now, limits.window)
    }
}

/// The limits of the lock-out model (the server fills them from `[auth]`).
#[derive(Debug, Clone, Copy)]
pub struct LockoutLimits {
    /// Failures of one user name from one address (`auth.max_failures_per_user`).
    pub per_user_and_address: u32,
    /// Failures from one address, any names (`auth.max_failures_per_ip`).
    pub per_address: u32,
    /// Failures of one name from addresses that never logged in as it
    /// (`auth.max_failures_per_account`).
    pub per_user_from_new_addresses: u32,
    /// The counting window and the length of a lock (`auth.lockout_secs`).
    pub window: Duration,
    /// How long a user's log-in address is remembered (`auth.remember_login_address_days`).
    pub remember_addresses: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    per_pair: u32,
    per_address: u32,
    per_account: u32,
    window: Duration,
    remember: Duration,
}

#[derive(Debug)]
struct State {
    accounts: HashMap<String, Account>,
    addresses: HashMap<Option<IpAddr>, Counter>,
    prune_accounts_above: usize,
    prune_addresses_above: usize,
}

/// Counts failed log-ins and refuses attempts the lock-out model forbids (module docs).
#[derive(Debug, Clone)]
pub struct LoginGuard {
    limits: Limits,
    state: Arc<Mutex<State>>,
}

/// A reserved attempt: it counts as a failure until [`Attempt::finish`] says how it went. An
/// attempt dropped without `finish` (its password was not checked) gives its place back.
#[must_use = "an attempt counts as a failure until it is finished"]
#[derive(Debug)]
pub struct Attempt {
    guard: LoginGuard,
    account: String,
    ip: Option<IpAddr>,
    known: bool,
    done: bool,
}

/// How a checked attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password matched an enabled account.
    Success,
    /// It did not (wrong password, unknown or disabled account).
    Failure,
}

impl LoginGuard {
    /// A guard with these limits (each count at least 1, the window at least 1 s).
    pub fn new(limits: LockoutLimits) -> Self {
        Self {
            limits: Limits {
                per_pair: limits.per_user_and_address.max(1),
                per_address: limits.per_address.max(1),
                per_account: limits.per_user_from_new_addresses.max(1),
                window: limits.window.max(Duration::from_secs(1)),
                remember: limits.remember_addresses,
            },
            state: Arc::new(Mutex::new(State {
                accounts: HashMap::new(),
                addresses: HashMap::new(),
                prune_accounts_above: PRUNE_ABOVE,
                prune_addresses_above: PRUNE_ABOVE,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the maps consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key a user name is tracked under: bounded, so a huge name cannot grow the map
    /// (longer names than any account can have share their prefix's entry).
    fn key(username: &str) -> String {
        mcp_core::bounded::truncate(username, crate::users::MAX_USERNAME_LEN + 1).into_owned()
    }

    /// Reserves an attempt to log in as `username` from `ip`, or says why not. `unlocked_at` is
    /// the account's admin-unlock mark (from the user store), if it has one: counters for the
    /// name older than it are forgotten first.
    pub fn begin(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        unlocked_at: Option<DateTime<Utc>>,
    ) -> Result<Attempt, Refusal> {
        let now = Instant::now();
        let limits = self.limits;
        let key = Self::key(username);
        let mut state = self.lock();
        state.prune(now, &limits);
        if unlocked_at.is_some_and(|at| state.accounts.get(&key).is_some_and(|a| a.since < at)) {
            state.accounts.remove(&key);
        }
        if !state.accounts.contains_key(&key) && state.accounts.len() >= MAX_TRACKED
            || !state.addresses.contains_key(&ip) && state.addresses.len() >= MAX_TRACKED
        {
            return Err(Refusal::Full);
        }
        let State {
            accounts,
            addresses,
            ..
        } = &mut *state;
        let account = accounts
            .entry(key.clone())
            .or_insert_with(|| Account::new(now));
        let known = account
            .known
            .get(&ip)
            .is_some_and(|last| now.duration_since(*last) < limits.remember);
        let pair = account.pairs.entry(ip).or_insert_with(|| Counter::new(now));
        pair.roll(now, limits.window);
        let refuse = |scope, wait| Err(Refusal::Locked { scope, wait });
        if let Some(wait) = pair.refusal(now, limits.per_pair) {
            return refuse(LockScope::UserAndAddress, wait);
        }
        if !known {
            let address = addresses.entry(ip).or_insert_with(|| Counter::new(now));
            address.roll(now, limits.window);
            if let Some(wait) = address.refusal(now, limits.per_address) {
                return refuse(LockScope::Address, wait);
            }
            let all = &mut account.from_new_addresses;
            all.roll(now, limits.window);
            if let Some(wait) = all.refusal(now, limits.per_account) {
                return refuse(LockScope::UserFromNewAddresses, wait);
            }
            address.pending += 1;
            all.pending += 1;
        }
        if let Some(pair) = account.pairs.get_mut(&ip) {
            pair.pending += 1;
        }
        Ok(Attempt {
            guard: self.clone(),
            account: key,
            ip,
            known,
            done: false,
        })
    }

    /// Forgets every counter, lock and pending check of `username` (the admin unlock on this
    /// instance). Checks under way for it finish without counting.
    pub fn unlock(&self, username: &str) {
        self.lock().accounts.remove(&Self::key(username));
    }

    /// Ends an attempt: releases its reservations and, for a failure, counts it; returns the
    /// scopes this failure locked.
    fn end(&self, attempt: &Attempt, outcome: Option<Outcome>) -> Vec<LockScope> {
        let now = Instant::now();
        let limits = self.limits;
        let mut state = self.lock();
        let mut locked = Vec::new();
        let mut settle = |c: &mut Counter, max: u32, scope: LockScope| {
            c.pending = c.pending.saturating_sub(1);
            if outcome == Some(Outcome::Failure) {
                c.roll(now, limits.window);
                c.failures += 1;
                if c.failures >= max && c.locked_until.is_none_or(|u| u <= now) {
                    c.locked_until = Some(now + limits.window);
                    locked.push(scope);
                }
            }
        };
        let State {
            accounts,
            addresses,
            ..
        } = &mut *state;
        // An unlock meanwhile removed the account: nothing of it counts any more.
        if let Some(account) = accounts.get_mut(&attempt.account) {
            if let Some(pair) = account.pairs.get_mut(&attempt.ip) {
                settle(pair, limits.per_pair, LockScope::UserAndAddress);
                if outcome == Some(Outcome::Success) {
                    *pair = Counter::new(now);
                }
            }
            if !attempt.known {
                settle(
                    &mut account.from_new_addresses,
                    limits.per_account,
                    LockScope::UserFromNewAddresses,
                );
            }
            if outcome == Some(Outcome::Success) {
                account.known.insert(attempt.ip, now);
            }
        }
        if !attempt.known
            && let Some(address) = addresses.get_mut(&attempt.ip)
        {
            settle(address, limits.per_address, LockScope::Address);
        }
        locked
    }
}

impl State {
    /// Drops idle entries once a map has grown past its threshold, which then doubles from
    /// what remains (so pruning costs O(1) per insert however many entries stay live).
    fn prune(&mut self, now: Instant, limits: &Limits) {
        if self.accounts.len() > self.prune_accounts_above {
            self.accounts.retain(|_, a| !a.idle(now, limits));
            self.prune_accounts_above = (self.accounts.len() * 2).max(PRUNE_ABOVE);
        }
        if self.addresses.len() > self.prune_addresses_above {
            self.addresses.retain(|_, c| !c.idle(now, limits.window));
            self.prune_addresses_above = (self.addresses.len() * 2).max(PRUNE_ABOVE);
        }
    }
}

impl Attempt {
    /// Records how the checked attempt went; returns the scopes its failure locked (each one
    /// once, when the lock begins).
    pub fn finish(mut self, outcome: Outcome) -> Vec<LockScope> {
        self.done = true;
        self.guard.end(&self, Some(outcome))
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.done {
            self.guard.end(self, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(per_pair: u32, per_ip: u32, per_account: u32) -> LoginGuard {
        LoginGuard::new(LockoutLimits {
            per_user_and_address: per_pair,
            per_address: per_ip,
            per_user_from_new_addresses: per_account,
            window: Duration::from_secs(300),
            remember_addresses: Duration::from_secs(30 * 24 * 3600),
        })
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    fn fail(g: &LoginGuard, name: &str, from: Option<IpAddr>) -> Vec<LockScope> {
        g.begin(name, from, None).unwrap().finish(Outcome::Failure)
    }

    fn scope_of(r: Result<Attempt, Refusal>) -> LockScope {
        match r {
            Err(Refusal::Locked { scope, wait }) => {
                assert!(wait > Duration::ZERO);
                scope
            }
            other => panic!("expected a lock, got {other:?}"),
        }
    }

    #[test]
    fn a_pair_locks_after_its_failures_and_the_owner_elsewhere_still_gets_in() {
        let g = guard(3, 100, 100);
        assert_eq!(fail(&g, "alice", ip(1)), vec![]);
        assert_eq!(fail(&g, "alice", ip(1)), vec![]);
        assert_eq!(fail(&g, "alice", ip(1)), vec![LockScope::UserAndAddress]);
        assert_eq!(
            scope_of(g.begin("alice", ip(1), None)),
            LockScope::UserAndAddress
        );
        let owner = g
            .begin("alice", ip(2), None)
            .expect("another address is not locked");
        assert_eq!(owner.finish(Outcome::Success), vec![]);
        drop(
            g.begin("bob", ip(1), None)
                .expect("another name is not locked"),
        );
    }

    #[test]
    fn parallel_guesses_are_evaluated_at_most_up_to_the_limit() {
        let g = guard(5, 100, 100);
        // Fifty guesses arrive before any is checked: only five get reserved.
        let reserved: Vec<Attempt> = (0..50)
            .filter_map(|_| g.begin("alice", ip(1), None).ok())
            .collect();
        assert_eq!(reserved.len(), 5);
        for a in reserved {
            a.finish(Outcome::Failure);
        }
        assert!(g.begin("alice", ip(1), None).is_err());
    }

    #[test]
    fn parallel_guesses_from_many_threads_are_bounded_too() {
        let g = guard(5, 1000, 1000);
        let evaluated = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if let Ok(a) = g.begin("alice", ip(1), None) {
                            evaluated.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::yield_now();
                            a.finish(Outcome::Failure);
                        }
                    }
                });
            }
        });
        assert_eq!(evaluated.into_inner(), 5);
    }

    #[test]
    fn an_attempt_given_up_before_its_check_does_not_count() {
        let g = guard(1, 100, 100);
        drop(g.begin("alice", ip(1), None).unwrap());
        let a = g
            .begin("alice", ip(1), None)
            .expect("the dropped one did not count");
        assert_eq!(a.finish(Outcome::Failure), vec![LockScope::UserAndAddress]);
    }

    #[test]
    fn an_address_spraying_names_is_locked() {
        let g = guard(100, 4, 100);
        for name in ["a", "b", "c", "d"] {
            fail(&g, name, ip(9));
        }
        assert_eq!(scope_of(g.begin("fresh", ip(9), None)), LockScope::Address);
        drop(g.begin("fresh", ip(8), None).unwrap());
    }

    #[test]
    fn many_new_addresses_slow_a_name_down_but_not_its_owner_from_a_known_address() {
        let g = guard(100, 100, 10);
        g.begin("alice", ip(200), None)
            .unwrap()
            .finish(Outcome::Success);
        for i in 0..10 {
            fail(&g, "alice", ip(i));
        }
        assert_eq!(
            scope_of(g.begin("alice", ip(50), None)),
            LockScope::UserFromNewAddresses
        );
        g.begin("alice", ip(200), None)
            .expect("the owner's address is remembered")
            .finish(Outcome::Success);
    }

    #[test]
    fn a_remembered_address_is_not_locked_by_its_neighbours_spraying() {
        let g = guard(100, 3, 100);
        g.begin("owner", ip(1), None)
            .unwrap()
            .finish(Outcome::Success);
        for name in ["x", "y", "z"] {
            fail(&g, name, ip(1));
        }
        assert!(g.begin("someone", ip(1), None).is_err());
        drop(
            g.begin("owner", ip(1), None)
                .expect("owner's pair is remembered"),
        );
    }

    #[test]
    fn unlock_forgets_the_names_locks_here_and_through_the_store_mark() {
        let g = guard(1, 100, 100);
        fail(&g, "alice", ip(1));
        assert!(g.begin("alice", ip(1), None).is_err());
        g.unlock("alice");
        fail(&g, "alice", ip(1));
        // An unlock recorded elsewhere (CLI, another instance) after the lock began.
        let marked = Utc::now() + chrono::Duration::milliseconds(1);
        assert!(
            g.begin("alice", ip(1), Some(marked - chrono::Duration::hours(1)))
                .is_err()
        );
        std::thread::sleep(Duration::from_millis(2));
        drop(
            g.begin("alice", ip(1), Some(marked))
                .expect("the mark is newer than the lock"),
        );
    }

    #[test]
    fn huge_user_names_are_tracked_under_a_bounded_key() {
        let g = guard(1, 100, 100);
        let huge = "x".repeat(100_000);
        fail(&g, &huge, None);
        assert!(g.begin(&huge, None, None).is_err());
        let state = g.lock();
        assert!(state.accounts.keys().all(|k| k.len() < 100));
    }

    #[test]
    fn idle_entries_are_pruned_as_the_map_grows() {
        let g = guard(5, 1_000_000, 5);
        for i in 0..5 * PRUNE_ABOVE {
            drop(g.begin(&format!("user{i}"), None, None).unwrap());
        }
        assert!(g.lock().accounts.len() <= PRUNE_ABOVE + 1);
    }
}
