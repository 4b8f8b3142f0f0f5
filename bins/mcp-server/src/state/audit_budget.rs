//! [`AuditBudget`]: how many audit events callers without a valid token may cause.
//!
//! Failed and refused log-ins, refused tokens and refused `Host`/`Origin` headers are each
//! worth an audit event, but each costs the caller one cheap request. So that audit-log
//! growth is bounded too, at most `audit.unauthenticated_events_per_minute` of them are stored
//! (a token bucket refilled over the minute); the rest are counted by kind, and the counts go
//! into one `rate_limit_exceeded` event (action `audit_suppressed`) at most once a minute.
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use mcp_audit::{AuditEvent, EventType};

/// How often a summary of suppressed events is written at most.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// The kinds of events the budget counts (also the `kind` label of
/// `mcp_audit_suppressed_total`).
pub mod kind {
    /// A log-in whose password was checked and did not match.
    pub const LOGIN_FAILURE: &str = "login_failure";
    /// A log-in refused before its password was checked (locked out, busy).
    pub const LOGIN_REFUSED: &str = "login_refused";
    /// A forged, malformed, expired or revoked token.
    pub const TOKEN_REFUSED: &str = "token_refused";
    /// A request refused for its `Host` or `Origin` header.
    pub const HOST_ORIGIN_REFUSED: &str = "host_origin_refused";
}

/// The budget (module docs).
#[derive(Debug)]
pub struct AuditBudget {
    limiter: DefaultDirectRateLimiter,
    suppressed: Mutex<Suppressed>,
}

#[derive(Debug)]
struct Suppressed {
    counts: BTreeMap<&'static str, u64>,
    last_summary: Option<Instant>,
}

/// What to store for one event the budget was asked about.
#[derive(Debug)]
pub struct Admission {
    /// Whether the event itself is stored.
    pub record: bool,
    /// A summary of suppressed events to store as well, when one is due.
    pub summary: Option<AuditEvent>,
}

impl AuditBudget {
    /// `per_minute` events a minute (at least 1), all of them available at once.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct(Quota::per_minute(n)),
            suppressed: Mutex::new(Suppressed {
                counts: BTreeMap::new(),
                last_summary: None,
            }),
        }
    }

    /// Takes one event of `kind` from the budget.
    pub fn admit(&self, kind: &'static str) -> Admission {
        let record = self.limiter.check().is_ok();
        let mut s = self
            .suppressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !record {
            *s.counts.entry(kind).or_default() += 1;
        }
        let due = s
            .last_summary
            .is_none_or(|at| at.elapsed() >= SUMMARY_EVERY);
        let summary = (due && !s.counts.is_empty()).then(|| {
            s.last_summary = Some(Instant::now());
            let counts = std::mem::take(&mut s.counts);
            let total: u64 = counts.values().sum();
            AuditEvent::new(EventType::RateLimitExceeded)
                .with_action("audit_suppressed")
                .with_resource("audit")
                .with_error_message(format!(
                    "{total} audit events of unauthenticated callers were not stored (over the \
                     per-minute budget); counted by kind in details.suppressed"
                ))
                .with_detail("suppressed", serde_json::json!(counts))
        });
        Admission { record, summary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_budget_events_are_counted_into_one_summary_a_minute() {
        let budget = AuditBudget::per_minute(3);
        for _ in 0..3 {
            let a = budget.admit(kind::LOGIN_FAILURE);
            assert!(a.record && a.summary.is_none());
        }
        let first = budget.admit(kind::TOKEN_REFUSED);
        assert!(!first.record);
        let summary = first
            .summary
            .expect("the first suppression writes a summary");
        assert_eq!(summary.details["suppressed"]["token_refused"], 1);
        for _ in 0..500 {
            let a = budget.admit(kind::LOGIN_REFUSED);
            assert!(
                !a.record && a.summary.is_none(),
                "one summary a minute at most"
            );
        }
        let pending = budget.suppressed.lock().unwrap().counts.clone();
        assert_eq!(pending.get(kind::LOGIN_REFUSED), Some(&500));
    }
}
