//! Rate limits: executions per user (governor), and the brute-force lock-out of log-ins.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::AuthConfig;

/// A per-user limit of N calls per minute (burst N).
pub struct ExecuteLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl ExecuteLimiter {
    /// `n` calls per minute per user (at least 1).
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one call from `user`'s allowance, or says how long to wait.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        match self.limiter.check_key(&user.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// Whole seconds to put in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed log-ins per user name and per client IP; after too many within the window the
/// key is locked for the lock-out time, whatever the password.
pub struct LoginGuard {
    max_per_user: u32,
    max_per_ip: u32,
    lockout: Duration,
    entries: Mutex<HashMap<String, Failures>>,
}

/// Above this many tracked keys, expired ones are dropped on the next failure.
const PRUNE_ABOVE: usize = 10_000;

impl LoginGuard {
    /// A guard with the configured limits.
    pub fn new(auth: &AuthConfig) -> Self {
        Self {
            max_per_user: auth.max_failures_per_user.max(1),
            max_per_ip: auth.max_failures_per_ip.max(1),
            lockout: Duration::from_secs(auth.lockout_secs.max(1)),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: Option<&str>) -> (String, Option<String>) {
        // Bounded keys: a client cannot grow the map with huge user names.
        let name: String = username
            .chars()
            .take(crate::users::MAX_USERNAME_LEN + 1)
            .collect();
        (format!("user:{name}"), ip.map(|ip| format!("ip:{ip}")))
    }

    /// `Err(wait)` when the user name or the IP is locked out.
    pub fn check(&self, username: &str, ip: Option<&str>) -> Result<(), Duration> {
        let now = Instant::now();
        let (user_key, ip_key) = Self::keys(username, ip);
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let wait = [Some(user_key), ip_key]
            .into_iter()
            .flatten()
            .filter_map(|k| entries.get(&k).and_then(|f| f.locked_until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed log-in against the user name and the IP.
    pub fn record_failure(&self, username: &str, ip: Option<&str>) {
        let now = Instant::now();
        let (user_key, ip_key) = Self::keys(username, ip);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() > PRUNE_ABOVE {
            let lockout = self.lockout;
            entries.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now) || now - f.window_start < lockout
            });
        }
        for (key, max) in [
            (Some(user_key), self.max_per_user),
            (ip_key, self.max_per_ip),
        ] {
            let Some(key) = key else { continue };
            let f = entries.entry(key).or_insert(Failures {
                count: 0,
                window_start: now,
                locked_until: None,
            });
            if now - f.window_start >= self.lockout {
                *f = Failures {
                    count: 0,
                    window_start: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= max {
                f.locked_until = Some(now + self.lockout);
            }
        }
    }

    /// Forgets the user name's failures after a successful log-in (the IP's count stays).
    pub fn record_success(&self, username: &str) {
        let (user_key, _) = Self::keys(username, None);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(&user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_execution_in_a_minute_waits() {
        let limiter = ExecuteLimiter::per_minute(10);
        for _ in 0..10 {
            limiter.check("alice").unwrap();
        }
        let wait = limiter.check("alice").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        limiter.check("bob").unwrap();
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(5500)), 6);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn a_user_is_locked_after_max_failures_and_others_are_not() {
        let auth = AuthConfig {
            max_failures_per_user: 3,
            ..AuthConfig::default()
        };
        let guard = LoginGuard::new(&auth);
        for _ in 0..3 {
            guard.check("alice", Some("1.2.3.4")).unwrap();
            guard.record_failure("alice", Some("1.2.3.4"));
        }
        assert!(guard.check("alice", Some("5.6.7.8")).is_err());
        assert!(guard.check("bob", Some("5.6.7.8")).is_ok());
    }

    #[test]
    fn huge_user_names_are_tracked_under_a_bounded_key() {
        let auth = AuthConfig {
            max_failures_per_user: 1,
            ..AuthConfig::default()
        };
        let guard = LoginGuard::new(&auth);
        let huge = "x".repeat(100_000);
        guard.record_failure(&huge, None);
        assert!(guard.check(&huge, None).is_err());
        let entries = guard.entries.lock().unwrap();
        assert!(entries.keys().all(|k| k.len() < 100));
    }

    #[test]
    fn an_ip_is_locked_after_max_failures_across_user_names() {
        let auth = AuthConfig {
            max_failures_per_ip: 4,
            ..AuthConfig::default()
        };
        let guard = LoginGuard::new(&auth);
        for name in ["a", "b", "c", "d"] {
            guard.record_failure(name, Some("9.9.9.9"));
        }
        assert!(guard.check("fresh", Some("9.9.9.9")).is_err());
        assert!(guard.check("fresh", Some("8.8.8.8")).is_ok());
    }
}
