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
//!   until the check ends ([`Attempt::finish`]). However many guesses arrive at once (on
//!   however many instances share the counters), at most the limit of them are ever evaluated
//!   per pair, address and name.
//! - **Admin unlock:** the `unlocked_at` mark a user store keeps (set by the admin route and
//!   the CLI) is passed to [`LoginGuard::begin`], which then forgets the name's counters older
//!   than it, on every instance; [`LoginGuard::unlock`] also forgets the name's count from new
//!   addresses at once.
//!
//! The counts live in an [`mcp_limits::CounterStore`] (`limits.counters`): on Neo4j every
//! instance on that database shares them, so N instances allow the limits once, not N times;
//! in memory each instance counts alone, with a bounded number of keys (past it, attempts are
//! refused with 503 rather than let through uncounted). A counter store that fails refuses the
//! attempt (503) too.
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mcp_limits::store::memory::MemoryCounterStore;
use mcp_limits::{CounterStore, FailureLimit, Reservation, Reserved, StoreError};

/// How many keys the guard of [`LoginGuard::new`] keeps in memory at most (a name or address
/// takes one to three, a remembered address one).
pub const MEMORY_KEYS: usize = 400_000;

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
    /// The counts could not be kept (the counter store failed, or in memory it is full):
    /// nothing is checked uncounted (503).
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
    per_pair: FailureLimit,
    per_address: FailureLimit,
    per_account: FailureLimit,
    remember: Duration,
}

/// Counts failed log-ins and refuses attempts the lock-out model forbids (module docs).
#[derive(Clone)]
pub struct LoginGuard {
    limits: Limits,
    counters: Arc<dyn CounterStore>,
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The counter keys of one attempt (a user name from an address).
#[derive(Debug, Clone)]
struct Keys {
    pair: String,
    address: String,
    account: String,
    known: String,
}

impl Keys {
    fn new(username: &str, ip: Option<IpAddr>) -> Self {
        let name = LoginGuard::key(username);
        let ip = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        Self {
            pair: format!("login:pair:{ip}:{name}"),
            address: format!("login:address:{ip}"),
            account: format!("login:new-addresses:{name}"),
            known: format!("login:known:{ip}:{name}"),
        }
    }
}

/// A reserved attempt: it counts as a failure until [`Attempt::finish`] says how it went. An
/// attempt dropped without `finish` (its password was not checked) gives its places back.
#[must_use = "an attempt counts as a failure until it is finished"]
#[derive(Debug)]
pub struct Attempt {
    guard: LoginGuard,
    keys: Keys,
    /// The places taken, with the scope each one counts for.
    places: Vec<(LockScope, Reserved)>,
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
    /// A guard with these limits (each count at least 1, the window at least 1 s), counting
    /// in this process's memory (at most [`MEMORY_KEYS`] keys).
    pub fn new(limits: LockoutLimits) -> Self {
        Self::with_counters(
            Arc::new(MemoryCounterStore::with_capacity(MEMORY_KEYS)),
            limits,
        )
    }

    /// A guard with these limits counting in `counters` (shared by every instance that uses
    /// the same store).
    pub fn with_counters(counters: Arc<dyn CounterStore>, limits: LockoutLimits) -> Self {
        let window = limits.window.max(Duration::from_secs(1));
        Self {
            limits: Limits {
                per_pair: FailureLimit::new(limits.per_user_and_address, window),
                per_address: FailureLimit::new(limits.per_address, window),
                per_account: FailureLimit::new(limits.per_user_from_new_addresses, window),
                remember: limits.remember_addresses,
            },
            counters,
        }
    }

    /// The key a user name is tracked under: bounded, so a huge name cannot grow the store
    /// (longer names than any account can have share their prefix's entry).
    fn key(username: &str) -> String {
        mcp_core::bounded::truncate(username, crate::users::MAX_USERNAME_LEN + 1).into_owned()
    }

    /// Reserves an attempt to log in as `username` from `ip`, or says why not. `unlocked_at` is
    /// the account's admin-unlock mark (from the user store), if it has one: counters for the
    /// name older than it are forgotten first.
    pub async fn begin(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        unlocked_at: Option<DateTime<Utc>>,
    ) -> Result<Attempt, Refusal> {
        let now = Utc::now();
        let keys = Keys::new(username, ip);
        let known = self
            .counters
            .remembered(&keys.known, now)
            .await
            .map_err(store_failed)?;
        let mut attempt = Attempt {
            guard: self.clone(),
            keys,
            places: Vec::with_capacity(3),
            done: false,
        };
        let limits = self.limits;
        let mut checks = vec![(
            LockScope::UserAndAddress,
            attempt.keys.pair.clone(),
            limits.per_pair,
            unlocked_at,
        )];
        if !known {
            checks.push((
                LockScope::Address,
                attempt.keys.address.clone(),
                limits.per_address,
                None,
            ));
            checks.push((
                LockScope::UserFromNewAddresses,
                attempt.keys.account.clone(),
                limits.per_account,
                unlocked_at,
            ));
        }
        // A refusal drops `attempt`, which gives back the places taken so far.
        for (scope, key, limit, forget_before) in checks {
            match self
                .counters
                .reserve(&key, limit, forget_before, now)
                .await
                .map_err(store_failed)?
            {
                Reservation::Reserved(place) => attempt.places.push((scope, place)),
                Reservation::Locked { wait } | Reservation::Full { wait } => {
                    return Err(Refusal::Locked { scope, wait });
                }
            }
        }
        Ok(attempt)
    }

    /// Forgets `username`'s count of failures from new addresses at once (the admin unlock;
    /// its pairs are forgotten through the user store's unlock mark at their next attempt,
    /// on every instance). A counter store that fails is logged: the mark still unlocks.
    pub async fn unlock(&self, username: &str) {
        let key = Keys::new(username, None).account;
        if let Err(e) = self.counters.reset(&key).await {
            tracing::error!(error = %e, "the lock-out counter store failed during an unlock");
        }
    }

    fn key_of(keys: &Keys, scope: LockScope) -> &str {
        match scope {
            LockScope::UserAndAddress => &keys.pair,
            LockScope::Address => &keys.address,
            LockScope::UserFromNewAddresses => &keys.account,
        }
    }

    fn limit_of(&self, scope: LockScope) -> FailureLimit {
        match scope {
            LockScope::UserAndAddress => self.limits.per_pair,
            LockScope::Address => self.limits.per_address,
            LockScope::UserFromNewAddresses => self.limits.per_account,
        }
    }

    /// Settles the places of an attempt: a failure counts in each (returning the scopes it
    /// locked), a success or an unchecked attempt gives them back; a success also starts the
    /// pair afresh and remembers the address for the name.
    async fn settle(
        self,
        keys: Keys,
        places: Vec<(LockScope, Reserved)>,
        outcome: Option<Outcome>,
    ) -> Vec<LockScope> {
        let now = Utc::now();
        let mut locked = Vec::new();
        for (scope, place) in places {
            let key = Self::key_of(&keys, scope);
            let result = match outcome {
                Some(Outcome::Failure) => self
                    .counters
                    .fail(key, place, self.limit_of(scope), now)
                    .await
                    .map(|lock| {
                        if lock {
                            locked.push(scope);
                        }
                    }),
                Some(Outcome::Success) if scope == LockScope::UserAndAddress => {
                    self.counters.reset(key).await
                }
                _ => self.counters.release(key, place, now).await,
            };
            if let Err(e) = result {
                tracing::error!(error = %e, scope = scope.as_str(),
                    "the lock-out counter store failed: a reserved place stays until its window ends");
            }
        }
        if outcome == Some(Outcome::Success)
            && let Err(e) = self
                .counters
                .remember(&keys.known, self.limits.remember, now)
                .await
        {
            tracing::error!(error = %e, "the lock-out counter store failed to remember an address");
        }
        locked
    }
}

fn store_failed(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "the lock-out counter store failed: log-in refused");
    Refusal::Full
}

/// Runs `settle` to its end even if the caller stops waiting: at once when it needs no I/O
/// (the memory store), else as a task of the runtime.
async fn run_detached<F>(settle: F) -> Vec<LockScope>
where
    F: Future<Output = Vec<LockScope>> + Send + 'static,
{
    let mut settle = Box::pin(settle);
    if let Poll::Ready(locked) = settle
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return locked;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn(settle).await.unwrap_or_default(),
        Err(_) => settle.await,
    }
}

impl Attempt {
    /// Records how the checked attempt went; returns the scopes its failure locked (each one
    /// once, when the lock begins). The record is kept even if the caller's future is dropped
    /// meanwhile.
    pub async fn finish(mut self, outcome: Outcome) -> Vec<LockScope> {
        self.done = true;
        let places = std::mem::take(&mut self.places);
        let settle = self
            .guard
            .clone()
            .settle(self.keys.clone(), places, Some(outcome));
        run_detached(settle).await
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.done || self.places.is_empty() {
            return;
        }
        let places = std::mem::take(&mut self.places);
        let mut settle = Box::pin(self.guard.clone().settle(self.keys.clone(), places, None));
        if settle
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
        {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(settle)),
                Err(_) => tracing::warn!(
                    "an unchecked log-in attempt outside a runtime: its places stay until their window ends"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_limits::conformance::UnavailableCounterStore;

    use super::*;

    fn limits(per_pair: u32, per_ip: u32, per_account: u32) -> LockoutLimits {
        LockoutLimits {
            per_user_and_address: per_pair,
            per_address: per_ip,
            per_user_from_new_addresses: per_account,
            window: Duration::from_secs(300),
            remember_addresses: Duration::from_secs(30 * 24 * 3600),
        }
    }

    fn guard(per_pair: u32, per_ip: u32, per_account: u32) -> LoginGuard {
        LoginGuard::new(limits(per_pair, per_ip, per_account))
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    async fn fail(g: &LoginGuard, name: &str, from: Option<IpAddr>) -> Vec<LockScope> {
        g.begin(name, from, None)
            .await
            .unwrap()
            .finish(Outcome::Failure)
            .await
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

    #[tokio::test]
    async fn a_pair_locks_after_its_failures_and_the_owner_elsewhere_still_gets_in() {
        let g = guard(3, 100, 100);
        assert_eq!(fail(&g, "alice", ip(1)).await, vec![]);
        assert_eq!(fail(&g, "alice", ip(1)).await, vec![]);
        assert_eq!(
            fail(&g, "alice", ip(1)).await,
            vec![LockScope::UserAndAddress]
        );
        assert_eq!(
            scope_of(g.begin("alice", ip(1), None).await),
            LockScope::UserAndAddress
        );
        let owner = g
            .begin("alice", ip(2), None)
            .await
            .expect("another address is not locked");
        assert_eq!(owner.finish(Outcome::Success).await, vec![]);
        drop(
            g.begin("bob", ip(1), None)
                .await
                .expect("another name is not locked"),
        );
    }

    #[tokio::test]
    async fn parallel_guesses_are_evaluated_at_most_up_to_the_limit() {
        let g = guard(5, 100, 100);
        // Fifty guesses arrive before any is checked: only five get reserved.
        let mut reserved = Vec::new();
        for _ in 0..50 {
            if let Ok(a) = g.begin("alice", ip(1), None).await {
                reserved.push(a);
            }
        }
        assert_eq!(reserved.len(), 5);
        for a in reserved {
            a.finish(Outcome::Failure).await;
        }
        assert!(g.begin("alice", ip(1), None).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_guesses_from_many_tasks_are_bounded_too() {
        let g = guard(5, 1000, 1000);
        let evaluated = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (g, evaluated) = (g.clone(), Arc::clone(&evaluated));
                tokio::spawn(async move {
                    for _ in 0..50 {
                        if let Ok(a) = g.begin("alice", ip(1), None).await {
                            evaluated.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            a.finish(Outcome::Failure).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(evaluated.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn an_attempt_given_up_before_its_check_does_not_count() {
        let g = guard(1, 100, 100);
        drop(g.begin("alice", ip(1), None).await.unwrap());
        let a = g
            .begin("alice", ip(1), None)
            .await
            .expect("the dropped one did not count");
        assert_eq!(
            a.finish(Outcome::Failure).await,
            vec![LockScope::UserAndAddress]
        );
    }

    #[tokio::test]
    async fn an_address_spraying_names_is_locked() {
        let g = guard(100, 4, 100);
        for name in ["a", "b", "c", "d"] {
            fail(&g, name, ip(9)).await;
        }
        assert_eq!(
            scope_of(g.begin("fresh", ip(9), None).await),
            LockScope::Address
        );
        drop(g.begin("fresh", ip(8), None).await.unwrap());
    }

    #[tokio::test]
    async fn many_new_addresses_slow_a_name_down_but_not_its_owner_from_a_known_address() {
        let g = guard(100, 100, 10);
        g.begin("alice", ip(200), None)
            .await
            .unwrap()
            .finish(Outcome::Success)
            .await;
        for i in 0..10 {
            fail(&g, "alice", ip(i)).await;
        }
        assert_eq!(
            scope_of(g.begin("alice", ip(50), None).await),
            LockScope::UserFromNewAddresses
        );
        g.begin("alice", ip(200), None)
            .await
            .expect("the owner's address is remembered")
            .finish(Outcome::Success)
            .await;
    }

    #[tokio::test]
    async fn a_remembered_address_is_not_locked_by_its_neighbours_spraying() {
        let g = guard(100, 3, 100);
        g.begin("owner", ip(1), None)
            .await
            .unwrap()
            .finish(Outcome::Success)
            .await;
        for name in ["x", "y", "z"] {
            fail(&g, name, ip(1)).await;
        }
        assert!(g.begin("someone", ip(1), None).await.is_err());
        drop(
            g.begin("owner", ip(1), None)
                .await
                .expect("owner's pair is remembered"),
        );
    }

    #[tokio::test]
    async fn a_success_starts_the_pair_afresh() {
        let g = guard(2, 100, 100);
        fail(&g, "alice", ip(1)).await;
        g.begin("alice", ip(1), None)
            .await
            .unwrap()
            .finish(Outcome::Success)
            .await;
        assert_eq!(fail(&g, "alice", ip(1)).await, vec![]);
        assert_eq!(
            fail(&g, "alice", ip(1)).await,
            vec![LockScope::UserAndAddress]
        );
    }

    #[tokio::test]
    async fn the_store_unlock_mark_forgets_the_names_locks() {
        let g = guard(1, 100, 100);
        fail(&g, "alice", ip(1)).await;
        assert!(g.begin("alice", ip(1), None).await.is_err());
        // An unlock recorded before the lock began changes nothing.
        let before = Utc::now() - chrono::Duration::hours(1);
        assert!(g.begin("alice", ip(1), Some(before)).await.is_err());
        // One recorded after it (admin route, CLI, another instance) lifts it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        g.unlock("alice").await;
        let marked = Utc::now();
        drop(
            g.begin("alice", ip(1), Some(marked))
                .await
                .expect("the mark is newer than the lock"),
        );
    }

    #[tokio::test]
    async fn huge_user_names_are_tracked_under_a_bounded_key() {
        let g = guard(1, 100, 100);
        let huge = "x".repeat(100_000);
        // A key past the store's bound would be refused (Full), not counted.
        assert_eq!(fail(&g, &huge, None).await, vec![LockScope::UserAndAddress]);
        assert_eq!(
            scope_of(g.begin(&huge, None, None).await),
            LockScope::UserAndAddress
        );
    }

    #[tokio::test]
    async fn two_guards_on_one_store_share_the_limit() {
        let store: Arc<dyn CounterStore> = Arc::new(MemoryCounterStore::new());
        let a = LoginGuard::with_counters(Arc::clone(&store), limits(4, 100, 100));
        let b = LoginGuard::with_counters(store, limits(4, 100, 100));
        let mut locked = Vec::new();
        for i in 0..4 {
            let g = if i % 2 == 0 { &a } else { &b };
            locked.extend(fail(g, "alice", ip(1)).await);
        }
        assert_eq!(locked, vec![LockScope::UserAndAddress]);
        assert!(a.begin("alice", ip(1), None).await.is_err());
        assert!(b.begin("alice", ip(1), None).await.is_err());
    }

    #[tokio::test]
    async fn a_failing_counter_store_refuses_the_attempt_rather_than_letting_it_through() {
        let g = LoginGuard::with_counters(Arc::new(UnavailableCounterStore), limits(5, 5, 5));
        assert_eq!(
            g.begin("alice", ip(1), None).await.err(),
            Some(Refusal::Full)
        );
        g.unlock("alice").await;
    }
}
