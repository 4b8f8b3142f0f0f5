//! The behaviour every [`RevocationStore`] backend must show (feature `testing`).
//!
//! Mount it in a backend's integration test with
//! [`revocation_store_conformance!`](crate::revocation_store_conformance), which expands to
//! one `#[tokio::test]` per case below. Each case gets a fresh store from the constructor
//! expression you pass; the mounting crate needs `tokio` (with `macros` and `rt`) as a
//! dev-dependency.
//!
//! When the store needs something kept alive beside it (a temporary directory, a test
//! database to drop), return [`with_guard(store, guard)`](with_guard): the guard lives as
//! long as the case does.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::store::{RevocationStore, StoreError};
use crate::{JwtConfig, JwtIssuer, JwtVerifier, KeyConfig};

/// A store together with something that must outlive it (see [`with_guard`]).
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

/// Pairs `store` with `guard` (for example a `tempfile::TempDir`), dropping the guard
/// only after the store.
pub fn with_guard<S: RevocationStore, G: Send + Sync>(store: S, guard: G) -> Guarded<S, G> {
    Guarded {
        store,
        _guard: guard,
    }
}

#[async_trait]
impl<S: RevocationStore, G: Send + Sync> RevocationStore for Guarded<S, G> {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.revoke(jti, expires_at).await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store.is_revoked(jti).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.purge_expired(now).await
    }
}

/// A fixed instant on a whole second, so results do not depend on the wall clock.
fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("fixed test instant is in range")
}

/// Expands to one `#[tokio::test]` per conformance case, each calling the case with a
/// fresh store built by awaiting the expression (anything producing a future, such as an
/// `async { ... }` block).
///
/// With `optional:` the future yields an `Option` of a store instead, and `None` skips the
/// case (printing why): use it for backends that need an external service, such as Neo4j
/// when no test server is configured.
///
/// ```no_run
/// // tests/memory.rs
/// use mcp_jwt::store::memory::MemoryRevocationStore;
/// mcp_jwt::revocation_store_conformance!(async { MemoryRevocationStore::new() });
///
/// // tests/neo4j.rs would read its URI from the environment and skip without one:
/// mod external {
///     # use mcp_jwt::store::memory::MemoryRevocationStore as Neo4jRevocationStore;
///     mcp_jwt::revocation_store_conformance!(optional: async {
///         let uri = std::env::var("MCP_TEST_NEO4J_URI").ok()?;
///         # let _ = uri;
///         Some(Neo4jRevocationStore::new())
///     });
/// }
/// ```
#[macro_export]
macro_rules! revocation_store_conformance {
    (optional: $make:expr $(,)?) => {
        $crate::__revocation_store_cases!(optional $make);
    };
    ($make:expr $(,)?) => {
        $crate::__revocation_store_cases!(always $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __revocation_store_cases {
    ($mode:ident $make:expr) => {
        $crate::__revocation_store_cases!(
            $mode $make;
            unknown_jti_is_not_revoked,
            revoked_jti_is_reported_revoked,
            revoking_one_jti_leaves_others_unrevoked,
            revoking_twice_is_idempotent,
            revoking_again_keeps_the_later_expiry,
            purge_removes_only_expired_entries_and_counts_them,
            purge_removes_an_entry_expiring_exactly_now,
            purge_of_an_empty_store_removes_nothing,
            unusual_jti_strings_are_stored_verbatim,
            empty_jti_is_refused_as_invalid,
            concurrent_revocations_are_all_visible,
            store_works_behind_a_shared_trait_object,
            revoked_token_is_rejected_before_expiry,
        );
    };
    ($mode:ident $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let store = $crate::__revocation_store_make!($mode $make);
                $crate::conformance::$case(store).await;
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __revocation_store_make {
    (always $make:expr) => {
        $make.await
    };
    (optional $make:expr) => {
        match $make.await {
            ::core::option::Option::Some(store) => store,
            ::core::option::Option::None => {
                ::std::eprintln!("skipped: revocation store backend not configured");
                return;
            }
        }
    };
}

/// A `jti` that was never revoked is not revoked.
pub async fn unknown_jti_is_not_revoked<S: RevocationStore>(store: S) {
    assert!(!store.is_revoked("never-revoked").await.expect("is_revoked"));
}

/// After `revoke`, `is_revoked` is true.
pub async fn revoked_jti_is_reported_revoked<S: RevocationStore>(store: S) {
    store.revoke("jti-1", t(60)).await.expect("revoke");
    assert!(store.is_revoked("jti-1").await.expect("is_revoked"));
}

/// Revocation is per `jti`.
pub async fn revoking_one_jti_leaves_others_unrevoked<S: RevocationStore>(store: S) {
    store.revoke("jti-a", t(60)).await.expect("revoke");
    assert!(!store.is_revoked("jti-b").await.expect("is_revoked"));
    assert!(
        !store.is_revoked("jti-a ").await.expect("is_revoked"),
        "no trimming or prefixing"
    );
    assert!(
        !store.is_revoked("JTI-A").await.expect("is_revoked"),
        "jti is case-sensitive"
    );
}

/// Revoking the same `jti` twice succeeds and leaves one entry.
pub async fn revoking_twice_is_idempotent<S: RevocationStore>(store: S) {
    store.revoke("jti-1", t(60)).await.expect("first revoke");
    store.revoke("jti-1", t(60)).await.expect("second revoke");
    assert!(store.is_revoked("jti-1").await.expect("is_revoked"));
    assert_eq!(
        store.purge_expired(t(61)).await.expect("purge"),
        1,
        "exactly one entry"
    );
}

/// A second revocation with a later expiry extends it; an earlier one does not shorten it.
pub async fn revoking_again_keeps_the_later_expiry<S: RevocationStore>(store: S) {
    store.revoke("extended", t(10)).await.expect("revoke");
    store
        .revoke("extended", t(100))
        .await
        .expect("revoke later");
    store.revoke("kept", t(100)).await.expect("revoke");
    store.revoke("kept", t(10)).await.expect("revoke earlier");
    assert_eq!(store.purge_expired(t(50)).await.expect("purge"), 0);
    assert!(store.is_revoked("extended").await.expect("is_revoked"));
    assert!(store.is_revoked("kept").await.expect("is_revoked"));
}

/// `purge_expired(now)` removes entries with `expires_at <= now`, keeps the rest, and
/// returns how many it removed.
pub async fn purge_removes_only_expired_entries_and_counts_them<S: RevocationStore>(store: S) {
    store.revoke("old-1", t(10)).await.expect("revoke");
    store.revoke("old-2", t(20)).await.expect("revoke");
    store.revoke("live", t(100)).await.expect("revoke");
    assert_eq!(store.purge_expired(t(50)).await.expect("purge"), 2);
    assert!(!store.is_revoked("old-1").await.expect("is_revoked"));
    assert!(!store.is_revoked("old-2").await.expect("is_revoked"));
    assert!(store.is_revoked("live").await.expect("is_revoked"));
    assert_eq!(store.purge_expired(t(50)).await.expect("purge again"), 0);
}

/// The boundary is inclusive: an entry expiring exactly at `now` is purged.
pub async fn purge_removes_an_entry_expiring_exactly_now<S: RevocationStore>(store: S) {
    store.revoke("edge", t(30)).await.expect("revoke");
    assert_eq!(store.purge_expired(t(29)).await.expect("purge before"), 0);
    assert_eq!(store.purge_expired(t(30)).await.expect("purge at"), 1);
    assert!(!store.is_revoked("edge").await.expect("is_revoked"));
}

/// Purging an empty store removes nothing.
pub async fn purge_of_an_empty_store_removes_nothing<S: RevocationStore>(store: S) {
    assert_eq!(store.purge_expired(t(0)).await.expect("purge"), 0);
}

/// Quotes, SQL and Cypher syntax, Unicode and long ids are stored and found verbatim.
pub async fn unusual_jti_strings_are_stored_verbatim<S: RevocationStore>(store: S) {
    let long = "x".repeat(4096);
    let odd = [
        "it's",
        "\"quoted\"",
        "'; DROP TABLE revoked_tokens; --",
        "}) DETACH DELETE n //",
        "ünïcødé 🔑",
        "%_*",
        long.as_str(),
    ];
    for jti in odd {
        store.revoke(jti, t(60)).await.expect("revoke");
    }
    for jti in odd {
        assert!(
            store.is_revoked(jti).await.expect("is_revoked"),
            "{jti:?} should be revoked"
        );
    }
    assert!(
        !store.is_revoked("%").await.expect("is_revoked"),
        "no pattern matching"
    );
    assert!(
        !store.is_revoked("it").await.expect("is_revoked"),
        "no prefix matching"
    );
}

/// An empty `jti` is refused with `StoreError::Invalid`.
pub async fn empty_jti_is_refused_as_invalid<S: RevocationStore>(store: S) {
    let err = store
        .revoke("", t(60))
        .await
        .expect_err("empty jti must be refused");
    assert!(matches!(err, StoreError::Invalid(_)), "got {err:?}");
}

/// Revocations made from many tasks at once are all visible afterwards.
pub async fn concurrent_revocations_are_all_visible<S: RevocationStore + 'static>(store: S) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.revoke(&format!("jti-{i}"), t(60)).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("revoke");
    }
    for i in 0..32 {
        assert!(
            store
                .is_revoked(&format!("jti-{i}"))
                .await
                .expect("is_revoked")
        );
    }
    assert_eq!(store.purge_expired(t(60)).await.expect("purge"), 32);
}

/// The store works as an `Arc<dyn RevocationStore>`, the way the server holds it.
pub async fn store_works_behind_a_shared_trait_object<S: RevocationStore + 'static>(store: S) {
    let shared: Arc<dyn RevocationStore> = Arc::new(store);
    let clone = Arc::clone(&shared);
    clone.revoke("shared", t(60)).await.expect("revoke");
    assert!(shared.is_revoked("shared").await.expect("is_revoked"));
}

/// End to end: a token that verifies stops verifying once revoked, long before it expires.
pub async fn revoked_token_is_rejected_before_expiry<S: RevocationStore + 'static>(store: S) {
    let config = JwtConfig::new(
        "https://conformance.invalid",
        "k1",
        vec![KeyConfig::hs256(
            "k1",
            "conformance-secret-0123456789-abcdef",
        )],
    );
    let issuer = JwtIssuer::from_config(&config).expect("issuer");
    let verifier = JwtVerifier::from_config(&config, Arc::new(store)).expect("verifier");
    let issued = issuer.issue("alice", ["admin"]).expect("issue");
    let claims = verifier
        .verify(&issued.token)
        .await
        .expect("fresh token verifies");
    assert!(claims.expires_at() > Utc::now() + Duration::hours(1));
    verifier.revoke(&claims).await.expect("revoke");
    let err = verifier
        .verify(&issued.token)
        .await
        .expect_err("revoked token must fail");
    assert!(matches!(err, crate::Error::Revoked), "got {err:?}");
    let other = issuer.issue("alice", ["admin"]).expect("issue");
    verifier
        .verify(&other.token)
        .await
        .expect("another token of the same user still verifies");
}
