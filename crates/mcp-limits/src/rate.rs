//! [`RateLimiter`]: a per-subject [`Quota`] on a [`CounterStore`].

use std::sync::Arc;

use chrono::Utc;

use crate::store::{Admission, CounterStore, Quota, StoreError};

/// Calls per subject (a user id, an address) under one [`Quota`], counted in a
/// [`CounterStore`]: with a shared store (SQLite between processes of one host, Neo4j between
/// instances) the quota holds across every instance that uses it; with
/// [`MemoryCounterStore`](crate::store::memory::MemoryCounterStore) each instance counts alone.
///
/// Subjects of different limiters never share a bucket: each limiter's keys carry its name.
///
/// ```
/// use std::sync::Arc;
/// use mcp_limits::RateLimiter;
/// use mcp_limits::store::{Admission, Quota, memory::MemoryCounterStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mcp_core::StoreError> {
/// let executions = RateLimiter::new(Arc::new(MemoryCounterStore::new()), "execute", Quota::per_minute(2));
/// assert_eq!(executions.check("alice").await?, Admission::Allowed);
/// assert_eq!(executions.check("alice").await?, Admission::Allowed);
/// assert!(matches!(executions.check("alice").await?, Admission::Wait(_)));
/// assert_eq!(executions.check("bob").await?, Admission::Allowed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn CounterStore>,
    name: String,
    quota: Quota,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter named `name` (part of every key it uses) allowing `quota` per subject.
    pub fn new(store: Arc<dyn CounterStore>, name: impl Into<String>, quota: Quota) -> Self {
        Self {
            store,
            name: name.into(),
            quota,
        }
    }

    /// The quota per subject.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The store's key for `subject`.
    pub fn key(&self, subject: &str) -> String {
        format!("rate:{}:{subject}", self.name)
    }

    /// Takes one call from `subject`'s allowance now, or says how long to wait. A store error
    /// is returned as is: the caller decides whether to refuse (the safe choice) or let through.
    pub async fn check(&self, subject: &str) -> Result<Admission, StoreError> {
        self.store
            .acquire(&self.key(subject), self.quota, Utc::now())
            .await
    }
}
