//! The conformance suite over real Bolt (FalkorDB from `./scripts/test`, or Neo4j), and two
//! stores with their own connection pools on one graph (two server instances) sharing their
//! counts. Skips when no server is configured, unless `MCP_TEST_BOLT_REQUIRED=1`.

use std::sync::Arc;

use mcp_core::bolt::testing::bolt_test_config;
use mcp_limits::conformance::at;
use mcp_limits::store::neo4j::Neo4jCounterStore;
use mcp_limits::store::{Admission, CounterStore, FailureLimit, Quota, Reservation};

mcp_limits::counter_store_conformance!(optional: async {
    let config = bolt_test_config("limits_counters")?;
    Some(Neo4jCounterStore::connect(config).await.expect("connect to the Bolt test server"))
});

/// Two stores (two instances) on the same graph, each with its own pool.
async fn two_instances() -> Option<(Arc<Neo4jCounterStore>, Arc<Neo4jCounterStore>)> {
    let config = bolt_test_config("limits_two_instances")?;
    let a = Neo4jCounterStore::connect(config.clone())
        .await
        .expect("connect a");
    let b = Neo4jCounterStore::connect(config).await.expect("connect b");
    Some((Arc::new(a), Arc::new(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quota_holds_across_two_instances_calling_at_once() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let quota = Quota::per_minute(6);
    let calls = (0..20).map(|i| {
        let store: Arc<dyn CounterStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .acquire("rate:execute:alice", quota, at(0))
                .await
                .unwrap()
        })
    });
    let mut allowed = 0;
    for call in calls.collect::<Vec<_>>() {
        allowed += usize::from(call.await.unwrap() == Admission::Allowed);
    }
    assert_eq!(allowed, 6, "N instances must not allow N times the quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_set_through_one_instance_holds_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let limit = FailureLimit::new(3, std::time::Duration::from_secs(300));
    let attempts = (0..12).map(|i| {
        let store: Arc<dyn CounterStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .reserve("login:alice", limit, None, at(0))
                .await
                .unwrap()
        })
    });
    let mut places = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        if let Reservation::Reserved(place) = attempt.await.unwrap() {
            places.push(place);
        }
    }
    assert_eq!(
        places.len(),
        3,
        "at most max attempts are checked across instances"
    );
    let mut locked = false;
    for (i, place) in places.into_iter().enumerate() {
        let store: &Neo4jCounterStore = if i % 2 == 0 { &a } else { &b };
        locked |= store
            .fail("login:alice", place, limit, at(1_000))
            .await
            .unwrap();
    }
    assert!(locked);
    for store in [&a, &b] {
        assert!(matches!(
            store
                .reserve("login:alice", limit, None, at(2_000))
                .await
                .unwrap(),
            Reservation::Locked { .. }
        ));
    }
}
