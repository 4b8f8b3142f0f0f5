//! The per-user budgets of upstream calls (`gateway.calls_per_minute` for all upstreams
//! together, `calls_per_minute` of an upstream for its own), counted in the server's
//! [`CounterStore`] (`limits.counters`): on a shared store (Neo4j, or SQLite for processes of
//! one host) a budget is spent once across every instance that uses it.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_limits::{Admission, CounterStore, Quota, RateLimiter, StoreError};

use crate::config::GatewayConfig;

/// The config key of the budget for all upstreams together.
pub const ALL_UPSTREAMS: &str = "gateway.calls_per_minute";
/// The config key of an upstream's own budget.
pub const ONE_UPSTREAM: &str = "gateway.upstreams.calls_per_minute";

/// The budget a call was refused by, and how long until it has room again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// The limit's config key ([`ALL_UPSTREAMS`] or [`ONE_UPSTREAM`]).
    pub limit: &'static str,
    /// How long until the next call can pass.
    pub wait: Duration,
}

/// The budgets of upstream calls (see the module docs).
pub struct UpstreamBudgets {
    all: RateLimiter,
    per_upstream: BTreeMap<String, RateLimiter>,
}

impl UpstreamBudgets {
    /// The budgets `gw` configures, counted in `counters`. The limiters are named
    /// `gateway:*` (all upstreams) and `gateway:<namespace>`: a namespace never contains `*` or
    /// `:`, so no two budgets share a counter.
    pub fn new(gw: &GatewayConfig, counters: Arc<dyn CounterStore>) -> Self {
        Self {
            all: RateLimiter::new(
                Arc::clone(&counters),
                "gateway:*",
                Quota::per_minute(gw.calls_per_minute),
            ),
            per_upstream: gw
                .upstreams
                .iter()
                .filter_map(|u| {
                    let n = u.calls_per_minute?;
                    let limiter = RateLimiter::new(
                        Arc::clone(&counters),
                        format!("gateway:{}", u.namespace),
                        Quota::per_minute(n),
                    );
                    Some((u.namespace.clone(), limiter))
                })
                .collect(),
        }
    }

    /// Takes one call from `namespace`'s own budget (when it has one), then from `user`'s
    /// budget for all upstreams, or says which budget is spent and for how long. A call
    /// refused by its upstream's budget takes nothing from the one for all upstreams, so a
    /// client spending one upstream's budget keeps its calls to the others. The outer error is
    /// the counter store's: the caller refuses the call rather than let it through uncounted.
    pub async fn admit(
        &self,
        user: &str,
        namespace: &str,
    ) -> Result<Result<(), OverBudget>, StoreError> {
        if let Some(limiter) = self.per_upstream.get(namespace)
            && let Admission::Wait(wait) = limiter.check(user).await?
        {
            return Ok(Err(OverBudget {
                limit: ONE_UPSTREAM,
                wait,
            }));
        }
        if let Admission::Wait(wait) = self.all.check(user).await? {
            return Ok(Err(OverBudget {
                limit: ALL_UPSTREAMS,
                wait,
            }));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use mcp_limits::conformance::UnavailableCounterStore;
    use mcp_limits::store::memory::MemoryCounterStore;

    use super::*;
    use crate::config::gateway::UpstreamConfig;

    fn config(all: u32, web: Option<u32>) -> GatewayConfig {
        let upstream: UpstreamConfig =
            toml::from_str("namespace = \"web\"\n[http]\nurl = \"http://127.0.0.1:9/mcp\"")
                .unwrap();
        GatewayConfig {
            calls_per_minute: all,
            upstreams: vec![UpstreamConfig {
                calls_per_minute: web,
                ..upstream
            }],
            ..GatewayConfig::default()
        }
    }

    async fn admitted(budgets: &UpstreamBudgets, user: &str, ns: &str) -> Option<OverBudget> {
        budgets.admit(user, ns).await.unwrap().err()
    }

    #[tokio::test]
    async fn calls_refused_by_an_upstreams_budget_leave_the_shared_one_alone() {
        let b = UpstreamBudgets::new(&config(4, Some(2)), Arc::new(MemoryCounterStore::new()));
        assert_eq!(admitted(&b, "alice", "web").await, None);
        assert_eq!(admitted(&b, "alice", "web").await, None);
        for _ in 0..5 {
            let over = admitted(&b, "alice", "web")
                .await
                .expect("web's budget is spent");
            assert_eq!(over.limit, ONE_UPSTREAM);
            assert!(over.wait > Duration::ZERO && over.wait <= Duration::from_secs(30));
        }
        // Two of the shared four are left for the other upstreams.
        assert_eq!(admitted(&b, "alice", "fs").await, None);
        assert_eq!(admitted(&b, "alice", "fs").await, None);
        let over = admitted(&b, "alice", "fs")
            .await
            .expect("shared budget spent");
        assert_eq!(over.limit, ALL_UPSTREAMS);
        assert_eq!(admitted(&b, "bob", "web").await, None, "bob has his own");
    }

    #[tokio::test]
    async fn two_instances_on_one_store_spend_a_budget_once() {
        let counters: Arc<dyn CounterStore> = Arc::new(MemoryCounterStore::new());
        let instances = [
            UpstreamBudgets::new(&config(100, Some(3)), Arc::clone(&counters)),
            UpstreamBudgets::new(&config(100, Some(3)), Arc::clone(&counters)),
        ];
        let mut allowed = 0;
        for i in 0..8 {
            allowed += usize::from(admitted(&instances[i % 2], "alice", "web").await.is_none());
        }
        assert_eq!(allowed, 3);
    }

    #[tokio::test]
    async fn a_user_id_holding_a_namespace_does_not_reach_another_budget() {
        let b = UpstreamBudgets::new(&config(1, Some(1)), Arc::new(MemoryCounterStore::new()));
        assert_eq!(admitted(&b, "web:alice", "fs").await, None);
        assert_eq!(admitted(&b, "alice", "web").await, None);
    }

    #[tokio::test]
    async fn a_failing_counter_store_is_an_error_not_an_admission() {
        let b = UpstreamBudgets::new(&config(5, None), Arc::new(UnavailableCounterStore));
        assert!(b.admit("alice", "web").await.is_err());
    }
}
