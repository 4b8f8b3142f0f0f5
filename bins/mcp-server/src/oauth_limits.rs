//! Per-address limits of the OAuth endpoints anyone can call (`[oauth.rate_limits]`): the
//! registration, token and revocation endpoints and the log-in pages each cost work (a store
//! write, a password check, a metadata document fetch), so each address gets an allowance per
//! minute. Counted where `limits.counters` says: on a shared store (SQLite, Neo4j) every
//! instance on it counts together, so N instances allow each address its allowance once; in
//! memory each instance counts alone, bounded by `tracked_addresses`.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mcp_limits::store::memory::MemoryCounterStore;
use mcp_limits::{Admission, CounterStore, Quota, RateLimiter};

use crate::config::oauth::OAuthRateLimits;

/// Which allowance a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthBudget {
    /// `POST /oauth/register`.
    Register,
    /// `POST /oauth/token`, `POST /oauth/revoke`.
    Token,
    /// `GET /oauth/authorize`, `POST /oauth/login`, `POST /oauth/consent`.
    Pages,
}

/// One limit: per address on the shared counter store (if there is one), and in this
/// instance's memory per address plus one allowance for addresses beyond the tracked ones.
struct Limit {
    shared: Option<RateLimiter>,
    per_address: RateLimiter,
    overflow: RateLimiter,
}

/// The per-address limits of the OAuth endpoints.
pub struct OAuthLimits {
    register: Option<Limit>,
    token: Option<Limit>,
    pages: Option<Limit>,
}

impl std::fmt::Debug for OAuthLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthLimits").finish_non_exhaustive()
    }
}

impl OAuthLimits {
    /// The limits of the configuration (a `0` limit is off), counted in `shared` (the counter
    /// store of `limits.counters` when it is shared by instances: SQLite or Neo4j) or, without
    /// one, in this instance's memory. Should the shared store fail, the instance counts in
    /// its memory meanwhile: never more than one instance's allowance passes uncounted.
    pub fn from_config(config: &OAuthRateLimits, shared: Option<Arc<dyn CounterStore>>) -> Self {
        let store = Arc::new(MemoryCounterStore::with_capacity(config.tracked_addresses));
        // The overflow allowances have a store of their own with one key per limit, so it
        // is never full.
        let overflow = Arc::new(MemoryCounterStore::with_capacity(8));
        let limit = |name: &str, per_minute: u32| {
            (per_minute > 0).then(|| Limit {
                shared: shared.as_ref().map(|store| {
                    RateLimiter::new(
                        Arc::clone(store),
                        format!("oauth-{name}"),
                        Quota::per_minute(per_minute),
                    )
                }),
                per_address: RateLimiter::new(
                    store.clone(),
                    format!("oauth-{name}"),
                    Quota::per_minute(per_minute),
                ),
                overflow: RateLimiter::new(
                    overflow.clone(),
                    format!("oauth-{name}"),
                    Quota::per_minute(per_minute),
                ),
            })
        };
        Self {
            register: limit("register", config.register_per_minute),
            token: limit("token", config.token_per_minute),
            pages: limit("pages", config.pages_per_minute),
        }
    }

    /// Takes one request of `budget` from the allowance of the address `ip`, or says how
    /// long to wait.
    pub async fn admit(&self, budget: OAuthBudget, ip: Option<IpAddr>) -> Result<(), Duration> {
        let limit = match budget {
            OAuthBudget::Register => &self.register,
            OAuthBudget::Token => &self.token,
            OAuthBudget::Pages => &self.pages,
        };
        let Some(limit) = limit else {
            return Ok(());
        };
        let key = address_key(ip);
        if let Some(shared) = &limit.shared {
            match shared.check(&key).await {
                Ok(Admission::Wait(wait)) => return Err(wait),
                Ok(_) => return Ok(()),
                Err(e) => tracing::warn!(
                    error = %e,
                    "the shared counter store failed: OAuth request counted in this instance"
                ),
            }
        }
        let admission = match limit.per_address.check(&key).await {
            Ok(admission) => admission,
            // The memory store refuses a new key only when it is full.
            Err(_) => limit
                .overflow
                .check("beyond-tracked-addresses")
                .await
                .unwrap_or(Admission::Wait(Duration::from_secs(1))),
        };
        match admission {
            Admission::Wait(wait) => Err(wait),
            _ => Ok(()),
        }
    }
}

/// The counted part of an address: an IPv4 address (also when IPv4-mapped) whole, an IPv6
/// address by its /64 (what one subscriber typically gets).
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_minute: u32, tracked: usize) -> OAuthRateLimits {
        OAuthRateLimits {
            register_per_minute: per_minute,
            token_per_minute: per_minute,
            pages_per_minute: 0,
            tracked_addresses: tracked,
        }
    }

    fn limits(per_minute: u32, tracked: usize) -> OAuthLimits {
        OAuthLimits::from_config(&config(per_minute, tracked), None)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[tokio::test]
    async fn an_address_over_its_allowance_waits_and_others_do_not() {
        let l = limits(2, 100);
        for _ in 0..2 {
            l.admit(OAuthBudget::Register, ip("192.0.2.1"))
                .await
                .unwrap();
        }
        let wait = l
            .admit(OAuthBudget::Register, ip("192.0.2.1"))
            .await
            .unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        l.admit(OAuthBudget::Register, ip("192.0.2.2"))
            .await
            .unwrap();
        // Each endpoint group has its own allowance.
        l.admit(OAuthBudget::Token, ip("192.0.2.1")).await.unwrap();
    }

    #[tokio::test]
    async fn a_limit_of_zero_is_off() {
        let l = limits(1, 100);
        for _ in 0..100 {
            l.admit(OAuthBudget::Pages, ip("192.0.2.1")).await.unwrap();
        }
    }

    #[tokio::test]
    async fn ipv6_addresses_of_one_64_share_an_allowance() {
        let l = limits(1, 100);
        l.admit(OAuthBudget::Register, ip("2001:db8:1:2::1"))
            .await
            .unwrap();
        assert!(
            l.admit(OAuthBudget::Register, ip("2001:db8:1:2:ffff::9"))
                .await
                .is_err()
        );
        l.admit(OAuthBudget::Register, ip("2001:db8:1:3::1"))
            .await
            .unwrap();
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(address_key(None), "unknown");
    }

    #[tokio::test]
    async fn addresses_beyond_the_tracked_ones_share_one_allowance() {
        let l = limits(1, 2);
        l.admit(OAuthBudget::Register, ip("192.0.2.1"))
            .await
            .unwrap();
        l.admit(OAuthBudget::Register, ip("192.0.2.2"))
            .await
            .unwrap();
        // The store is full: a third and a fourth address share one allowance.
        l.admit(OAuthBudget::Register, ip("192.0.2.3"))
            .await
            .unwrap();
        assert!(
            l.admit(OAuthBudget::Register, ip("192.0.2.4"))
                .await
                .is_err()
        );
        // The tracked ones keep their own.
        assert!(
            l.admit(OAuthBudget::Register, ip("192.0.2.1"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn instances_on_one_shared_store_spend_an_allowance_once() {
        let store: Arc<dyn CounterStore> = Arc::new(MemoryCounterStore::new());
        let a = OAuthLimits::from_config(&config(2, 100), Some(Arc::clone(&store)));
        let b = OAuthLimits::from_config(&config(2, 100), Some(store));
        a.admit(OAuthBudget::Register, ip("192.0.2.1"))
            .await
            .unwrap();
        b.admit(OAuthBudget::Register, ip("192.0.2.1"))
            .await
            .unwrap();
        // Each instance alone would allow this address one more.
        assert!(
            a.admit(OAuthBudget::Register, ip("192.0.2.1"))
                .await
                .is_err()
        );
        assert!(
            b.admit(OAuthBudget::Register, ip("192.0.2.1"))
                .await
                .is_err()
        );
        a.admit(OAuthBudget::Register, ip("192.0.2.2"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failing_shared_store_leaves_the_instance_counting_alone() {
        // A full memory store refuses new keys (StoreError::Unavailable), as a store that is
        // down refuses every key.
        let store = Arc::new(MemoryCounterStore::with_capacity(1));
        let l = OAuthLimits::from_config(&config(1, 100), Some(store.clone()));
        l.admit(OAuthBudget::Register, ip("192.0.2.1"))
            .await
            .unwrap();
        assert_eq!(store.len(), 1);
        l.admit(OAuthBudget::Register, ip("192.0.2.2"))
            .await
            .unwrap();
        assert!(
            l.admit(OAuthBudget::Register, ip("192.0.2.2"))
                .await
                .is_err(),
            "counted in the instance's memory meanwhile"
        );
        assert!(
            l.admit(OAuthBudget::Register, ip("192.0.2.1"))
                .await
                .is_err()
        );
    }
}
